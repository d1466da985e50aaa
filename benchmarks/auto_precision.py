"""amp=auto / channels_last=auto (chosen by measurement) beside eager fp32, timed side by side.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/auto_precision.py [--threads 1] [--batch 8] [--input 96x128]
Target (issue 14): the auto choice is never slower than eager fp32 beyond noise on this machine.

`scaler.train._timing.auto_precision` times every candidate (fp32 / bf16 x contiguous / channels_last
on CPU) for a few steps and keeps fp32 unless another is faster beyond noise; then this script times
the choice and eager fp32 again, interleaved, with `scaler.bench.bench` (fresh, not cached).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import replace

import torch

from scaler.bench import BenchSettings, bench
from scaler.families import base_spec
from scaler.parsing import parse_size
from scaler.train._timing import auto_precision, precision_label


def main() -> None:
    """Choose by measurement, then print auto vs eager fp32 and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--input", default="96x128")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    spec = base_spec("unet", width=args.width, classes=11, input_size=parse_size(args.input))
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); torch {torch.__version__}, "
          f"{args.threads} thread(s); unet w{args.width} {args.input}, batch {args.batch}, train step")
    choice = auto_precision(spec, device, batch=args.batch, threads=args.threads, use_cache=False)
    print(choice.line())
    fp32 = BenchSettings(mode="train", batch=args.batch, device="cpu", threads=args.threads, rounds=1)
    auto = replace(fp32, amp=choice.amp, channels_last=choice.channels_last)
    # bench interleaves networks under one setting; here the settings differ, so alternate them round by round.
    ratios, lines = [], []
    for round_index in range(args.rounds):
        pair = [("eager fp32", fp32), ("auto", auto)][::-1 if round_index % 2 else 1]
        times = {label: bench([spec], settings, use_cache=False)[0].median_ms for label, settings in pair}
        ratios.append(times["eager fp32"] / times["auto"])
        lines.append(f"  round {round_index + 1}: eager fp32 {times['eager fp32']:7.1f} ms, "
                     f"auto ({precision_label(choice.amp, choice.channels_last)}) {times['auto']:7.1f} ms, "
                     f"ratio {ratios[-1]:.2f}x")
    print("\n".join(lines))
    ratio = sorted(ratios)[len(ratios) // 2]
    print(f"auto / eager fp32 speed: {ratio:.2f}x (median of rounds; > 1 is faster); "
          f"load average at end {os.getloadavg()[0]:.2f}")
    print("PASS" if ratio >= 0.97 else "FAIL: auto slower than eager fp32 beyond noise (3%)")


if __name__ == "__main__":
    main()
