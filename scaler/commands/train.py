"""`scaler train` and `scaler evaluate`: parse, call scaler.train, print."""
from __future__ import annotations

import inspect
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, List, Optional

import typer

from scaler.commands._interrupt import exit_on_signal, saved_run_text
from scaler.commands._train_options import config_from_flags, config_parameters
from scaler.complexity import complexity
from scaler.formatting import text_table
from scaler.inference import PAPER_SCALES, parse_tta
from scaler.io import load_spec, prepare_out_dir
from scaler.parsing import parse_assignments, parse_size
from scaler.scaling import ScalingOptions
from scaler.solver import format_count
from scaler.train import PlannedRun, RunResult, TrainConfig, evaluate_run, make_datasets, metrics_text, plan_run
from scaler.train import train as run_training
from scaler.vocabulary import DEFAULT_DEPTH_ROUNDING, DEPTH_ROUNDINGS, METHODS, SPLITS, choices_text

__all__ = ["register"]

def _network_parameters() -> list[inspect.Parameter]:
    """The flags that choose the network, how it is scaled, and where the run goes (TrainConfig's come after)."""
    options = dict(
        model=(str, typer.Option("unet", help="Model family of the base network (see `scaler families`).")),
        base_width=(Optional[int], typer.Option(None, help="Base width (first-stage channels); default: the "
                                                           "family's.")),
        classes=(Optional[int], typer.Option(None, help="Number of classes; default: the dataset's.")),
        input=(Optional[str], typer.Option(None, "--input", help="Base input size HxW, e.g. 96x128; default: the "
                                                                 "data's.")),
        option=(List[str], typer.Option([], help="Family option NAME=VALUE (repeatable), e.g. levels=3.")),
        spec=(Optional[Path], typer.Option(None, "--spec", help="Train this saved spec JSON instead of a family's "
                                                                "base.")),
        method=(str, typer.Option("baseline", help=f"Scaling method: {choices_text(METHODS)}.")),
        budget=(List[str], typer.Option([], help="Budget, e.g. params=2x (repeatable or comma list).")),
        ratio=(str, typer.Option("paper", help="Compound ratio: paper (1.8,1.16,1.4), efficientnet, or D,W,R.")),
        tolerance=(float, typer.Option(0.0, help="Relative slack allowed over each budget (0.01 = 1%).")),
        depth_rounding=(str, typer.Option(DEFAULT_DEPTH_ROUNDING,
                                          help=f"Depth rounding: {choices_text(DEPTH_ROUNDINGS)}.")),
        factors=(List[str], typer.Option([], help="Explicit factors, e.g. encoder_width=1.3,decoder_depth=1.0.")),
        out=(Optional[Path], typer.Option(None, help="Run directory; default runs/DATA_MODEL_METHOD.")),
        resume=(bool, typer.Option(True, "--resume/--no-resume", help="Continue the run in --out if there is "
                                                                     "one.")),
        progress=(bool, typer.Option(True, "--progress/--no-progress", help="One progress line per epoch.")),
    )
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)
            for name, (annotation, info) in options.items()]


def train(**flags: Any) -> None:
    """Train a (scaled) network; the run directory gets spec, config, history, metrics and checkpoints."""
    with exit_on_signal() as stop:
        cfg = config_from_flags(flags)
        scaling = ScalingOptions.parse(flags["method"], flags["budget"], flags["ratio"], flags["tolerance"],
                                       flags["depth_rounding"], flags["factors"])
        plan = _plan(cfg, scaling, flags)
        out = flags["out"] or Path("runs") / f"{cfg.data}_{plan.spec.family}_{plan.method}"
        prepare_out_dir(out, "--out")
        stop.saved = lambda: saved_run_text(out)
        cost = complexity(plan.spec)
        height, width = plan.spec.input_size
        typer.echo(f"{plan.spec.family} {plan.method}: params {format_count(cost.params)}, "
                   f"{cost.macs / 1e9:.3f} GMACs/image ({cost.flops / 1e9:.3f} GFLOPs) at {height}x{width}; "
                   f"{cfg.data} {len(plan.train_ds)} train / {len(plan.val_ds)} val images -> {out}")
        _print_result(run_training(plan.spec, cfg, out, resume=flags["resume"], progress=flags["progress"],
                                   train_ds=plan.train_ds, val_ds=plan.val_ds))


train.__signature__ = inspect.Signature([*_network_parameters(), *config_parameters()])  # type: ignore[attr-defined]


def _plan(cfg: TrainConfig, scaling: ScalingOptions, flags: dict[str, Any]) -> PlannedRun:
    """The base (a family's, or --spec) and its data, then the network `scaling` makes of it, with data at its size."""
    options = parse_assignments(flags["option"], "option")
    for name in ("base_width", "classes"):
        if flags[name] is not None:
            options["width" if name == "base_width" else name] = flags[name]
    if flags["input"] is not None:
        options["input_size"] = parse_size(flags["input"])
    spec = None if flags["spec"] is None else load_spec(flags["spec"])
    plan = plan_run(cfg, family=flags["model"], base_options=options, spec=spec)
    if scaling.method == "baseline":  # trained exactly as given: even unit factors would re-round widths
        return plan
    solution = scaling.scale(plan.base)
    train_ds, val_ds = plan.train_ds, plan.val_ds
    if tuple(solution.spec.input_size) != tuple(train_ds.input_size):
        train_ds, val_ds = make_datasets(cfg, solution.spec.input_size)
    return replace(plan, spec=solution.spec, method=scaling.method, solution=solution, train_ds=train_ds,
                   val_ds=val_ds)


