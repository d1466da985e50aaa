"""SegmentationDataset: decoded uint8 sources cached in memory, items made with torch ops."""
from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from scaler.data import _transforms
from scaler.errors import DataError

__all__ = ["SegmentationDataset", "check_input_size", "check_labels", "class_pixel_counts"]


def check_input_size(input_size: object) -> tuple[int, int] | None:
    """Validate an (H, W) pair of positive ints (None passes through)."""
    if input_size is None:
        return None
    try:
        height, width = (operator.index(v) for v in input_size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DataError(f"input_size must be (height, width) of positive ints, got {input_size=}") from None
    if height <= 0 or width <= 0:
        raise DataError(f"input_size must be (height, width) of positive ints, got {input_size=}")
    return height, width


def _label_histogram(mask: np.ndarray) -> np.ndarray:
    """Pixel count per label value (index = value) of an integer mask; ValueError on a negative value."""
    if mask.dtype == np.uint8:
        return np.bincount(mask.ravel(), minlength=256)
    flat = mask.ravel().astype(np.int64)
    if flat.size and flat.min() < 0:
        raise ValueError(f"negative label value {int(flat.min())}")
    return np.bincount(flat, minlength=256)


def check_labels(mask: np.ndarray, mask_file: str, num_classes: int, ignore_index: int) -> np.ndarray:
    """Raise DataError on a label outside [0, num_classes) other than the ignore index; return class counts."""
    try:
        histogram = _label_histogram(mask)
    except ValueError as err:
        raise DataError(f"{mask_file}: {err}; valid: 0..{num_classes - 1} or {ignore_index}") from None
    bad = [int(v) for v in np.flatnonzero(histogram) if v >= num_classes and v != ignore_index]
    if bad:
        shown = ", ".join(str(v) for v in bad[:8]) + (", ..." if len(bad) > 8 else "")
        raise DataError(
            f"{mask_file}: label value(s) {shown} outside 0..{num_classes - 1} and not the ignore index {ignore_index}"
        )
    return histogram[:num_classes].astype(np.int64)


class SegmentationDataset(Dataset):
    """A list of (image, mask) source arrays plus the ops that turn one into a training item.

    Items are `(image float32 [3,H,W] ImageNet-normalised, mask int64 [H,W])` at `input_size`. The
    source (not a pre-shrunk copy) is resized on every access, bilinear with antialiasing for the
    image and nearest for the mask, so a larger input size sees more of the source detail. With
    `augment=True` an item is scale-jittered (s in [1, 1.25]), randomly cropped and randomly
    flipped, deterministically in (seed, epoch, index); call `set_epoch` to vary it per epoch.

    Every mask is checked at construction: same height/width as its image and every value in
    [0, num_classes) or equal to the ignore index; a violation raises a one-line DataError naming
    the file.
    """

    def __init__(
        self,
        *,
        name: str,
        split: str,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        num_classes: int,
        ignore_index: int,
        class_names: Sequence[str],
        input_size: tuple[int, int] | None = None,
        augment: bool = False,
        seed: int = 0,
        image_files: Sequence[str] | None = None,
        mask_files: Sequence[str] | None = None,
    ) -> None:
        """Validate and store the sources.

        Args:
            name: registry name, e.g. "camvid".
            split: "train" or "val".
            images: uint8 arrays [h, w, 3], one per item (sizes may differ between items).
            masks: integer arrays [h, w] with class indices or `ignore_index`.
            num_classes: number of real classes; labels lie in [0, num_classes).
            ignore_index: label of pixels excluded from loss and metrics; outside [0, num_classes).
            class_names: one name per class.
            input_size: (H, W) of the items; None keeps the source size (all sources must share it).
            augment: scale jitter + random crop + horizontal flip.
            seed: seed of the augmentation stream.
            image_files, mask_files: source file names, used in error messages.
        """
        if len(images) != len(masks):
            raise DataError(f"{name} {split}: {len(images)} images but {len(masks)} masks")
        if not len(images):
            raise DataError(f"{name} {split}: no images")
        if num_classes < 1:
            raise DataError(f"{name}: num_classes must be >= 1, got {num_classes=}")
        if 0 <= ignore_index < num_classes:
            raise DataError(f"{name}: ignore_index must lie outside [0, {num_classes}), got {ignore_index=}")
        if ignore_index < 0:
            raise DataError(f"{name}: ignore_index must be >= 0 (labels are stored unsigned), got {ignore_index=}")
        if len(class_names) != num_classes:
            raise DataError(f"{name}: {len(class_names)} class_names for {num_classes=}: {tuple(class_names)}")
        image_files = list(image_files) if image_files is not None else [f"image #{i}" for i in range(len(images))]
        mask_files = list(mask_files) if mask_files is not None else [f"mask #{i}" for i in range(len(masks))]

        self.name = name
        self.split = split
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.class_names = tuple(str(c) for c in class_names)
        self.augment = bool(augment)
        self.seed = int(seed)
        self.epoch = 0
        self.image_files = tuple(image_files)
        self.mask_files = tuple(mask_files)

        # Labels are stored as uint8 whenever they fit (always, for the built-in datasets): 4x less
        # memory than int32 and uint8 nearest-neighbour resize is the fastest path.
        mask_dtype = np.uint8 if max(self.num_classes - 1, self.ignore_index) <= 255 else np.int32
        counts = np.zeros(self.num_classes, dtype=np.int64)
        self._images: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        for image, mask, image_file, mask_file in zip(images, masks, image_files, mask_files):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise DataError(f"{image_file}: expected a uint8 RGB image [h, w, 3], got {image.dtype} {image.shape}")
            if mask.ndim != 2:
                raise DataError(f"{mask_file}: expected a single-channel label image, got shape {mask.shape}")
            if image.shape[:2] != mask.shape:
                raise DataError(
                    f"{mask_file}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from image "
                    f"{image_file} size {image.shape[1]}x{image.shape[0]}"
                )
            counts += check_labels(mask, mask_file, self.num_classes, self.ignore_index)
            # CHW contiguous once here, so each item is a zero-copy torch.from_numpy.
            self._images.append(np.ascontiguousarray(image.transpose(2, 0, 1)))
            self._masks.append(np.array(mask, dtype=mask_dtype, order="C"))  # a private, writable copy
        self._class_counts = counts

        sizes = {m.shape for m in self._masks}
        checked = check_input_size(input_size)
        if checked is None:
            if len(sizes) != 1:
                raise DataError(
                    f"{name} {split}: sources have {len(sizes)} different sizes, so input_size=(H, W) is required"
                )
            checked = next(iter(sizes))
        self.input_size: tuple[int, int] = (int(checked[0]), int(checked[1]))

    def __len__(self) -> int:
        """Number of items."""
        return len(self._images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item `index`: (image float32 [3,H,W] normalised, mask int64 [H,W])."""
        index = operator.index(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name} {self.split}: index {index} out of range for {len(self)} items")
        image = torch.from_numpy(self._images[index])
        mask = torch.from_numpy(self._masks[index])
        if self.augment:
            generator = _transforms.item_generator(self.seed, self.epoch, index)
            image, mask = _transforms.augment_pair(image, mask, self.input_size, generator)
        else:
            image, mask = _transforms.resize_pair(image, mask, self.input_size)
        return _transforms.normalize(image), mask.long()

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of `epoch` (items stay reproducible per (seed, epoch, index))."""
        self.epoch = int(epoch)

    def source(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The cached source pair of item `index`: (uint8 image [h,w,3] view, mask [h,w])."""
        return self._images[index].transpose(1, 2, 0), self._masks[index]

    def class_pixel_counts(self) -> torch.Tensor:
        """Pixels per class over the source masks (no resize, no augmentation), ignore excluded."""
        return torch.from_numpy(self._class_counts.copy())

    def __repr__(self) -> str:
        """Short summary."""
        return (
            f"SegmentationDataset(name={self.name!r}, split={self.split!r}, items={len(self)}, "
            f"num_classes={self.num_classes}, ignore_index={self.ignore_index}, input_size={self.input_size}, "
            f"augment={self.augment})"
        )


def class_pixel_counts(dataset: SegmentationDataset) -> torch.Tensor:
    """Pixel count per class, int64 [num_classes], over the dataset's source masks, ignore pixels excluded.

    Pass the TRAINING split: these counts feed `scaler.losses.inverse_frequency_weights`. They come
    from the masks at source resolution without augmentation and are computed once, at construction.
    """
    if not isinstance(dataset, SegmentationDataset):
        raise TypeError(f"class_pixel_counts needs a SegmentationDataset, got {type(dataset).__name__}")
    return dataset.class_pixel_counts()
