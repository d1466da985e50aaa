"""The worker loop: claim a slot, run one trial, repeat until the study's n_trials is reached (globally)."""
from __future__ import annotations

import copy
import errno
import signal
import json
import logging
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from scaler.errors import ConfigError
from scaler.train import OutOfSpace, train
from scaler.study._config import StudyConfig
from scaler.study._dedupe import training_settings
from scaler.study._objective import INTERRUPTED, StudyObjective, TrialFailed, TrialTiming
from scaler.study._optuna_private import set_user_attrs
from scaler.study._preflight import check_worker
from scaler.study._samplers import make_pruner, make_sampler
from scaler.signals import Interrupted, StopSignals
from scaler.study._storage import ClaimLock, claim_lock, open_storage, retry_callback

__all__ = ["run_study", "StudyRun", "trial_limit", "may_start", "counts_toward_limit", "study_attrs",
           "MAX_SAMPLES_PER_TRIAL"]

_log = logging.getLogger("scaler.study")


@dataclass
class StudyRun:
    """What one worker did: the trials it ran, why it stopped, and where the time went."""

    study_name: str
    storage: str
    study_dir: Path | None = None
    trials: list[int] = field(default_factory=list)
    stopped: str = ""
    timings: list[TrialTiming] = field(default_factory=list)
    wall_s: float = 0.0
    setup_s: float = 0.0
    check_s: float = 0.0  # the set-up check (one training step of the base network), part of setup_s


def trial_limit(config: StudyConfig) -> int | None:
    """The global number of trials: n_trials, and never more than the points of a grid."""
    if config.sampler == "grid":
        size = config.space.grid_size()
        return size if config.n_trials is None else min(config.n_trials, size)
    return config.n_trials


#: At most this many samples (original trials) per counted trial: a sampler that keeps proposing
#: infeasible or already-trained networks ends the study instead of looping forever.
MAX_SAMPLES_PER_TRIAL = 5


def counts_toward_limit(trial: FrozenTrial) -> bool:
    """An original trial that trains (or trained) a network of its own: not a retry, not infeasible, not a reuse."""
    attrs = trial.user_attrs
    return "failed_trial" not in trial.system_attrs and not attrs.get("infeasible") \
        and attrs.get("reused_from") is None


def may_start(trials: list[FrozenTrial], limit: int | None, count_all: bool = False) -> bool:
    """Whether a worker may start a trial now: a retry is waiting, or fewer than `limit` trials count.

    A retry of a dead worker's trial (system attribute `failed_trial`) replaces its original, so
    only originals count towards `limit`; a waiting trial (a retry or an enqueued one) is always run.
    Infeasible samples and samples that reuse an already-trained network do not count (they train
    nothing) unless `count_all` (a grid, whose points are the limit); at most MAX_SAMPLES_PER_TRIAL
    x `limit` originals are ever created.
    """
    if limit is None or any(t.state == TrialState.WAITING for t in trials):
        return True
    originals = [t for t in trials if "failed_trial" not in t.system_attrs]
    counted = len(originals) if count_all else sum(counts_toward_limit(t) for t in originals)
    return counted < limit and len(originals) < limit * MAX_SAMPLES_PER_TRIAL


def study_attrs(config: StudyConfig) -> dict[str, Any]:
    """The study's user attributes: what every worker must agree on, and what reports read."""
    train_settings = training_settings(config.train)
    return {
        "study_file": config.text,
        "study_path": str(config.path) if config.path else None,
        "search_space": config.space.to_dict(),
        "base_spec": config.base.to_dict(),
        "scaling": config.scaling.to_dict(),
        "budgets": [str(b) for b in config.scaling.budgets],  # the readable form reports print
        "infeasible_policy": config.infeasible,
        "objectives": list(config.objectives),
        "directions": config.directions,
        "sampler": config.sampler,
        "pruner": config.pruner,
        "train": train_settings,
    }


#: Study attributes that may change between runs of the same study (informational only).
_MUTABLE_ATTRS = ("study_file", "study_path", "sampler", "pruner")
#: The study attribute holding the key of its run folder (<run_root>/<name>-<key>), drawn once per study.
RUN_KEY = "run_key"


