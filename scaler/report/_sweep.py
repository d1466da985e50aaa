"""`sweep`: scaling curves per method — each method solved into a ladder of budgets, trained, and a saturating
power law of error vs cost fitted per method, which then PREDICTS the best method and its accuracy at a budget
beyond the ladder; `check` trains that budget and sets the prediction against the measurement.

    plan = plan_sweep("shapes", "reports/sweep", ladder="params=1.25x,1.5x,2x,3x", target="params=4x", ...)
    run_sweep(plan); result = fit_sweep(plan, records_from_reproduce(plan.out, manifest=SWEEP_MANIFEST))

Cost is the ladder's metric relative to the base network (c = 1 at the base), measured on the ROUNDED
network the solver returns (so c is at most the budget's multiple). Error is 1 - mIoU of each run (its
best validation epoch by default; `evaluation` as in reports). A method whose rounded networks take fewer
than 3 distinct costs (resolution under a params budget: params do not depend on resolution) has no curve.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from scaler.bench import BenchSettings
from scaler.errors import BudgetError, ScalerError
from scaler.families import base_spec
from scaler.report._plots import draw_sweep
from scaler.report._records import SWEEP_MANIFEST
from scaler.report._report import write_report
from scaler.report._runs import (
    check_run_dir, dataset_classes, read_manifest, seed_list, timing_phase, train_config, train_runs, write_manifest,
)
from scaler.rules import Factors
from scaler.scaling import ScalingOptions
from scaler.solver import Budget, cost_values
from scaler.spec import NetSpec
from scaler.stats import LEVEL, CurveFit, Estimate, compare_predictions, estimate, fit_scaling_curve
from scaler.train import TrainConfig
from scaler.vocabulary import COST_METRICS, METHOD_LABELS, SWEEP_METHODS, choices_text

__all__ = ["SWEEP_MANIFEST", "SweepPoint", "SweepPlan", "SweepResult", "parse_ladder", "sweep_points", "plan_sweep",
           "run_sweep", "fit_sweep", "sweep_frame", "sweep_markdown", "sweep", "DEFAULT_SWEEP_METHODS"]

#: Methods swept by default (the one list lives in scaler.vocabulary).
DEFAULT_SWEEP_METHODS = SWEEP_METHODS


@dataclass(frozen=True)
class SweepPoint:
    """One network of the sweep: a method solved into one budget of the ladder (or the target)."""

    name: str
    method: str
    multiple: float
    role: str  # "ladder" or "target"
    spec: NetSpec
    factors: Factors
    relative_cost: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"network": self.name, "method": self.method, "multiple": self.multiple, "role": self.role,
                "factors": self.factors.as_dict(), "relative_cost": self.relative_cost, "note": self.note,
                "spec": self.spec.to_dict()}


def parse_ladder(text: str | Sequence[str]) -> tuple[str, tuple[float, ...]]:
    """"params=1.25x,1.5x,2x" (or budgets given one by one) -> ("params", (1.25, 1.5, 2.0)): one metric, relative."""
    parts = [p.strip() for item in ([text] if isinstance(text, str) else list(text)) for p in item.split(",")]
    budgets, metric = [], None
    for part in filter(None, parts):
        budget = Budget.parse(part if "=" in part or metric is None else f"{metric}={part}")
        if budget.multiple is None or budget.metric not in COST_METRICS:
            raise BudgetError(f"a sweep ladder takes relative budgets of one counted metric ({choices_text(COST_METRICS)}),"
                              f" e.g. params=1.25x,1.5x,2x,3x; got {part!r}")
        if metric is not None and budget.metric != metric:
            raise BudgetError(f"a sweep ladder has one metric; got {metric} and {budget.metric}")
        metric = budget.metric
        budgets.append(budget.multiple)
    multiples = tuple(sorted(set(budgets)))
    if metric is None or len(multiples) < 2 or multiples[0] <= 1.0:
        raise BudgetError(f"a sweep ladder needs at least 2 distinct multiples above 1x, e.g. params=1.25x,1.5x,2x; "
                          f"got {text!r}")
    return metric, multiples


def _point_name(method: str, multiple: float) -> str:
    """"W@2x": the paper's label of the method at one budget."""
    return f"{METHOD_LABELS[method]}@{multiple:g}x"


