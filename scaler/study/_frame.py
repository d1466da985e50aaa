"""A study's trials as one pandas DataFrame (every state, infeasible and failed trials included).

`trial_status` is THE function that labels a trial (study status, the frame, reports): its
objective's "status" attribute where Optuna's state confirms it, a fallback where it cannot.
A retry (of a dead worker's trial or an interrupted one) trains the SAME network as the trial it
retries: the frame links the two both ways (`retried_from`, `retried_by`), so a network is counted
once, by its last attempt (`network_counts`). A trial that reused another trial's network
(`reused_from`, scaler.study._dedupe) is no network of its own either (`reuse_counts`).
"""
from __future__ import annotations

import warnings
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from scaler.errors import ConfigError
from scaler.vocabulary import TRIAL_STATUSES
from scaler.study._storage import open_storage, sqlite_path

__all__ = ["study_trials_frame", "load_study", "FRAME_COLUMNS", "trial_status", "network_counts", "reuse_counts",
           "DEAD_WORKER"]

FRAME_COLUMNS = (
    "number", "state", "status", "method", "factors", "params", "macs", "flops", "activations", "input_size",
    "ms_per_step", "ms_p10", "ms_p90", "miou", "pa", "mpa", "best_epoch", "epochs_run", "values", "infeasible",
    "constraints", "fail_reason", "retried_from", "retried_by", "run_dir", "seed", "hyperparams", "duration_s",
    "worker", "network_key", "reused_from",
)
#: What a trial whose worker vanished says (its heartbeat went stale; it was failed by another worker).
DEAD_WORKER = "worker died (no heartbeat within the grace period)"
#: What a queued trial says.
QUEUED = "queued, not started (an enqueued trial or a retry)"
#: What an over-budget trial says.
OUTSIDE_BUDGET = "outside the budget: recorded, never trained"


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


def _retry_links(trial: FrozenTrial) -> tuple[int | None, int | None]:
    """(first attempt, previous attempt) of a retried trial, through Optuna's public retry helpers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        first = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
        history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)
    return first, (history[-1] if history else None)


def trial_status(trial: FrozenTrial) -> tuple[str, str]:
    """(status, reason) of a trial: status one of vocabulary.RECORD_STATUSES, reason "" when there is none.

    The objective's "status" attribute is trusted where Optuna's state confirms it. Where it cannot be:
    a worker that died leaves "running" on a trial another worker then FAILed (-> failed, DEAD_WORKER);
    a queued retry carries a copy of its original's attributes (-> waiting); an infeasible candidate is
    COMPLETE with mIoU 0 but is no result (-> infeasible).
    """
    attrs = trial.user_attrs
    status, reason = attrs.get("status"), str(attrs.get("fail_reason") or "")
    if trial.state == TrialState.WAITING:
        first, _ = _retry_links(trial)
        return "waiting", QUEUED if first is None else f"queued: a retry of trial {first}"
    if trial.state == TrialState.RUNNING:
        return "running", ""
    if attrs.get("infeasible") or status == "infeasible":
        return "infeasible", reason or OUTSIDE_BUDGET
    if trial.state == TrialState.FAIL and status in (None, "running", "completed"):
        return "failed", reason or DEAD_WORKER
    if trial.state == TrialState.PRUNED:
        return "pruned", reason
    if status in TRIAL_STATUSES and status != "running":
        return status, reason
    return ("completed", "") if trial.state == TrialState.COMPLETE else ("failed", reason or DEAD_WORKER)


def _row(trial: FrozenTrial, retried_by: int | None) -> dict[str, Any]:
    """One trial's row."""
    attrs = trial.user_attrs
    best = attrs.get("best") or {}
    status, reason = trial_status(trial)
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return {
        "number": trial.number, "state": trial.state.name, "status": status, "method": attrs.get("method"),
        "factors": attrs.get("factors"), "params": attrs.get("params"), "macs": attrs.get("macs"),
        "flops": attrs.get("flops"), "activations": attrs.get("activations"), "input_size": attrs.get("input_size"),
        "ms_per_step": attrs.get("ms_per_step"), "ms_p10": attrs.get("ms_p10"), "ms_p90": attrs.get("ms_p90"),
        "miou": best.get("miou"), "pa": best.get("pa"), "mpa": best.get("mpa"), "best_epoch": best.get("epoch"),
        "epochs_run": attrs.get("epochs_run", len(attrs.get("history") or []) or None),
        "values": list(trial.values) if trial.values is not None else None,
        "infeasible": bool(attrs.get("infeasible", False)), "constraints": trial.constraints or None,
        "fail_reason": reason, "retried_from": _retry_links(trial)[0], "retried_by": retried_by,
        "run_dir": attrs.get("run_dir"), "seed": attrs.get("seed"), "hyperparams": dict(trial.params),
        "duration_s": duration, "worker": attrs.get("worker"), "network_key": attrs.get("network_key"),
        "reused_from": attrs.get("reused_from"),
    }


def study_trials_frame(storage: str | optuna.storages.BaseStorage, study_name: str) -> pd.DataFrame:
    """One row per trial of a study, in trial order, with the record `scaler study run` writes.

    Args:
        storage: a storage URL or an Optuna storage.
        study_name: the study's name.

    Returns:
        Columns FRAME_COLUMNS: number, state (Optuna's), status and fail_reason (`trial_status`),
        method, factors, params, macs, flops, activations, input_size, ms_per_step (+ p10/p90),
        miou/pa/mpa/best_epoch (best epoch), epochs_run, values, infeasible, constraints,
        retried_from (the first attempt of a retry's network), retried_by (the trial that retried
        this one: this row is an earlier attempt of that trial's network, not a network of its own),
        run_dir, seed, hyperparams (the sampled Optuna parameters), duration_s, worker.
    """
    study = load_study(storage, study_name)
    trials = study.get_trials(deepcopy=False)
    retried_by: dict[int, int] = {}
    for trial in trials:
        _, previous = _retry_links(trial)
        if previous is not None:
            retried_by[previous] = trial.number
    rows = [_row(t, retried_by.get(t.number)) for t in trials]
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    frame["retried_from"] = frame["retried_from"].astype("Int64")
    frame["retried_by"] = frame["retried_by"].astype("Int64")
    frame["reused_from"] = frame["reused_from"].astype("Int64")
    return frame


def network_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Networks per status, each counted once: by its last attempt (a retried trial and its retry are one),
    and only by the trial that trained it (a trial that reused another's network is no network of its own)."""
    final = frame[frame["retried_by"].isna() & frame["reused_from"].isna()]
    return {str(k): int(v) for k, v in final["status"].value_counts().items()}


def reuse_counts(frame: pd.DataFrame) -> dict[str, int]:
    """{"trials", "distinct_networks" (trained ones, by network_key), "reused_trials"}: one training per network."""
    trained = frame[frame["retried_by"].isna() & frame["reused_from"].isna() & ~frame["infeasible"].astype(bool)
                    & frame["network_key"].notna()]
    return {"trials": int(len(frame)), "distinct_networks": int(trained["network_key"].nunique()),
            "reused_trials": int(frame["reused_from"].notna().sum())}
