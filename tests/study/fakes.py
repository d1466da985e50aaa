"""A stand-in trainer with `scaler.train.train`'s signature, and a worker entry point for multi-process tests.

The fake "learns" a deterministic curve whose plateau grows with the network's params and falls
with a bad learning rate, writes a JSON checkpoint per epoch (so a retried trial can resume), and
can sleep per epoch, diverge, run out of memory or fail, as a test asks.

    python -m tests.study.fakes STUDY.toml STORAGE_URL [EPOCH_S]   # one worker (used by test_postgres)
"""
from __future__ import annotations

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

from scaler.complexity import complexity
from scaler.errors import ScalerError
from scaler.train import Diverged, RunResult


@dataclass
class FakeTrainer:
    """Callable like scaler.train.train; records every call in `calls`."""

    epoch_s: float = 0.0
    fail: Callable[[Any, Any], BaseException | None] | None = None  # (spec, cfg) -> exception to raise mid-run
    fail_epoch: int = 1
    calls: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def curve(spec: Any, cfg: Any, epoch: int) -> float:
        """Validation mIoU after `epoch` epochs: a saturating curve, higher for bigger nets, lower far from lr 1e-3."""
        size = math.log2(complexity(spec).params / 1e5 + 1.0)
        lr_penalty = abs(math.log10(cfg.effective_lr) + 3.0) * 0.25
        plateau = min(0.95, max(0.05, 0.3 + 0.08 * size - lr_penalty))
        return plateau * (1.0 - math.exp(-epoch / 2.0))

    def __call__(self, spec: Any, cfg: Any, out_dir: Any, *, on_epoch_end: Any = None, resume: bool = True,
                 progress: bool = False) -> RunResult:
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
            time.sleep(self.epoch_s)
            miou = self.curve(spec, cfg, epoch)
            record = {"epoch": epoch, "train_loss": 1.0 - miou, "val_loss": 1.0 - miou, "pa": 0.5 + miou / 2,
                      "mpa": miou + 0.05, "miou": miou, "lr": cfg.effective_lr, "ms_per_step": 10.0,
                      "pid": os.getpid()}  # which process trained the epoch: shows a retry resumed
            history.append(record)
            state_file.write_text(json.dumps({"history": history}))
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
        best = max(history, key=lambda r: r["miou"])
        return RunResult(run_dir=out_dir, status="completed", epochs_run=len(history),
                         best={k: best[k] for k in ("epoch", "pa", "mpa", "miou")}, final=history[-1],
                         history=history, ms_per_step=10.0, ms_p10=9.0, ms_p90=12.0, data_ms_per_step=1.0,
                         peak_mem_bytes=None, wall_s=self.epoch_s * len(history))


def diverge_on(rule_width: int) -> Callable[[Any, Any], BaseException | None]:
    """Diverge when the first encoder stage has `rule_width` channels."""
    return lambda spec, cfg: Diverged("diverged at epoch 1 step 3") if spec.encoder[0].width == rule_width else None


def bad_candidate(spec: Any, cfg: Any) -> BaseException:
    """A ScalerError, as the trainer raises when data cannot feed a network."""
    return ScalerError("the network has 5 classes but the train data has 3")


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


#: A tiny study: U-Net width 8 at 32x32 on shapes, the rules grid under params=2x, 2 epochs.
TINY = {
    "study": {"name": "tiny", "search_space": "space.toml", "sampler": "grid", "seed": 0},
    "storage": {"heartbeat_interval": 1, "grace_period": 2, "max_retry": 1},
    "network": {"family": "unet", "width": 8, "input_size": [32, 32], "classes": 5},
    "budget": {"limits": ["params=2x"]},
    "data": {"name": "shapes", "options": {"length": 16, "source_size": [32, 32]}},
    "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "warmup_epochs": 0.0},
}
RULES_SPACE = {"rule": {"choices": ["baseline", "depth", "width", "resolution", "compound", "asymmetric"]}}


