"""Validation of a model over a loader (segmentation optionally with test-time augmentation), of a saved run's
checkpoint, and of a finished run's val-selected checkpoint on its `eval_split`: its task's scores (scaler.train._task)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from scaler.data import make_dataset
from scaler.errors import ConfigError, ScalerError
from scaler.families import build
from scaler.inference import SINGLE_SCALE, TTA, predict
from scaler.metrics import ConfusionMatrix
from scaler.spec import NetSpec
from scaler.train._checkpoint import write_json
from scaler.train._config import TrainConfig
from scaler.train._data import check_data
from scaler.train._hardware import autocast, resolve_amp, resolve_channels_last, select_device
from scaler.train._result import RunResult
from scaler.train._rundir import CHECKPOINTS, RunDir
from scaler.train._task import SEGMENTATION, Task, task_of

__all__ = ["evaluate", "evaluate_run", "eval_split_dataset", "report_eval_split", "CHECKPOINTS"]

#: Run statuses whose best checkpoint is final, so its score on the eval split is too.
_FINISHED = ("completed", "early_stopped")


@torch.inference_mode()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, amp: str, channels_last: bool,
             num_classes: int, ignore_index: int, loss_fn: nn.Module | None = None,
             task: Task = SEGMENTATION, tta: TTA = SINGLE_SCALE) -> dict[str, Any]:
    """The task's scores (segmentation: PA, MPA, mIoU, per-class IoU) and the mean loss when `loss_fn` is
    given (single-scale only), over a loader; `tta` averages segmentation over scales and flips."""
    if not tta.is_single and (loss_fn is not None or task != SEGMENTATION):
        raise ScalerError(f"test-time augmentation {tta.describe()!r} applies to segmentation scores only, without "
                          f"a loss; valid: single-scale here")
    was_training = model.training
    model.eval()
    matrix = ConfusionMatrix(num_classes, ignore_index, device)
    loss_sum = torch.zeros((), device=device)
    items = 0
    for batch in loader:
        inputs, masks = task.inputs(batch, device, channels_last)
        with autocast(device, amp):
            logits = model(*inputs) if tta.is_single else predict(model, inputs[0], tta)  # TTA: probabilities
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
        amp = resolve_amp(amp, device)
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
    tta: TTA = SINGLE_SCALE,
) -> dict[str, Any]:
    """Evaluate a run's checkpoint on a dataset split.

    Args:
        run_dir: a directory written by `train`.
        data: dataset name; None: the one the run trained on (its data_root and options too).
        data_root: dataset folder; None: the run's when `data` is the run's, else the dataset's default.
        split: "train", "val" or "test" (where the dataset has it).
        checkpoint: "best" or "last".
        device: "auto", "cpu", "cuda", ...
        batch_size: None: the run's.
        tta: test-time augmentation (scaler.inference.parse_tta); default single-scale.

    Returns:
        The task's scores (segmentation: "pa", "mpa", "miou", "iou_per_class"; classification: "accuracy",
        macro and per-class recall, precision, F1), "class_names", "task", "split", "data", "checkpoint", "epoch",
        "tta" ("single-scale" or e.g. "ms 0.5,0.75,1,1.25,1.5,1.75,2 + flip").
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
    task = task_of(spec)
    metrics = _evaluate_state(run, spec, cfg, state["model"], checkpoint, ds, device, batch_size or cfg.batch_size,
                              tta)
    names = ds.mask_class_names if task == SEGMENTATION and hasattr(ds, "mask_class_names") else \
        getattr(ds, "class_names", [])
    return {**metrics, "class_names": list(names), "task": task.name, "split": split, "data": name,
            "checkpoint": checkpoint, "epoch": state.get("epoch"), "tta": tta.describe()}


def _evaluate_state(run: RunDir, spec: NetSpec, cfg: TrainConfig, weights: dict[str, Any], checkpoint: str,
                    ds: Any, device: str, batch_size: int, tta: TTA) -> dict[str, Any]:
    """The task's scores of `spec` with `weights` (the run's `checkpoint`) over `ds`, at the run's precision."""
    run_device = select_device(device)
    amp, channels_last = _precision(run, cfg, run_device)
    model = build(spec).to(run_device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ScalerError(f"checkpoint {run.checkpoint_file(checkpoint)} does not fit {run.spec_file} "
                          f"({str(exc).strip().splitlines()[0][:200]}); valid: the checkpoint trained with that spec") from None
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
    task = task_of(spec)
    return evaluate(model, loader, run_device, amp, channels_last, task.num_classes(ds), ds.ignore_index,
                    task=task, tta=tta)


def eval_split_dataset(spec: NetSpec, cfg: TrainConfig) -> Any:
    """The dataset of `cfg.eval_split` at the network's input size, or None; made before training, so a dataset
    without that split fails before any run file is written."""
    if cfg.eval_split is None:
        return None
    ds = make_dataset(cfg.data, cfg.eval_split, root=cfg.data_root, input_size=spec.input_size, augment=False,
                      seed=cfg.seed, **cfg.data_options)
    check_data(spec, ds, cfg.eval_split)
    return ds


def report_eval_split(result: RunResult, cfg: TrainConfig, ds: Any) -> RunResult:
    """A finished run with its best checkpoint (selected on val) scored on `ds` (the eval split), in metrics.json.

    Recorded under "test" (what `scaler report --eval test` reads): the task's record scores (segmentation:
    pa, mpa, miou, iou_per_class), the checkpoint's epoch and the split's name. Unfinished runs, runs
    without an eval split and runs already scored are returned as they are.
    """
    if ds is None or result.status not in _FINISHED or result.test is not None:
        return result
    run = RunDir(result.run_dir)
    spec = run.load_spec()
    state = run.load_checkpoint("best", spec)
    metrics = _evaluate_state(run, spec, cfg, state["model"], "best", ds, cfg.device, cfg.batch_size, SINGLE_SCALE)
    test = {**{k: metrics[k] for k in task_of(spec).record_keys}, "epoch": state.get("epoch"),
            "split": cfg.eval_split}
    result = dataclasses.replace(result, test=test)
    write_json(run.metrics_file, result.to_dict(history=False))
    return result
