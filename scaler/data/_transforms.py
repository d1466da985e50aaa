"""Per-item tensor ops: resize the cached source, augment (random scale, crop with padding, flip), normalise.

Normalisation is per channel, `(x / 255 - mean) / std`, with statistics chosen by the channel count
(`default_normalization`): RGB uses the ImageNet statistics every pretrained encoder expects; any
other count (a grey image: 1) uses the ImageNet statistics of a grey pixel, R = G = B, i.e. the mean of
the three means (0.449) and of the three stds (0.226). That keeps a grey input on the same scale as
an RGB one, and is what an ImageNet encoder whose first convolution is summed over its RGB inputs
(timm's `adapt_input_conv` for in_chans=1) sees when fed a grey image replicated to RGB.
"""
from __future__ import annotations

import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from scaler.errors import DataError, ScalerError
from scaler.parsing import parse_size

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "GREY_MEAN", "GREY_STD", "SCALE_RANGE", "Augmentation", "Window",
    "augmentation_from", "default_normalization", "draw_window", "augment_pair", "resize_pair", "normalize",
    "item_generator",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: A grey pixel's ImageNet statistics: the mean of the RGB means and of the RGB stds (see the module docstring).
GREY_MEAN = 0.449
GREY_STD = 0.226

# Default scale jitter: the source is resized to s * input_size, s ~ U[1, 1.25], then cropped back to
# input_size. s >= 1 so the crop always fits and no padding (hence no invented ignore pixels) is needed.
SCALE_RANGE = (1.0, 1.25)


def _scale_range(value: object) -> tuple[float, float]:
    """(low, high) from a pair of numbers or the text "LOW-HIGH" (e.g. "0.5-2.0"); DataError otherwise."""
    text = value.strip() if isinstance(value, str) else None
    try:
        if text is not None:
            match = re.fullmatch(r"([0-9.]+)\s*-\s*([0-9.]+)", text)
            low, high = (float(match.group(1)), float(match.group(2))) if match else (math.nan, math.nan)
        else:
            low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        low = high = math.nan
    if not (0 < low <= high < math.inf):
        raise DataError(f"scale_range must be (low, high) with 0 < low <= high, e.g. (0.5, 2.0) or \"0.5-2.0\", "
                        f"got {value!r}")
    return low, high


def _crop_size(value: object) -> tuple[int, int]:
    """(H, W) from a pair of ints, one int (a square) or the text "HxW"; DataError otherwise."""
    try:
        if isinstance(value, str):
            return parse_size(value)
        if isinstance(value, Sequence):
            height, width = (operator.index(v) for v in value)
        else:
            height = width = operator.index(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ScalerError):
        height = width = 0
    if height < 1 or width < 1:
        raise DataError(f"crop_size must be (height, width) or one size of positive ints, e.g. (380, 380), 380 or "
                        f"\"380x380\", got {value!r}")
    return height, width


@dataclass(frozen=True)
class Augmentation:
    """Training augmentation: resize to s * input_size (s ~ U[scale_range]), crop `crop_size`, flip half the time.

    Where the scaled image is smaller than the crop, the crop is padded: image with 0 after
    normalisation (the mean colour), mask with the ignore index, so padding never counts in the loss
    or the metrics. `crop_size` None crops the input size (the default, which never pads).
    """

    scale_range: tuple[float, float] = SCALE_RANGE
    crop_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        """Validate and normalise the values (lists from JSON/TOML, "0.5-2.0", "380x380", 380)."""
        object.__setattr__(self, "scale_range", _scale_range(self.scale_range))
        if self.crop_size is not None:
            object.__setattr__(self, "crop_size", _crop_size(self.crop_size))


def augmentation_from(augment: bool | Augmentation, scale_range: object = None,
                      crop_size: object = None) -> Augmentation | None:
    """The Augmentation of a dataset: None when `augment` is False (the options are still validated)."""
    if isinstance(augment, Augmentation):
        if scale_range is not None or crop_size is not None:
            raise DataError("pass scale_range/crop_size either inside the Augmentation or as options, not both")
        return augment
    options = Augmentation(scale_range if scale_range is not None else SCALE_RANGE, crop_size)
    return options if augment else None


