"""Optuna studies: a budget-aware search over scaling rules, with pruning, resumable and shared by many workers.

    config = load_study_config("studies/quickstart.toml")
    run_study(config.with_overrides(storage="postgresql://user@host/db", n_trials=20))  # on every worker
    study_trials_frame(config.storage, config.name)                                   # one row per trial

Studies are ordinary Optuna studies (optuna-dashboard and the `optuna` command read them). Each
trial's user attributes hold the record reports read: rule, factors, spec, params, macs, flops,
activations, input_size, seed, run_dir, infeasible, status, fail_reason, and once trained
ms_per_step/ms_p10/ms_p90, history (per-epoch validation metrics), best, epochs_run. The value is
the best validation mIoU (then each cost objective, in its own unit).

Design decisions
----------------
The budget acts before training. A rule ("depth", "compound", ...) is solved into the budget
(`scaler.solver.solve`, after rounding), so it is always feasible. Free factors may not be: by
default ("constrain") such a trial is recorded as infeasible and never trained; every trial stores
one Optuna constraint per budget metric (`cost / limit - 1`, <= 0 fits, via `Trial.set_constraint`)
and finishes COMPLETE with mIoU 0. Raising TrialPruned instead (Optuna issue 2969) would put the
candidate among the pruned trials, which TPE ranks by their (here absent) learning curves and can
even count as "good" while few trials are complete, so it would steer the search INTO the
infeasible region; a FAILed trial is ignored and its region is resampled forever (issue 332). With
constraints, TPE and NSGA-II rank infeasible trials after every feasible one, ordered by how far
they overshoot, and `best_trial`/`best_trials` skip them. The alternative `infeasible = "project"`
scales the sample back along its own direction into the budget and trains that, at the cost of
teaching the sampler a value for a point it did not evaluate. An infeasible trial counts towards
n_trials (it is a point the sampler proposed) but costs no training step.

n_trials is global. A worker may start a trial only while (number of original trials) < n_trials
or a retry is waiting; counting and creating the trial (`ask`) happen under a per-study lock across
processes (PostgreSQL advisory lock, MySQL GET_LOCK, flock on a SQLite file), held for milliseconds
and released by the objective's first line, so no worker can start the (n+1)-th trial: 3 workers
on n_trials=9 end with exactly 9. (MaxTrialsCallback checks only after a trial ends, so racing
workers overshoot.) The sampler is re-seeded per trial number, so workers never share a random
stream and a run is reproducible whichever worker takes which trial; under the lock a grid never
hands the same point to two workers.

A dead worker costs nothing already finished. Running trials send heartbeats; the next worker
to claim a slot fails a trial whose heartbeat is older than `grace_period` and re-queues it
(RetryHeartbeatStaleTrialCallback, `max_retry` times, system attribute `failed_trial`). The retry
keeps the sampled parameters and trains in the original trial's run directory with resume=True, so
it continues from the last checkpoint. Retries replace their original in the n_trials count. A
worker with nothing left to start waits while other workers' trials run (polling once per
heartbeat interval), so the trial of a worker that dies late is still retried; then it exits.
Ctrl-C (or SIGTERM via the CLI) marks the running trial FAIL with status "interrupted" and queues
it the same way; the next `scaler study run` redoes it.

Failures: a diverged (NaN) or out-of-memory trial, or one whose candidate the data cannot feed
(ScalerError), is FAIL with status "diverged"/"oom"/"failed" and its fail_reason, and the study
goes on. Any other exception is a bug: the trial is FAIL with the reason and the worker stops.

Pruning: each epoch reports the best validation mIoU so far (the quantity the trial's value will
be, so one noisy epoch does not condemn a trial); median and Hyperband pruners (resource = epochs)
apply to single-objective studies. Optuna cannot prune multi-objective studies (issue 3450), and
pruning on mIoU alone would be unsound there, since a cheap network with a low mIoU may still be
Pareto-optimal. So a multi-objective study trains every feasible trial to the end (a pruner is a
ConfigError), and the recommended setup is one learned objective, mIoU, under hard budgets, pruned,
with the accuracy/cost Pareto front computed afterwards from the recorded costs: every trial stores
params, MACs, activations and ms/step whatever the objectives.

Paths: relative paths inside a study or search-space file are relative to that file's folder; a
trial trains in <run_root>/<study name>/trial_NNNN. A SQLite storage runs in WAL mode (see
scaler.study._storage), and a trial's record is written in one transaction, so bookkeeping stays
well under 1% of a trial (benchmarks/search_overhead.py).
"""
from __future__ import annotations

from scaler.study._config import (
    INFEASIBLE_POLICIES,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    StudyConfig,
    load_study_config,
)
from scaler.study._frame import FRAME_COLUMNS, load_study, study_trials_frame
from scaler.study._budget import Network, resolve_network
from scaler.study._objective import STATUSES, TrialTiming
from scaler.study._runner import StudyRun, run_study
from scaler.study._space import Candidate, SearchSpace, load_search_space
from scaler.study._storage import open_storage

__all__ = [
    "FRAME_COLUMNS",
    "INFEASIBLE_POLICIES",
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "STATUSES",
    "Candidate",
    "Network",
    "SearchSpace",
    "StudyConfig",
    "StudyRun",
    "TrialTiming",
    "load_search_space",
    "load_study",
    "load_study_config",
    "open_storage",
    "resolve_network",
    "run_study",
    "study_trials_frame",
]
