"""`scaler bench`: time networks in isolation (interleaved), write a timm-style CSV, or solve a time budget."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from scaler.vocabulary import BENCH_MODES, CLOCKS, choices_text

__all__ = ["register", "bench"]


def _networks(items: List[str], input: Optional[str], width: Optional[int]) -> list[tuple[str, object]]:
    """(label, spec) per argument: a spec JSON file, or a family name (its base network, options applied)."""
    from scaler.families import base_spec
    from scaler.io import load_spec
    from scaler.parsing import parse_size

    options: dict[str, object] = {}
    if input is not None:
        options["input_size"] = parse_size(input)
    if width is not None:
        options["width"] = width
    networks = []
    for item in items:
        path = Path(item)
        if item.endswith(".json") or path.is_file():
            networks.append((path.stem, load_spec(path)))
        else:
            networks.append((item, base_spec(item, **options)))
    return networks


def bench(
    networks: List[str] = typer.Argument(..., help="Spec JSON files (from `scaler scale --save`) or family names."),
    mode: str = typer.Option("train", help=f"{choices_text(BENCH_MODES)}: a training step (forward, loss, "
                                           f"backward, AdamW) or an inference forward."),
    batch: int = typer.Option(2, help="Images per step."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads while timing; default: torch's."),
    amp: str = typer.Option("off", help="off (fp32), bf16 or fp16 (CUDA)."),
    channels_last: bool = typer.Option(False, "--channels-last/--contiguous", help="Memory layout."),
    clock: str = typer.Option("auto", help=f"{choices_text(CLOCKS)}: auto is CPU time for 1 thread on cpu "
                                           f"(other load does not inflate it), wall time otherwise."),
    rounds: int = typer.Option(3, help="Interleaved rounds (the order rotates each round)."),
    min_run_time: float = typer.Option(0.3, help="Seconds per network per round (blocked_autorange)."),
    input: Optional[str] = typer.Option(None, "--input", help="Input HxW for family names, e.g. 96x128."),
    width: Optional[int] = typer.Option(None, help="Base width for family names."),
    budget: List[str] = typer.Option([], help="Solve each network into a budget with ms / infer_ms, e.g. ms=1.5x."),
    method: str = typer.Option("all", help="With --budget: all, or a comma list of scaling methods."),
    tolerance: float = typer.Option(0.0, help="With --budget: relative slack allowed over each budget."),
    refit: bool = typer.Option(False, "--refit", help="With --budget: fit the latency model again."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write a timm-style CSV of the results."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse cached timings of the same settings."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
) -> None:
    """Time networks in isolation: median ms per step with p10/p90, interleaved rounds, fixed threads."""
    from scaler.bench import BenchSettings, bench as run_bench, write_timm_csv

    settings = BenchSettings(mode=mode, batch=batch, device=device, threads=threads, amp=amp,
                             channels_last=channels_last, rounds=rounds, min_run_time=min_run_time, clock=clock)
    settings.resolved()  # a device that is not here: one line, exit 2, before anything is built
    named = _networks(networks, input, width)
    if budget:
        _solve(named, settings, budget, method, tolerance, refit, as_json)
        return
    results = run_bench([spec for _, spec in named], settings, use_cache=cache)
    labels = [label for label, _ in named]
    if csv is not None:
        write_timm_csv(csv, results, labels)
    if as_json:
        typer.echo(json.dumps([{"model": n, **r.as_dict()} for n, r in zip(labels, results)], indent=2))
        return
    _print_results(labels, results)
    if csv is not None:
        typer.echo(f"wrote {csv}")


def _print_results(labels: list[str], results: list) -> None:
    """The results as a table, with the conditions they were measured under."""
    from scaler.formatting import text_table

    rows = [{"network": n, "input": f"{r.input_size[0]}x{r.input_size[1]}", "ms median": f"{r.median_ms:.2f}",
             "p10-p90": f"{r.p10_ms:.2f}-{r.p90_ms:.2f}", "img/s": f"{r.samples_per_sec:.1f}",
             "GMACs": f"{r.macs / 1e9:.3f}", "params (M)": f"{r.params / 1e6:.3f}",
             "peak MiB": "-" if r.peak_mem_bytes is None else f"{r.peak_mem_bytes / 2**20:.0f}"}
            for n, r in zip(labels, results)]
    first = results[0]
    typer.echo(f"{first.mode} step, batch {first.batch}, {first.dtype} {first.layout}, {first.threads} threads, "
               f"{first.clock} clock, {first.device_name}, torch {first.torch_version}; "
               f"GMACs per image (GFLOPs = 2 x GMACs)")
    typer.echo(text_table(rows))


def _solve(named: list, settings, budget: List[str], method: str, tolerance: float, refit: bool,
           as_json: bool) -> None:
    """Solve each network into the budgets by the latency model, measure, and print measured slack."""
    from scaler.bench import latency_model, solve_timed
    from scaler.formatting import text_table
    from scaler.scaling import ScalingOptions
    from scaler.vocabulary import NAMED_METHODS, TIME_METRICS

    options = ScalingOptions.parse(budget=budget, tolerance=tolerance)
    methods = list(NAMED_METHODS) if method == "all" else [m.strip() for m in method.split(",") if m.strip()]
    for name in methods:
        options.with_method(name)  # an unknown method: one line naming it and the valid ones
    rows, records = [], []
    for label, base in named:
        if refit:
            latency_model(base, settings, refit=True)
        for name in methods:
            timed = solve_timed(base, options.with_method(name), settings)
            sol = timed.solution
            records.append({"network": label, **sol.as_dict(), "predicted_ms": timed.predicted_ms,
                            "base_ms": timed.base_ms, "resolves": timed.resolves})
            for metric in (m for m in sol.limits if m in TIME_METRICS):
                rows.append({"network": label, "method": name, "budget": metric,
                             "limit ms": f"{sol.limits[metric]:.1f}", "base ms": f"{timed.base_ms[metric]:.1f}",
                             "predicted": f"{timed.predicted_ms[metric]:.1f}",
                             "measured": f"{timed.measured_ms[metric]:.1f}", "slack": f"{sol.slack[metric]:.1%}",
                             "re-solves": timed.resolves, "GMACs": f"{sol.cost.macs / 1e9:.3f}"})
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    typer.echo(text_table(rows))
    models = {f"{m}: {t.form} (held-out mean |error| {t.error:.1%})" for m, t in timed.models.items()}
    typer.echo(f"latency model {'; '.join(sorted(models))}; slack from the measurement, base timed beside it")


def register(app: typer.Typer) -> None:
    """Add the `bench` command."""
    app.command("bench")(bench)
