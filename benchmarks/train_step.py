"""The trainer's step time beside a plain hand-written PyTorch loop, and the fast CPU path beside eager fp32.

Run: .venv/bin/python benchmarks/train_step.py [--rounds 5] [--steps 12] [--threads N] [--breakdown] [--no-tune-malloc]
Targets (issue 3): trainer / plain loop <= 1.05 (same model, batch, input, eager fp32, CE loss, AdamW);
fast path (bf16 autocast + channels_last) >= 1.5x faster than eager fp32.

All contenders run in one process, interleaved round by round (the order rotates each round), so a
load change on a shared machine hits all of them; each ratio is the median of the per-round ratios
(the same ratio from the p10 step times is printed beside it: on a machine shared with other work
the fast tail is the least disturbed). ms/step is the median of the timed steps after warm-up steps
(synchronized on CUDA), data loading excluded; the trainer's numbers come from `scaler.train.train`
itself (its RunResult). Both loops get the same glibc malloc tuning (TrainConfig.tune_malloc).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from scaler.families import base_spec, build
from scaler.parsing import parse_size
from scaler.train import (
    TrainConfig,
    cpu_has_native_bf16,
    resolve_amp,
    resolve_channels_last,
    select_device,
    train,
    tune_malloc,
)

CLASSES, IGNORE = 11, 11


class FixedBatches(torch.utils.data.Dataset):
    """Random images and masks made once, so no data-loading cost differs between the contenders."""

    def __init__(self, items: int, size: tuple[int, int], seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(items, 3, *size, generator=generator)
        self.masks = torch.randint(0, CLASSES + 1, (items, *size), generator=generator)  # includes ignore pixels
        self.num_classes, self.ignore_index, self.input_size = CLASSES, IGNORE, size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.masks[index]


def plain_loop(spec, data: FixedBatches, batch: int, steps: int, warmup: int,
               device: torch.device) -> tuple[float, float]:
    """What one would write by hand: eager fp32, AdamW, CE; (median, p10) ms/step after `warmup` steps."""
    torch.manual_seed(0)
    model = build(spec).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss(ignore_index=IGNORE)
    times = []
    for step in range(warmup + steps):
        first = (step * batch) % (len(data) - batch + 1)
        images = data.images[first:first + batch].to(device)
        masks = data.masks[first:first + batch].to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(images), masks)
        loss.backward()
        optimizer.step()
        loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    timed = times[warmup:]
    return statistics.median(timed), statistics.quantiles(timed, n=10, method="inclusive")[0]


def trainer(spec, data: FixedBatches, val: FixedBatches, batch: int, steps: int, warmup: int, device: torch.device,
            amp: str, channels_last: bool, malloc: bool) -> tuple[float, float]:
    """`scaler.train.train` for one epoch of `warmup + steps` steps; its (median, p10) ms/step."""
    cfg = TrainConfig(epochs=1, batch_size=batch, loss="ce", class_weights="none", amp=amp,
                      channels_last=channels_last, device=device.type, warmup_epochs=0.0,
                      max_steps_per_epoch=warmup + steps, timing_warmup_steps=warmup, tune_malloc=malloc)
    with tempfile.TemporaryDirectory() as out:
        result = train(spec, cfg, Path(out), resume=False, progress=False, train_ds=data, val_ds=val)
    return result.ms_per_step, result.ms_p10


def main() -> None:
    """Measure and print the two ratios with their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per contender per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--input", default="96x128")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's); 1 is far less disturbed by other work on the cores")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time channels_last alone and bf16 alone (two more contenders)")
    parser.add_argument("--no-tune-malloc", dest="malloc", action="store_false",
                        help="leave glibc's allocator as it is for every contender")
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    size = parse_size(args.input)
    spec = base_spec("unet", width=args.width, classes=CLASSES, input_size=size)
    data = FixedBatches(args.batch * (args.warmup + args.steps), size)
    val = FixedBatches(args.batch, size, seed=1)
    fast_amp = "bf16" if device.type == "cpu" else resolve_amp("auto", device)
    auto_amp = resolve_amp("auto", device)
    print(f"U-Net width {args.width}, {CLASSES} classes, batch {args.batch} at {size[0]}x{size[1]} on {device} "
          f"({torch.get_num_threads()} threads, torch {torch.__version__}); native CPU bf16: "
          f"{'yes' if cpu_has_native_bf16() else 'no'}; amp=auto picks {auto_amp}, channels_last=auto picks "
          f"{resolve_channels_last(None, device, auto_amp)}")
    print(f"{args.rounds} rounds x {args.steps} timed steps (after {args.warmup} warm-up steps); "
          f"load average at start {os.getloadavg()[0]:.1f}")
    if args.malloc and device.type == "cpu":
        # The trainer tunes glibc malloc (TrainConfig.tune_malloc); the hand-written loop gets the same
        # process-wide setting, so the ratio below compares loops, not allocators. Shown once untuned:
        untuned = plain_loop(spec, data, args.batch, args.steps, args.warmup, device)[0]
        print(f"plain loop before tune_malloc(): {untuned:.1f} ms/step; tune_malloc() -> {tune_malloc()}, "
              "now for every contender", flush=True)

    contenders = {
        "plain loop, eager fp32": lambda: plain_loop(spec, data, args.batch, args.steps, args.warmup, device),
        "trainer, eager fp32": lambda: trainer(spec, data, val, args.batch, args.steps, args.warmup, device,
                                               "off", False, args.malloc),
        f"trainer, {fast_amp} + channels_last": lambda: trainer(spec, data, val, args.batch, args.steps,
                                                                 args.warmup, device, fast_amp, True, args.malloc),
    }
    if args.breakdown:  # each half of the fast path alone
        contenders["trainer, eager fp32 + channels_last"] = lambda: trainer(
            spec, data, val, args.batch, args.steps, args.warmup, device, "off", True, args.malloc)
        contenders[f"trainer, {fast_amp} (contiguous)"] = lambda: trainer(
            spec, data, val, args.batch, args.steps, args.warmup, device, fast_amp, False, args.malloc)
    names = list(contenders)
    rounds: list[dict[str, tuple[float, float]]] = []
    for index in range(args.rounds):
        order = names[index % len(names):] + names[:index % len(names)]
        measured = {name: contenders[name]() for name in order}
        rounds.append(measured)
        print(f"round {index + 1}: " + ", ".join(f"{name} {measured[name][0]:.1f} ms (p10 {measured[name][1]:.1f})"
                                                 for name in names), flush=True)

    plain, eager, fast = names[:3]

    def ratio(slow: str, quick: str, stat: int) -> float:
        """Median over rounds of the per-round ratio of one statistic (0: median, 1: p10)."""
        return statistics.median(r[slow][stat] / r[quick][stat] for r in rounds)

    overhead, speedup = ratio(eager, plain, 0), ratio(eager, fast, 0)
    print()
    for name in names:
        print(f"{name:36s} {statistics.median(r[name][0] for r in rounds):8.1f} ms/step "
              f"(p10 {statistics.median(r[name][1] for r in rounds):.1f}; medians of rounds)")
    print(f"trainer / plain loop (eager fp32):             {overhead:.3f}  target <= 1.05  "
          f"{'PASS' if overhead <= 1.05 else 'FAIL'}   (from p10s: {ratio(eager, plain, 1):.3f})")
    print(f"fp32 / {fast_amp} + channels_last speed-up:          {speedup:.2f}x  target >= 1.5x  "
          f"{'PASS' if speedup >= 1.5 else 'FAIL'}   (from p10s: {ratio(eager, fast, 1):.2f}x)")
    for name in names[3:]:
        print(f"fp32 / {name.removeprefix('trainer, ')} speed-up: {ratio(eager, name, 0):.2f}x")
    if device.type == "cpu" and not cpu_has_native_bf16():
        print("note: this CPU has no native bf16 (AVX512-BF16/AMX); bf16 runs emulated here and amp=auto keeps fp32")
    print(f"load average at end {os.getloadavg()[0]:.1f} (other processes on the cores make every number noisier)")


if __name__ == "__main__":
    main()
