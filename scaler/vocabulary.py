"""The toolkit's vocabulary: every user-facing list of names lives here ONCE and everything else imports it.

A CLI help text, a TOML validation error, a table legend and an error message all list the same
names in the same order because they all read them from this module (tests/test_vocabulary.py
checks that they do). The one word for "a way of scaling a network" is **method**, in code, on
the command line, in TOML files and in tables.
"""
from __future__ import annotations

__all__ = [
    "METHODS", "NAMED_METHODS", "METHOD_LABELS", "SWEEP_METHODS", "DEPTH_ROUNDINGS", "DEFAULT_DEPTH_ROUNDING", "COST_METRICS",
    "TIME_METRICS", "BUDGET_METRICS", "BENCH_MODES", "CLOCKS", "RUN_STATUSES", "FINAL_RUN_STATUSES", "RESUMABLE_RUN_STATUSES",
    "TRIAL_STATUSES", "RECORD_STATUSES", "RUN_TO_RECORD_STATUS", "SPLITS", "EVALUATIONS", "choices_text",
]

#: Scaling methods. "custom" takes explicit per-part factors; the others are named directions.
METHODS = ("baseline", "depth", "width", "resolution", "compound", "asymmetric", "custom")
#: The methods `--method all` means (every named method; "custom" needs factors).
NAMED_METHODS = METHODS[:-1]
#: The asymmetric-scaling paper's names for the network each method makes (tables and legends).
METHOD_LABELS = {"baseline": "Baseline", "depth": "D", "width": "W", "resolution": "R", "compound": "WDR",
                 "asymmetric": "AWDR", "custom": "custom"}

#: The methods a scaling sweep runs by default: every named method that grows a network ("resolution" is
#: dropped by the fit when the swept metric does not depend on input size).
SWEEP_METHODS = NAMED_METHODS[1:]

#: How scaled depths are rounded (see scaler.rounding.round_depths).
DEPTH_ROUNDINGS = ("stagewise", "uniform", "floor")
DEFAULT_DEPTH_ROUNDING = "stagewise"

#: Costs counted analytically from a spec (per image at its input size); FLOPs = 2 x MACs.
COST_METRICS = ("params", "macs", "flops", "activations")
#: Costs that are measured on a device: a training step ("ms") or an inference forward ("infer_ms").
TIME_METRICS = ("ms", "infer_ms")
#: Every metric a budget may limit.
BUDGET_METRICS = COST_METRICS + TIME_METRICS
#: What a timed step is (scaler bench --mode): a whole training step (forward, loss, backward, optimizer
#: step; what "ms" limits) or an inference forward (what "infer_ms" limits).
BENCH_MODES = ("train", "infer")
#: How a step is timed: "wall" (elapsed, the accelerator synchronized), "cpu" (this process's CPU time,
#: which other load on shared cores does not inflate; valid on CPU with one thread), "auto" (cpu there, else wall).
CLOCKS = ("auto", "wall", "cpu")

#: A training run's status (metrics.json). "running" is written after each epoch of a live run and
#: "interrupted" when an exception (Ctrl-C, SIGTERM, a full disk) ends it: both resume.
RUN_STATUSES = ("completed", "early_stopped", "diverged", "pruned", "running", "interrupted")
#: Run statuses that need no more training.
FINAL_RUN_STATUSES = ("completed", "early_stopped", "diverged", "pruned")
#: Run statuses a rerun continues from the last checkpoint.
RESUMABLE_RUN_STATUSES = ("running", "interrupted")

#: A study trial's status (its "status" user attribute). "reused": the trial's network and
#: training settings were already trained by another trial, whose result it carries.
TRIAL_STATUSES = ("running", "completed", "pruned", "diverged", "oom", "infeasible", "failed", "interrupted",
                  "reused")
#: Every status a report row can have: a trial's, plus "waiting" (a queued trial) and "pending"
#: (a reproduce run not started yet). Only "completed" (and "reused") rows carry final accuracies.
RECORD_STATUSES = TRIAL_STATUSES + ("waiting", "pending")
#: A run's status as a report row's: a run stopped early by patience has completed.
RUN_TO_RECORD_STATUS = {"completed": "completed", "early_stopped": "completed", "diverged": "diverged",
                        "pruned": "pruned", "running": "running", "interrupted": "interrupted"}

#: Dataset splits. Not every dataset has every split (Cityscapes' test has no public labels).
SPLITS = ("train", "val", "test")
#: Which accuracy of a run a report shows: its best validation epoch (selected on the split it is then
#: reported on, so optimistic), its final epoch on val (no selection), or the val-selected checkpoint
#: evaluated on the test split (where the run has one).
EVALUATIONS = {"best": "val, best epoch (selected on val itself: optimistic)",
               "final": "val, final epoch (no selection)",
               "test": "test, checkpoint selected on val"}


def choices_text(names: tuple[str, ...] | list[str]) -> str:
    """Names as an error message or help text lists them: "a, b, c"."""
    return ", ".join(names)
