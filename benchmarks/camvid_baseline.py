"""CamVid baseline: the base U-Net (width 16) at 96x128 trained 20 epochs; prints val mIoU and wall time.

Run: nice .venv/bin/python benchmarks/camvid_baseline.py [--epochs 20] [--out runs/camvid_baseline] [--amp auto]
Target (issue 3): val mIoU >= 0.35 on CPU. Minutes of work: run it on purpose, not in CI.
"""
from __future__ import annotations

import argparse
import time

from scaler.data import default_camvid_root
from scaler.families import base_spec
from scaler.train import TrainConfig, train


def main() -> None:
    """Train with the default TrainConfig (focal loss, inverse-frequency alpha, AdamW, poly) and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None, help="CamVid folder (default: ../shared/data/camvid)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--amp", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/camvid_baseline")
    args = parser.parse_args()

    root = args.data_root or default_camvid_root()
    if root is None:
        raise SystemExit("CamVid not found: pass --data-root or set SCALER_CAMVID")
    spec = base_spec("unet", width=args.width, classes=11, input_size=(96, 128))
    cfg = TrainConfig(data="camvid", data_root=str(root), epochs=args.epochs, amp=args.amp, device=args.device,
                      seed=args.seed)
    started = time.perf_counter()
    result = train(spec, cfg, args.out, resume=False)
    wall = time.perf_counter() - started
    best = result.best
    print(f"CamVid val, U-Net width {args.width} at 96x128, {result.epochs_run} epochs on {result.device} "
          f"(amp {result.amp}, channels_last {result.channels_last}):")
    print(f"best mIoU {best['miou']:.4f} (epoch {best['epoch']}), final mIoU {result.final['miou']:.4f}, "
          f"PA {best['pa']:.4f}, MPA {best['mpa']:.4f}")
    print(f"wall {wall:.0f} s in all; {result.ms_per_step:.1f} ms/step median (p10 {result.ms_p10:.1f}, "
          f"p90 {result.ms_p90:.1f}), data {result.data_ms_per_step:.1f} ms/step")
    print(f"target mIoU >= 0.35: {'PASS' if best['miou'] >= 0.35 else 'FAIL'}")


if __name__ == "__main__":
    main()
