"""Synthetic results for the report tests: a real Optuna study with every trial state, and run dirs."""
from __future__ import annotations

import json
from pathlib import Path

import optuna

from scaler.families import base_spec
from scaler.report import reproduce_networks

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: network -> (pa, miou, ms/step) of the synthetic completed trials; AWDR is the most accurate, R the cheapest gain.
RESULTS = {"Baseline": (0.80, 0.50, 10.0), "D": (0.836, 0.56, 20.0), "W": (0.825, 0.54, 18.0),
           "R": (0.829, 0.55, 19.0), "WDR": (0.847, 0.58, 40.0), "AWDR": (0.848, 0.59, 30.0)}


def tiny_networks():
    """The six paper networks from a width-4 U-Net at 32x32 (real specs, so costs are real)."""
    return reproduce_networks(base_spec("unet", width=4, classes=3, input_size=(32, 32)))


def history(epochs: int, final_miou: float) -> list[dict]:
    """A per-epoch history in the trainer's format."""
    return [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1),
             "pa": final_miou + 0.2 - 0.01 * (epochs - e),
             "mpa": final_miou, "miou": final_miou - 0.01 * (epochs - 1 - e), "lr": 1e-3, "ms_per_step": 10.0,
             "ms_p10": 9.0, "ms_p90": 11.0, "images_per_s": 100.0} for e in range(epochs)]


def _attrs(net, seed: int, status: str, pa=None, miou=None, ms=None, epochs: int = 3) -> dict:
    """The user_attrs a study trial carries (the study runner's contract)."""
    attrs = {"method": net.method, "factors": net.factors.as_dict(), "spec": net.spec.to_dict(), "params": net.params,
             "macs": net.macs, "flops": 2 * net.macs, "activations": 1000, "input_size": list(net.spec.input_size),
             "seed": seed, "status": status, "fail_reason": "", "infeasible": status == "infeasible",
             "run_dir": f"runs/{net.name}-{seed}", "history": history(epochs, miou) if miou is not None else []}
    if ms is not None:
        attrs.update(ms_per_step=ms, ms_p10=0.9 * ms, ms_p90=1.1 * ms)
    if miou is not None:
        attrs["best"] = {"pa": pa, "mpa": miou + 0.05, "miou": miou, "epoch": epochs - 1}
    return attrs


def fill_study(study: optuna.Study, seeds: int = 1) -> None:
    """Six completed networks x seeds, then OOM, pruned, two infeasible and a dead-worker trial."""
    nets = {n.name: n for n in tiny_networks()}
    study.set_user_attr("objectives", ["miou", "params"])
    study.set_user_attr("directions", ["maximize", "minimize"])
    study.set_user_attr("base_spec", nets["Baseline"].spec.to_dict())
    study.set_user_attr("train", {"batch_size": 4})  # isolated timing runs at the training batch
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for seed in range(seeds):
        for name, (pa, miou, ms) in RESULTS.items():
            miou += 0.01 * seed
            study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE, values=[miou, nets[name].params], params={"x": 0.5},
                distributions=dist, user_attrs=_attrs(nets[name], seed, "completed", pa, miou, ms)))
    big = nets["WDR"]
    oom = _attrs(big, 0, "oom")
    oom["fail_reason"] = "CUDA out of memory"
    oom["spec"] = {**oom["spec"], "input_size": [64, 64]}  # a distinct network
    oom["params"] = big.params + 1
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={"x": 0.1},
                                              distributions=dist, user_attrs=oom))
    pruned = _attrs(nets["D"], 7, "pruned", pa=0.6, miou=0.3, ms=21.0, epochs=1)
    pruned["spec"] = {**pruned["spec"], "input_size": [48, 48]}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, params={"x": 0.2},
                                              distributions=dist, intermediate_values={0: 0.3}, user_attrs=pruned))
    infeasible = _attrs(nets["W"], 0, "infeasible")
    infeasible["fail_reason"] = "params 9.9x base > budget params<=2x"
    infeasible["spec"] = {**infeasible["spec"], "input_size": [96, 96]}
    infeasible.pop("status")  # only the infeasible flag says so
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, params={"x": 0.3},
                                              distributions=dist, user_attrs=infeasible))
    # As `scaler study` records them: an infeasible candidate is COMPLETE with mIoU 0 (never trained),
    # and a trial whose worker died is FAIL with the "running" its objective wrote at the start.
    over = _attrs(nets["AWDR"], 0, "infeasible")
    over["spec"] = {**over["spec"], "input_size": [112, 112]}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, values=[0.0, over["params"]],
                                              params={"x": 0.4}, distributions=dist, user_attrs=over))
    dead = _attrs(nets["R"], 0, "running")
    dead["spec"] = {**dead["spec"], "input_size": [80, 80]}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={"x": 0.6},
                                              distributions=dist, user_attrs=dead))


def new_study(storage: str, name: str, seeds: int = 1) -> optuna.Study:
    """A filled two-objective study."""
    study = optuna.create_study(storage=storage, study_name=name, directions=["maximize", "minimize"])
    fill_study(study, seeds)
    return study


def make_run_dir(path: Path, net, seed: int = 0, status: str | None = "completed", miou: float = 0.5,
                 epochs: int = 2, message: str = "") -> Path:
    """A run dir in the trainer's format (spec, config, history, metrics); status None: no epoch finished yet."""
    from scaler.train import RunResult, TrainConfig

    path.mkdir(parents=True, exist_ok=True)
    (path / "spec.json").write_text(net.spec.to_json())
    (path / "config.json").write_text(json.dumps(TrainConfig(seed=seed, epochs=epochs).to_dict()))
    if status is None:
        return path
    hist = [{**h, "epoch": h["epoch"] + 1} for h in history(epochs, miou)]
    best = max(hist, key=lambda r: r["miou"])
    result = RunResult(run_dir=path, status=status, epochs_run=epochs,
                       best={k: best[k] for k in ("epoch", "pa", "mpa", "miou")}, final=hist[-1], history=hist,
                       ms_per_step=12.0, ms_p10=11.0, ms_p90=14.0, data_ms_per_step=1.0, peak_mem_bytes=None,
                       wall_s=1.0, message=message)
    (path / "history.json").write_text(json.dumps(hist))
    (path / "metrics.json").write_text(json.dumps(result.to_dict(history=False)))
    return path