def _check_setup(config: StudyConfig, study: optuna.Study, wanted: dict[str, Any]) -> None:
    """A stored study made from a different setup (directions, search space, budgets, ...) is a ConfigError."""
    if [d.name.lower() for d in study.directions] != config.directions:
        raise ConfigError(f"study {config.name!r} in the storage has directions "
                          f"{[d.name.lower() for d in study.directions]}, the file asks for {config.directions}; "
                          f"valid: the same objectives, or a new study name")
    stored = study.user_attrs
    for key, value in wanted.items():
        if key in stored and key not in _MUTABLE_ATTRS and stored[key] != value:
            old, new = stored[key], value
            if isinstance(old, dict) and isinstance(new, dict):  # name only what differs
                keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                old, new = {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}
            raise ConfigError(f"study {config.name!r} in the storage was made with a different {key}: stored "
                              f"{old!r}, this file {new!r}; valid: the same setup, or a new study name")


def _open_study(config: StudyConfig, storage: optuna.storages.BaseStorage,
                claim: ClaimLock) -> tuple[optuna.Study, str]:
    """Create the study or load it, checked against this setup; (study, the key of its run folder).

    The run key is drawn by the worker that creates the study, under the claim lock, so every worker
    agrees on it, and two studies never share a run folder: not two studies of one name in different
    storages, nor a study deleted and created again under its old name.
    """
    with claim.held():
        study = optuna.create_study(storage=storage, study_name=config.name, directions=config.directions,
                                    sampler=make_sampler(config, config.seed), pruner=make_pruner(config),
                                    load_if_exists=True)
        wanted = {key: _roundtrip(value) for key, value in study_attrs(config).items()}
        _check_setup(config, study, wanted)
        stored = study.user_attrs
        wanted.setdefault(RUN_KEY, stored.get(RUN_KEY) or uuid.uuid4().hex[:8])
        for key, value in wanted.items():
            if stored.get(key) != value:
                study.set_user_attr(key, value)
    return study, wanted[RUN_KEY]


def _roundtrip(value: Any) -> Any:
    """A value as it comes back from JSON storage (tuples become lists)."""
    return json.loads(json.dumps(value))


def _stored(study: optuna.Study, number: int) -> FrozenTrial:
    """A trial's stored record by number (public calls only)."""
    return next(t for t in study.get_trials(deepcopy=True) if t.number == number)


def _requeue_interrupted(study: optuna.Study | None, trial: optuna.Trial | None, max_retry: int) -> str:
    """Queue a retry of the trial a signal stopped, as the heartbeat does for a dead worker's; say what was saved.

    Runs while StopSignals holds further signals off, so a second or third Ctrl-C cannot lose the retry.
    """
    if study is None or trial is None:
        return "no trial was running; nothing to resume"
    frozen = _stored(study, trial.number)
    if frozen.state == TrialState.RUNNING:  # stopped between the objective and Optuna's tell
        set_user_attrs(trial, {"status": "interrupted", "fail_reason": INTERRUPTED})
        study.tell(trial, state=TrialState.FAIL)
        frozen = _stored(study, trial.number)
    if frozen.state != TrialState.FAIL or frozen.user_attrs.get("status") != "interrupted":
        return f"trial {frozen.number} had already finished ({frozen.state.name.lower()}); nothing to resume"
    epochs = len(frozen.user_attrs.get("history") or [])
    saved = f"trial {frozen.number} stopped after {epochs} epoch(s) (checkpoint in " \
            f"{frozen.user_attrs.get('run_dir', 'its run folder')})"
    if len(frozen.system_attrs.get("retry_history", [])) >= max_retry:
        return f"{saved}; it was retried {max_retry} time(s) already (max_retry), so it is not queued again"
    clean = copy.deepcopy(frozen)
    clean.user_attrs = {k: v for k, v in frozen.user_attrs.items() if k not in ("status", "fail_reason")}
    retry_callback(max_retry)(study, clean)
    return f"{saved} and is queued for a retry that resumes it"


