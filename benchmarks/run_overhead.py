"""Whole-run wall time of `scaler train` beside a plain hand-written loop doing the same training.

Run: .venv/bin/python benchmarks/run_overhead.py [--epochs 10] [--threads 1] [--repeats 1] [--profile]
Target (issue 14): `scaler train` whole-run wall time <= 1.05x the plain loop (CamVid, unet w16, 96x128,
10 epochs, batch 8, eager fp32, CE loss without class weights, AdamW).

Both are run as fresh processes (python start-up and imports included), alternately, with the same
OMP_NUM_THREADS and torch threads. The plain loop uses the same CamVid datasets (`make_datasets`, so the
same decoding and augmentation) and the same glibc malloc tuning, and validates once per epoch (a confusion
matrix, mIoU) as the trainer does; it writes no checkpoints or history. `--profile` then runs the trainer
once under cProfile and prints where its time goes outside the training step.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAMVID = os.environ.get("SCALER_CAMVID", "/work/shared/data/camvid")  # the shared data folder; SCALER_CAMVID elsewhere
WIDTH, INPUT, BATCH = 16, (96, 128), 8


def train_args(epochs: int, out: str) -> list[str]:
    """`scaler train` at the benchmark's settings."""
    return ["train", "--data", "camvid", "--data-root", CAMVID, "--base-width", str(WIDTH),
            "--input", f"{INPUT[0]}x{INPUT[1]}", "--epochs", str(epochs), "--batch-size", str(BATCH), "--amp", "off",
            "--no-channels-last", "--loss", "ce", "--class-weights", "none", "--out", out, "--no-resume",
            "--no-progress"]


def plain_loop(epochs: int, threads: int) -> None:
    """The hand-written loop: same data, model, optimizer and loss; validate each epoch; no files written."""
    import torch
    from torch import nn

    from scaler.families import base_spec, build
    from scaler.train import TrainConfig, tune_malloc
    from scaler.train._data import make_datasets

    tune_malloc()  # the trainer's default (TrainConfig.tune_malloc): the same allocator for both
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = TrainConfig(data="camvid", data_root=CAMVID, batch_size=BATCH, epochs=epochs)
    train_ds, val_ds = make_datasets(cfg, INPUT)
    classes, ignore = train_ds.num_classes, train_ds.ignore_index
    model = build(base_spec("unet", width=WIDTH, classes=classes, input_size=INPUT))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss(ignore_index=ignore)
    train_loader = torch.utils.data.DataLoader(train_ds, batch_size=BATCH, shuffle=True, drop_last=True)
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=BATCH)
    for epoch in range(epochs):
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch + 1)
        model.train()
        for images, masks in train_loader:
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(images), masks)
            loss.backward()
            optimizer.step()
            loss.item()
        model.eval()
        confusion = torch.zeros(classes, classes, dtype=torch.long)
        with torch.no_grad():
            for images, masks in val_loader:
                keep = masks != ignore
                pred = model(images).argmax(1)
                confusion += torch.bincount(masks[keep] * classes + pred[keep], minlength=classes ** 2).view(
                    classes, classes)
        iou = confusion.diag() / (confusion.sum(0) + confusion.sum(1) - confusion.diag()).clamp(min=1)
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} mIoU {iou.mean().item():.4f}", flush=True)


def timed_process(args: list[str], threads: int) -> tuple[float, float]:
    """(wall, CPU) seconds of a fresh python process running `args` (it must succeed).

    CPU = the child's user + system time: other processes' load on shared cores stretches the wall time
    but hardly the CPU time, so its ratio says whether the trainer does more work, even on a loaded machine.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def profile_trainer(epochs: int, threads: int) -> None:
    """Run the trainer once in this process under cProfile; print the top functions by cumulative time."""
    from scaler.cli import app

    os.environ["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as out:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            app(train_args(epochs, out), standalone_mode=False)
        finally:
            profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(r"scaler/(train|data|families|losses|metrics)/.*\.py", 30)


def main() -> None:
    """Time both side by side, print the ratio; optionally profile the trainer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.plain:
        plain_loop(args.epochs, args.threads)
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); CamVid unet w{WIDTH} "
          f"{INPUT[0]}x{INPUT[1]}, batch {BATCH}, {args.epochs} epochs, eager fp32, {args.threads} thread(s)")
    seconds: dict[str, list[tuple[float, float]]] = {"trainer": [], "plain": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as out:
            runs = [("trainer", ["-m", "scaler", *train_args(args.epochs, out)]),
                    ("plain", [str(Path(__file__).resolve()), "--plain", "--epochs", str(args.epochs),
                               "--threads", str(args.threads)])]
            for name, command in runs[::-1 if repeat % 2 else 1]:
                wall, cpu = timed_process(command, args.threads)
                seconds[name].append((wall, cpu))
                print(f"  repeat {repeat + 1}: {name:7s} wall {wall:7.1f} s, CPU {cpu:7.1f} s", flush=True)
    total = {name: [sum(t[i] for t in times) for i in (0, 1)] for name, times in seconds.items()}
    ratio = total["trainer"][0] / total["plain"][0]
    print(f"scaler train / plain loop wall time: {ratio:.3f}x ({total['trainer'][0]:.1f} s vs "
          f"{total['plain'][0]:.1f} s); CPU time: {total['trainer'][1] / total['plain'][1]:.3f}x "
          f"({total['trainer'][1]:.1f} s vs {total['plain'][1]:.1f} s); load average at end {os.getloadavg()[0]:.2f}")
    print("PASS" if ratio <= 1.05 else "FAIL: scaler train > 1.05x the plain loop")
    if args.profile:
        profile_trainer(args.epochs, args.threads)


if __name__ == "__main__":
    main()
