"""Time as a cost: isolated, interleaved timing of networks; a latency model per device; time budgets.

    results = bench([spec_a, spec_b], BenchSettings(mode="train", batch=8, threads=2))
    model = latency_model(base, BenchSettings(batch=8))          # fitted on a few measured networks, stored
    timed = solve_timed(base, ScalingOptions.parse("width", "ms=1.5x"), BenchSettings(batch=8))
"""
from __future__ import annotations

from scaler.bench._budget import TIME_MODES, TimedSolution, calibration_specs, latency_model, solve_timed
from scaler.bench._csv import TIMM_COLUMNS, timm_rows, write_timm_csv
from scaler.bench._measure import AMP_DTYPES, BenchResult, BenchSettings, bench
from scaler.bench._model import FORMS, LatencyModel, features, fit_latency_model

__all__ = [
    "AMP_DTYPES", "BenchResult", "BenchSettings", "bench", "FORMS", "LatencyModel", "features", "fit_latency_model",
    "TIME_MODES", "TimedSolution", "calibration_specs", "latency_model", "solve_timed", "TIMM_COLUMNS",
    "timm_rows", "write_timm_csv",
]
