"""Pareto fronts of a cost-vs-accuracy trade-off, over completed rows only."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["pareto_front"]


def pareto_front(df: pd.DataFrame, x: str, y: str, minimize_x: bool = True, maximize_y: bool = True) -> pd.Series:
    """Which rows are Pareto-optimal in (x, y): True where no other eligible row dominates.

    A row dominates another when it is no worse in both and better in one. Rows with identical
    (x, y) do not dominate each other, so tied optima are all on the front. Only rows whose
    `status` is "completed" (when the frame has a status column) with finite x and y are eligible;
    every other row is False.

    Args:
        df: the rows.
        x: cost column (smaller is better unless `minimize_x` is False).
        y: accuracy column (larger is better unless `maximize_y` is False).

    Returns:
        A boolean Series aligned with `df.index`.
    """
    for column in (x, y):
        if column not in df.columns:
            raise ValueError(f"pareto_front: no column {column!r}; valid: {list(df.columns)}")
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(float) * (1 if minimize_x else -1)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(float) * (-1 if maximize_y else 1)
    eligible = np.isfinite(xs) & np.isfinite(ys)
    if "status" in df.columns:
        eligible &= (df["status"] == "completed").to_numpy()
    on_front = np.zeros(len(df), dtype=bool)
    # Both axes now minimised: sweep by x (then y); a point is optimal if its y beats every earlier
    # point's, or it repeats the last optimal point exactly (a tie).
    order = [i for i in np.lexsort((ys, xs)) if eligible[i]]
    best_y, last = np.inf, None
    for i in order:
        if ys[i] < best_y or (last is not None and xs[i] == xs[last] and ys[i] == ys[last]):
            on_front[i] = True
            best_y, last = min(best_y, ys[i]), i
    return pd.Series(on_front, index=df.index, name="on_front")
