"""Isolated timing of a report's networks: every distinct network with a completed run is timed by scaler.bench
in ONE phase after training, in train-step mode at its training batch and in inference mode, each mode
interleaving all the networks (order rotated per round), cached on disk by spec hash and conditions.

The step time the trainer records during training shares the machine with whatever else ran (data loading,
evaluation, other jobs): it stays in the records as `contended_ms` and is shown only under that name. Every
ms column, Pareto front and per-ms gain reads the isolated columns below; where a network was not timed
they are NaN and tables say "not timed", never a contended number in their place.

Where timings live: `reproduce` and `sweep` write them into their manifest ("timing"); a report on any
other source (a study, run dirs) times its networks when it runs (the bench cache makes a second report
free). A report never writes into its source.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from scaler.bench import BenchResult, BenchSettings, bench
from scaler.errors import ScalerError
from scaler.spec import NetSpec

__all__ = ["TIMING_MODES", "TIMING_COLUMNS", "NOT_TIMED", "Timings", "time_networks", "time_records",
           "apply_timings", "timed_records"]

#: The two modes every network is timed in (scaler.vocabulary.BENCH_MODES): a training step and an inference.
TIMING_MODES = ("train", "infer")
#: Record / table columns filled from the isolated timing, by mode: median ms, p10, p90, images per second.
TIMING_COLUMNS = {
    "train": ("step_ms", "step_ms_p10", "step_ms_p90", "step_img_s"),
    "infer": ("infer_ms", "infer_ms_p10", "infer_ms_p90", "infer_img_s"),
}
#: What a table cell says for a completed network without an isolated timing.
NOT_TIMED = "not timed"


@dataclass(frozen=True)
class Timings:
    """Isolated timings: spec hash -> mode -> BenchResult, and why a report has none (`missing`)."""

    results: dict[str, dict[str, BenchResult]] = field(default_factory=dict)
    #: Set when nothing was timed: the reason, said in tables and summaries.
    missing: str = ""

    def get(self, digest: str, mode: str) -> BenchResult | None:
        """The result of one network in one mode, or None."""
        return self.results.get(digest, {}).get(mode)

    def covers(self, digests: Sequence[str]) -> bool:
        """Whether every network (spec hash) has a result in every mode."""
        return all(self.get(d, m) is not None for d in digests for m in TIMING_MODES)

    def conditions(self) -> str:
        """The conditions of the measurement in one sentence (every table and summary with ms states it)."""
        first = [r for modes in self.results.values() for r in modes.values()]
        if not first:
            return f"No isolated timing: {self.missing or 'no completed network'}."
        r = first[0]
        failed = f" Not timed: {self.missing}." if self.missing else ""
        batches = sorted({x.batch for x in first})
        return (f"ms: isolated (scaler bench), median of interleaved rounds with p10–p90, at batch "
                f"{'/'.join(map(str, batches))}; train = forward, loss, backward, AdamW step; infer = a forward "
                f"in inference mode; {r.device_name}, {r.dtype} {r.layout}, {r.threads} thread(s), {r.clock} clock, "
                f"torch {r.torch_version}. img/s = batch × 1000 / median ms.{failed}")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (a manifest's "timing")."""
        return {"results": {d: {m: r.as_dict() for m, r in modes.items()} for d, modes in self.results.items()},
                "missing": self.missing}

    @classmethod
    def from_dict(cls, data: Any) -> Timings | None:
        """Inverse of `as_dict`; None for a record this version cannot read (then nothing is taken from it)."""
        try:
            return cls({d: {m: BenchResult.from_dict(r) for m, r in modes.items()}
                        for d, modes in data["results"].items()}, str(data.get("missing", "")))
        except (TypeError, KeyError, AttributeError, ValueError):
            return None


def time_networks(specs: Sequence[NetSpec], batch: int, settings: BenchSettings = BenchSettings(), *,
                  use_cache: bool = True, measure: Callable | None = None) -> Timings:
    """Time the distinct networks of `specs` in every TIMING_MODE at `batch`, each mode interleaving them all.

    `settings` gives the device, threads, precision, rounds and clock (its mode and batch are replaced);
    `measure` replaces the timing (tests, see scaler.bench.bench).
    """
    distinct = {s.digest(): s for s in specs}
    results: dict[str, dict[str, BenchResult]] = {d: {} for d in distinct}
    for mode in TIMING_MODES:
        timed = bench(list(distinct.values()), replace(settings, mode=mode, batch=batch), use_cache=use_cache,
                      measure=measure)
        for digest, result in zip(distinct, timed):
            results[digest][mode] = result
    return Timings(results)


