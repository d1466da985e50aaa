"""The hypervolume of a set of points: shared by study reports (the front over trials) and Pareto pruning."""
from __future__ import annotations

import numpy as np

__all__ = ["hypervolume", "contribution", "UNBUDGETED_REFERENCE"]

#: Without a budget on a cost, its reference is this multiple of the largest value reached (reports, pruning).
UNBUDGETED_REFERENCE = 1.1


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by `points` (every objective minimised) and bounded by `reference`.

    Points not strictly better than the reference in every objective add nothing. Computed by
    slicing along the last objective (exact in any dimension; quadratic, ample for study sizes).
    """
    points = np.asarray(points, dtype=float).reshape(-1, len(reference))
    reference = np.asarray(reference, dtype=float)
    points = points[np.all(np.isfinite(points), axis=1) & np.all(points < reference, axis=1)]
    if not len(points):
        return 0.0
    if len(reference) == 1:
        return float(reference[0] - points[:, 0].min())
    points = points[np.argsort(points[:, -1])]
    volume = 0.0
    for i in range(len(points)):
        upper = points[i + 1, -1] if i + 1 < len(points) else reference[-1]
        if upper > points[i, -1]:
            volume += (upper - points[i, -1]) * hypervolume(points[: i + 1, :-1], reference[:-1])
    return volume


def contribution(point: np.ndarray, others: np.ndarray, reference: np.ndarray) -> float:
    """The hypervolume `point` adds to `others` (every objective minimised), as a share of their joint hypervolume.

    0 when `point` is dominated (or beyond the reference); 1 when `others` add nothing on their own.
    """
    point = np.asarray(point, dtype=float).reshape(1, len(reference))
    others = np.asarray(others, dtype=float).reshape(-1, len(reference))
    joint = hypervolume(np.vstack([others, point]), reference)
    return 0.0 if joint <= 0 else (joint - hypervolume(others, reference)) / joint
