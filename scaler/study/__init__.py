"""Optuna studies: a budget-aware search over scaling methods, with pruning, resumable and shared by many workers.

    config = load_study_config("studies/quickstart.toml")
    run_study(config.with_overrides(storage="postgresql://user@host/db", n_trials=20))  # on every worker
    study_trials_frame(config.storage, config.name)                                   # one row per trial

Studies are ordinary Optuna studies (optuna-dashboard and the `optuna` command read them). Each
trial's user attributes hold the record reports read: method, factors, spec, params, macs, flops,
activations, input_size, seed, run_dir, infeasible, status, fail_reason, and once trained
ms_per_step/ms_p10/ms_p90, history (per-epoch validation metrics), best, epochs_run. The value is
the best validation mIoU (then each cost objective, in its own unit). `trial_status` labels a
trial (status from vocabulary.TRIAL_STATUSES, reason) for status lines, the frame and reports.

Design decisions
----------------
The budget acts before training. How to scale is the study's [scaling] table, parsed by
`scaler.scaling.ScalingOptions` (budget, ratio, tolerance, depth_rounding); limits, fits and
constraints come from `scaler.solver`. A method ("depth", "compound", ...) is solved into the budget
after rounding, so it is always feasible, and so is a [direction] (growth weights per factor, put on
the budget frontier by the solver: see scaler.study._space and the README for why a direction
rather than sample-then-project). Free [factors] may not be: by default ("constrain") such a
trial is recorded as infeasible and never trained; every trial stores one Optuna constraint per
budget metric (`cost / (limit x (1 + tolerance)) - 1`, <= 0 fits, via `Trial.set_constraint`) and
finishes COMPLETE with mIoU 0. Raising TrialPruned instead (Optuna issue 2969) would put the
candidate among the pruned trials, which TPE ranks by their (here absent) learning curves and can
even count as "good" while few trials are complete, so it would steer the search INTO the
infeasible region; a FAILed trial is ignored and its region is resampled forever (issue 332). With
constraints, TPE and NSGA-II rank infeasible trials after every feasible one, ordered by how far
they overshoot, and `best_trial`/`best_trials` skip them. The alternative `infeasible = "project"`
(in [study]) scales the sample back along its own direction into the budget and trains that, at
the cost of teaching the sampler a value for a point it did not evaluate. An infeasible trial
costs no training step and does not count toward n_trials (n_trials counts trained networks; a
study stops after MAX_SAMPLES_PER_TRIAL x n_trials samples whatever happens).

One network, one training (scaler.study._dedupe): `network_key` hashes the rounded spec and the
training settings; a trial whose key another trial trained (or is training, on any worker) takes
that result and records `reused_from`; it does not count toward n_trials either.

n_trials is global. A worker may start a trial only while (number of original trials) < n_trials
or a retry is waiting; counting and creating the trial (`ask`) happen under a per-study lock across
processes (PostgreSQL advisory lock, MySQL GET_LOCK, flock on a SQLite file), held for milliseconds
and released by the objective's first line, so no worker can start the (n+1)-th trial: 3 workers
on n_trials=9 end with exactly 9. (MaxTrialsCallback checks only after a trial ends, so racing
workers overshoot.) The sampler is re-seeded per trial number, so workers never share a random
stream and a run is reproducible whichever worker takes which trial; under the lock a grid never
hands the same point to two workers.

A misconfigured worker costs nothing. Before it claims any trial, a worker trains the base network
one step on one batch with the real trainer (`check_worker`): a device this machine lacks, a
missing data root, an unknown dataset or a class count the data does not have is a ConfigError
(one line, exit 2) and no trial is created, so it never counts toward n_trials.

A dead worker costs nothing already finished. Running trials send heartbeats; the next worker
to claim a slot fails a trial whose heartbeat is older than `grace_period` and re-queues it
(RetryHeartbeatStaleTrialCallback, `max_retry` times, system attribute `failed_trial`). The retry
keeps the sampled parameters and trains in the original trial's run directory with resume=True, so
it continues from the last checkpoint. Retries replace their original in the n_trials count, and
the frame links the two (`retried_from`, `retried_by`): one network, counted once. A worker with
nothing left to start waits while other workers' trials run (polling once per heartbeat interval),
so the trial of a worker that dies late is still retried; then it exits. The first Ctrl-C or
SIGTERM marks the running trial FAIL with status "interrupted" and queues it the same way; later
signals are held off until that is done (scaler.signals), and `Interrupted` says what was
saved; the CLI exits 130 (SIGINT) or 143 (SIGTERM), and the next `scaler study run` resumes it.

Failures: a diverged (NaN) or out-of-memory trial, or one whose candidate the data cannot feed
(ScalerError), is FAIL with status "diverged"/"oom"/"failed" and its fail_reason, and the study
goes on. Any other exception is a bug: the trial is FAIL with the reason and the worker stops.

Pruning: each epoch reports the best validation mIoU so far (the quantity the trial's value will
be, so one noisy epoch does not condemn a trial); median and Hyperband pruners (resource = epochs)
apply to single-objective studies. Optuna cannot prune multi-objective studies (issue 3450), and
pruning on mIoU alone would be unsound there, since a cheap network with a low mIoU may still be
Pareto-optimal. So a multi-objective study takes pruner "pareto" (scaler.study._pareto_pruning):
a trial is stopped at epoch k when no-costlier trials were more accurate at epoch k (Pareto
dominance at the same epoch; costs are known before training), with the curves kept in user
attributes since Optuna refuses intermediate values there. Every trial stores params, MACs,
activations and ms/step whatever the objectives; the hypervolume over trials is
scaler.report.study_hypervolume.

Paths: relative paths inside a study or search-space file are relative to that file's folder; a
trial trains in <run_root>/<study name>-<run key>/trial_NNNN, where the run key is drawn once per
study and kept in its user attributes ("run_key"), so studies of the same name in different
storages never share a folder. A SQLite storage runs in WAL mode (see scaler.study._storage), and a
trial's record is written in one transaction (scaler.study._optuna_private, the one module that
touches Optuna internals), so bookkeeping stays well under 1% of a trial
(benchmarks/search_overhead.py).
"""
from __future__ import annotations

from scaler.study._budget import INFEASIBLE_POLICIES, Network, resolve_network
from scaler.study._dedupe import network_key
from scaler.study._config import OBJECTIVES, PRUNERS, SAMPLERS, StudyConfig, load_study_config
from scaler.study._frame import (
    DEAD_WORKER, FRAME_COLUMNS, load_study, network_counts, reuse_counts, study_trials_frame, trial_status,
)
from scaler.study._objective import TrialTiming
from scaler.study._preflight import check_worker
from scaler.study._runner import StudyRun, run_study
from scaler.signals import Interrupted
from scaler.study._space import Candidate, SearchSpace, load_search_space
from scaler.study._storage import check_storage_url, open_storage

__all__ = [
    "DEAD_WORKER",
    "FRAME_COLUMNS",
    "INFEASIBLE_POLICIES",
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "Candidate",
    "Interrupted",
    "Network",
    "SearchSpace",
    "StudyConfig",
    "StudyRun",
    "TrialTiming",
    "check_storage_url",
    "check_worker",
    "load_search_space",
    "load_study",
    "load_study_config",
    "network_counts",
    "network_key",
    "open_storage",
    "resolve_network",
    "reuse_counts",
    "run_study",
    "study_trials_frame",
    "trial_status",
]
