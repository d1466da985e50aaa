"""`scaler report` and `scaler reproduce`: thin commands over scaler.report."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from scaler.commands._interrupt import exit_on_signal
from scaler.vocabulary import DEFAULT_DEPTH_ROUNDING, DEPTH_ROUNDINGS, EVALUATIONS, SWEEP_METHODS, choices_text

__all__ = ["register"]


def _saved_runs_text(out: Path) -> str:
    """What a stopped reproduce/sweep left: its finished runs, and the stopped run at its last completed epoch."""
    runs = out / "runs"
    count = sum(1 for p in runs.glob("*/metrics.json")) if runs.is_dir() else 0
    return f"{runs} holds {count} run folder(s) with records (finished runs are skipped, the stopped one resumes)"


#: The isolated timing's options, shared by report, reproduce and sweep (scaler.report._timing).
_TIME_DEVICE = typer.Option("auto", "--time-device",
                            help="Device of the isolated timing: auto, cpu, cuda, cuda:N, mps.")
_TIME_THREADS = typer.Option(None, "--time-threads", help="torch CPU threads while timing (default: torch's; 1 on a "
                                                          "shared CPU times by CPU clock, which other load does not "
                                                          "inflate).")
_TIME_AMP = typer.Option("off", "--time-amp", help="Precision of the isolated timing: off (fp32), bf16, fp16 (CUDA).")
_TIME_LAYOUT = typer.Option(False, "--time-channels-last/--time-contiguous", help="Memory layout while timing.")


def _bench_settings(device: str, threads: Optional[int], amp: str, channels_last: bool):
    """The BenchSettings of the isolated timing phase (checked: a device that is not here is one line, exit 2)."""
    from scaler.bench import BenchSettings

    settings = BenchSettings(device=device, threads=threads, amp=amp, channels_last=channels_last)
    settings.resolved()
    return settings


def _print_outcome(rep, out: Path) -> None:
    """Print the table, the summary's answer and where the files are."""
    from scaler.report import table_markdown

    typer.echo(table_markdown(rep.table, rep.records.attrs.get("evaluation", "best"),
                              rep.records.attrs.get("timing", "")).rstrip())
    typer.echo("")
    for line in rep.summary.headlines():
        typer.echo(f"- {line}")
    typer.echo(f"wrote {len(rep.files)} files to {out}/ (table.md, table.csv, summary.md, plots/)")


def report(
    source: List[str] = typer.Argument(..., help="A study TOML, a storage URL (with --study-name), run dirs, "
                                                 "or a `scaler reproduce` folder."),
    out: Path = typer.Option(..., "--out", help="Report folder (created)."),
    study_name: Optional[str] = typer.Option(None, help="The study in a storage URL (or overriding the TOML's)."),
    accuracy: Optional[str] = typer.Option(None, help="Accuracy the summary ranks by: miou, pa, mpa, accuracy, "
                                                      "macro_recall or macro_f1; default: miou, or accuracy when "
                                                      "every run is a classification run."),
    evaluation: str = typer.Option("best", "--eval", help=f"Which accuracy of each run: "
                                   f"{'; '.join(f'{k} = {v}' for k, v in EVALUATIONS.items())}."),
    time: bool = typer.Option(True, "--time/--no-time", help="Time every completed network in isolation (train "
                              "step and inference, interleaved, cached) unless the source stores timings of them "
                              "all and no --time-* option asks for others; --no-time: stored timings only, the "
                              "others say 'not timed'."),
    time_batch: Optional[int] = typer.Option(None, "--time-batch", help="Batch of the isolated timing (default: "
                                                                        "each network's training batch)."),
    time_device: str = _TIME_DEVICE,
    time_threads: Optional[int] = _TIME_THREADS,
    time_amp: str = _TIME_AMP,
    time_channels_last: bool = _TIME_LAYOUT,
) -> None:
    """Tables, Pareto fronts, trade-off plots and a summary of a study or of training runs."""
    from scaler.io import prepare_out_dir
    from scaler.report import report as make_report

    prepare_out_dir(out, "--out")
    settings = _bench_settings(time_device, time_threads, time_amp, time_channels_last)
    rep = make_report(source if len(source) > 1 else source[0], out, study_name=study_name, accuracy=accuracy,
                      evaluation=evaluation, time=time, bench_settings=settings, time_batch=time_batch)
    typer.echo(f"{rep.records.attrs.get('source')}: {len(rep.records)} runs, {len(rep.table)} networks")
    _print_outcome(rep, out)