def sweep_points(base: NetSpec, methods: Sequence[str], metric: str, multiples: Sequence[float],
                 options: ScalingOptions, role: str = "ladder") -> list[SweepPoint]:
    """Each method solved into each budget; a method's repeated network (same rounded spec) is kept once."""
    base_cost = cost_values(base, [metric])[metric]
    points = [SweepPoint("Baseline", "baseline", 1.0, role, base, Factors(), 1.0)] if role == "ladder" else []
    for method in methods:
        seen: dict[NetSpec, str] = {}
        for multiple in multiples:
            solution = replace(options, method=method, budgets=(Budget(metric, multiple=multiple),),
                               factors=None).scale(base)
            name = _point_name(method, multiple)
            if solution.spec in seen:
                continue  # the rounded network did not change: one network, one training
            seen[solution.spec] = name
            cost = cost_values(solution.spec, [metric])[metric] / base_cost
            points.append(SweepPoint(name, method, multiple, role, solution.spec, solution.factors, cost,
                                     solution.note))
    return points


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep trains: the ladder's networks (and the target's when checking), the config, the seeds."""

    out: Path
    base: NetSpec
    metric: str
    points: tuple[SweepPoint, ...]
    targets: tuple[SweepPoint, ...]
    config: TrainConfig
    seeds: tuple[int, ...]
    manifest: dict[str, Any]
    check: bool

    def todo(self) -> list[dict[str, Any]]:
        """The runs to train now: the ladder's, then (when checking) the target's."""
        return [r for r in self.manifest["runs"] if r["role"] == "ladder" or self.check]


def plan_sweep(data: str, out: str | Path, *, ladder: str | Sequence[str], target: str,
               methods: Sequence[str] = DEFAULT_SWEEP_METHODS, data_root: str | None = None,
               seeds: int | Sequence[int] = 1, family: str = "unet", base_options: dict[str, Any] | None = None,
               scaling: ScalingOptions | None = None, train_settings: dict[str, Any] | None = None,
               check: bool = False) -> SweepPlan:
    """Solve every point, check run folders, write sweep.json; nothing is trained here."""
    out, settings = Path(out), dict(train_settings or {})
    metric, multiples = parse_ladder(ladder)
    target_budget = Budget.parse(target)
    target_multiple = target_budget.multiple
    if target_budget.metric != metric or target_multiple is None or target_multiple <= max(multiples):
        raise BudgetError(f"the sweep target must be a {metric} budget beyond the ladder (> {max(multiples):g}x); "
                          f"got {target!r}")
    unknown = [m for m in methods if m not in DEFAULT_SWEEP_METHODS]
    if unknown or not methods:
        raise ScalerError(f"unknown sweep method(s) {unknown or list(methods)}; valid: {choices_text(DEFAULT_SWEEP_METHODS)}")
    config = train_config(data, data_root, settings)
    options = {"classes": dataset_classes(data, config.data_root, dict(config.data_options)), **(base_options or {})}
    base = base_spec(family, **options)
    scaling = scaling or ScalingOptions()
    points = sweep_points(base, methods, metric, multiples, scaling)
    skipped = _unscalable(points, metric)
    points = [p for p in points if p.method not in skipped]
    targets = sweep_points(base, [m for m in methods if m not in skipped], metric, (target_multiple,), scaling,
                           role="target")
    runs = [{**p.as_dict(), "seed": s, "run_dir": f"runs/{p.name.replace('@', '-')}-seed{s}", "status": None,
             "fail_reason": ""} for p in (*points, *targets) for s in seed_list(seeds)]
    specs = {p.name: p.spec for p in (*points, *targets)}
    for run in runs:
        check_run_dir(out / run["run_dir"], specs[run["network"]], dataclasses.replace(config, seed=run["seed"]))
    manifest = {"base_spec": base.to_dict(), "metric": metric, "ladder": list(multiples), "target": target_multiple,
                "skipped": skipped, "scaling": scaling.to_dict(), "seeds": seed_list(seeds), "train": {
                    k: v for k, v in config.to_dict().items() if k != "seed"}, "runs": runs}
    previous = read_manifest(out, SWEEP_MANIFEST) or {}
    for run in runs:  # a run an earlier call recorded as failed keeps its record until it is retrained
        old = next((r for r in previous.get("runs", []) if r.get("run_dir") == run["run_dir"]), None)
        run.update({k: old[k] for k in ("status", "fail_reason")} if old else {})
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest, SWEEP_MANIFEST)
    return SweepPlan(out, base, metric, tuple(points), tuple(targets), config, tuple(seed_list(seeds)), manifest,
                     check)


def _unscalable(points: list[SweepPoint], metric: str) -> dict[str, str]:
    """Methods whose rounded networks take fewer than 3 distinct costs with the base: no curve can be fitted,
    so they are not trained at all (e.g. resolution under a params ladder: params do not depend on input size)."""
    costs: dict[str, set[float]] = {}
    for p in points:
        if p.method != "baseline":
            costs.setdefault(p.method, {1.0}).add(round(p.relative_cost, 9))
    return {m: f"its networks take {len(c)} distinct {metric} cost(s) with the base on this ladder; a curve needs 3"
            for m, c in costs.items() if len(c) < 3}


def run_sweep(plan: SweepPlan, progress: bool = False, log: Callable[[str], None] | None = None) -> None:
    """Train the plan's runs (skipping finished ones, resuming killed ones)."""
    specs = {p.name: p.spec for p in (*plan.points, *plan.targets)}
    train_runs(plan.out, plan.todo(), specs, plan.config, lambda: write_manifest(plan.out, plan.manifest,
                                                                                 SWEEP_MANIFEST), progress, log)


