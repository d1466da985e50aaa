"""Networks solved into a time budget: the measured train-step ms of each beside the budget.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ms_budget.py [--budget ms=2x] [--threads 1] [--batch 2]
Target (issue 14): a network solved into an ms budget measures within +-5% of the budget, or under it
(the slack is shown).

Each method is solved with the device's stored latency model (fitted first when absent, see
`scaler.bench.latency_model`), then the solved network is timed interleaved with the base (the base's
time there sets a relative budget's limit); a measurement over the budget re-solves smaller.
"""
from __future__ import annotations

import argparse
import os

import torch

from scaler.bench import BenchSettings, latency_model, solve_timed
from scaler.families import base_spec
from scaler.scaling import ScalingOptions
from scaler.vocabulary import NAMED_METHODS


def main() -> None:
    """Solve every growing method into the budget and print measured vs limit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="ms=2x")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = BenchSettings(mode="train", batch=args.batch, device="cpu", threads=args.threads, rounds=args.rounds)
    base = base_spec("unet", width=16, classes=5, input_size=(64, 64))
    model = latency_model(base, settings)
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); torch {torch.__version__}, "
          f"{args.threads} thread(s), batch {args.batch}; budget {args.budget}; model {model.form}, held-out "
          f"mean |error| {model.error:.1%}")
    print(f"{'method':10s} {'limit':>7s} {'base':>7s} {'predicted':>9s} {'measured':>9s} {'measured/limit':>14s} "
          f"{'slack':>7s} {'re-solves':>9s}  verdict")
    verdicts = []
    for method in NAMED_METHODS[1:]:
        timed = solve_timed(base, ScalingOptions.parse(method, args.budget), settings, models={"ms": model})
        sol, metric = timed.solution, "ms"
        ratio = timed.measured_ms[metric] / sol.limits[metric]
        ok = ratio <= 1.05
        verdicts.append(ok)
        print(f"{method:10s} {sol.limits[metric]:7.1f} {timed.base_ms[metric]:7.1f} {timed.predicted_ms[metric]:9.1f} "
              f"{timed.measured_ms[metric]:9.1f} {ratio:14.3f} {sol.slack[metric]:7.1%} {timed.resolves:9d}  "
              f"{'within +-5%' if abs(ratio - 1) <= 0.05 else ('under' if ratio < 1 else 'OVER')}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("PASS" if all(verdicts) else "FAIL: a solved network measures over budget + 5%")


if __name__ == "__main__":
    main()
