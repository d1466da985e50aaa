"""The worker's set-up check, run BEFORE it claims a trial: a broken configuration must not burn a study's trials.

A device this machine lacks (`--device cuda:3` on a CPU box), a missing data root, an unknown
dataset, a class count the data does not have, or a batch that cannot go through the network would
otherwise fail every trial in a fraction of a second, and each FAIL would count toward n_trials.
So each worker first trains the BASE network for one step on one batch and validates on one batch,
with the real trainer and the study's own training settings, in a temporary folder. A failure is the
configuration's (ConfigError, one line, exit 2); nothing is written to the study.
"""
from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

import torch
from torch.utils.data import Dataset

from scaler.errors import ConfigError, ScalerError
from scaler.train import Diverged, make_datasets, train
from scaler.study._config import StudyConfig

__all__ = ["check_worker"]


class _Head(Dataset):
    """The first `n` items of a dataset; every other attribute the trainer reads (classes, ignore index, a
    paired dataset's mask classes and vocabulary, ...) is the whole dataset's."""

    def __init__(self, ds: Any, n: int) -> None:
        self.ds, self.n = ds, min(n, len(ds))
        self.input_size, self.name = getattr(ds, "input_size", None), getattr(ds, "name", type(ds).__name__)

    def __getattr__(self, name: str) -> Any:  # only called for attributes _Head itself lacks
        if name == "ds":  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.ds, name)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.n:
            raise IndexError(index)
        return self.ds[index]

    def class_pixel_counts(self) -> torch.Tensor:
        """The whole split's counts (computed once when it was made), as a real run weighs its loss."""
        return self.ds.class_pixel_counts()


def _first_line(exc: BaseException) -> str:
    """An error's message, first line only (CUDA errors run to many lines)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def check_worker(config: StudyConfig) -> None:
    """Train the base network one step on one batch (and validate one batch) as this worker would.

    Raises:
        ConfigError: device, data root, dataset, class count, batch size or memory do not work here;
            one line naming the cause.
    """
    cfg = dataclasses.replace(config.train, epochs=1, max_steps_per_epoch=1, warmup_epochs=0.0,
                              early_stop_patience=None, timing_warmup_steps=0,
                              compile=False)  # compiling takes minutes; the trials themselves will
    try:
        train_ds, val_ds = make_datasets(cfg, config.base.input_size)
        with tempfile.TemporaryDirectory(prefix="scaler-check-") as tmp:
            train(config.base, cfg, tmp, progress=False, resume=False,
                  train_ds=_Head(train_ds, cfg.batch_size), val_ds=_Head(val_ds, cfg.batch_size))
    except Diverged:
        pass  # the step ran: a NaN from the study's default learning rate is the trials' business
    except ScalerError as exc:
        raise ConfigError(f"this worker cannot train study {config.name!r}: {_first_line(exc)}; no trial was "
                          f"claimed, fix the configuration and run again") from None
    except (MemoryError, RuntimeError) as exc:  # device errors and out-of-memory on the BASE network
        raise ConfigError(f"this worker cannot train study {config.name!r} on device {config.train.device!r}: "
                          f"{type(exc).__name__}: {_first_line(exc)}; no trial was claimed, fix the "
                          f"configuration and run again") from None