@dataclass(frozen=True)
class SweepResult:
    """Per method: its curve (or why none), the prediction at the target and, when checked, the measurement."""

    metric: str
    target: float
    fits: dict[str, CurveFit]
    skipped: dict[str, str]
    #: One row per method: method, target_cost, predicted (error), low, high, measured, measured_low/high, seeds.
    predictions: pd.DataFrame
    best: str | None
    verdict: str

    def fits_frame(self) -> pd.DataFrame:
        """One row per fitted method: floor, scale, exponent with their intervals, and the bootstrap used."""
        rows = []
        for method, fit in self.fits.items():
            row: dict[str, Any] = {"method": method, "bootstrap": fit.bootstrap}
            for name in ("floor", "scale", "exponent"):
                p = fit.parameter(name)
                row.update({name: p.mean, f"{name}_low": p.low, f"{name}_high": p.high})
            rows.append(row)
        return pd.DataFrame(rows)


def _errors(records: pd.DataFrame, names: Sequence[str]) -> dict[str, list[float]]:
    """network -> errors (1 - mIoU) of its completed runs."""
    done = records[(records["status"] == "completed") & records["network"].isin(list(names))]
    return {n: list(1.0 - pd.to_numeric(g["miou"], errors="coerce").dropna()) for n, g in done.groupby("network")}


def fit_sweep(plan: SweepPlan, records: pd.DataFrame, resamples: int = 400) -> SweepResult:
    """Fit each method's curve on the ladder, predict the target, compare with the target's runs if trained."""
    errors = _errors(records, [p.name for p in (*plan.points, *plan.targets)])
    fits, skipped = {}, dict(plan.manifest.get("skipped", {}))
    for method in dict.fromkeys(p.method for p in plan.points if p.method != "baseline"):
        mine = [p for p in plan.points if p.method in (method, "baseline") and errors.get(p.name)]
        costs = {p.relative_cost: errors[p.name] for p in mine}
        if len(costs) < 3:
            skipped[method] = f"{len(costs)} distinct {plan.metric} cost(s) with results; a curve needs 3"
            continue
        fits[method] = fit_scaling_curve(costs, resamples=resamples)
    rows = []
    for point in plan.targets:
        measured = estimate(errors.get(point.name, []))
        predicted = fits[point.method].predict(point.relative_cost) if point.method in fits else \
            Estimate(float("nan"), float("nan"), 0, float("nan"), float("nan"))
        rows.append({"method": point.method, "network": point.name, "target_cost": point.relative_cost,
                     "predicted": predicted.mean, "low": predicted.low, "high": predicted.high,
                     "measured": measured.mean, "measured_low": measured.low, "measured_high": measured.high,
                     "seeds": measured.n})
    predictions = pd.DataFrame(rows)
    best, verdict = _best(fits, {p.method: p.relative_cost for p in plan.targets}, plan.manifest["target"])
    return SweepResult(plan.metric, plan.manifest["target"], fits, skipped, predictions, best, verdict)


