"""Validation of a model over a loader, and of a saved run's checkpoint: its task's scores (scaler.train._task)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from scaler.data import make_dataset
from scaler.errors import ConfigError, ScalerError
from scaler.families import build
from scaler.metrics import ConfusionMatrix
from scaler.train._data import check_data
from scaler.train._hardware import autocast, resolve_amp, resolve_channels_last, select_device
from scaler.train._rundir import CHECKPOINTS, RunDir
from scaler.train._task import SEGMENTATION, Task, task_of

__all__ = ["evaluate", "evaluate_run", "CHECKPOINTS"]


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, amp: str, channels_last: bool,
             num_classes: int, ignore_index: int, loss_fn: nn.Module | None = None,
             task: Task = SEGMENTATION) -> dict[str, Any]:
    """The task's scores (segmentation: PA, MPA, mIoU, per-class IoU) and the mean loss when `loss_fn` is
    given, over a loader."""
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(num_classes, ignore_index, device)
    loss_sum = torch.zeros((), device=device)
    items = 0
    for batch in loader:
        inputs, masks = task.inputs(batch, device, channels_last)
        with autocast(device, amp):
            logits = model(*inputs)
        logits = logits.float()
        if loss_fn is not None:
            loss_sum += loss_fn(logits, masks) * masks.shape[0]  # stays on the device: no sync per batch
        items += masks.shape[0]
        matrix.update(logits, masks)
    model.train(was_training)
    metrics = task.scores(matrix)
    if loss_fn is not None:
        metrics["loss"] = float(loss_sum) / max(1, items)
    return metrics



def _precision(run: RunDir, cfg: TrainConfig, device: torch.device) -> tuple[str, bool]:
    """The amp / layout the run trained with (its precision.json), where this device runs it; else this device's."""
    saved = run.load_precision()
    amp = saved[0] if saved is not None else cfg.amp
    try:
        amp = resolve_amp("auto" if amp == "auto" else amp, device)
    except ConfigError:  # e.g. trained with fp16 on CUDA, evaluated on a CPU: use what this device does best
        amp = resolve_amp("auto", device)
    layout = saved[1] if saved is not None else cfg.channels_last
    return amp, resolve_channels_last(layout, device, amp)

def evaluate_run(
    run_dir: str | Path,
    data: str | None = None,
    data_root: str | Path | None = None,
    split: str = "val",
    checkpoint: str = "best",
    device: str = "auto",
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Evaluate a run's checkpoint on a dataset split.

    Args:
        run_dir: a directory written by `train`.
        data: dataset name; None: the one the run trained on (its data_root and options too).
        data_root: dataset folder; None: the run's when `data` is the run's, else the dataset's default.
        split: "train" or "val".
        checkpoint: "best" or "last".
        device: "auto", "cpu", "cuda", ...
        batch_size: None: the run's.

    Returns:
        The task's scores (segmentation: "pa", "mpa", "miou", "iou_per_class"; classification: "accuracy",
        macro and per-class recall, precision, F1), "class_names", "task", "split", "data", "checkpoint", "epoch".
    """
    run = RunDir(run_dir)
    run.checkpoint_file(checkpoint)  # a bad name fails before anything is read
    run.require()
    cfg, spec = run.load_config(), run.load_spec()
    state = run.load_checkpoint(checkpoint, spec)
    same_data = data is None or data == cfg.data
    name = cfg.data if data is None else data
    root = data_root if data_root is not None else (cfg.data_root if same_data else None)
    options = cfg.data_options if same_data else {}
    ds = make_dataset(name, split, root=root, input_size=spec.input_size, augment=False, seed=cfg.seed, **options)
    check_data(spec, ds, split)
    run_device = select_device(device)
    amp, channels_last = _precision(run, cfg, run_device)
    model = build(spec).to(run_device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ScalerError(f"checkpoint {run.checkpoint_file(checkpoint)} does not fit {run.spec_file} "
                          f"({str(exc).strip().splitlines()[0][:200]}); valid: the checkpoint trained with that spec") from None
    loader = DataLoader(ds, batch_size=batch_size or cfg.batch_size, shuffle=False)
    task = task_of(spec)
    metrics = evaluate(model, loader, run_device, amp, channels_last, task.num_classes(ds), ds.ignore_index,
                       task=task)
    names = ds.mask_class_names if task == SEGMENTATION and hasattr(ds, "mask_class_names") else \
        getattr(ds, "class_names", [])
    return {**metrics, "class_names": list(names), "task": task.name, "split": split, "data": name,
            "checkpoint": checkpoint, "epoch": state.get("epoch")}
