"""Honest step timing: per-step wall times after warm-up (synchronized on CUDA), summarised as median and p10/p90.

Two kinds: `StepTimer` records the steps of a live training run (contended by whatever else the
machine does); `time_interleaved` times step functions in isolation with torch.utils.benchmark
(Timer.blocked_autorange, its thread control and accelerator sync), rounds interleaved across the
contenders with the order rotated, so a change of load hits every contender alike. `auto_precision`
uses it to choose amp / channels_last by measurement on the actual network.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from scaler.errors import ConfigError
from scaler.families import build
from scaler.spec import NetSpec
from scaler.train._hardware import (
    autocast, cache_dir, device_name, precision_candidates, read_cache, write_cache,
)
from scaler.vocabulary import CLOCKS, choices_text

__all__ = ["StepTimer", "summarize", "peak_memory", "reset_peak_memory", "time_interleaved", "make_step",
           "PrecisionChoice", "choose_precision", "auto_precision", "precision_label", "Measure", "resolve_clock"]

#: A function timing step functions: (name -> step, threads) -> name -> per-step ms samples. Tests pass fakes.
Measure = Callable[[Mapping[str, Callable[[], object]], int], dict[str, list[float]]]
#: A candidate precision must beat eager fp32 by more than this (or than the timings' own spread) to be chosen.
NOISE_FLOOR = 0.03


def summarize(values: list[float]) -> dict[str, float | None]:
    """Median, p10 and p90 of `values` (None each when empty), in the values' unit."""
    if not values:
        return {"median": None, "p10": None, "p90": None}
    if len(values) == 1:
        return {"median": values[0], "p10": values[0], "p90": values[0]}
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {"median": statistics.median(values), "p10": deciles[0], "p90": deciles[-1]}


@dataclass
class StepTimer:
    """Times training steps and data loading separately; the first `warmup` steps are not kept.

    Usage per step: `timer.data_ready()` once the batch is on the device, then `timer.step_done()`
    after the optimizer step. On CUDA both synchronize first, so a time covers the kernels the host
    queued, not only the launch. Times are kept in milliseconds.
    """

    device: torch.device
    warmup: int = 0
    steps_seen: int = 0
    step_ms: list[float] = field(default_factory=list)
    data_ms: list[float] = field(default_factory=list)
    _mark: float = 0.0

    def _now(self) -> float:
        """perf_counter after the device has finished its queued work."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def start(self) -> None:
        """Mark the moment the next batch is asked for (call before iterating the loader)."""
        self._mark = self._now()

    def data_ready(self) -> None:
        """The batch is on the device: what passed since the last mark was data loading."""
        now = self._now()
        if self.steps_seen >= self.warmup:
            self.data_ms.append((now - self._mark) * 1e3)
        self._mark = now

    def step_done(self) -> None:
        """The optimizer step finished: what passed since `data_ready` was the step."""
        now = self._now()
        if self.steps_seen >= self.warmup:
            self.step_ms.append((now - self._mark) * 1e3)
        self.steps_seen += 1
        self._mark = now

    def take(self) -> tuple[list[float], list[float]]:
        """The step and data times kept since the last `take` (then forgotten here)."""
        step_ms, data_ms = self.step_ms, self.data_ms
        self.step_ms, self.data_ms = [], []
        return step_ms, data_ms


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window (CUDA only)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> int | None:
    """Peak bytes allocated by tensors on the device since the last reset; None off CUDA (no allocator stats)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return None


def resolve_clock(clock: str, device: torch.device, threads: int) -> str:
    """"wall" or "cpu" (scaler.vocabulary.CLOCKS); "cpu" where it does not measure a step's time: ConfigError."""
    if clock not in CLOCKS:
        raise ConfigError(f"unknown clock {clock!r}; valid: {choices_text(CLOCKS)}")
    single_cpu = device.type == "cpu" and threads == 1
    if clock == "cpu" and not single_cpu:
        raise ConfigError(f"clock 'cpu' measures a step only on cpu with 1 thread (got {device.type}, {threads} "
                          f"threads); valid there: auto, wall")
    return ("cpu" if single_cpu else "wall") if clock == "auto" else clock


