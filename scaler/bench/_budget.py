"""Time budgets (ms, infer_ms): solve with the device's latency model, then MEASURE the solved network.

The model is calibrated on the base network's measured time (so a relative budget such as ms=1.5x
is 1.5 x what the base measures), the solver finds the largest network the calibrated model says fits,
and that network is timed interleaved with the base. When the measurement breaks the budget, the
calibration takes the measured / predicted ratio of the solved network and the solve is repeated
(the network shrinks), at most `max_resolves` times. Slack is reported from the measurement.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from scaler.bench._measure import BenchSettings, bench
from scaler.bench._model import LatencyModel, fit_latency_model
from scaler.errors import BudgetError
from scaler.scaling import ScalingOptions
from scaler.solver import Solution
from scaler.spec import NetSpec
from scaler.train._hardware import cache_dir, device_name
from scaler.train._timing import Measure
from scaler.vocabulary import NAMED_METHODS, TIME_METRICS

__all__ = ["TIME_MODES", "TimedSolution", "calibration_specs", "latency_model", "solve_timed"]

#: The bench mode each time metric measures.
TIME_MODES = {"ms": "train", "infer_ms": "infer"}
#: MACs multiples of the base that the calibration networks are solved into, per method: they span the
#: range budgets usually ask for, so a solved network is interpolated by the model, not extrapolated.
CALIBRATION_MULTIPLES = (1.5, 2.5, 4.5)


@dataclass(frozen=True)
class TimedSolution:
    """A network solved into a time budget: the solver's record (slack from measurement) and how it got there."""

    solution: Solution
    predicted_ms: dict[str, float]
    measured_ms: dict[str, float]
    base_ms: dict[str, float]
    resolves: int
    models: dict[str, LatencyModel]


def calibration_specs(base: NetSpec, multiples: Sequence[float] = CALIBRATION_MULTIPLES) -> list[NetSpec]:
    """A handful of networks to fit a latency model on: the base, and every named method at a few MACs multiples."""
    specs = [base]
    for multiple in multiples:
        options = ScalingOptions.parse(budget=f"macs={multiple}x")
        specs += [options.with_method(m).scale(base).spec for m in NAMED_METHODS if m != "baseline"]
    return list(dict.fromkeys(specs))


def _model_path(settings: BenchSettings, family: str) -> tuple[Path, dict[str, object]]:
    """Where the latency model for these settings (this device, torch and family) is stored."""
    device, threads, clock = settings.resolved()
    key = {"device": device_name(device), "torch": torch.__version__, "family": family, "mode": settings.mode,
           "batch": settings.batch, "threads": threads, "clock": clock, "amp": settings.amp,
           "layout": settings.channels_last}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "latency" / f"{family}-{settings.mode}-{digest}.json", key


def latency_model(base: NetSpec, settings: BenchSettings, *, refit: bool = False,
                  measure: Measure | None = None) -> LatencyModel:
    """The stored latency model for `base`'s family under `settings`, fitted (and stored) when absent or `refit`."""
    path, key = _model_path(settings, base.family)
    if path.is_file() and not refit:
        return LatencyModel.load(path)
    specs = calibration_specs(base)
    results = bench(specs, settings, measure=measure)
    model = fit_latency_model(specs, [r.median_ms for r in results], key)
    model.save(path)
    return model


def solve_timed(base: NetSpec, options: ScalingOptions, settings: BenchSettings, *,
                models: dict[str, LatencyModel] | None = None, max_resolves: int = 3,
                measure: Measure | None = None) -> TimedSolution:
    """Solve `options` (with ms / infer_ms budgets) for `base`: model first, then measure and shrink if needed."""
    timed = [b.metric for b in options.budgets if b.metric in TIME_METRICS]
    if not timed:
        raise BudgetError(f"no time budget in {', '.join(map(str, options.budgets)) or 'none'}; valid: "
                          f"ms=1.5x, ms=250 (train step) or infer_ms=20 (inference), milliseconds at the bench batch")
    per_metric = {m: replace(settings, mode=TIME_MODES[m]) for m in timed}
    base_ms = {m: bench([base], per_metric[m], use_cache=False, measure=measure)[0].median_ms for m in timed}
    options.limits(base, {m: (lambda s, m=m: base_ms[m]) for m in timed})  # a budget below the base: fail first
    models = dict(models or {})
    for metric in timed:
        if metric not in models:
            models[metric] = latency_model(base, per_metric[metric], measure=measure)
    scale = {m: base_ms[m] / models[m].predict(base) for m in timed}
    resolves = 0
    while True:
        solution = options.scale(base, _calibrated(models, scale, base, base_ms))
        predicted = {m: models[m].predict(solution.spec) * scale[m] for m in timed}
        measured, base_now = _measure_pair(base, solution.spec, per_metric, measure)
        limits = options.limits(base, {m: (lambda s, m=m: base_now[m]) for m in timed})
        solution = _with_measured(solution, limits, measured)
        over = [m for m in timed if measured[m] > limits[m] * (1 + options.tolerance)]
        if not over or resolves >= max_resolves or solution.method == "baseline":
            return TimedSolution(solution, predicted, measured, base_now, resolves, models)
        for m in over:
            scale[m] *= measured[m] / predicted[m] * 1.01  # the measured ratio, and 1% more so the next solve shrinks
        base_ms = base_now
        resolves += 1


def _calibrated(models: dict[str, LatencyModel], scale: dict[str, float], base: NetSpec,
                base_ms: dict[str, float]) -> dict:
    """Measured-cost functions for the solver: the base's measured time, the calibrated model for others."""
    def function(metric: str) -> Callable[[NetSpec], float]:
        return lambda spec: base_ms[metric] if spec == base else models[metric].predict(spec) * scale[metric]
    return {m: function(m) for m in models}


def _measure_pair(base: NetSpec, spec: NetSpec, per_metric: dict[str, BenchSettings],
                  measure: Measure | None) -> tuple[dict[str, float], dict[str, float]]:
    """The solved network and the base timed interleaved (uncached: this is the check): (solved ms, base ms)."""
    measured, base_now = {}, {}
    for metric, settings in per_metric.items():
        pair = bench([base, spec] if spec != base else [base], settings, use_cache=False, measure=measure)
        base_now[metric], measured[metric] = pair[0].median_ms, pair[-1].median_ms
    return measured, base_now


def _with_measured(solution: Solution, limits: dict[str, float], measured: dict[str, float]) -> Solution:
    """The solution with its time budgets' limits and slack taken from the measurement."""
    slack = {**solution.slack, **{m: 1.0 - measured[m] / limits[m] for m in measured}}
    all_limits = {**solution.limits, **{m: limits[m] for m in measured}}
    binding = min(slack, key=slack.get) if slack else None  # type: ignore[arg-type]
    return replace(solution, limits=all_limits, slack=slack, binding=binding, measured=dict(measured))
