"""The ONE place scaler touches Optuna internals, because no public API does the job.

Optuna (5.0) has no call that writes several user attributes of a trial at once: every public
`Trial.set_user_attr` is its own transaction (a few queries and a commit, i.e. an fsync). A trial
record is ~25 attributes, which made writing it half of the search overhead
(benchmarks/search_overhead.py). So on an RDBStorage the batch goes through the storage's own
per-attribute writer inside one session. If those internals are not there (another storage, another
Optuna version), the public calls are used, so a change in Optuna costs speed, never correctness.
Everything else in scaler.study uses public Optuna APIs only.
"""
from __future__ import annotations

from typing import Any

import optuna

try:
    from optuna.storages._rdb import models as _models
    from optuna.storages._rdb.storage import _create_scoped_session
except ImportError:  # another Optuna layout: the public calls are used
    _models = _create_scoped_session = None

__all__ = ["set_user_attrs"]


def _rdb_writer(trial: optuna.Trial) -> tuple[Any, Any] | None:
    """(RDBStorage, its per-attribute writer) behind a trial, or None when the internals are not there."""
    storage = getattr(trial, "storage", None)
    backend = getattr(storage, "_backend", storage)  # a cached storage wraps the RDBStorage
    writer = getattr(backend, "_set_trial_attr_without_commit", None)
    if (not isinstance(backend, optuna.storages.RDBStorage) or writer is None or _models is None
            or _create_scoped_session is None or not hasattr(trial, "_trial_id")):
        return None
    return backend, writer


def set_user_attrs(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """Write several user attributes of a running trial in ONE transaction where the storage allows."""
    internals = _rdb_writer(trial)
    if internals is None:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    backend, writer = internals
    with _create_scoped_session(backend.scoped_session, True) as session:
        for key, value in attrs.items():
            writer(session, _models.TrialUserAttributeModel, trial._trial_id, key, value)
