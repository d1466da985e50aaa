"""Pareto-aware pruning: a multi-objective study (mIoU, params) pruned vs unpruned, same seeds and trial count.

The study is the shipped CamVid study (studies/camvid_unet.toml: a direction on the budget frontier
and the learning rate) made multi-objective, objectives = ["miou", "params"], 8 epochs a trial, run
with NSGA-II and with multi-objective TPE, once with pruner = "pareto" (scaler.study._pareto_pruning,
default options) and once with pruner = "none". Training is the stand-in trainer
(tests.study.fakes.FakeTrainer: a deterministic, non-monotone curve of params and learning rate),
so it runs on a CPU in minutes; sampler, solver, storage and pruning rule are the real ones.
(--space factors: the free-factor box, each sample projected into the budget, so costs spread
from 1x to 2x; the shipped direction space puts every network near the budget edge.)

Hypervolume: of (mIoU, params / budget limit) over the completed trials, reference point mIoU 0
and params at the study's budget limit (params <= 2x), as `scaler study status` prints it.
Epochs: every epoch the trainer ran (reuses of a trained network train none). The goal: the pruned
study keeps >= 95% of the unpruned final hypervolume on <= 50% of its training epochs. Pruning
changes what the sampler sees, so the two studies of one seed sample different networks after the
first pruned trial; the unpruned studies' spread over seeds is printed beside the ratios as the
scale of that sampling noise. Measured (default pruner options, --seeds 0 1 2 3 4):
benchmarks/output/pareto_pruning.txt.

    PYTHONPATH=. python benchmarks/pareto_pruning.py [--seeds 0 1 2] [--trials 30] [--samplers nsga2 tpe]
        [--space direction|factors] [--lr-range 1e-5 1e-1] [--pruner-options "{n_dominating = 2, margin = 0.01}"]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import optuna

import re

from feasible_search import REPO, cpu_copy
from scaler.formatting import text_table
from scaler.report import study_hypervolume
from scaler.study import load_study, load_study_config, run_study, study_trials_frame
from tests.study.fakes import FakeTrainer

#: Per sampler: study keys set on top of the shipped file (NSGA-II: generations of 8 in 30 trials).
SAMPLER_OPTIONS = {"nsga2": "{population_size = 8}", "tpe": "{n_startup_trials = 6, multivariate = true}"}


def measure(folder: Path, sampler: str, pruner: str, seed: int, trials: int, args: argparse.Namespace
            ) -> dict[str, float]:
    """One study: final hypervolume, epochs trained, trials pruned."""
    storage = f"sqlite:///{folder / f'{sampler}_{pruner}_{seed}.db'}"
    path = cpu_copy(folder, args.space == "factors", seed, storage, infeasible='"project"', objectives='["miou", "params"]', sampler=f'"{sampler}"',
                    sampler_options=SAMPLER_OPTIONS[sampler], pruner=f'"{pruner}"', pruner_options=args.pruner_options,
                    run_root=f'"{folder / f"runs_{sampler}_{pruner}_{seed}"}"')
    if args.lr_range is not None:  # the learning-rate range of the search space, changed
        space_file = folder / "space.toml"
        text = (REPO / "search_spaces" / f"{args.space}.toml").read_text()
        low, high = args.lr_range
        space_file.write_text(re.sub(r"^lr = .*$", f"lr = {{low = {low}, high = {high}, log = true}}", text,
                                     flags=re.M))
        path.write_text(re.sub(r'search_space = ".*"', f'search_space = "{space_file}"', path.read_text()))
    config = load_study_config(path).with_overrides(n_trials=trials, name=f"{sampler}_{pruner}_{seed}")
    trainer = FakeTrainer()
    run_study(config, train_fn=trainer, check=False)
    frame = study_trials_frame(config.storage, config.name)
    hv = study_hypervolume(frame, load_study(config.storage, config.name).user_attrs)
    own = frame[frame.reused_from.isna()]
    return {"hv": hv.final, "epochs": int(own.epochs_run.fillna(0).sum()), "pruned": int((frame.state == "PRUNED").sum()),
            "trials": len(frame), "reference": hv.reference_text()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--samplers", nargs="+", default=["nsga2", "tpe"], choices=sorted(SAMPLER_OPTIONS))
    parser.add_argument("--space", default="direction", choices=["direction", "factors"],
                        help="search_spaces/direction.toml (shipped) or factors.toml (the box, projected)")
    parser.add_argument("--lr-range", type=float, nargs=2, default=None, help="another learning-rate range")
    parser.add_argument("--pruner-options", default="{}", help="pruner_options of the pruned study, TOML inline")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows, reference = [], ""
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in args.samplers:
            for seed in args.seeds:
                full = measure(Path(tmp), sampler, "none", seed, args.trials, args)
                pruned = measure(Path(tmp), sampler, "pareto", seed, args.trials, args)
                reference = full["reference"]
                rows.append({"sampler": sampler, "seed": seed, "HV unpruned": f"{full['hv']:.4f}",
                             "HV pruned": f"{pruned['hv']:.4f}", "HV ratio": f"{pruned['hv'] / full['hv']:.3f}",
                             "epochs unpruned": full["epochs"], "epochs pruned": pruned["epochs"],
                             "epoch ratio": f"{pruned['epochs'] / full['epochs']:.3f}",
                             "trials pruned": f"{pruned['pruned']}/{pruned['trials']}"})
    print(text_table(rows))
    print(f"hypervolume of (mIoU, params / reference); reference point: {reference}")
    hv = [float(r["HV ratio"]) for r in rows]
    epochs = [float(r["epoch ratio"]) for r in rows]
    for sampler in args.samplers:
        mine = [r for r in rows if r["sampler"] == sampler]
        full = [float(r["HV unpruned"]) for r in mine]
        print(f"{sampler}: pruned / unpruned hypervolume mean {_mean(mine, 'HV ratio'):.3f}, epochs mean "
              f"{_mean(mine, 'epoch ratio'):.3f}; unpruned hypervolume over seeds {min(full):.4f}-{max(full):.4f} "
              f"(sampling noise: max/min {max(full) / min(full):.3f})")
    print(f"pruned / unpruned: hypervolume min {min(hv):.3f} mean {sum(hv) / len(hv):.3f} (goal >= 0.95); "
          f"epochs max {max(epochs):.3f} mean {sum(epochs) / len(epochs):.3f} (goal <= 0.50)")


def _mean(rows: list[dict[str, object]], key: str) -> float:
    return sum(float(r[key]) for r in rows) / len(rows)


if __name__ == "__main__":
    main()
