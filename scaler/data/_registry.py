"""The dataset registry: name -> constructor, and `make_dataset`."""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable

from scaler.data._base import SegmentationDataset
from scaler.data._folders import camvid, cityscapes, folder, voc
from scaler.data._shapes import shapes
from scaler.errors import DataError

__all__ = ["DATASETS", "make_dataset"]

# Every constructor takes (split, root, input_size, augment, seed, **dataset-specific kwargs).
DATASETS: dict[str, Callable[..., SegmentationDataset]] = {
    "camvid": camvid,
    "cityscapes": cityscapes,
    "folder": folder,
    "shapes": shapes,
    "voc": voc,
}


def make_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool = False,
    seed: int = 0,
    **kwargs: object,
) -> SegmentationDataset:
    """Build a registered dataset; every file is decoded once, here.

    Args:
        name: one of `DATASETS` (camvid, cityscapes, folder, shapes, voc).
        split: "train" or "val".
        root: the dataset folder (None: shapes needs none; camvid falls back to `default_camvid_root()`).
        input_size: (H, W) of the items; None keeps the source size when all sources share one.
        augment: scale jitter in [1, 1.25] + random crop + horizontal flip, reproducible in
            (seed, epoch, index); leave False for validation (plain resize).
        seed: seed of the augmentation (and, for shapes, of the generated images).
        **kwargs: dataset-specific options, e.g. shapes `length`, `source_size`, `num_classes`;
            folder `images`, `masks`, `num_classes`, `ignore_index`, `class_names`.

    Raises:
        DataError: unknown name or option, missing folder, empty split, or a bad file.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    constructor = DATASETS[name]
    accepted = [
        p.name for p in inspect.signature(constructor).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise DataError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid: {', '.join(accepted)}")
    return constructor(split=split, root=root, input_size=input_size, augment=augment, seed=seed, **kwargs)
