"""`scaler train` and `scaler evaluate`: parse, call scaler.train, print."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional

import typer

from scaler.commands._interrupt import exit_on_signal, saved_run_text
from scaler.train._config import TrainConfig

__all__ = ["register"]

_DEFAULT = TrainConfig()


def _data_options(items: List[str]) -> dict[str, object]:
    """Dataset options NAME=VALUE; an HxW value (e.g. source_size=64x64) becomes an (H, W) pair."""
    from scaler.parsing import parse_assignments, parse_size

    options = parse_assignments(items, "data option")
    return {k: parse_size(v) if isinstance(v, str) and re.fullmatch(r"\d+[xX]\d+", v) else v
            for k, v in options.items()}


def train(
    model: str = typer.Option("unet", help="Model family of the base network (see `scaler families`)."),
    base_width: Optional[int] = typer.Option(None, help="Base width (first-stage channels); default: the family's."),
    classes: Optional[int] = typer.Option(None, help="Number of classes; default: the dataset's."),
    input: Optional[str] = typer.Option(None, "--input", help="Base input size HxW, e.g. 96x128; default: the data's."),
    option: List[str] = typer.Option([], help="Family option NAME=VALUE (repeatable), e.g. levels=3."),
    method: str = typer.Option("baseline", help="baseline, depth, width, resolution, compound, asymmetric or custom."),
    budget: List[str] = typer.Option([], help="Budget, e.g. params=2x (repeatable or comma list)."),
    factors: List[str] = typer.Option([], help="Explicit factors, e.g. encoder_width=1.3,decoder_depth=1.0."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="Train this saved spec JSON instead of a family's base."),
    data: str = typer.Option(_DEFAULT.data, help="Dataset: shapes (synthetic), camvid, cityscapes, voc, folder."),
    data_root: Optional[Path] = typer.Option(None, help="Dataset folder (camvid defaults to ../shared/data/camvid)."),
    data_option: List[str] = typer.Option([], help="Dataset option NAME=VALUE (repeatable), e.g. length=64."),
    epochs: int = typer.Option(_DEFAULT.epochs, help="Epochs."),
    batch_size: int = typer.Option(_DEFAULT.batch_size, help="Batch size."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate; default 1e-3 (adamw) or 1e-2 (sgd)."),
    optimizer: str = typer.Option(_DEFAULT.optimizer, help="adamw or sgd."),
    loss: str = typer.Option(_DEFAULT.loss, help="ce, focal, dice, focal+dice or ce+dice."),
    focal_gamma: float = typer.Option(_DEFAULT.focal_gamma, help="Focal loss gamma."),
    class_weights: str = typer.Option(_DEFAULT.class_weights, help="inverse_frequency or none."),
    warmup_epochs: float = typer.Option(_DEFAULT.warmup_epochs, help="Linear LR warm-up epochs."),
    patience: Optional[int] = typer.Option(None, help="Early stop after N epochs without a better val mIoU."),
    amp: str = typer.Option(_DEFAULT.amp, help="auto, off, bf16 or fp16 (CUDA)."),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last",
                                                 help="NHWC memory format; default: where it is faster."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    device: str = typer.Option(_DEFAULT.device, help="auto, cpu, cuda, cuda:N or mps."),
    seed: int = typer.Option(_DEFAULT.seed, help="Seed of weights, shuffling and augmentation."),
    max_steps_per_epoch: Optional[int] = typer.Option(None, help="Cap on steps per epoch (a random subset)."),
    num_workers: int = typer.Option(_DEFAULT.num_workers, help="DataLoader worker processes."),
    out: Optional[Path] = typer.Option(None, help="Run directory; default runs/DATA_MODEL_METHOD."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue the run in --out if there is one."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="One progress line per epoch."),
) -> None:
    """Train a (scaled) network; the run directory gets spec, config, history, metrics and checkpoints."""
    from scaler.complexity import complexity
    from scaler.parsing import parse_assignments, parse_size
    from scaler.io import load_spec, prepare_out_dir
    from scaler.solver import format_count
    from scaler.train import plan_run
    from scaler.train import train as run_training

    with exit_on_signal() as stop:
        cfg = TrainConfig(
            data=data, data_root=None if data_root is None else str(data_root),
            data_options=_data_options(data_option), epochs=epochs, batch_size=batch_size,
            lr=lr, optimizer=optimizer, loss=loss, focal_gamma=focal_gamma, class_weights=class_weights,
            warmup_epochs=warmup_epochs, early_stop_patience=patience, amp=amp, channels_last=channels_last,
            compile=compile, device=device, seed=seed, max_steps_per_epoch=max_steps_per_epoch, num_workers=num_workers,
        )
        options = parse_assignments(option, "option")
        for name, value in (("width", base_width), ("classes", classes)):
            if value is not None:
                options[name] = value
        if input is not None:
            options["input_size"] = parse_size(input)
        plan = plan_run(cfg, family=model, base_options=options, spec=None if spec is None else load_spec(spec),
                        method=method, budget=budget, factors=parse_assignments(factors, "factor"))
        out = out or Path("runs") / f"{data}_{plan.spec.family}_{plan.method}"
        prepare_out_dir(out, "--out")
        stop.saved = lambda: saved_run_text(out)
        cost = complexity(plan.spec)
        height, width = plan.spec.input_size
        typer.echo(f"{plan.spec.family} {plan.method}: params {format_count(cost.params)}, "
                   f"{cost.macs / 1e9:.3f} GMACs/image ({cost.flops / 1e9:.3f} GFLOPs) at {height}x{width}; "
                   f"{data} {len(plan.train_ds)} train / {len(plan.val_ds)} val images -> {out}")
        result = run_training(plan.spec, cfg, out, resume=resume, progress=progress,
                              train_ds=plan.train_ds, val_ds=plan.val_ds)
        best, ms, data_ms = result.best, result.ms_per_step, result.data_ms_per_step
        typer.echo(f"{result.status}: {result.epochs_run} epochs; best val mIoU {best['miou']:.4f} "
                   f"(epoch {best['epoch']}), PA {best['pa']:.4f}, MPA {best['mpa']:.4f}")
        timing = "no timed steps" if ms is None else (
            f"step {ms:.1f} ms median (p10 {result.ms_p10:.1f}, p90 {result.ms_p90:.1f}), data {data_ms:.1f} ms/step")
        memory = "" if result.peak_mem_bytes is None else f", peak {result.peak_mem_bytes / 2**20:.0f} MiB"
        typer.echo(f"{timing}{memory}; wall {result.wall_s:.1f} s on {result.device} (amp {result.amp}, "
                   f"channels_last {'on' if result.channels_last else 'off'})")
        typer.echo(f"run: {result.run_dir}")


def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scaler train`."),
    data: Optional[str] = typer.Option(None, help="Dataset; default: the one the run trained on."),
    data_root: Optional[Path] = typer.Option(None, help="Dataset folder; default: the run's."),
    split: str = typer.Option("val", help="train or val."),
    checkpoint: str = typer.Option("best", help="best or last."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Evaluate a run's checkpoint: PA, MPA, mIoU and per-class IoU on a split."""
    from scaler.formatting import text_table
    from scaler.train import evaluate_run

    metrics = evaluate_run(run_dir, data=data, data_root=data_root, split=split, checkpoint=checkpoint, device=device)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    typer.echo(f"{metrics['data']} {split}, {checkpoint} checkpoint (epoch {metrics['epoch']}): "
               f"mIoU {metrics['miou']:.4f}  PA {metrics['pa']:.4f}  MPA {metrics['mpa']:.4f}")
    names = metrics["class_names"] or [str(i) for i in range(len(metrics["iou_per_class"]))]
    rows = [{"class": n, "IoU": "-" if v is None else f"{v:.4f}"} for n, v in zip(names, metrics["iou_per_class"])]
    typer.echo(text_table(rows, ["class", "IoU"]))


def register(app: typer.Typer) -> None:
    """Add the `train` and `evaluate` commands."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