def default_normalization(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel in 0..1: ImageNet for 3 channels, the grey-pixel ImageNet values for any other."""
    if channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return (GREY_MEAN,) * channels, (GREY_STD,) * channels


@dataclass(frozen=True)
class Window:
    """One item's augmentation: resize to `scaled`, take `size` at (top, left) (negative: pad), maybe flip."""

    scaled: tuple[int, int]
    top: int
    left: int
    size: tuple[int, int]
    flip: bool


def _offset(fraction: float, span: int) -> int:
    """A crop offset uniform over 0..span; for span < 0 (crop larger than the image) uniform over span..0."""
    if span >= 0:
        return min(int(fraction * (span + 1)), span)
    return -min(int(fraction * (1 - span)), -span)


def draw_window(generator: torch.Generator, input_size: tuple[int, int], augmentation: Augmentation) -> Window:
    """Draw an item's window from its generator (4 uniform numbers: scale, crop y, crop x, flip)."""
    scale_u, crop_y, crop_x, flip = torch.rand(4, generator=generator).tolist()
    low, high = augmentation.scale_range
    scale = low + (high - low) * scale_u
    height, width = input_size
    size = augmentation.crop_size or input_size
    scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
    return Window(scaled, _offset(crop_y, scaled[0] - size[0]), _offset(crop_x, scaled[1] - size[1]), size, flip < 0.5)


def _resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a uint8 [C,h,w] image to float32 [C,H,W] in 0..255, bilinear with antialiasing."""
    if tuple(image.shape[-2:]) == size:
        return image.float()
    # antialias matters when downsizing (CamVid 180x240 -> 96x128): without it bilinear aliases.
    return F.interpolate(image.float().unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def _resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize an integer [h,w] mask by nearest neighbour ('nearest-exact' is pixel-centre aligned like the image)."""
    if tuple(mask.shape) == size:
        return mask
    if mask.dtype not in (torch.uint8, torch.float32):
        return F.interpolate(mask[None, None].float(), size=size, mode="nearest-exact")[0, 0].to(mask.dtype)
    return F.interpolate(mask[None, None], size=size, mode="nearest-exact")[0, 0]


def resize_pair(image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize a source pair to `size`: image uint8 [C,h,w] -> float [C,H,W] (0..255), mask [h,w] -> [H,W]."""
    return _resize_image(image, size), _resize_mask(mask, size)


def normalize(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Map a float [C,H,W] image in 0..255 to `(x / 255 - mean) / std` ([C,1,1] each), contiguous float32."""
    return ((image / 255.0 - mean) / std).contiguous()


def augment_pair(image: torch.Tensor, mask: torch.Tensor, window: Window, mean: torch.Tensor, std: torch.Tensor,
                 ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize a uint8 source pair to the window's scale, crop it (padding where needed), flip; normalise the image."""
    image, mask = resize_pair(image, mask, window.scaled)
    height, width = window.size
    y0, x0 = max(window.top, 0), max(window.left, 0)
    y1, x1 = min(window.top + height, window.scaled[0]), min(window.left + width, window.scaled[1])
    image = normalize(image[:, y0:y1, x0:x1], mean, std)
    mask = mask[y0:y1, x0:x1]
    if (y1 - y0, x1 - x0) != (height, width):
        # Pad AFTER normalising, with 0 (the mean colour); the mask with ignore so padding is never scored.
        canvas = image.new_zeros((image.shape[0], height, width))
        canvas_mask = mask.new_full((height, width), ignore_index)
        rows, cols = slice(y0 - window.top, y1 - window.top), slice(x0 - window.left, x1 - window.left)
        canvas[:, rows, cols], canvas_mask[rows, cols] = image, mask
        image, mask = canvas, canvas_mask
    if window.flip:
        image, mask = image.flip(-1), mask.flip(-1)
    return image, mask


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A torch.Generator seeded from (seed, epoch, index), so an augmented item is reproducible."""
    # A fixed odd-multiplier mix keeps nearby (seed, epoch, index) triples far apart in seed space.
    mixed = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) % (2**63)
    return torch.Generator().manual_seed(mixed)