def write_study(folder: Path, space: dict[str, Any] | None = None, **tables: dict[str, Any]) -> Path:
    """Write space.toml and study.toml into `folder` (TINY with `tables` merged in per table); return study.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.toml").write_text(toml_text(RULES_SPACE if space is None else space))
    merged = {name: dict(TINY.get(name, {})) for name in {**TINY, **tables}}
    for name, table in tables.items():
        merged[name].update(table)
    merged["storage"].setdefault("url", "sqlite:///study.db")
    merged["study"].setdefault("run_root", "runs")
    path = folder / "study.toml"
    path.write_text(toml_text(merged))
    return path


REPO = Path(__file__).resolve().parents[2]


def start_worker(study_file: Path, storage: str, epoch_s: float = 0.0) -> subprocess.Popen:
    """A worker process running the study with the fake trainer."""
    return subprocess.Popen([sys.executable, "-m", "tests.study.fakes", str(study_file), storage, str(epoch_s)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(worker: subprocess.Popen, timeout: float = 180) -> dict[str, Any]:
    """Wait for a worker; its summary line, or an AssertionError with its stderr."""
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` every 0.2 s until true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def check_exact_total(folder: Path, storage: str, name: str, sampler: str) -> None:
    """3 workers on one study with n_trials=9: exactly 9 finished trials, no duplicate parameters."""
    import optuna

    from scaler.study import study_trials_frame

    if sampler == "grid":  # 3 rules x 3 learning rates = 9 points: a duplicate would show
        space = {"rule": {"choices": ["baseline", "width", "depth"]}, "train": {"lr": {"choices": [1e-3, 2e-3, 3e-3]}}}
    else:
        space = {"rule": {"choices": ["baseline", "width", "depth"]}, "train": {"lr": {"low": 1e-4, "high": 1e-2,
                                                                                          "log": True}}}
    path = write_study(folder, space, study={"name": name, "sampler": sampler, "n_trials": 9},
                       storage={"url": storage}, train={"epochs": 2})
    workers = [start_worker(path, storage, epoch_s=0.05) for _ in range(3)]
    summaries = [finish(w) for w in workers]
    frame = study_trials_frame(storage, name)
    assert len(frame) == 9, frame[["number", "state", "hyperparams"]]
    assert frame.state.isin(["COMPLETE", "PRUNED"]).all(), frame[["number", "state", "status", "fail_reason"]]
    assert sorted(n for s in summaries for n in s["trials"]) == list(range(9))  # each trial run by one worker
    assert all(s["stopped"] == "n_trials reached" for s in summaries)
    points = {(r.rule, r.hyperparams["lr"]) for r in frame.itertuples()}
    assert len(points) == 9  # no two trials sampled the same point
    study = optuna.load_study(study_name=name, storage=storage)
    assert study.user_attrs["objectives"] == ["miou"]


def check_kill_and_resume(folder: Path, storage: str, name: str) -> None:
    """SIGKILL a worker mid-trial: finished trials stay intact; the killed one is FAIL and retried, resuming."""
    import optuna
    from optuna.trial import TrialState

    from scaler.study import study_trials_frame
    from scaler.study._frame import DEAD_WORKER

    path = write_study(folder, study={"name": name, "n_trials": 4}, storage={"url": storage}, train={"epochs": 4})
    slow = start_worker(path, storage, epoch_s=0.4)
    study = None

    def mid_trial() -> bool:
        nonlocal study
        if slow.poll() is not None:
            raise AssertionError(f"worker ended early: {slow.communicate()[1][-3000:]}")
        try:
            study = study or optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            return False
        trials = study.get_trials(deepcopy=False)
        return (sum(t.state == TrialState.COMPLETE for t in trials) >= 1
                and any(t.state == TrialState.RUNNING and len(t.intermediate_values) >= 2 for t in trials))

    wait_for(mid_trial, 120, "a finished trial and a trial 2 epochs into training")
    os.kill(slow.pid, signal.SIGKILL)
    slow.wait()
    before = {t.number: t for t in study.get_trials() if t.state.is_finished()}
    killed = next(t for t in study.get_trials() if t.state == TrialState.RUNNING)
    resume = finish(start_worker(path, storage, epoch_s=0.01))
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
    assert pids[0] == slow.pid and pids[-1] != slow.pid  # resumed from the killed run's checkpoint
    assert set(retry[0].intermediate_values) == {1, 2, 3, 4}
    frame = study_trials_frame(storage, name)
    row = frame[frame.number == killed.number].iloc[0]
    assert row.status == "failed" and row.fail_reason == DEAD_WORKER
    assert (frame.state == "COMPLETE").sum() == 4 and len(frame) == 5


def main(argv: list[str]) -> None:
    """Run one worker of a study on a storage with the fake trainer."""
    from scaler.study import load_study_config, run_study

    study_file, storage = argv[0], argv[1]
    epoch_s = float(argv[2]) if len(argv) > 2 else 0.0
    config = load_study_config(study_file).with_overrides(storage=storage)
    run = run_study(config, train_fn=FakeTrainer(epoch_s=epoch_s))
    print(json.dumps({"trials": run.trials, "stopped": run.stopped}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
