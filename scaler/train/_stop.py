"""Why a run stops before its last epoch: exceptions training defines, so callers never name a search library."""
from __future__ import annotations

__all__ = ["StopTraining", "Pruned", "OutOfSpace"]


class StopTraining(Exception):
    """Raised (by training, or by an `on_epoch_end` callback) to stop a run early; `status` is what the run records.

    The run directory keeps the last finished epoch's checkpoint, so a stopped run can be resumed.
    """

    status = "interrupted"


class Pruned(StopTraining):
    """A search stopped the run because it does not look promising (recorded as "pruned", never resumed by a study)."""

    status = "pruned"


class OutOfSpace(StopTraining):
    """The disk filled up while saving: the previous checkpoint is kept, and the run resumes once there is room.

    A study treats it like an interruption (the trial is queued for a retry), not like a failed network.
    """

    status = "interrupted"