def reproduce(
    data: str = typer.Option("camvid", help="Dataset: camvid, shapes, cityscapes, voc, folder."),
    data_root: Optional[str] = typer.Option(None, help="Dataset folder (camvid: ../shared/data/camvid by default)."),
    seeds: int = typer.Option(1, help="Seeds per network (0, 1, ...): tables show mean +/- std."),
    epochs: Optional[int] = typer.Option(None, help="Epochs of every run (default: TrainConfig's)."),
    base_width: int = typer.Option(64, help="Channels of the base U-Net's first stage (the paper: 64)."),
    input: Optional[str] = typer.Option(None, "--input", help="Base input size HxW; R/WDR/AWDR train at 1.4x."),
    out: Path = typer.Option(..., "--out", help="Output folder: runs/, reproduce.json, networks.md, the report."),
    budget: str = typer.Option("params=2x", help="Budget the networks are held to (solved into with --solve)."),
    solve: bool = typer.Option(False, "--solve/--paper-factors",
                               help="Solve each method's factor into --budget instead of the paper's factors."),
    depth_rounding: Optional[str] = typer.Option(
        None, help="Depth rounding: floor (default with the paper's factors: its own counts), stagewise (default "
                   "with --solve), uniform."),
    tolerance: float = typer.Option(0.0, help="Relative slack allowed over the budget (0.01 = 1%)."),
    ratio: str = typer.Option("paper", help="Compound direction when solving: paper, efficientnet, or D,W,R."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size of every run."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate of every run."),
    max_steps_per_epoch: Optional[int] = typer.Option(None, help="Cap on steps per epoch (quick checks)."),
    train_option: List[str] = typer.Option([], help="Further TrainConfig field NAME=VALUE (repeatable), "
                                                    "e.g. amp=off."),
    network: List[str] = typer.Option([], help="Train only these of Baseline, D, W, R, WDR, AWDR (repeatable)."),
    progress: bool = typer.Option(False, help="Show each run's per-epoch progress."),
    time_device: str = _TIME_DEVICE,
    time_threads: Optional[int] = _TIME_THREADS,
    time_amp: str = _TIME_AMP,
    time_channels_last: bool = _TIME_LAYOUT,
) -> None:
    """Train the paper's six networks (Baseline, D, W, R, WDR, AWDR) x seeds, time them in isolation, then report
    them; resumable."""
    from scaler.parsing import parse_assignments, parse_size
    from scaler.io import prepare_out_dir
    from scaler.report import reproduce as run_reproduce

    prepare_out_dir(out, "--out")
    settings = _bench_settings(time_device, time_threads, time_amp, time_channels_last)
    options = parse_assignments(train_option, "train option")
    if max_steps_per_epoch is not None:
        options["max_steps_per_epoch"] = max_steps_per_epoch
    with exit_on_signal() as stop:
        stop.saved = lambda: _saved_runs_text(out)
        rep = run_reproduce(data, out, data_root=data_root, seeds=seeds, epochs=epochs, base_width=base_width,
                            input_size=parse_size(input) if input else None, budget=budget, solve=solve,
                            depth_policy=depth_rounding, batch_size=batch_size, lr=lr, train_options=options,
                            networks=network or None, progress=progress, log=typer.echo, tolerance=tolerance,
                            ratio=ratio, bench_settings=settings)
    typer.echo((out / "networks.md").read_text().rstrip())
    typer.echo("")
    _print_outcome(rep, out)


