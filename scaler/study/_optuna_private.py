"""The ONE place scaler touches Optuna internals, because no public API does the job.

Optuna (5.0) has no call that writes several user attributes of a trial at once: every public
`Trial.set_user_attr` is its own transaction (a few queries and a commit, i.e. an fsync). A trial
record is ~25 attributes, which made writing it half of the search overhead
(benchmarks/search_overhead.py). So on an RDBStorage the batch goes through the storage's own
per-attribute writer inside one session. If those internals are not there (another storage, another
Optuna version), the public calls are used, so a change in Optuna costs speed, never correctness.

The other: Optuna's genetic samplers (NSGA-II) read their populations through `Study._get_trials`
with COMPLETE trials only, so a study that prunes most trials would never leave its random first
generation. `PrunedAsScored` is a read-only view of a study whose `_get_trials` also returns each
Pareto-pruned trial as a finished one scored at the values it had when pruned
(`scaler.study._pareto_pruning.ParetoNSGAII` hands it to NSGA-II; the stored trial stays PRUNED).
Everything else in scaler.study uses public Optuna APIs only.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

try:
    from optuna.storages._rdb import models as _models
    from optuna.storages._rdb.storage import _create_scoped_session
except ImportError:  # another Optuna layout: the public calls are used
    _models = _create_scoped_session = None

__all__ = ["set_user_attrs", "PrunedAsScored"]


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


class PrunedAsScored:
    """A study seen with every pruned trial that `score` can value as a COMPLETE trial holding those values.

    Only `_get_trials` differs (the call Optuna's genetic samplers read populations through); every
    other attribute is the study's own. `score(trial)` gives a pruned trial's objective values, or
    None to leave it pruned. Nothing is written: the stored trials keep their states.
    """

    def __init__(self, study: optuna.Study, score: Callable[[FrozenTrial], Sequence[float] | None]) -> None:
        self._scored_study = study
        self._score = score

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scored_study, name)

    def _get_trials(self, deepcopy: bool = True, states: Sequence[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        wanted = None if states is None else set(states)
        also = {TrialState.PRUNED} if wanted is not None and TrialState.COMPLETE in wanted else set()
        fetch = None if wanted is None else tuple(wanted | also)
        trials = []
        for trial in self._scored_study._get_trials(deepcopy=deepcopy, states=fetch, use_cache=use_cache):
            values = self._score(trial) if trial.state == TrialState.PRUNED else None
            if values is None:
                if wanted is None or trial.state in wanted:
                    trials.append(trial)
                continue
            scored = copy.copy(trial)
            scored.state, scored.values = TrialState.COMPLETE, list(values)
            trials.append(scored)
        return trials
