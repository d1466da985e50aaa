"""Honest step timing: per-step wall times after warm-up (synchronized on CUDA), summarised as median and p10/p90."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

__all__ = ["StepTimer", "summarize", "peak_memory", "reset_peak_memory"]


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
