"""A study's trials as one pandas DataFrame (every state, infeasible and failed trials included)."""
from __future__ import annotations

from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from scaler.errors import ConfigError
from scaler.study._storage import open_storage, sqlite_path

__all__ = ["study_trials_frame", "load_study", "FRAME_COLUMNS"]

FRAME_COLUMNS = (
    "number", "state", "status", "rule", "factors", "params", "macs", "flops", "activations", "input_size",
    "ms_per_step", "ms_p10", "ms_p90", "miou", "pa", "mpa", "best_epoch", "epochs_run", "values", "infeasible",
    "constraints", "fail_reason", "retried_from", "run_dir", "seed", "hyperparams", "duration_s", "worker",
)
#: What a trial whose worker vanished says (its heartbeat went stale; it was failed by another worker).
DEAD_WORKER = "worker died (no heartbeat within the grace period)"


def load_study(storage: str | optuna.storages.BaseStorage, study_name: str) -> optuna.Study:
    """Load an existing study; a missing database or study name is a ConfigError that lists what exists."""
    if isinstance(storage, str):
        db_file = sqlite_path(storage)
        if db_file is not None and not db_file.is_file():
            raise ConfigError(f"no study database at {db_file}; valid: the storage a study was run with "
                              f"(`scaler study run` prints it)")
        storage = open_storage(storage)
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise ConfigError(f"no study named {study_name!r} in the storage; "
                          f"valid: {', '.join(names) or '(none)'}") from None


def _status(trial: FrozenTrial) -> tuple[str, str | None]:
    """(status, fail_reason), also for trials the objective could not label (dead worker, waiting)."""
    status = trial.user_attrs.get("status")
    reason = trial.user_attrs.get("fail_reason")
    if trial.state == TrialState.WAITING:
        return "waiting", None
    if trial.state == TrialState.RUNNING:
        return "running", None
    if trial.state == TrialState.FAIL and status in (None, "running"):
        return "failed", reason or DEAD_WORKER
    if trial.state == TrialState.PRUNED:
        return "pruned", None
    return status or trial.state.name.lower(), reason


def _row(trial: FrozenTrial) -> dict[str, Any]:
    """One trial's row."""
    attrs = trial.user_attrs
    best = attrs.get("best") or {}
    status, reason = _status(trial)
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return {
        "number": trial.number, "state": trial.state.name, "status": status, "rule": attrs.get("rule"),
        "factors": attrs.get("factors"), "params": attrs.get("params"), "macs": attrs.get("macs"),
        "flops": attrs.get("flops"), "activations": attrs.get("activations"), "input_size": attrs.get("input_size"),
        "ms_per_step": attrs.get("ms_per_step"), "ms_p10": attrs.get("ms_p10"), "ms_p90": attrs.get("ms_p90"),
        "miou": best.get("miou"), "pa": best.get("pa"), "mpa": best.get("mpa"), "best_epoch": best.get("epoch"),
        "epochs_run": attrs.get("epochs_run", len(attrs.get("history") or []) or None),
        "values": list(trial.values) if trial.values is not None else None,
        "infeasible": bool(attrs.get("infeasible", False)), "constraints": trial.constraints or None,
        "fail_reason": reason, "retried_from": trial.system_attrs.get("failed_trial"),
        "run_dir": attrs.get("run_dir"), "seed": attrs.get("seed"), "hyperparams": dict(trial.params),
        "duration_s": duration, "worker": attrs.get("worker"),
    }


def study_trials_frame(storage: str | optuna.storages.BaseStorage, study_name: str) -> pd.DataFrame:
    """One row per trial of a study, in trial order, with the record `scaler study run` writes.

    Args:
        storage: a storage URL or an Optuna storage.
        study_name: the study's name.

    Returns:
        Columns FRAME_COLUMNS: number, state (Optuna's), status (completed, pruned, diverged, oom,
        infeasible, failed, interrupted, running, waiting), rule, factors, params, macs, flops,
        activations, input_size, ms_per_step (+ p10/p90), miou/pa/mpa/best_epoch (best epoch),
        epochs_run, values, infeasible, constraints, fail_reason, retried_from (the original trial
        of a retry), run_dir, seed, hyperparams (the sampled Optuna parameters), duration_s, worker.
    """
    study = load_study(storage, study_name)
    rows = [_row(t) for t in study.get_trials(deepcopy=False)]
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
