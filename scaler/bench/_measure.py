"""Isolated timing of networks: interleaved rounds at a fixed thread count, one record per network, cached on disk."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from scaler.complexity import complexity
from scaler.errors import ConfigError
from scaler.spec import NetSpec
from scaler.train._hardware import cache_dir, device_name, read_cache, resolve_amp, select_device, write_cache
from scaler.train._timing import Measure, make_step, peak_memory, reset_peak_memory, resolve_clock, summarize, \
    time_interleaved
from scaler.vocabulary import BENCH_MODES, CLOCKS, choices_text

__all__ = ["BenchSettings", "BenchResult", "bench", "AMP_DTYPES"]

#: The dtype a bench amp mode computes in (results record the dtype).
AMP_DTYPES = {"off": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class BenchSettings:
    """How to time: what a step is (mode), at which batch, on which device, with how many CPU threads.

    Args:
        mode: "train" (forward, CE loss, backward, AdamW step) or "infer" (a forward in inference mode).
        batch: images per step.
        device: auto, cpu, cuda, cuda:N or mps.
        threads: torch CPU threads while timing; None: torch's current number (fixed for the whole run).
        amp: off (fp32), bf16 or fp16 (CUDA): the autocast dtype.
        channels_last: NHWC memory layout for weights and input.
        rounds: interleaved rounds; min_run_time: seconds per network per round (blocked_autorange).
        clock: auto, wall or cpu (scaler.vocabulary.CLOCKS): "auto" times a single-threaded CPU step by process CPU
            time, which other load on shared cores does not inflate, and everything else by wall time.
    """

    mode: str = "train"
    batch: int = 2
    device: str = "auto"
    threads: int | None = None
    amp: str = "off"
    channels_last: bool = False
    rounds: int = 3
    min_run_time: float = 0.3
    clock: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in BENCH_MODES:
            raise ConfigError(f"unknown bench mode {self.mode!r}; valid: {choices_text(BENCH_MODES)}")
        if self.amp not in AMP_DTYPES:
            raise ConfigError(f"unknown bench amp {self.amp!r}; valid: {choices_text(tuple(AMP_DTYPES))}")
        for name in ("batch", "rounds") + (("threads",) if self.threads is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"bench {name} must be an integer >= 1, got {value!r}")
        if self.clock not in CLOCKS:
            raise ConfigError(f"unknown bench clock {self.clock!r}; valid: {choices_text(CLOCKS)}")
        if not self.min_run_time > 0:
            raise ConfigError(f"bench min_run_time must be > 0 seconds, got {self.min_run_time!r}")

    def resolved(self) -> tuple[torch.device, int, str]:
        """The device (checked: it must exist here), the thread count and the clock ("wall" or "cpu") used."""
        device = select_device(self.device)
        resolve_amp(self.amp, device)
        threads = self.threads or torch.get_num_threads()
        return device, threads, resolve_clock(self.clock, device, threads)


@dataclass(frozen=True)
class BenchResult:
    """One network's isolated step time and the conditions it was measured under."""

    spec_hash: str
    family: str
    input_size: tuple[int, int]
    mode: str
    batch: int
    threads: int
    device: str
    device_name: str
    torch_version: str
    dtype: str
    layout: str
    clock: str
    median_ms: float
    p10_ms: float
    p90_ms: float
    samples: int
    peak_mem_bytes: int | None
    params: int
    macs: int
    activations: int

    @property
    def samples_per_sec(self) -> float:
        """Images per second at the median step time."""
        return self.batch * 1000.0 / self.median_ms

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready record."""
        return {**asdict(self), "input_size": list(self.input_size)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> BenchResult:
        """Inverse of `as_dict` (a cache entry)."""
        return cls(**{**data, "input_size": tuple(data["input_size"])})  # type: ignore[arg-type]


def _key(spec: NetSpec, settings: BenchSettings, device: torch.device, threads: int, clock: str) -> dict[str, object]:
    """Everything a timing depends on: the cache key."""
    return {"spec": spec.digest(), "mode": settings.mode, "batch": settings.batch, "threads": threads, "clock": clock,
            "device": device_name(device), "torch": torch.__version__, "dtype": AMP_DTYPES[settings.amp],
            "layout": "channels_last" if settings.channels_last else "contiguous"}


def bench(specs: Sequence[NetSpec], settings: BenchSettings = BenchSettings(), *, use_cache: bool = True,
          measure: Measure | None = None) -> list[BenchResult]:
    """Time each spec in isolation, interleaved with the others; one BenchResult per spec, in order.

    Networks already in the cache (same spec hash and settings, this device and torch) are not timed
    again unless `use_cache` is False; the rest are timed together. `measure` replaces the timing (tests).
    """
    device, threads, clock = settings.resolved()
    path = cache_dir() / "bench.json"
    cache = read_cache(path) if use_cache else {}
    keys = [json.dumps(_key(s, settings, device, threads, clock), sort_keys=True) for s in specs]
    todo = {k: s for k, s in zip(keys, specs) if k not in cache}
    if todo:
        steps, peaks = {}, {}
        for key, spec in todo.items():
            steps[key] = make_step(spec, device, settings.mode, settings.batch, settings.amp, settings.channels_last)
            reset_peak_memory(device)
            steps[key]()
            peaks[key] = peak_memory(device)
        if measure is None:
            samples = time_interleaved(steps, threads, rounds=settings.rounds, min_run_time=settings.min_run_time,
                                       clock=clock)
        else:
            samples = measure(steps, threads)
        fresh = {k: _result(todo[k], settings, device, threads, clock, samples[k], peaks[k]).as_dict() for k in todo}
        if use_cache:
            stored = read_cache(path)
            stored.update(fresh)
            write_cache(path, stored)
        cache = {**cache, **fresh}
    return [BenchResult.from_dict(cache[k]) for k in keys]


def _result(spec: NetSpec, settings: BenchSettings, device: torch.device, threads: int, clock: str,
            samples: list[float], peak: int | None) -> BenchResult:
    """The record of one timed network."""
    stats, cost = summarize(samples), complexity(spec)
    return BenchResult(
        spec_hash=spec.digest(), family=spec.family, input_size=spec.input_size, mode=settings.mode,
        batch=settings.batch, threads=threads, device=str(device), device_name=device_name(device),
        torch_version=torch.__version__, dtype=AMP_DTYPES[settings.amp],
        layout="channels_last" if settings.channels_last else "contiguous", clock=clock, median_ms=stats["median"],
        p10_ms=stats["p10"], p90_ms=stats["p90"], samples=len(samples), peak_mem_bytes=peak,
        params=cost.params, macs=cost.macs, activations=cost.activations)

