"""A stand-in trainer with `scaler.train.train`'s signature, and a worker entry point for multi-process tests.

The fake "learns" a deterministic curve whose plateau grows with the network's params and falls
with a bad learning rate, with a dip every third epoch (so the best-so-far mIoU and the epoch's own
differ), writes a JSON checkpoint per epoch (so a retried trial can resume), and can diverge, run
out of memory, fail, or stop at a known epoch until a test lets it go on (a file "gate").

    python -m tests.study.fakes run STUDY.toml --storage URL [...]   # `scaler study run` with the fake trainer
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
import torch
import typer
from optuna.trial import TrialState

import scaler.study._runner as runner
from scaler.cli import app
from scaler.complexity import complexity
from scaler.errors import ScalerError
from scaler.study import (
    DEAD_WORKER, load_study_config, network_counts, reuse_counts, run_study, study_trials_frame,
)
from scaler.train import RunResult, select_device

#: Every third epoch validates lower than the one before it.
DIP_EVERY, DIP = 3, 0.8


@dataclass
class FakeTrainer:
    """Callable like scaler.train.train; records every call in `calls`.

    Args:
        fail: (spec, cfg) -> exception to raise at the start of epoch `fail_epoch`, or None.
        gate: a folder; with `stop_epoch`, the `stop_run`-th run of this process stops after that
            epoch (recorded and reported), writes gate/"stopped" and waits for gate/"go".
    """

    fail: Callable[[Any, Any], BaseException | None] | None = None
    fail_epoch: int = 1
    gate: Path | None = None
    stop_epoch: int | None = None
    stop_run: int = 1
    calls: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def curve(spec: Any, cfg: Any, epoch: int) -> float:
        """Validation mIoU after `epoch` epochs: saturating, higher for bigger nets, lower far from lr 1e-3, dipping."""
        size = math.log2(complexity(spec).params / 1e5 + 1.0)
        lr_penalty = abs(math.log10(cfg.effective_lr) + 3.0) * 0.25
        plateau = min(0.95, max(0.05, 0.3 + 0.08 * size - lr_penalty))
        return plateau * (1.0 - math.exp(-epoch / 2.0)) * (DIP if epoch % DIP_EVERY == 0 else 1.0)

    def _stop_here(self, epoch: int, out_dir: Path) -> None:
        """Hold the run after `epoch` until the test creates gate/"go" (or 300 s pass)."""
        if self.gate is None or epoch != self.stop_epoch or len(self.calls) != self.stop_run:
            return
        (self.gate / "stopped").write_text(json.dumps({"pid": os.getpid(), "run_dir": str(out_dir), "epoch": epoch}))
        deadline = time.monotonic() + 300
        while not (self.gate / "go").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the test never opened the gate")
            time.sleep(0.05)

    def __call__(self, spec: Any, cfg: Any, out_dir: Any, *, on_epoch_end: Any = None, resume: bool = True,
                 progress: bool = False) -> RunResult:
        select_device(cfg.device)  # as the real trainer does first: a missing device fails the run
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        state_file = out_dir / "fake_state.json"
        history: list[dict[str, Any]] = []
        if resume and state_file.is_file():
            history = json.loads(state_file.read_text())["history"]
        self.calls.append({"spec": spec, "cfg": cfg, "out_dir": str(out_dir), "resume": resume,
                           "resumed_epochs": len(history)})
        for epoch in range(len(history) + 1, cfg.epochs + 1):
            if self.fail is not None and epoch == self.fail_epoch:
                exc = self.fail(spec, cfg)
                if exc is not None:
                    raise exc
            miou = self.curve(spec, cfg, epoch)
            record = {"epoch": epoch, "train_loss": 1.0 - miou, "val_loss": 1.0 - miou, "pa": 0.5 + miou / 2,
                      "mpa": miou + 0.05, "miou": miou, "lr": cfg.effective_lr, "ms_per_step": 10.0,
                      "pid": os.getpid()}  # which process trained the epoch: shows a retry resumed
            history.append(record)
            state_file.write_text(json.dumps({"history": history}))
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
            self._stop_here(epoch, out_dir)
        best = max(history, key=lambda r: r["miou"])
        return RunResult(run_dir=out_dir, status="completed", epochs_run=len(history),
                         best={k: best[k] for k in ("epoch", "pa", "mpa", "miou")}, final=history[-1],
                         history=history, ms_per_step=10.0, ms_p10=9.0, ms_p90=12.0, data_ms_per_step=1.0,
                         peak_mem_bytes=None, wall_s=0.0)


def _value(value: Any) -> str:
    """A TOML value (strings, numbers, booleans, lists and inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + "}"


def toml_text(tables: dict[str, Any]) -> str:
    """TOML text: top-level scalars first, then one [table] per dict."""
    lines = [f"{k} = {_value(v)}" for k, v in tables.items() if not isinstance(v, dict)]
    for name, table in tables.items():
        if isinstance(table, dict):
            lines.append(f"[{name}]")
            lines += [f"{k} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


#: A tiny study: U-Net width 8 at 32x32 on shapes, the methods grid under params=2x, 2 epochs.
TINY = {
    "study": {"name": "tiny", "search_space": "space.toml", "sampler": "grid", "seed": 0},
    "storage": {"heartbeat_interval": 1, "grace_period": 2, "max_retry": 1},
    "network": {"family": "unet", "width": 8, "input_size": [32, 32], "classes": 5},
    "scaling": {"budget": ["params=2x"]},
    "data": {"name": "shapes", "options": {"length": 16, "source_size": [32, 32]}},
    "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "warmup_epochs": 0.0, "device": "cpu"},
}
METHODS = ["baseline", "depth", "width", "resolution", "compound", "asymmetric"]
METHODS_SPACE = {"method": {"choices": METHODS}}
#: Several live workers on a loaded 2-core machine: a grace no heartbeat thread can miss.
SAFE_GRACE = {"heartbeat_interval": 1, "grace_period": 120}


def write_study(folder: Path, space: dict[str, Any] | None = None, **tables: dict[str, Any]) -> Path:
    """Write space.toml and study.toml into `folder` (TINY with `tables` merged in per table); return study.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.toml").write_text(toml_text(METHODS_SPACE if space is None else space))
    merged = {name: dict(TINY.get(name, {})) for name in {**TINY, **tables}}
    for name, table in tables.items():
        merged[name].update(table)
    merged["storage"].setdefault("url", "sqlite:///study.db")
    merged["study"].setdefault("run_root", "runs")
    path = folder / "study.toml"
    path.write_text(toml_text(merged))
    return path


REPO = Path(__file__).resolve().parents[2]


def start_worker(study_file: Path, storage: str, *args: str, gate: Path | None = None,
                 stop_epoch: int | None = None, stop_run: int = 1) -> subprocess.Popen:
    """A `scaler study run` process whose trainer is the fake (see `main`)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if gate is not None:
        gate.mkdir(parents=True, exist_ok=True)
        env.update(FAKE_GATE=str(gate), FAKE_STOP_EPOCH=str(stop_epoch), FAKE_STOP_RUN=str(stop_run))
    return subprocess.Popen([sys.executable, "-m", "tests.study.fakes", "run", str(study_file), "--storage", storage,
                             *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def summary(out: str) -> dict[str, Any]:
    """The trials a worker finished and why it stopped, from its `scaler study run` output."""
    trials = [int(line.split()[1]) for line in out.splitlines() if line.startswith("trial ")]
    stopped = [line.split("(", 1)[1].split(")", 1)[0] for line in out.splitlines() if line.startswith("stopped (")]
    return {"trials": trials, "stopped": stopped[-1] if stopped else None}


def finish(worker: subprocess.Popen, timeout: float = 300, code: int = 0) -> dict[str, Any]:
    """Wait for a worker; its summary plus stdout/stderr, or an AssertionError with its stderr."""
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == code, f"exit {worker.returncode}, expected {code}: {err[-3000:]}"
    return {**summary(out), "stdout": out, "stderr": err}


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` every 0.1 s until true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def wait_stopped(worker: subprocess.Popen, gate: Path, timeout: float = 180) -> dict[str, Any]:
    """Wait until the worker's fake trainer stopped at its gate; what it wrote there."""
    def stopped() -> bool:
        if worker.poll() is not None:
            raise AssertionError(f"worker ended early: {worker.communicate()[1][-3000:]}")
        return (gate / "stopped").exists()

    wait_for(stopped, timeout, "the fake trainer to stop at its gate")
    return json.loads((gate / "stopped").read_text())


def check_exact_total(folder: Path, storage: str, name: str, sampler: str) -> None:
    """3 workers on one study with n_trials=9: exactly 9 finished trials, no duplicate parameters."""
    if sampler == "grid":  # 3 methods x 3 learning rates = 9 points: a duplicate would show
        space = {"method": {"choices": ["baseline", "width", "depth"]},
                 "train": {"lr": {"choices": [1e-3, 2e-3, 3e-3]}}}
    else:
        space = {"method": {"choices": ["baseline", "width", "depth"]},
                 "train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}}}
    path = write_study(folder, space, study={"name": name, "sampler": sampler, "n_trials": 9},
                       storage={"url": storage, **SAFE_GRACE}, train={"epochs": 2})
    workers = [start_worker(path, storage) for _ in range(3)]
    summaries = [finish(w) for w in workers]
    frame = study_trials_frame(storage, name)
    assert len(frame) == 9, frame[["number", "state", "hyperparams"]]
    assert frame.state.isin(["COMPLETE", "PRUNED"]).all(), frame[["number", "state", "status", "fail_reason"]]
    assert sorted(n for s in summaries for n in s["trials"]) == list(range(9))  # each trial run by one worker
    assert all(s["stopped"] == "n_trials reached" for s in summaries)
    points = {(r.method, r.hyperparams["lr"]) for r in frame.itertuples()}
    assert len(points) == 9  # no two trials sampled the same point
    study = optuna.load_study(study_name=name, storage=storage)
    assert study.user_attrs["objectives"] == ["miou"]


def check_kill_and_resume(folder: Path, storage: str, name: str) -> None:
    """SIGKILL a worker two epochs into its second trial: finished trials stay intact; the killed one is retried."""
    path = write_study(folder, study={"name": name, "n_trials": 4}, storage={"url": storage}, train={"epochs": 4})
    gate = folder / "gate"
    slow = start_worker(path, storage, gate=gate, stop_epoch=2, stop_run=2)
    stopped = wait_stopped(slow, gate)
    os.kill(slow.pid, signal.SIGKILL)
    slow.wait()
    study = optuna.load_study(study_name=name, storage=storage)
    before = {t.number: t for t in study.get_trials() if t.state.is_finished()}
    killed = next(t for t in study.get_trials() if t.state == TrialState.RUNNING)
    assert len(before) == 1 and set(killed.intermediate_values) == {1, 2}  # no race: stopped after epoch 2
    assert killed.user_attrs["run_dir"] == stopped["run_dir"]
    resume = finish(start_worker(path, storage))
    assert resume["stopped"] == "n_trials reached"

    after = {t.number: t for t in study.get_trials()}
    for number, trial in before.items():  # every finished trial is untouched
        assert after[number].state == trial.state and after[number].values == trial.values
        assert after[number].user_attrs == trial.user_attrs and after[number].params == trial.params
    assert after[killed.number].state == TrialState.FAIL
    retry = [t for t in after.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == killed.params
    assert retry[0].user_attrs["run_dir"] == killed.user_attrs["run_dir"]
    pids = [r["pid"] for r in retry[0].user_attrs["history"]]
    assert pids[:2] == [slow.pid] * 2 and pids[2:] == [pids[2]] * 2 and pids[2] != slow.pid  # resumed at epoch 3
    assert set(retry[0].intermediate_values) == {1, 2, 3, 4}
    frame = study_trials_frame(storage, name)
    row = frame[frame.number == killed.number].iloc[0]
    assert row.status == "failed" and row.fail_reason == DEAD_WORKER and row.retried_by == retry[0].number
    assert frame[frame.number == retry[0].number].iloc[0].retried_from == killed.number
    assert (frame.state == "COMPLETE").sum() == 4 and len(frame) == 5
    assert network_counts(frame) == {"completed": 4}  # the killed trial and its retry are ONE network


def check_broken_worker_costs_nothing(folder: Path, storage: str, name: str) -> None:
    """A worker whose device does not exist, beside two good ones: exit 2, one line, exactly n_trials completed."""
    path = write_study(folder, study={"name": name, "sampler": "tpe", "n_trials": 6, "pruner": "none"},
                       storage={"url": storage, **SAFE_GRACE}, train={"epochs": 2})
    workers = [start_worker(path, storage, "--device", "cuda:3"), start_worker(path, storage),
               start_worker(path, storage)]
    broken = finish(workers[0], code=2)
    assert broken["stderr"].count("\n") == 1 and "cuda:3" in broken["stderr"], broken["stderr"]
    assert "no trial was claimed" in broken["stderr"] and broken["trials"] == []
    good = [finish(w) for w in workers[1:]]
    frame = study_trials_frame(storage, name)
    trained = frame[frame.reused_from.isna()]  # TPE may repeat a method: that trial reuses it, uncounted
    assert (frame.status == "completed").all() and len(trained) == 6, frame[["number", "state", "status"]]
    assert sorted(n for s in good for n in s["trials"]) == list(range(len(frame)))


#: Three factor values that round to ONE network (widths are multiples of 8): a grid of three samples, one network.
SAME_NETWORK_SPACE = {"factors": {"encoder_width": {"choices": [1.0, 1.01, 1.02]}}}


def check_one_network_one_training(folder: Path, storage: str, name: str, workers: int = 3) -> None:
    """`workers` workers, three samples of one network: it is trained once; the other trials reuse it, linked."""
    path = write_study(folder, SAME_NETWORK_SPACE, study={"name": name, "sampler": "grid"},
                       storage={"url": storage, **SAFE_GRACE}, train={"epochs": 3})
    summaries = [finish(w) for w in [start_worker(path, storage) for _ in range(workers)]]
    assert sorted(n for s in summaries for n in s["trials"]) == [0, 1, 2]
    frame = study_trials_frame(storage, name)
    assert len(frame) == 3 and (frame.status == "completed").all(), frame[["number", "status", "fail_reason"]]
    assert frame.network_key.nunique() == 1
    trained = frame[frame.reused_from.isna()]
    assert len(trained) == 1  # one training, whichever worker won the claim
    source = int(trained.number.iloc[0])
    assert set(frame.reused_from.dropna()) == {source}
    assert len({tuple(v) for v in frame["values"]}) == 1  # every trial has the trained network's value
    trained_dirs = [d for d in (folder / "runs").glob("*/trial_*") if (d / "fake_state.json").is_file()]
    assert len(trained_dirs) == 1  # nothing else was ever trained
    assert reuse_counts(frame) == {"trials": 3, "distinct_networks": 1, "reused_trials": 2}
    assert network_counts(frame) == {"completed": 1}


#: A multi-objective study (mIoU, params) over directions and learning rates, pruned by the Pareto-aware rule.
PARETO_SPACE = {"direction": {"encoder_width": {"low": 0.0, "high": 1.0}, "decoder_depth": {"low": 0.0, "high": 1.0}},
                "train": {"lr": {"low": 1e-5, "high": 1e-1, "log": True}}}


def pareto_study(folder: Path, storage: str, name: str, sampler: str, n_trials: int = 12) -> Path:
    """A study file: PARETO_SPACE, objectives mIoU and params, pruner "pareto" (dominated by 1 trial after epoch 1)."""
    return write_study(folder, PARETO_SPACE, study={
        "name": name, "sampler": sampler, "n_trials": n_trials, "objectives": ["miou", "params"],
        "pruner": "pareto", "pruner_options": {"n_warmup_steps": 1, "n_dominating": 1},
        **({"sampler_options": {"population_size": 4}} if sampler == "nsga2" else {})},
        storage={"url": storage, **SAFE_GRACE}, train={"epochs": 5})


def check_pareto_pruned(frame: Any, n_trials: int) -> None:
    """Some trials pruned by the rule, each with its reason, each by a no-costlier peer; the cheapest cost kept."""
    counted = frame[frame.reused_from.isna()]
    assert len(counted) == n_trials and counted.state.isin(["COMPLETE", "PRUNED"]).all(), frame[["state", "status"]]
    pruned = counted[counted.state == "PRUNED"]  # a reuse of a pruned network is PRUNED too, with the link
    assert len(pruned) and (frame.state == "COMPLETE").any()
    dominated = pruned.fail_reason.str.contains("no-costlier trials were more accurate at epoch")
    assert (dominated | pruned.fail_reason.str.contains("to the hypervolume of the")).all(), pruned.fail_reason
    assert (pruned.epochs_run >= 2).all() and (pruned.epochs_run < 5).all()  # warm-up kept, training stopped
    for row in pruned[dominated].itertuples():  # only a no-costlier trial can dominate
        assert ((counted.params <= row.params) & (counted.number != row.number)).any(), row
    assert (counted[counted.params == counted.params.min()].state == "COMPLETE").any()


def check_pareto_workers(folder: Path, storage: str, name: str) -> None:
    """Three workers share a Pareto-pruned NSGA-II study: exactly n_trials networks, pruned by each other's curves."""
    path = pareto_study(folder, storage, name, "nsga2")
    summaries = [finish(w) for w in [start_worker(path, storage) for _ in range(3)]]
    assert all(s["stopped"] == "n_trials reached" for s in summaries)
    check_pareto_pruned(study_trials_frame(storage, name), 12)


def check_separate_run_folders(folder: Path, storages: tuple[str, str], name: str) -> None:
    """One study file and name, two storages: two run folders, each holding its own study's trials."""
    config = load_study_config(write_study(folder, study={"name": name}))
    dirs = []
    for storage, lr in zip(storages, (1e-3, 1e-2)):  # different curves: an overwrite would show in the files
        run = run_study(config.with_overrides(storage=storage, train=_with_lr(config.train, lr)),
                        train_fn=FakeTrainer())
        frame = study_trials_frame(storage, name)
        key = optuna.load_study(study_name=name, storage=storage).user_attrs["run_key"]
        assert run.study_dir == folder / "runs" / f"{name}-{key}"
        assert all(Path(d).parent == run.study_dir for d in frame.run_dir)
        dirs.append((run.study_dir, frame))
    (first_dir, first), (second_dir, _) = dirs
    assert first_dir != second_dir
    for row in first.itertuples():  # the first study's folders still hold the first study's runs
        saved = json.loads((Path(row.run_dir) / "fake_state.json").read_text())["history"]
        assert max(r["miou"] for r in saved) == row.miou


def _with_lr(train: Any, lr: float) -> Any:
    """The training config with another learning rate."""
    return dataclasses.replace(train, lr=lr)


def main(argv: list[str]) -> int:
    """`scaler study run ARGS` with the fake trainer (settings from FAKE_* variables); returns the exit code.

    Calls the typer app as `scaler.cli.main` does (a ScalerError is one line and exit 2, typer.Exit
    keeps its code), so the command's own exit codes and signal handling are what is tested.
    """
    torch.set_num_threads(1)  # the set-up check trains one real step; several workers share 2 cores
    gate = os.environ.get("FAKE_GATE")
    runner.train = FakeTrainer(gate=Path(gate) if gate else None,
                               stop_epoch=int(os.environ["FAKE_STOP_EPOCH"]) if gate else None,
                               stop_run=int(os.environ.get("FAKE_STOP_RUN", "1")))
    try:
        return int(app(["study", *argv], standalone_mode=False) or 0)
    except ScalerError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
