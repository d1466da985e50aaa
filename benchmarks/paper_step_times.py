"""ms per training step of the networks of a `scaler reproduce` folder, measured side by side in one run.

Run: .venv/bin/python benchmarks/paper_step_times.py reports/camvid_table1 [--rounds 5] [--steps 10] [--batch 8]

Why: the step times recorded during a long reproduce are only as good as the machine was quiet while
each network trained; on a shared 2-core machine they are not comparable between networks. Here every
network runs the trainer's own step (the same device, autocast and channels_last choices as
`scaler train`, AdamW, focal loss) on fixed random batches, interleaved round by round so that a load
change hits all of them; each number is the median over rounds of the per-round median step time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from scaler.families import build
from scaler.losses import make_loss
from scaler.spec import NetSpec
from scaler.train import TrainConfig, resolve_amp, resolve_channels_last, select_device, tune_malloc
from scaler.train._hardware import autocast


def step_fn(spec: NetSpec, batch: int, device: torch.device, amp: str, channels_last: bool):
    """A closure doing one training step of `spec` on a fixed random batch."""
    torch.manual_seed(0)
    model = build(spec).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    images = torch.randn(batch, spec.in_channels, *spec.input_size, device=device).contiguous(memory_format=fmt)
    masks = torch.randint(0, spec.classes, (batch, *spec.input_size), device=device)
    loss_fn = make_loss("focal", spec.classes, 255)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, amp):
            loss = loss_fn(model(images), masks)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def main() -> None:
    """Print a markdown table of ms/step per network."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None, help="default: the reproduce's batch size")
    args = parser.parse_args()

    manifest = json.loads((args.folder / "reproduce.json").read_text())
    train_cfg = manifest.get("train", {})
    batch = args.batch or int(train_cfg.get("batch_size", TrainConfig().batch_size))
    cfg = TrainConfig()
    device = select_device(cfg.device)
    amp = resolve_amp(cfg.amp, device)
    channels_last = resolve_channels_last(cfg.channels_last, device, amp)
    tune_malloc()
    networks = {n["network"]: NetSpec.from_dict(n["spec"]) for n in manifest["networks"]}
    steps = {name: step_fn(spec, batch, device, amp, channels_last) for name, spec in networks.items()}
    per_round: dict[str, list[float]] = {name: [] for name in networks}
    for r in range(args.rounds):
        order = list(networks)[r % len(networks):] + list(networks)[:r % len(networks)]
        for name in order:
            for _ in range(args.warmup):
                steps[name]()
            times = []
            for _ in range(args.steps):
                start = time.perf_counter()
                steps[name]()
                times.append((time.perf_counter() - start) * 1e3)
            per_round[name].append(statistics.median(times))
    base = statistics.median(per_round[next(iter(networks))])
    print(f"device {device}, autocast {amp}, channels_last {channels_last}, batch {batch}, "
          f"{args.rounds} rounds x {args.steps} steps, interleaved")
    print("| Network | Input | ms/step (median of rounds) | min-max over rounds | vs first |")
    print("|---|---|---:|---:|---:|")
    for name, spec in networks.items():
        values = per_round[name]
        med = statistics.median(values)
        print(f"| {name} | {spec.input_size[0]}x{spec.input_size[1]} | {med:.1f} | {min(values):.1f}-{max(values):.1f} | "
              f"{med / base:.2f}x |")


if __name__ == "__main__":
    main()
