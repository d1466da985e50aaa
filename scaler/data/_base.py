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


def _check_definition(name: str, split: str, count: tuple[int, int], num_classes: int, ignore_index: int,
                      class_names: Sequence[str]) -> None:
    """DataError unless there are as many images as masks (at least one) and the classes are well defined."""
    if count[0] != count[1]:
        raise DataError(f"{name} {split}: {count[0]} images but {count[1]} masks")
    if not count[0]:
        raise DataError(f"{name} {split}: no images")
    if num_classes < 1:
        raise DataError(f"{name}: num_classes must be >= 1, got {num_classes=}")
    if 0 <= ignore_index < num_classes:
        raise DataError(f"{name}: ignore_index must lie outside [0, {num_classes}), got {ignore_index=}")
    if ignore_index < 0:
        raise DataError(f"{name}: ignore_index must be >= 0 (labels are stored unsigned), got {ignore_index=}")
    if len(class_names) != num_classes:
        raise DataError(f"{name}: {len(class_names)} class_names for {num_classes=}: {tuple(class_names)}")


def _check_pair(image: np.ndarray, mask: np.ndarray, image_file: str, mask_file: str) -> np.ndarray:
    """The image as uint8 [h, w, C] (a 2-D image is one channel); DataError on a bad image or mask shape."""
    if image.dtype == np.uint8 and image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.dtype != np.uint8 or image.shape[2] < 1:
        raise DataError(f"{image_file}: expected a uint8 image [h, w, channels], got {image.dtype} {image.shape}")
    if mask.ndim != 2:
        raise DataError(f"{mask_file}: expected a single-channel label image, got shape {mask.shape}")
    if image.shape[:2] != mask.shape:
        raise DataError(
            f"{mask_file}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from image "
            f"{image_file} size {image.shape[1]}x{image.shape[0]}"
        )
    return image


def _numbered(what: str, count: int) -> tuple[str, ...]:
    """Stand-in file names for arrays given without files: "image #0", "image #1", ..."""
    return tuple(f"{what} #{i}" for i in range(count))


