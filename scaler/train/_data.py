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
    """The dataset must match the network: same class count, items at the spec's input size."""
    if ds.num_classes != spec.classes:
        raise ScalerError(f"the network has {spec.classes} classes but the {split} data has {ds.num_classes} "
                          f"({getattr(ds, 'name', type(ds).__name__)}); valid: classes={ds.num_classes}")
    size = getattr(ds, "input_size", None)
    if size is not None and tuple(size) != tuple(spec.input_size):
        raise ScalerError(f"the {split} data yields {size[0]}x{size[1]} items but the network's input is "
                          f"{spec.input_size[0]}x{spec.input_size[1]}; valid: data made at the spec's input_size")


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


def class_weights(cfg: TrainConfig, train_ds: Any) -> torch.Tensor | None:
    """Per-class alpha from the training masks (modified inverse frequency), or None."""
    if cfg.class_weights == "none" or cfg.loss == "dice":
        return None

    # A dataset may count its own pixels (any object with class_pixel_counts()); else the data layer's function.
    counts = train_ds.class_pixel_counts() if hasattr(train_ds, "class_pixel_counts") else class_pixel_counts(train_ds)
    return inverse_frequency_weights(counts, modified=True)