def _loop(config: StudyConfig, study: optuna.Study, objective: StudyObjective, claim: ClaimLock, run: StudyRun,
          callbacks: list[Any], wait: bool, wall: float) -> None:
    """Claim a slot and run one trial, until n_trials is reached (globally), the timeout passes or nothing is left."""
    limit = trial_limit(config)
    while True:
        if config.timeout is not None and time.perf_counter() - wall >= config.timeout:
            run.stopped = "timeout"
            return
        start = time.perf_counter()
        objective.timing, objective.trial = TrialTiming(), None
        with claim.held():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # dead workers' trials -> FAIL + queued retry
            trials = study.get_trials(deepcopy=False)
            if not may_start(trials, limit, count_all=config.sampler == "grid"):
                if wait and any(t.state == TrialState.RUNNING for t in trials):
                    # Other workers' trials are running: stay until they end, so that a trial
                    # whose worker dies is retried here instead of being left behind.
                    if run.stopped != "waiting":
                        _log.info("waiting for the running trials of other workers")
                    run.stopped = "waiting"
                    claim.release()
                    time.sleep(config.heartbeat_interval)
                    continue
                originals = sum("failed_trial" not in t.system_attrs for t in trials)
                run.stopped = "done" if limit is None else "n_trials reached" \
                    if originals < limit * MAX_SAMPLES_PER_TRIAL or config.sampler == "grid" else \
                    f"{limit * MAX_SAMPLES_PER_TRIAL} samples ({MAX_SAMPLES_PER_TRIAL} x n_trials) reached, " \
                    f"most of them infeasible or already trained"
                return
            # A sampler seeded per trial number: reproducible whichever worker runs the trial, and
            # workers never share a random stream (which would make them propose the same points).
            study.sampler = make_sampler(config, config.seed + len(trials))
            objective.timing.claim_s = time.perf_counter() - start
            # The objective releases the claim once `ask` has stored the trial as RUNNING.
            study.optimize(objective, n_trials=1, catch=(TrialFailed,), callbacks=callbacks)
        objective.timing.total_s = time.perf_counter() - start
        objective.trial = None
        run.trials.append(objective.timing.number)
        run.timings.append(objective.timing)


def _checked_worker(config: StudyConfig) -> float:
    """`check_worker(config)`, timed: the seconds the set-up check took."""
    started = time.perf_counter()
    check_worker(config)
    return time.perf_counter() - started


def run_study(
    config: StudyConfig,
    *,
    train_fn: Callable[..., Any] | None = None,
    on_trial_end: Callable[[FrozenTrial], None] | None = None,
    progress: bool = False,
    wait: bool = True,
    check: bool = True,
) -> StudyRun:
    """Run trials of a study as one worker until the study is done, the timeout passes or a signal stops it;
    start it on many machines (same storage URL) to share the study: n_trials is the study's total.

    Args:
        config: the study (`load_study_config(...).with_overrides(...)`).
        train_fn: the trainer (default `scaler.train.train`); tests pass a stand-in.
        on_trial_end: called with each trial this worker finished.
        progress: show the trainer's progress bar.
        wait: when no trial is left to start but other workers' trials still run, wait for them
            (polling every heartbeat interval), so that the trial of a worker that dies is retried.
        check: before claiming any trial, train the base network one step with the real trainer
            (`check_worker`), so a configuration this worker cannot run consumes no trial.

    Returns:
        A StudyRun: the trial numbers this worker ran, why it stopped, and per-trial timings.

    Raises:
        ConfigError: the storage, the stored study or this worker's set-up is unusable (nothing claimed).
        Interrupted: a KeyboardInterrupt after SIGINT/SIGTERM, raised once the running trial is FAIL
            ("interrupted") and queued for a retry; its message says what was saved.
        OSError: the disk filled up (ENOSPC); the running trial is queued for a retry as on a signal.
    """
    wall = time.perf_counter()
    storage = open_storage(config.storage, heartbeat_interval=config.heartbeat_interval,
                           grace_period=config.grace_period, max_retry=config.max_retry)
    claim = claim_lock(config.storage, config.name)
    run = StudyRun(config.name, config.storage)
    study: optuna.Study | None = None
    objective: StudyObjective | None = None
    with StopSignals() as stops:
        try:
            if check:  # before the study is even created: a broken worker leaves no trace in it
                run.check_s = _checked_worker(config)
            study, run_key = _open_study(config, storage, claim)
            run.study_dir = config.study_dir(run_key)
            objective = StudyObjective(config, train_fn or train, run.study_dir, claim, progress)
            run.setup_s = time.perf_counter() - wall
            callbacks = [lambda _study, frozen: on_trial_end(frozen)] if on_trial_end else []
            _loop(config, study, objective, claim, run, callbacks, wait, wall)
        except (KeyboardInterrupt, OutOfSpace) as exc:  # the trial resumes on a retry; a full disk stops us too
            full = isinstance(exc, OutOfSpace)
            run.stopped = "out of space" if full else "interrupted"
            saved = _requeue_interrupted(study, objective.trial if objective else None, config.max_retry)
            if full:
                raise OSError(errno.ENOSPC, f"{exc}; {saved}") from None
            raise Interrupted(stops.signum or signal.SIGINT, saved) from None
        finally:  # still inside StopSignals: a late Ctrl-C cannot leave the lock or a session half-closed
            claim.close()
            run.wall_s = time.perf_counter() - wall
            storage.remove_session()
    return run
