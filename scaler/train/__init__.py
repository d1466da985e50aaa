"""Training: one spec + one TrainConfig -> a run directory with history, metrics and checkpoints.

    from scaler.train import TrainConfig, train, evaluate_run, load_run
    result = train(spec, TrainConfig(data="camvid", epochs=20), "runs/base")
    result.best["miou"], result.ms_per_step
    evaluate_run("runs/base", split="val")

A run directory holds spec.json, config.json, history.json (one record per epoch), metrics.json
(status, best, final, timing), last.pt and best.pt (tensors and plain data only, loaded weights-only);
`RunDir` reads it; `train` on an existing directory resumes it. A run stops early by `StopTraining`
(`Pruned`, `OutOfSpace`), raised from `on_epoch_end` or by training itself. The network's task
(`task_of`: segmentation, or classification for a classification head) decides the scores an epoch
records and the one that picks the best epoch: mIoU, or accuracy.
"""
from __future__ import annotations

from scaler.train._config import AMP_MODES, CLASS_WEIGHTS, DEFAULT_LR, OPTIMIZERS, TrainConfig
from scaler.train._data import make_datasets
from scaler.train._hardware import cpu_has_native_bf16, resolve_amp, resolve_channels_last, select_device, tune_malloc
from scaler.train._evaluate import evaluate_run
from scaler.train._loop import lr_factor, train
from scaler.train._result import STATUSES, Diverged, RunResult, load_run
from scaler.train._rundir import CHECKPOINTS, RESUME_FREE_KEYS, RUN_FILES, RunDir
from scaler.train._setup import PlannedRun, plan_run
from scaler.train._stop import OutOfSpace, Pruned, StopTraining
from scaler.train._task import CLASSIFICATION, SEGMENTATION, Task, metrics_text, task_of

__all__ = [
    "AMP_MODES",
    "CHECKPOINTS",
    "CLASSIFICATION",
    "CLASS_WEIGHTS",
    "DEFAULT_LR",
    "OPTIMIZERS",
    "PlannedRun",
    "RESUME_FREE_KEYS",
    "RUN_FILES",
    "SEGMENTATION",
    "STATUSES",
    "Diverged",
    "OutOfSpace",
    "Pruned",
    "RunDir",
    "RunResult",
    "StopTraining",
    "Task",
    "TrainConfig",
    "cpu_has_native_bf16",
    "evaluate_run",
    "load_run",
    "lr_factor",
    "make_datasets",
    "metrics_text",
    "plan_run",
    "resolve_amp",
    "resolve_channels_last",
    "select_device",
    "task_of",
    "train",
    "tune_malloc",
]