def sweep(
    ladder: str = typer.Option(..., "--ladder", help="Budgets of one metric, e.g. params=1.25x,1.5x,2x,3x."),
    target: str = typer.Option(..., "--target", help="The budget beyond the ladder to predict, e.g. params=4x."),
    out: Path = typer.Option(..., "--out", help="Output folder: runs/, sweep.json, sweep.md, the report, plots/."),
    model: str = typer.Option("unet", help="Model family of the base network."),
    base_width: Optional[int] = typer.Option(None, help="Base width (first-stage channels)."),
    input: Optional[str] = typer.Option(None, "--input", help="Base input size HxW."),
    option: List[str] = typer.Option([], help="Family option NAME=VALUE (repeatable)."),
    methods: str = typer.Option(",".join(SWEEP_METHODS), help="Comma list of methods to sweep."),
    data: str = typer.Option("shapes", help="Dataset: shapes (synthetic), camvid, cityscapes, voc, folder."),
    data_root: Optional[str] = typer.Option(None, help="Dataset folder."),
    seeds: int = typer.Option(1, help="Seeds per network (0, 1, ...)."),
    train_option: List[str] = typer.Option([], help="TrainConfig field NAME=VALUE (repeatable), e.g. epochs=5."),
    ratio: str = typer.Option("paper", help="Compound direction: paper, efficientnet, or D,W,R."),
    tolerance: float = typer.Option(0.0, help="Relative slack allowed over each budget."),
    depth_rounding: str = typer.Option(DEFAULT_DEPTH_ROUNDING,
                                       help=f"Depth rounding: {choices_text(DEPTH_ROUNDINGS)}."),
    check: bool = typer.Option(False, "--check/--no-check", help="Also train the target budget: predicted vs "
                                                                 "measured."),
    evaluation: str = typer.Option("best", "--eval", help=f"Which accuracy of each run: {choices_text(list(EVALUATIONS))}."),
    progress: bool = typer.Option(False, help="Show each run's per-epoch progress."),
    time_device: str = _TIME_DEVICE,
    time_threads: Optional[int] = _TIME_THREADS,
    time_amp: str = _TIME_AMP,
    time_channels_last: bool = _TIME_LAYOUT,
) -> None:
    """Scaling curves: each method solved into a ladder of budgets, trained, a power law fitted per method, and the
    best method PREDICTED at a budget beyond the ladder (--check trains it: predicted vs measured); resumable."""
    from scaler.parsing import parse_assignments, parse_size
    from scaler.io import prepare_out_dir
    from scaler.report import sweep as run_sweep
    from scaler.scaling import ScalingOptions

    prepare_out_dir(out, "--out")
    settings = _bench_settings(time_device, time_threads, time_amp, time_channels_last)
    base_options = parse_assignments(option, "option")
    if base_width is not None:
        base_options["width"] = base_width
    if input is not None:
        base_options["input_size"] = parse_size(input)
    scaling = ScalingOptions.parse(ratio=ratio, tolerance=tolerance, depth_rounding=depth_rounding)
    with exit_on_signal() as stop:
        stop.saved = lambda: _saved_runs_text(out)
        _, result = run_sweep(data, out, ladder=ladder, target=target, check=check, progress=progress, log=typer.echo,
                              evaluation=evaluation, methods=[m.strip() for m in methods.split(",") if m.strip()],
                              data_root=data_root, seeds=seeds, family=model, base_options=base_options,
                              scaling=scaling, train_settings=parse_assignments(train_option, "train option"),
                              bench_settings=settings)
    typer.echo((out / "sweep.md").read_text().rstrip())
    typer.echo(f"wrote the sweep report to {out}/ (sweep.md, fits.csv, predictions.csv, plots/sweep.png)")


def register(app: typer.Typer) -> None:
    """Add `report`, `reproduce` and `sweep` to the app."""
    app.command("report")(report)
    app.command("reproduce")(reproduce)
    app.command("sweep")(sweep)
