"""Pareto fronts of a cost-vs-accuracy trade-off, over completed rows only, and their hypervolume over trials."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaler.hypervolume import UNBUDGETED_REFERENCE, hypervolume
from scaler.solver import budget_limits, parse_budgets
from scaler.spec import NetSpec
from scaler.vocabulary import COST_METRICS

__all__ = ["pareto_front", "hypervolume", "hypervolume_curve", "HypervolumeRecord", "study_hypervolume", "DEFAULT_HV_COST",
           "UNBUDGETED_REFERENCE"]


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


#: Objectives of the hypervolume of a single-objective study: mIoU and this cost unless a budget names another.
DEFAULT_HV_COST = "params"


def _front_size(points: np.ndarray) -> int:
    """How many distinct points no other point dominates (every objective minimised)."""
    unique = np.unique(points, axis=0) if len(points) else points
    return int(sum(not any(np.all(q <= p) and np.any(q < p) for q in unique) for p in unique))


def study_hypervolume(frame: pd.DataFrame, study_attrs: dict[str, object]) -> HypervolumeRecord:
    """The hypervolume over trials of a study's frame (scaler.study.study_trials_frame), reference point stated.

    Objectives: the study's own when it has several; else mIoU and the first budget's metric
    (DEFAULT_HV_COST without a counted budget), so a single-objective study's front is measured too.
    Reference: mIoU 0; a cost at its budget limit x (1 + tolerance) where the study budgets it (the
    worst a trial may cost), else UNBUDGETED_REFERENCE x the largest value a trial reached.
    """
    budgets = parse_budgets(list(study_attrs.get("budgets") or []))
    counted = [b.metric for b in budgets if b.metric in COST_METRICS]
    objectives = tuple(study_attrs.get("objectives") or ("miou",))
    if len(objectives) < 2:
        objectives = ("miou", counted[0] if counted else DEFAULT_HV_COST)
    scaling = study_attrs.get("scaling") or {}
    tolerance = float(scaling.get("tolerance", 0.0)) if isinstance(scaling, dict) else 0.0
    limits = budget_limits(NetSpec.from_dict(study_attrs["base_spec"]), [b for b in budgets if b.metric in counted],
                           tolerance) if counted and study_attrs.get("base_spec") else {}
    reference, rules = {"miou": 0.0}, {"miou": "no accuracy"}
    for name in objectives[1:]:
        if name in limits:
            reference[name] = limits[name] * (1 + tolerance)
            rules[name] = f"budget {next(str(b) for b in budgets if b.metric == name)}"
        else:
            values = pd.to_numeric(frame.get(name, pd.Series(dtype=float)), errors="coerce")
            largest = float(values.max()) if values.notna().any() else 1.0
            reference[name] = UNBUDGETED_REFERENCE * largest
            rules[name] = f"{UNBUDGETED_REFERENCE:g} x the largest observed"
    return hypervolume_curve(frame, objectives, reference, rules)


@dataclass(frozen=True)
class HypervolumeRecord:
    """A study's hypervolume over trials: objectives, the stated reference point, and the curve."""

    objectives: tuple[str, ...]
    #: objective -> reference value (mIoU 0; each cost at its budget limit, or 1.1 x the largest observed).
    reference: dict[str, float]
    #: objective -> why its reference is what it is ("budget limit params<=2x", "1.1 x largest observed").
    reference_rule: dict[str, str]
    #: columns number, hypervolume (after that trial), front_size.
    curve: pd.DataFrame

    @property
    def final(self) -> float:
        """The hypervolume after the last trial (0 without a completed trial)."""
        return float(self.curve["hypervolume"].iloc[-1]) if len(self.curve) else 0.0

    def reference_text(self) -> str:
        """The reference point in words, e.g. "mIoU 0, params 0.62M (budget params<=2x)"."""
        return ", ".join(f"{name} {self.reference[name]:.4g} ({self.reference_rule[name]})" for name in self.objectives)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready record (study status --json)."""
        return {"objectives": list(self.objectives), "reference": self.reference,
                "reference_rule": self.reference_rule, "final": self.final,
                "units": "mIoU x (cost / reference cost), costs normalised by the reference",
                "curve": self.curve.to_dict(orient="records")}


def _eligible(frame: pd.DataFrame, objectives: tuple[str, ...]) -> np.ndarray:
    """Rows that are results: completed, not infeasible, every objective finite."""
    ok = (frame["status"] == "completed").to_numpy(copy=True) if "status" in frame.columns \
        else np.ones(len(frame), bool)
    if "infeasible" in frame.columns:
        ok &= ~frame["infeasible"].fillna(False).astype(bool).to_numpy(copy=True)
    for name in objectives:
        ok &= np.isfinite(pd.to_numeric(frame[name], errors="coerce").to_numpy(float))
    return ok


def hypervolume_curve(frame: pd.DataFrame, objectives: tuple[str, ...] | list[str],
                      reference: dict[str, float], rules: dict[str, str] | None = None) -> HypervolumeRecord:
    """The hypervolume of the front after each trial, mIoU (first objective) maximised and costs minimised.

    Costs are divided by their reference, so the volume is in mIoU x fraction-of-reference-cost units
    and two studies with one reference compare directly; the reference of mIoU is 0.

    Args:
        frame: one row per trial with "number", "status" and a column per objective (study_trials_frame).
        objectives: "miou" first, then cost columns.
        reference: objective -> reference value.
        rules: objective -> why that reference (for the record).
    """
    objectives = tuple(objectives)
    if not objectives or objectives[0] != "miou":
        raise ValueError(f"hypervolume_curve: {objectives=}; valid: 'miou' first, then cost columns")
    for name in objectives:
        if name not in frame.columns or name not in reference:
            raise ValueError(f"hypervolume_curve: objective {name!r} needs a column and a reference; "
                             f"columns {list(frame.columns)}, reference {reference}")
    ordered = frame.sort_values("number")
    ok = _eligible(ordered, objectives)
    points = np.column_stack([-pd.to_numeric(ordered["miou"], errors="coerce").to_numpy(float)] + [
        pd.to_numeric(ordered[c], errors="coerce").to_numpy(float) / reference[c] for c in objectives[1:]])
    bound = np.array([-reference["miou"]] + [1.0] * (len(objectives) - 1))
    rows, seen = [], []
    for i, number in enumerate(ordered["number"]):
        if ok[i]:
            seen.append(points[i])
        rows.append({"number": int(number), "hypervolume": hypervolume(np.array(seen), bound) if seen else 0.0,
                     "front_size": _front_size(np.array(seen))})
    curve = pd.DataFrame(rows, columns=["number", "hypervolume", "front_size"])
    return HypervolumeRecord(objectives, dict(reference), dict(rules or {}), curve)
