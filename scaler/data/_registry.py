"""The dataset registry: name -> constructor, and `make_dataset`."""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable

from scaler.data._base import SegmentationDataset
from scaler.data._folders import camvid, cityscapes, folder, voc
from scaler.data._multimodal import PairedDataset, reports, shape_reports
from scaler.data._shapes import shapes
from scaler.data._transforms import Augmentation, augmentation_from
from scaler.errors import DataError

__all__ = ["AUGMENTATION_OPTIONS", "DATASETS", "make_dataset"]

#: Options every dataset takes through `make_dataset` (they shape the training items, not the sources).
AUGMENTATION_OPTIONS = ("scale_range", "crop_size")

# Every constructor takes (split, root, input_size, augment: bool | Augmentation, seed, **dataset-specific kwargs).
# The paired image + report datasets (reports, shape_reports) return a PairedDataset: dict items with tokens
# and a class label, for the multimodal family (scaler.data._multimodal).
DATASETS: dict[str, Callable[..., SegmentationDataset | PairedDataset]] = {
    "camvid": camvid,
    "cityscapes": cityscapes,
    "folder": folder,
    "reports": reports,
    "shape_reports": shape_reports,
    "shapes": shapes,
    "voc": voc,
}


def make_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool | Augmentation = False,
    seed: int = 0,
    *,
    scale_range: object = None,
    crop_size: object = None,
    **kwargs: object,
) -> SegmentationDataset | PairedDataset:
    """Build a registered dataset; every file is decoded once, here.

    Args:
        name: one of `DATASETS` (camvid, cityscapes, folder, reports, shape_reports, shapes, voc).
        split: one of scaler.vocabulary.SPLITS (train, val, test) that the dataset has.
        root: the dataset folder (None: shapes needs none; camvid falls back to `default_camvid_root()`).
        input_size: (H, W) of the items; None keeps the source size when all sources share one.
        augment: random scale + crop + horizontal flip, reproducible in (seed, epoch, index); leave
            False for validation and test (plain resize to input_size). True: `Augmentation()`.
        seed: seed of the augmentation (and, for shapes, of the generated images).
        scale_range: (low, high) of the random scale s (the source is resized to s * input_size)
            or "LOW-HIGH"; default (1.0, 1.25). Used only when augmenting (validated always).
        crop_size: (H, W), one int or "HxW": the size of augmented items, any size (not only a
            multiple of the network's stride); padded where the scaled image is smaller. Default:
            input_size. Used only when augmenting: val/test items stay at input_size.
        **kwargs: dataset-specific options, e.g. shapes `length`, `source_size`, `num_classes`,
            `channels`; folder `images`, `masks`, `num_classes`, `ignore_index`, `class_names`, `channels`.

    Raises:
        DataError: unknown name, split or option, missing folder, empty split, or a bad file.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    constructor = DATASETS[name]
    accepted = [
        p.name for p in inspect.signature(constructor).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        valid = ", ".join([*accepted, *AUGMENTATION_OPTIONS])
        raise DataError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid: {valid}")
    augmentation = augmentation_from(augment, scale_range, crop_size)
    return constructor(split=split, root=root, input_size=input_size, augment=augmentation or False, seed=seed,
                       **kwargs)