def _completed_specs(records: pd.DataFrame) -> dict[str, tuple[NetSpec, int | None]]:
    """Spec hash -> (spec, the most common training batch of its completed runs) for every completed network."""
    found: dict[str, tuple[NetSpec, Counter]] = {}
    done = records[(records["status"] == "completed") & records["spec_hash"].notna()]
    for digest, spec, batch in zip(done["spec_hash"], done["spec"], done["batch_size"]):
        entry = found.setdefault(digest, (NetSpec.from_dict(spec), Counter()))
        if isinstance(batch, (int, float)) and math.isfinite(batch):
            entry[1][int(batch)] += 1
    return {d: (spec, counts.most_common(1)[0][0] if counts else None) for d, (spec, counts) in found.items()}


def time_records(records: pd.DataFrame, settings: BenchSettings = BenchSettings(), *, batch: int | None = None,
                 use_cache: bool = True, measure: Callable | None = None) -> Timings:
    """Time every network of the tidy record with a completed run (see the module docstring).

    Each network is timed at its runs' training batch (`batch` overrides; settings.batch where the record
    does not say); networks of one batch are interleaved together. A batch whose timing fails (out of memory,
    say) leaves its networks not timed, with the reason in `missing`.
    """
    groups: dict[int, list[NetSpec]] = {}
    for spec, trained_batch in _completed_specs(records).values():
        groups.setdefault(batch or trained_batch or settings.batch, []).append(spec)
    results: dict[str, dict[str, BenchResult]] = {}
    failed = ""
    for group_batch, specs in sorted(groups.items()):
        try:
            results.update(time_networks(specs, group_batch, settings, use_cache=use_cache, measure=measure).results)
        except (RuntimeError, MemoryError, ScalerError) as exc:  # e.g. out of memory at this batch: the trained
            # runs and the report must not be lost to it; the networks of this batch are reported as not timed
            failed = f"timing at batch {group_batch} failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return Timings(results, failed or ("" if results else "no completed network to time"))


def apply_timings(records: pd.DataFrame, timings: Timings | None) -> pd.DataFrame:
    """A copy of the record with the isolated columns filled (NaN where a network was not timed).

    Its attrs["timing"] states the conditions (or why there is no isolated timing).
    """
    timings = timings or Timings(missing="not timed in isolation")
    frame = records.copy()
    for mode, columns in TIMING_COLUMNS.items():
        values = {c: [] for c in columns}
        for digest in frame["spec_hash"]:
            result = timings.get(digest, mode) if isinstance(digest, str) else None
            row = (result.median_ms, result.p10_ms, result.p90_ms, result.samples_per_sec) if result else \
                (math.nan,) * 4
            for column, value in zip(columns, row):
                values[column].append(value)
        for column in columns:
            frame[column] = pd.Series(values[column], index=frame.index, dtype=float)
    batches = [timings.get(d, "train") if isinstance(d, str) else None for d in frame["spec_hash"]]
    frame["timing_batch"] = pd.Series([r.batch if r else math.nan for r in batches], index=frame.index, dtype=float)
    frame.attrs["timing"] = timings.conditions()
    frame.attrs["timings"] = timings
    return frame


def timed_records(records: pd.DataFrame, time: bool = True, settings: BenchSettings = BenchSettings(), *,
                  batch: int | None = None, use_cache: bool = True, measure: Callable | None = None) -> pd.DataFrame:
    """The record with isolated timings: those its source stored (a reproduce/sweep manifest) when they cover
    every completed network and no other batch or settings are asked for, else (`time`) measured now; without
    either the columns stay NaN and say why."""
    stored = records.attrs.get("stored_timings")
    wanted = list(_completed_specs(records))
    asked = batch is not None or settings != BenchSettings()
    if stored is not None and stored.covers(wanted) and not (time and asked):
        return apply_timings(records, stored)
    if time:
        return apply_timings(records, time_records(records, settings, batch=batch, use_cache=use_cache,
                                                   measure=measure))
    return apply_timings(records, stored or Timings(missing="the report was made with --no-time and its source "
                                                            "stores no isolated timing"))