def _best(fits: dict[str, CurveFit], target_costs: dict[str, float], multiple: float) -> tuple[str | None, str]:
    """The method predicted most accurate at the target, named only where the interval of the gap excludes zero."""
    ranked = sorted((fits[m].predict(c).mean, m) for m, c in target_costs.items() if m in fits)
    if not ranked:
        return None, "no method has a fitted curve"
    top = ranked[0][1]
    text = f"predicted best at {multiple:g}x: {top} (error {ranked[0][0]:.3f}, mIoU {100 * (1 - ranked[0][0]):.1f}%)"
    if len(ranked) == 1:
        return top, text + " (the only fitted method)"
    second = ranked[1][1]
    gap = compare_predictions(fits[second], target_costs[second], fits[top], target_costs[top])
    if gap.low > 0:
        return top, text + f"; ahead of {second} by {100 * gap.mean:.1f} points [{100 * gap.low:.1f}, " \
                           f"{100 * gap.high:.1f}] ({LEVEL:.0%} bootstrap interval)"
    return None, (f"at {multiple:g}x {top} and {second} are not distinguishable: gap {100 * gap.mean:.1f} points "
                  f"[{100 * gap.low:.1f}, {100 * gap.high:.1f}] ({LEVEL:.0%} bootstrap interval)")


def sweep_frame(plan: SweepPlan, records: pd.DataFrame, result: SweepResult, points: int = 60) -> pd.DataFrame:
    """What the sweep plot draws: measured points (mean mIoU % and interval), each fit's curve, the predictions.

    Columns: method, kind ("measured", "fit", "extrapolation", "prediction", "check"), x (cost relative to the
    base), y (mIoU %), low, high (its interval; NaN where none), label.
    """
    errors, rows = _errors(records, [p.name for p in (*plan.points, *plan.targets)]), []
    for p in plan.points:
        est = estimate([100 * (1 - e) for e in errors.get(p.name, [])])
        rows.append({"method": p.method, "kind": "measured", "x": p.relative_cost, "y": est.mean, "low": est.low,
                     "high": est.high, "label": p.name})
    top = max(p.relative_cost for p in plan.points)
    for method, fit in result.fits.items():
        end = next((t.relative_cost for t in plan.targets if t.method == method), top)
        for i in range(points + 1):
            x = 1.0 + (end - 1.0) * i / points
            rows.append({"method": method, "kind": "fit" if x <= top + 1e-9 else "extrapolation", "x": x,
                         "y": 100 * (1 - fit.law(x)), "low": float("nan"), "high": float("nan"), "label": ""})
    for r in result.predictions.itertuples(index=False):
        rows.append({"method": r.method, "kind": "prediction", "x": r.target_cost, "y": 100 * (1 - r.predicted),
                     "low": 100 * (1 - r.high), "high": 100 * (1 - r.low), "label": f"{r.network} predicted"})
        if r.seeds:
            rows.append({"method": r.method, "kind": "check", "x": r.target_cost, "y": 100 * (1 - r.measured),
                         "low": 100 * (1 - r.measured_high), "high": 100 * (1 - r.measured_low),
                         "label": f"{r.network} measured"})
    frame = pd.DataFrame(rows, columns=["method", "kind", "x", "y", "low", "high", "label"])
    frame.attrs.update(metric=plan.metric, target=plan.manifest["target"])
    return frame


