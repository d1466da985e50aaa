"""pareto_front against a brute-force dominance check, with ties, NaNs and non-completed rows."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scaler.report import pareto_front


def brute_force(df: pd.DataFrame, x: str, y: str, minimize_x: bool = True, maximize_y: bool = True) -> list[bool]:
    """O(n^2): a completed finite row is optimal unless another such row is no worse in both and better in one."""
    sx, sy = (1 if minimize_x else -1), (-1 if maximize_y else 1)
    rows = [(sx * a, sy * b) if s == "completed" and math.isfinite(a) and math.isfinite(b) else None
            for a, b, s in zip(df[x], df[y], df["status"])]
    out = []
    for p in rows:
        out.append(p is not None and not any(
            q is not None and q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1]) for q in rows))
    return out


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("minimize_x,maximize_y", [(True, True), (False, True), (True, False)])
def test_matches_brute_force_with_ties_nans_and_statuses(seed: int, minimize_x: bool, maximize_y: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    df = pd.DataFrame({
        "cost": rng.integers(0, 6, n).astype(float),  # a small grid: many exact ties
        "acc": rng.integers(0, 6, n).astype(float),
        "status": rng.choice(["completed", "completed", "completed", "failed", "pruned", "infeasible"], n),
    }, index=rng.permutation(n) + 100)  # a non-default index: the mask must align by label
    df.loc[df.sample(frac=0.1, random_state=seed).index, "acc"] = math.nan
    mask = pareto_front(df, "cost", "acc", minimize_x=minimize_x, maximize_y=maximize_y)
    assert list(mask.index) == list(df.index)
    assert mask.tolist() == brute_force(df, "cost", "acc", minimize_x, maximize_y)


def test_identical_optima_are_all_on_the_front() -> None:
    df = pd.DataFrame({"x": [1.0, 1.0, 2.0, 1.0], "y": [5.0, 5.0, 5.0, 4.0], "status": ["completed"] * 4})
    assert pareto_front(df, "x", "y").tolist() == [True, True, False, False]


def test_only_completed_rows_are_eligible() -> None:
    # The failed row would dominate everything; it must neither join the front nor push others off it.
    df = pd.DataFrame({"x": [0.5, 1.0, 2.0], "y": [99.0, 5.0, 6.0], "status": ["failed", "completed", "completed"]})
    assert pareto_front(df, "x", "y").tolist() == [False, True, True]


def test_no_status_column_means_all_eligible_and_bad_column_is_named() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [2.0, 1.0]})
    assert pareto_front(df, "x", "y").tolist() == [True, False]
    with pytest.raises(ValueError, match="'gflops'"):
        pareto_front(df, "gflops", "y")


def test_empty_frame() -> None:
    df = pd.DataFrame({"x": [], "y": [], "status": []})
    assert pareto_front(df, "x", "y").tolist() == []
