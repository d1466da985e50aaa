"""Run bookkeeping shared by `reproduce` and `sweep`: seeds, training settings, run folders and their manifest.

A planned run is a dict {"network", "method", "seed", "run_dir" (relative to OUT), "spec", "status",
"fail_reason", ...}; the manifest (OUT/reproduce.json or OUT/sweep.json) lists them and is rewritten
atomically after every run, so a killed `reproduce`/`sweep` resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import math
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scaler.bench import BenchSettings
from scaler.complexity import complexity
from scaler.data import make_dataset
from scaler.errors import ScalerError
from scaler.report._records import records_from_reproduce
from scaler.report._timing import apply_timings, time_records
from scaler.spec import NetSpec
from scaler.train import RunDir, TrainConfig, train

__all__ = ["seed_list", "dataset_classes", "train_config", "write_manifest", "read_manifest", "check_run_dir",
           "finished_status", "train_runs", "timing_phase"]


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """--seeds 3 means seeds 0, 1, 2; a list is taken as is."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ScalerError(f"seeds must be >= 1, got {seeds=}")
        return list(range(seeds))
    values = [int(s) for s in seeds]
    if not values or len(set(values)) != len(values) or min(values) < 0:
        raise ScalerError(f"seeds must be distinct integers >= 0, got {seeds=}")
    return values


def dataset_classes(data: str, data_root: str | None, data_options: dict[str, Any]) -> int:
    """The number of classes of a dataset (built once: shapes is generated, the others decoded)."""
    return make_dataset(data, "val", data_root, **data_options).num_classes


def train_config(data: str, data_root: str | None, settings: dict[str, Any]) -> TrainConfig:
    """The training config every run shares (seed set per run); unknown or bad keys name the valid ones."""
    return TrainConfig.from_dict({"data": data, **({"data_root": data_root} if data_root is not None else {}),
                                  **settings})


def write_manifest(out: Path, manifest: dict[str, Any], name: str) -> None:
    """Write OUT/NAME through a temporary file, so a kill never leaves it torn."""
    tmp = out / f".{name}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(out / name)


def read_manifest(out: Path, name: str) -> dict[str, Any] | None:
    """The previous OUT/NAME manifest, if any."""
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None


def check_run_dir(run_dir: Path, spec: NetSpec, config: TrainConfig) -> None:
    """A ScalerError when `run_dir` holds a run of another network or of other training settings.

    Settings that never change the numbers (scaler.train.RESUME_FREE_KEYS) may differ, as on any resume.
    """
    run = RunDir(run_dir)
    if not run.is_run():
        return
    try:
        same_network = run.load_spec() == spec
        diff = run.config_diff(config)
    except ScalerError:
        return  # unreadable: the trainer starts it over or names the problem
    if not same_network:
        diff.insert(0, "a different network (spec.json)")
    if diff:
        raise ScalerError(f"{run_dir} holds a run with {', '.join(diff)}; valid: the same settings to resume, or "
                          f"another --out")


def finished_status(run_dir: Path) -> str | None:
    """The status of a run that needs no more training (completed, early_stopped, diverged, pruned), else None.

    A run killed mid-way has metrics.json with status "running" or "interrupted": `train` resumes it.
    """
    try:
        run = RunDir(run_dir)
        return run.status() if run.is_finished() else None
    except ScalerError:
        return None


def train_runs(out: Path, todo: list[dict[str, Any]], specs: dict[str, NetSpec], config: TrainConfig,
               save: Callable[[], None], progress: bool = False, log: Callable[[str], None] | None = None) -> None:
    """Train each planned run in order (skipping finished ones, resuming killed ones), recording each outcome.

    One failing run must not lose the others: its error is recorded in the run's entry (and the full
    traceback in runs/NAME.error.txt) and the next run starts; `save()` rewrites the manifest after each.
    Ctrl-C stops at once (the run in progress resumes next time).
    """
    log = log or (lambda line: None)
    for index, run in enumerate(todo, 1):
        spec, run_dir = specs[run["network"]], out / run["run_dir"]
        where = f"[{index}/{len(todo)}] {run['network']} seed {run['seed']}"
        finished = finished_status(run_dir)
        if finished is not None:
            log(f"{where}: {finished} before, skipped ({run_dir})")
            continue
        log(f"{where}: training {complexity_text(spec)} -> {run_dir}")
        try:
            result = train(spec, dataclasses.replace(config, seed=run["seed"]), run_dir, progress=progress)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failing network must not lose the others: recorded, reported
            run.update(status="failed", fail_reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
            log(f"{where}: FAILED: {run['fail_reason']}")
            (out / "runs").mkdir(exist_ok=True)
            (out / "runs" / f"{run_dir.name}.error.txt").write_text(traceback.format_exc())
        else:
            best = getattr(result, "best", None) or {}
            log(f"{where}: {result.status}, best mIoU {100 * float(best.get('miou', math.nan)):.2f}%")
        save()


def complexity_text(spec: NetSpec) -> str:
    """"1.94M params at 96x128" for a log line."""
    return f"{complexity(spec).params / 1e6:.2f}M params at {'x'.join(map(str, spec.input_size))}"


def timing_phase(out: Path, manifest: dict[str, Any], name: str, settings: BenchSettings = BenchSettings(),
                 evaluation: str = "best", log: Callable[[str], None] | None = None,
                 measure: Callable | None = None) -> pd.DataFrame:
    """After training: time every network with a completed run in ONE isolated phase (scaler.report._timing:
    train step at the training batch and inference, each interleaving them all, cached), record the timings in
    the manifest OUT/NAME ("timing") and return the folder's records with them applied."""
    records = records_from_reproduce(out, evaluation, name)
    timings = time_records(records, settings, measure=measure)
    manifest["timing"] = timings.as_dict()
    write_manifest(out, manifest, name)
    if log is not None:
        log(f"timed {len(timings.results)} network(s) in isolation: {timings.conditions()}")
    return apply_timings(records, timings)
