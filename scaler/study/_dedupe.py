"""One network, one training: a canonical key names a network, and a sample whose network exists reuses it.

After rounding (widths to multiples of 8, whole conv units, input sides to the stride) two samples
can name the same network, and a [train] knob sampled twice at the same value trains it the same
way. `network_key` hashes what decides a training run: the ROUNDED spec and every training setting
that is the study's (seed included); the machine's own settings (device, loader workers, data
folder) are left out, so two workers name a network alike. The key is stored on every trial
(user attribute "network_key").

The objective looks a key up while it still holds the study's claim lock (scaler.study._storage),
so two workers can never both decide to train one network, on SQLite and PostgreSQL alike. The
first trial with a key trains it; a later one records "reused_from" (the trial that trained it),
waits while that trial is still running, and takes its result: the same values, history and best
epoch, or the same pruned verdict. A reuse trains nothing, so it does not count toward n_trials
(scaler.study._runner). If the training trial fails (a worker died, it diverged), the reusing trial
trains the network itself; a retry of a dead worker's trial may then train it a second time, the
one case where a network is trained twice (it needs a worker to die).
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from scaler.spec import NetSpec

__all__ = ["network_key", "find_source", "PER_WORKER", "training_settings", "SOURCE_STATES"]

#: Train-config fields that may differ between the workers of one study (their machine's business).
PER_WORKER = ("device", "num_workers", "data_root")
#: States of a trial whose network another trial may reuse (a running one is waited for).
SOURCE_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: Significant digits of floats in the key: a sampled 1e-3 and 0.0010000000000000002 are one setting.
KEY_DIGITS = 10


def training_settings(train: Any) -> dict[str, Any]:
    """A TrainConfig's settings that decide a run: all but the per-worker ones (PER_WORKER)."""
    return {k: v for k, v in train.to_dict().items() if k not in PER_WORKER}


def _canonical(value: Any) -> Any:
    """Tuples as lists, floats to KEY_DIGITS significant digits, mapping keys as strings."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{KEY_DIGITS}g}")
    return value


def network_key(spec: NetSpec, train: Any) -> str:
    """The key of a trained network: sha256 of the rounded spec and the training settings, 16 hex digits."""
    record = {"spec": spec.to_dict(), "train": training_settings(train)}
    text = json.dumps(_canonical(record), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_source(study: optuna.Study, key: str, number: int) -> FrozenTrial | None:
    """The trial that trains (or trained) the network `key`, other than trial `number`; None if there is none.

    Only trials that trained it themselves qualify (not reuses, not infeasible records); the
    earliest wins, so every reuse links to the same trial.
    """
    for trial in study.get_trials(deepcopy=False, states=SOURCE_STATES):
        attrs = trial.user_attrs
        if trial.number != number and attrs.get("network_key") == key and attrs.get("reused_from") is None \
                and not attrs.get("infeasible"):
            return trial
    return None