def _print_result(result: RunResult) -> None:
    """The run's outcome: status and best epoch, honest timing, where it is."""
    best, ms, data_ms = result.best, result.ms_per_step, result.data_ms_per_step
    typer.echo(f"{result.status}: {result.epochs_run} epochs; best val {metrics_text(best)} (epoch {best['epoch']})")
    timing = "no timed steps" if ms is None else (
        f"step {ms:.1f} ms median (p10 {result.ms_p10:.1f}, p90 {result.ms_p90:.1f}), data {data_ms:.1f} ms/step")
    memory = "" if result.peak_mem_bytes is None else f", peak {result.peak_mem_bytes / 2**20:.0f} MiB"
    typer.echo(f"{timing}{memory}; wall {result.wall_s:.1f} s on {result.device} (amp {result.amp}, "
               f"channels_last {'on' if result.channels_last else 'off'})")
    if result.test is not None:
        test = result.test
        typer.echo(f"{test['split']} split, best val checkpoint (epoch {test['epoch']}): mIoU {test['miou']:.4f}, "
                   f"PA {test['pa']:.4f}, MPA {test['mpa']:.4f}")
    typer.echo(f"run: {result.run_dir}")


def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scaler train`."),
    data: Optional[str] = typer.Option(None, help="Dataset; default: the one the run trained on."),
    data_root: Optional[Path] = typer.Option(None, help="Dataset folder; default: the run's."),
    split: str = typer.Option("val", help=f"{choices_text(SPLITS)} (where the dataset has it)."),
    checkpoint: str = typer.Option("best", help="best or last."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
    tta: Optional[str] = typer.Option(None, "--tta", help="Test-time scales: scales=0.5,0.75,1,1.25 or paper "
                                                          f"({','.join(f'{s:g}' for s in PAPER_SCALES)})."),
    flip: bool = typer.Option(False, "--flip", help="Average with the horizontally flipped prediction."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Evaluate a run's checkpoint: PA, MPA, mIoU and per-class IoU on a split, single-scale or with --tta/--flip."""
    metrics = evaluate_run(run_dir, data=data, data_root=data_root, split=split, checkpoint=checkpoint, device=device,
                           tta=parse_tta(tta, flip))
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    typer.echo(f"{metrics['data']} {split}, {checkpoint} checkpoint (epoch {metrics['epoch']}), {metrics['tta']}: "
               f"{metrics_text(metrics)}")
    per_class = {"IoU": metrics["iou_per_class"]} if "iou_per_class" in metrics else {
        "recall": metrics["recall_per_class"], "precision": metrics["precision_per_class"],
        "F1": metrics["f1_per_class"]}
    names = metrics["class_names"] or [str(i) for i in range(len(next(iter(per_class.values()))))]
    rows = [{"class": n, **{k: "-" if v[i] is None else f"{v[i]:.4f}" for k, v in per_class.items()}}
            for i, n in enumerate(names)]
    typer.echo(text_table(rows, ["class", *per_class]))


def recipe(
    recipe_file: Path = typer.Argument(..., help="A paper recipe, e.g. studies/ednet_ablation.toml."),
    out: Path = typer.Option(..., "--out", help="Output folder: runs/, reproduce.json and the report."),
    seeds: Optional[int] = typer.Option(None, help="Seeds per network (0..N-1); default: the file's."),
    train_option: List[str] = typer.Option([], help="TrainConfig field NAME=VALUE over the file's (repeatable), "
                                                    "e.g. epochs=2 or eval_split=test."),
    data_root: Optional[Path] = typer.Option(None, help="Dataset folder instead of the file's."),
    progress: bool = typer.Option(False, help="Show each run's per-epoch progress."),
) -> None:
    """Train a paper recipe's networks (an ablation, a host comparison) under its training recipe, then report them."""
    from scaler.report import load_recipe, run_recipe  # pandas and matplotlib: only this command needs them

    overrides = parse_assignments(train_option, "train option")
    if data_root is not None:
        overrides["data_root"] = str(data_root)
    plan = load_recipe(recipe_file, overrides, seeds)
    prepare_out_dir(out, "--out")
    with exit_on_signal() as stop:
        stop.saved = lambda: f"finished runs are kept in {out}/runs; the same command resumes"
        run_recipe(plan, out, progress=progress, log=typer.echo)
    typer.echo((out / "table.md").read_text().rstrip())
    typer.echo(f"report: {out}")


def register(app: typer.Typer) -> None:
    """Add the `train`, `evaluate` and `recipe` commands."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("recipe")(recipe)
