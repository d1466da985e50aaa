"""Time counting the base-64 U-Net and solving all five methods, beside fvcore's and ptflops' time on the same model.

Run: .venv/bin/python benchmarks/complexity.py
Targets: counting the base U-Net analytically <= 1 ms (issue 10: the count composes from the blocks'
own costs and must stay this fast); solving the five methods under params <= 2x <= 1 s in total (issue 2).
"""
from __future__ import annotations

import contextlib
import io
import statistics
import time
import warnings

import torch

from scaler import base_spec, build, complexity, solve, traced_complexity
from scaler.vocabulary import NAMED_METHODS

GROWING = NAMED_METHODS[1:]  # every method that grows the network


def timed(fn, repeat: int = 5) -> float:
    """Median wall time of `fn()` in ms over `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    """Print the timings side by side."""
    from fvcore.nn import FlopCountAnalysis
    from ptflops import get_model_complexity_info

    spec = base_spec("unet", width=64, classes=2, input_size=(256, 512))

    def analytic() -> None:
        complexity.cache_clear()
        complexity(spec)

    def solve_all() -> None:
        complexity.cache_clear()
        for method in GROWING:
            solve(spec, method, "params=2x")

    traced_complexity(spec)  # first meta build pays one-off dispatcher set-up
    model = build(spec).eval()
    x = torch.zeros(1, 3, *spec.input_size)

    def fvcore() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            analysis.total()

    def ptflops() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False,
                                      backend="pytorch")

    rows = [
        ("scaler analytic count (spec only)", timed(analytic, 20), "<= 1 ms"),
        ("scaler traced count (meta device)", timed(lambda: traced_complexity(spec)), ""),
        ("scaler solve 5 methods, params<=2x", timed(solve_all), "<= 1000 ms"),
        ("fvcore FlopCountAnalysis (real module)", timed(fvcore, 3), ""),
        ("ptflops get_model_complexity_info", timed(ptflops, 3), ""),
    ]
    cost = complexity(spec)
    print(f"U-Net w64 3->2 at 256x512: params {cost.params:,}, {cost.macs / 1e9:.3f} GMACs "
          f"({cost.flops / 1e9:.3f} GFLOPs), activations {cost.activations:,}")
    for name, ms, target in rows:
        print(f"{name:42s} {ms:10.2f} ms  {target}")
    print(f"fvcore / scaler analytic: {rows[3][1] / rows[0][1]:.0f}x   ptflops / scaler analytic: {rows[4][1] / rows[0][1]:.0f}x")


if __name__ == "__main__":
    main()