def _channel_stats(name: str, channels: int, mean: Sequence[float] | None,
                   std: Sequence[float] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """[C,1,1] float32 mean and std (0..1 scale): the given ones, else `default_normalization(channels)`."""
    default_mean, default_std = _transforms.default_normalization(channels)
    values = (tuple(default_mean if mean is None else mean), tuple(default_std if std is None else std))
    if any(len(v) != channels for v in values) or min(values[1]) <= 0:
        raise DataError(f"{name}: mean and std need {channels} value(s) (one per channel) and std > 0, "
                        f"got mean={values[0]} std={values[1]}")
    mean_tensor, std_tensor = (torch.tensor(v, dtype=torch.float32).view(channels, 1, 1) for v in values)
    return mean_tensor, std_tensor


class SegmentationDataset(Dataset):
    """A list of (image, mask) source arrays plus the ops that turn one into a training item.

    Items are `(image float32 [C,H,W] normalised, mask int64 [H,W])`; C = `in_channels`, the
    channel count of the sources (1 for grey images), and (H, W) = `item_size`. The source (not a
    pre-shrunk copy) is resized on every access, bilinear with antialiasing for the image and nearest
    for the mask, so a larger input size sees more of the source detail. Without augmentation an
    item is the source resized to `input_size`. With augmentation (an `Augmentation`, or True for the
    default one) an item is the source resized to s * input_size, s ~ U[scale_range], cropped to
    `crop_size` (input_size when None; padded with 0 / the ignore index where the scaled image is
    smaller) and flipped half the time, deterministically in (seed, epoch, index): call `set_epoch`
    to vary it per epoch. Normalisation: `(x / 255 - mean) / std` per channel, by default the
    ImageNet statistics for RGB and their grey-pixel values for other channel counts (see
    `scaler.data._transforms`).

    Every pair is checked at construction: one channel count for all images, mask of the same
    height/width as its image, every label in [0, num_classes) or equal to the ignore index; a
    violation raises a one-line DataError naming the file.
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
        augment: bool | _transforms.Augmentation = False,
        seed: int = 0,
        image_files: Sequence[str] | None = None,
        mask_files: Sequence[str] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        """Validate and store the sources.

        Args:
            name: registry name, e.g. "camvid".
            split: one of scaler.vocabulary.SPLITS.
            images: uint8 arrays [h, w, C] (or [h, w] for grey), one per item, every one with the same
                C (sizes may differ between items).
            masks: integer arrays [h, w] with class indices or `ignore_index`.
            num_classes: number of real classes; labels lie in [0, num_classes).
            ignore_index: label of pixels excluded from loss and metrics; outside [0, num_classes).
            class_names: one name per class.
            input_size: (H, W) of the items; None keeps the source size (all sources must share it).
            augment: False; True for the default Augmentation; or an Augmentation (scale range, crop size).
            seed: seed of the augmentation stream.
            image_files, mask_files: source file names, used in error messages.
            mean, std: per-channel normalisation in 0..1; None: `default_normalization(in_channels)`.
        """
        _check_definition(name, split, (len(images), len(masks)), num_classes, ignore_index, class_names)
        self.name = name
        self.split = split
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.class_names = tuple(str(c) for c in class_names)
        self.augmentation = _transforms.augmentation_from(augment)
        self.augment = self.augmentation is not None
        self.seed = int(seed)
        self.epoch = 0
        self.image_files = tuple(image_files) if image_files is not None else _numbered("image", len(images))
        self.mask_files = tuple(mask_files) if mask_files is not None else _numbered("mask", len(masks))
        self._store(images, masks)
        self.input_size: tuple[int, int] = self._resolve_input_size(input_size)
        self._mean, self._std = _channel_stats(name, self.in_channels, mean, std)

    def _store(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> None:
        """Check every pair and keep CHW uint8 images, compact masks and the class pixel counts."""
        # Labels are stored as uint8 whenever they fit (always, for the built-in datasets): 4x less
        # memory than int32 and uint8 nearest-neighbour resize is the fastest path.
        mask_dtype = np.uint8 if max(self.num_classes - 1, self.ignore_index) <= 255 else np.int32
        counts = np.zeros(self.num_classes, dtype=np.int64)
        self._images: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []
        for image, mask, image_file, mask_file in zip(images, masks, self.image_files, self.mask_files):
            image = _check_pair(image, mask, image_file, mask_file)
            if self._images and image.shape[2] != self._images[0].shape[0]:
                raise DataError(
                    f"{image_file}: {image.shape[2]} channel(s) but {self.image_files[0]} has "
                    f"{self._images[0].shape[0]}; valid: one channel count for every image of a dataset"
                )
            counts += check_labels(mask, mask_file, self.num_classes, self.ignore_index)
            # A private, writable CHW copy once here, so each item is a zero-copy torch.from_numpy.
            self._images.append(np.array(image.transpose(2, 0, 1), order="C"))
            self._masks.append(np.array(mask, dtype=mask_dtype, order="C"))  # a private, writable copy
        self._class_counts = counts

    def _resolve_input_size(self, input_size: object) -> tuple[int, int]:
        """The checked input size, or the one source size all sources share."""
        checked = check_input_size(input_size)
        if checked is None:
            sizes = {m.shape for m in self._masks}
            if len(sizes) != 1:
                raise DataError(
                    f"{self.name} {self.split}: sources have {len(sizes)} different sizes, so input_size=(H, W) "
                    "is required"
                )
            checked = next(iter(sizes))
        return int(checked[0]), int(checked[1])

    @property
    def in_channels(self) -> int:
        """Channels of every image (1 for grey data): the network's input channels."""
        return int(self._images[0].shape[0])

    @property
    def item_size(self) -> tuple[int, int]:
        """(H, W) of the items: the crop size when augmenting with one, else `input_size`."""
        crop = self.augmentation.crop_size if self.augmentation is not None else None
        return crop or self.input_size

    def __len__(self) -> int:
        """Number of items."""
        return len(self._images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item `index`: (image float32 [C,H,W] normalised, mask int64 [H,W]) at `item_size`."""
        index = operator.index(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name} {self.split}: index {index} out of range for {len(self)} items")
        image = torch.from_numpy(self._images[index])
        mask = torch.from_numpy(self._masks[index])
        if self.augmentation is not None:
            window = self.window(index)
            image, mask = _transforms.augment_pair(image, mask, window, self._mean, self._std, self.ignore_index)
            return image, mask.long()
        image, mask = _transforms.resize_pair(image, mask, self.input_size)
        return _transforms.normalize(image, self._mean, self._std), mask.long()

    def window(self, index: int) -> _transforms.Window:
        """The augmentation window of item `index` in the current epoch (scale, crop offset, flip)."""
        if self.augmentation is None:
            raise DataError(f"{self.name} {self.split}: not augmented, so items have no augmentation window")
        generator = _transforms.item_generator(self.seed, self.epoch, index)
        return _transforms.draw_window(generator, self.input_size, self.augmentation)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of `epoch` (items stay reproducible per (seed, epoch, index))."""
        self.epoch = int(epoch)

    def source(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The cached source pair of item `index`: (uint8 image [h,w,C] view, mask [h,w])."""
        return self._images[index].transpose(1, 2, 0), self._masks[index]

    def class_pixel_counts(self) -> torch.Tensor:
        """Pixels per class over the source masks (no resize, no augmentation), ignore excluded."""
        return torch.from_numpy(self._class_counts.copy())

    def __repr__(self) -> str:
        """Short summary."""
        return (
            f"SegmentationDataset(name={self.name!r}, split={self.split!r}, items={len(self)}, "
            f"in_channels={self.in_channels}, num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"input_size={self.input_size}, augmentation={self.augmentation})"
        )


def class_pixel_counts(dataset: SegmentationDataset) -> torch.Tensor:
    """Pixel count per class, int64 [num_classes], over the dataset's source masks, ignore pixels excluded.

    Pass the TRAINING split: these counts feed `scaler.losses.inverse_frequency_weights`. They come
    from the masks at source resolution without augmentation and are computed once, at construction.
    """
    if not isinstance(dataset, SegmentationDataset):
        raise TypeError(f"class_pixel_counts needs a SegmentationDataset, got {type(dataset).__name__}")
    return dataset.class_pixel_counts()