def time_interleaved(steps: Mapping[str, Callable[[], object]], threads: int, *, rounds: int = 3,
                     min_run_time: float = 0.3, warmup: int = 2, clock: str = "wall") -> dict[str, list[float]]:
    """Per-step times (ms) of each step function: warm-up, then `rounds` rounds interleaved, order rotated.

    Each round times each contender with torch.utils.benchmark's `Timer.blocked_autorange` at a fixed
    `threads` (it synchronizes the accelerator around each block); the samples of all rounds are pooled.
    The order rotates by about len(steps) / rounds each round, so every contender is timed early and late.
    `clock` "cpu" times by process CPU time (see scaler.vocabulary.CLOCKS; resolve it with `resolve_clock`).
    """
    from torch.utils import benchmark  # heavy (~0.35 s): imported only by isolated timing, never by a training run

    timer_kwargs = {"timer": time.process_time} if clock == "cpu" else {}
    names = list(steps)
    stride = max(1, len(names) // rounds)
    with benchmark.utils.common.set_torch_threads(threads):
        for name in names:
            for _ in range(warmup):
                steps[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = (round_index * stride) % len(names)
        for name in names[shift:] + names[:shift]:
            timer = benchmark.Timer(stmt="step()", globals={"step": steps[name]}, num_threads=threads, **timer_kwargs)
            measurement = timer.blocked_autorange(min_run_time=min_run_time)
            samples[name] += [t * 1e3 for t in measurement.times]
    return samples


def make_step(spec: NetSpec, device: torch.device, mode: str = "train", batch: int = 2, amp: str = "off",
              channels_last: bool = False, seed: int = 0) -> Callable[[], object]:
    """One step of `spec` on random data as a function: a training step (AdamW, CE) or an inference forward."""
    torch.manual_seed(seed)
    model = build(spec).to(device)
    make = getattr(model, "example_inputs", None)  # a multimodal net takes an image AND a report
    inputs = list(make(batch) if callable(make) else (torch.randn(batch, spec.in_channels, *spec.input_size,
                                                                  device=device),))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        inputs[0] = inputs[0].contiguous(memory_format=torch.channels_last)  # the image only
    with torch.no_grad():
        shape = model(*inputs).shape  # N x C x H x W (segmentation) or N x C (classification)
    masks = torch.randint(0, spec.classes, (shape[0], *shape[2:]), device=device)
    if mode == "infer":
        model.eval()

        def infer() -> object:
            with torch.inference_mode(), autocast(device, amp):
                return model(*inputs)
        return infer
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")

    def train_step() -> object:
        with autocast(device, amp):
            logits = model(*inputs)
        loss = loss_fn(logits.float(), masks)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss
    return train_step


def precision_label(amp: str, channels_last: bool) -> str:
    """A candidate as text: "fp32", "bf16+channels_last", ..."""
    return ("fp32" if amp == "off" else amp) + ("+channels_last" if channels_last else "")


@dataclass(frozen=True)
class PrecisionChoice:
    """The amp / channels_last a run uses, and why: the median ms of each candidate measured."""

    amp: str
    channels_last: bool
    #: eager-fp32 ms / chosen ms (> 1: the choice is faster); 1.0 when nothing was measured.
    ratio: float = 1.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    source: str = "measured"  # "measured", "cache", "fixed" (nothing was auto) or "resumed" (the run's record)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (what a run's config can keep)."""
        return {"amp": self.amp, "channels_last": self.channels_last, "ratio": self.ratio,
                "timings_ms": dict(self.timings_ms), "source": self.source}

    def line(self) -> str:
        """One line for the console: the choice and its measured ratio."""
        label = precision_label(self.amp, self.channels_last)
        if self.source == "fixed":
            return f"precision: {label} (as configured, not measured)"
        measured = ", ".join(f"{k} {v:.1f}" for k, v in self.timings_ms.items())
        return (f"precision auto: {label}, {self.ratio:.2f}x eager fp32 "
                f"({self.source}; median ms/step: {measured})")


def choose_precision(samples: Mapping[tuple[str, bool], list[float]]) -> PrecisionChoice:
    """The fastest candidate, but the first (eager fp32) unless another beats it beyond noise.

    Beyond noise: a candidate's median x (1 + margin) is still below the reference's median, where
    the margin is NOISE_FLOOR or half the p10-p90 spread (relative) of either timing, whichever is larger.
    """
    reference = next(iter(samples))
    stats = {key: summarize(values) for key, values in samples.items()}
    ref = stats[reference]

    def margin(s: dict[str, float | None]) -> float:
        return (s["p90"] - s["p10"]) / s["median"] / 2

    best = reference
    for key, s in stats.items():
        spread = max(NOISE_FLOOR, margin(ref), margin(s))
        if s["median"] * (1 + spread) < ref["median"] and s["median"] < stats[best]["median"]:
            best = key
    timings = {precision_label(*key): s["median"] for key, s in stats.items()}
    return PrecisionChoice(best[0], best[1], ref["median"] / stats[best]["median"], timings)


def auto_precision(spec: NetSpec, device: torch.device, amp: str = "auto", channels_last: bool | None = None, *,
                   batch: int = 2, threads: int | None = None, measure: Measure | None = None,
                   use_cache: bool = True, clock: str = "auto") -> PrecisionChoice:
    """Resolve amp="auto" / channels_last=None by timing the candidates on `spec` for a few training steps.

    The choice is cached per (device, torch version, family, candidates) in cache_dir()/precision.json.

    Args:
        spec: the network the run trains (its family and input size).
        device: where it trains.
        amp: "auto" or an explicit mode (kept as given); channels_last: None (auto) or a fixed layout.
        batch: images per timed step.
        threads: torch CPU threads for the timing (default: torch's current number).
        measure: the timing function (default `time_interleaved`, short); tests pass a fake.
        use_cache: read and write the cached choice.
        clock: scaler.vocabulary.CLOCKS ("auto": CPU time on CPU with one thread, which other load does not
            inflate; wall time otherwise).
    """
    candidates = precision_candidates(device, amp, channels_last)
    if len(candidates) == 1:
        return PrecisionChoice(*candidates[0], source="fixed")
    labels = ",".join(precision_label(*c) for c in candidates)
    key = f"{device_name(device)}|torch {torch.__version__}|{spec.family}|{labels}"
    path = cache_dir() / "precision.json"
    if use_cache:
        cached = read_cache(path).get(key)
        if isinstance(cached, dict) and (cached.get("amp"), cached.get("channels_last")) in candidates:
            return PrecisionChoice(cached["amp"], cached["channels_last"], float(cached.get("ratio", 1.0)),
                                   dict(cached.get("timings_ms", {})), "cache")
    threads = threads or torch.get_num_threads()
    clock = resolve_clock(clock, device, threads)
    steps = {c: make_step(spec, device, "train", batch, *c) for c in candidates}
    if measure is None:
        samples = time_interleaved(steps, threads, rounds=4, min_run_time=0.1, clock=clock)
    else:
        samples = measure(steps, threads)
    choice = choose_precision(samples)
    if use_cache:
        data = read_cache(path)
        data[key] = choice.as_dict()
        write_cache(path, data)
    return choice
