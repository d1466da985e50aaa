"""Bench results as a CSV in the column style of timm's benchmark files."""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from scaler.bench._measure import BenchResult

__all__ = ["TIMM_COLUMNS", "timm_rows", "write_timm_csv"]

#: timm's benchmark-file columns (step_time in ms; gmacs / macts per image: GMACs, not GFLOPs, and millions of
#: activations), then the conditions of the measurement.
TIMM_COLUMNS = ("model", "img_size", "batch", "samples_per_sec", "step_time", "param_count", "gmacs", "macts")
_EXTRA = ("mode", "device_name", "dtype", "layout", "threads", "clock", "torch_version", "step_time_p10",
          "step_time_p90")


def timm_rows(results: Sequence[BenchResult], names: Sequence[str]) -> list[dict[str, object]]:
    """One row per result; `names` label the models (same order). param_count in millions, as timm writes it."""
    rows = []
    for name, r in zip(names, results, strict=True):
        rows.append({
            "model": name, "img_size": f"{r.input_size[0]}x{r.input_size[1]}", "batch": r.batch,
            "samples_per_sec": round(r.samples_per_sec, 2), "step_time": round(r.median_ms, 3),
            "param_count": round(r.params / 1e6, 3), "gmacs": round(r.macs / 1e9, 4),
            "macts": round(r.activations / 1e6, 3), "mode": r.mode, "device_name": r.device_name, "dtype": r.dtype,
            "layout": r.layout, "threads": r.threads, "clock": r.clock, "torch_version": r.torch_version,
            "step_time_p10": round(r.p10_ms, 3), "step_time_p90": round(r.p90_ms, 3),
        })
    return rows


def write_timm_csv(path: str | Path, results: Sequence[BenchResult], names: Sequence[str]) -> Path:
    """Write the rows of `timm_rows` to `path` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*TIMM_COLUMNS, *_EXTRA])
        writer.writeheader()
        writer.writerows(timm_rows(results, names))
    return path