def sweep_markdown(plan: SweepPlan, result: SweepResult, wall_s: float | None = None) -> str:
    """sweep.md: the fits with their intervals, the prediction at the target, and (checked) predicted vs measured."""
    lines = [f"# Scaling curves: error vs {plan.metric} (relative to the base), one power law per method", "",
             f"error(c) = floor + scale * c^(-exponent), c = {plan.metric} / base {plan.metric} of the rounded "
             f"network; ladder {', '.join(f'{m:g}x' for m in plan.manifest['ladder'])}, target "
             f"{plan.manifest['target']:g}x; {len(plan.seeds)} seed(s) per network; intervals are {LEVEL:.0%} "
             f"bootstrap percentile intervals.", "", f"**{result.verdict[0].upper() + result.verdict[1:]}.**", "",
             "| Method | floor | scale | exponent | bootstrap |", "|---|---:|---:|---:|---|"]
    for r in result.fits_frame().itertuples(index=False):
        cell = lambda v, lo, hi: f"{v:.3f} [{lo:.3f}, {hi:.3f}]"  # noqa: E731
        lines.append(f"| {r.method} | {cell(r.floor, r.floor_low, r.floor_high)} | "
                     f"{cell(r.scale, r.scale_low, r.scale_high)} | {cell(r.exponent, r.exponent_low, r.exponent_high)}"
                     f" | {r.bootstrap} |")
    lines += [f"- {m}: no curve ({why})" for m, why in result.skipped.items()]
    lines += ["", f"## At the target ({plan.manifest['target']:g}x, beyond the ladder)", "",
              "| Method | network | cost (x base) | predicted mIoU % [CI] | measured mIoU % [CI] | seeds | inside |",
              "|---|---|---:|---:|---:|---:|---|"]
    for r in result.predictions.itertuples(index=False):
        pred = f"{100 * (1 - r.predicted):.2f} [{100 * (1 - r.high):.2f}, {100 * (1 - r.low):.2f}]"
        meas = "not trained" if not r.seeds else f"{100 * (1 - r.measured):.2f}" + (
            f" [{100 * (1 - r.measured_high):.2f}, {100 * (1 - r.measured_low):.2f}]" if r.seeds > 1 else "")
        inside = "" if not r.seeds or r.predicted != r.predicted else (
            "yes" if r.low <= r.measured <= r.high else "no")
        lines.append(f"| {r.method} | {r.network} | {r.target_cost:.3f} | {pred} | {meas} | {r.seeds} | {inside} |")
    if wall_s is not None:
        lines += ["", f"Wall time of this call (training included): {wall_s / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def sweep(data: str, out: str | Path, *, ladder: str | Sequence[str], target: str, check: bool = False,
          progress: bool = False, log: Callable[[str], None] | None = None, evaluation: str = "best",
          resamples: int = 400, bench_settings: BenchSettings | None = None,
          **plan_options: Any) -> tuple[Any, SweepResult]:
    """Plan, train (resumably), report and fit a sweep; writes the report plus sweep.md, fits.csv,
    predictions.csv and plots/sweep.png|svg into `out`. Returns (the Report, the SweepResult).

    `plan_options` are `plan_sweep`'s (methods, data_root, seeds, family, base_options, scaling,
    train_settings); `check=True` also trains the target budget and sets prediction against measurement.
    After training, every trained network is timed in one isolated phase (`bench_settings`; recorded in sweep.json).
    """
    started = time.perf_counter()
    plan = plan_sweep(data, out, ladder=ladder, target=target, check=check, **plan_options)
    run_sweep(plan, progress, log)
    records = timing_phase(plan.out, plan.manifest, SWEEP_MANIFEST, bench_settings or BenchSettings(), evaluation, log)
    rep = write_report(records, plan.out)
    result = fit_sweep(plan, records, resamples)
    (plan.out / "sweep.md").write_text(sweep_markdown(plan, result, time.perf_counter() - started))
    result.fits_frame().to_csv(plan.out / "fits.csv", index=False, float_format="%.6g")
    result.predictions.to_csv(plan.out / "predictions.csv", index=False, float_format="%.6g")
    draw_sweep(sweep_frame(plan, records, result), plan.out / "plots" / "sweep")
    return rep, result
