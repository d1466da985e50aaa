"""The trainer's side of the data: datasets of a config, checks against the network, loaders, class weights."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from scaler.data import class_pixel_counts, make_dataset
from scaler.errors import DataError, ScalerError
from scaler.losses import inverse_frequency_weights
from scaler.spec import NetSpec
from scaler.train._config import TrainConfig
from scaler.train._task import CLASSIFICATION, SEGMENTATION, Task, task_of

__all__ = ["EpochSampler", "make_datasets", "check_data", "make_loader", "class_weights", "steps_per_epoch"]


class EpochSampler(Sampler[int]):
    """A shuffled order that is a pure function of (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, length: int, seed: int) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of `epoch`."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


def make_datasets(cfg: TrainConfig, input_size: tuple[int, int] | None) -> tuple[Dataset, Dataset]:
    """The (train, val) datasets of a config at `input_size` (None: the source size)."""

    common = dict(root=cfg.data_root, input_size=input_size, seed=cfg.seed, **cfg.data_options)
    return (make_dataset(cfg.data, "train", augment=cfg.augment, **common),
            make_dataset(cfg.data, "val", augment=False, **common))


def check_data(spec: NetSpec, ds: Any, split: str) -> None:
    """The dataset must match the network: same class count (of its task), items at the spec's input size,
    and, for paired image + report data, a vocabulary and report length the network takes."""
    task = task_of(spec)
    classes, name = task.num_classes(ds), getattr(ds, "name", type(ds).__name__)
    if hasattr(ds, "vocab_size"):
        _check_reports(spec, ds, split, name)
    if classes != spec.classes:
        raise ScalerError(f"the {task.name} network has {spec.classes} classes but the {split} data has {classes} "
                          f"({name}); valid: classes={classes}")
    size = getattr(ds, "input_size", None)
    if size is not None and tuple(size) != tuple(spec.input_size):
        raise ScalerError(f"the {split} data yields {size[0]}x{size[1]} items but the network's input is "
                          f"{spec.input_size[0]}x{spec.input_size[1]}; valid: data made at the spec's input_size")


def _check_reports(spec: NetSpec, ds: Any, split: str, name: str) -> None:
    """Paired data: a network that reads reports, with room for the data's vocabulary and report length."""
    for key, have in (("vocab_size", ds.vocab_size), ("max_tokens", ds.max_tokens)):
        room = spec.option(key)
        if room is None:
            raise ScalerError(f"the {split} data ({name}) pairs images with reports but the {spec.family} network "
                              f"reads no reports; valid: a family with a text branch (multimodal)")
        if have > room:
            raise ScalerError(f"the {split} data ({name}) has {key} {have} but the network takes {room}; "
                              f"valid: {key} >= {have} (or data option max_tokens <= {room})")


def steps_per_epoch(cfg: TrainConfig, train_ds: Dataset) -> int:
    """Full batches per epoch (the last partial one is dropped), capped by max_steps_per_epoch."""
    steps = len(train_ds) // cfg.batch_size
    if steps == 0:
        raise DataError(f"the train split has {len(train_ds)} items, fewer than batch_size={cfg.batch_size}; "
                        f"valid: batch_size <= {len(train_ds)}")
    return steps if cfg.max_steps_per_epoch is None else min(steps, cfg.max_steps_per_epoch)


def make_loader(ds: Dataset, cfg: TrainConfig, device: torch.device, sampler: Sampler | None = None,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader; workers are recreated per epoch (not persistent) so `ds.set_epoch` reaches them."""
    return DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, shuffle=False, drop_last=drop_last,
                      num_workers=cfg.num_workers, pin_memory=device.type == "cuda")


def class_weights(cfg: TrainConfig, train_ds: Any, task: Task = SEGMENTATION) -> torch.Tensor | None:
    """Per-class alpha from the training targets (modified inverse frequency), or None."""
    if cfg.class_weights == "none" or cfg.loss == "dice":
        return None
    if hasattr(train_ds, "vocab_size"):  # paired data: count its labels or mask pixels directly
        counts = _target_counts(train_ds, task)
    elif hasattr(train_ds, "class_pixel_counts"):  # a dataset may count its own pixels
        counts = train_ds.class_pixel_counts()
    else:
        counts = class_pixel_counts(train_ds)
    return inverse_frequency_weights(counts, modified=True)


def _target_counts(ds: Any, task: Task) -> torch.Tensor:
    """int64 [C]: samples per label (classification) or pixels per mask class (segmentation) of paired data."""
    classes = task.num_classes(ds)
    if task == CLASSIFICATION:
        return torch.bincount(ds.labels, minlength=classes)[:classes]
    values = torch.cat([torch.as_tensor(m).flatten() for m in ds.masks])
    return torch.bincount(values[(values >= 0) & (values < classes)], minlength=classes)
