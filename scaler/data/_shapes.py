"""`shapes`: a synthetic dataset, generated from a seed, on which depth AND resolution both matter.

Each image has a textured background (smooth colour blotches) and usually one large "field": an
irregular ellipse filled with luminance stripes whose mean colour matches the background, so only
texture tells field from background. On top of it:

- red discs (and blue squares): the SAME appearance is class `*_in_field` when the object lies
  wholly inside the field and `*_outside` otherwise. Interior pixels of a disc can only be told
  apart by seeing the stripes around it, i.e. with a receptive field larger than the disc
  (radius 5-9 px at 128x128): depth / receptive field matters;
- yellow specks of 1-2 px and thin cyan bars 1 px wide: they fade into the noise when the input
  is downsampled, so input resolution matters.

A 1 px ring of ignore (255) surrounds every disc and square, like the VOC object borders.
Gaussian pixel noise on everything keeps the task from being a colour lookup.
Class order (the first `num_classes` are used, 2..8): background, field, disc_in_field,
disc_outside, speck, bar, square_in_field, square_outside.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from PIL import Image

from scaler.data._base import SegmentationDataset, check_input_size
from scaler.data._transforms import Augmentation
from scaler.errors import DataError
from scaler.vocabulary import SPLITS, choices_text

__all__ = ["SHAPES_CLASSES", "shapes"]

SHAPES_CLASSES = (
    "background",
    "field",
    "disc_in_field",
    "disc_outside",
    "speck",
    "bar",
    "square_in_field",
    "square_outside",
)
BACKGROUND, FIELD, DISC_IN, DISC_OUT, SPECK, BAR, SQUARE_IN, SQUARE_OUT = range(len(SHAPES_CLASSES))
IGNORE = 255
#: Each split draws from its own seed stream (train 0, val 1, test 2), so no image is in two splits.
SPLIT_STREAM = {split: stream for stream, split in enumerate(SPLITS)}
DEFAULT_LENGTH = {"train": 256, "val": 64, "test": 64}

DISC_RGB = (205, 65, 60)
SQUARE_RGB = (60, 80, 210)
SPECK_RGB = (235, 220, 45)
BAR_RGB = (50, 205, 215)


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: float = 18.0) -> np.ndarray:
    """An object colour with a small random shift, so colour is a cue but not an exact one."""
    return np.asarray(rgb, dtype=np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32)


def _dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """Binary dilation with the 3x3 square, `steps` times."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown[1:, 1:] |= out[:-1, :-1]
        grown[:-1, :-1] |= out[1:, 1:]
        grown[1:, :-1] |= out[:-1, 1:]
        grown[:-1, 1:] |= out[1:, :-1]
        out = grown
    return out


def _blotches(rng: np.random.Generator, height: int, width: int, cell: int, spread: float) -> np.ndarray:
    """Smooth colour noise [h, w, 3] around a random base colour (bicubic upsampling of a coarse grid)."""
    base = rng.uniform(70, 170, 3)
    coarse = np.clip(base + rng.uniform(-spread, spread, (height // cell + 2, width // cell + 2, 3)), 0, 255)
    big = Image.fromarray(coarse.astype(np.uint8)).resize((width + 2 * cell, height + 2 * cell), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32)[cell : cell + height, cell : cell + width]


def _field(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, side: float) -> np.ndarray:
    """An irregular rotated ellipse covering roughly 15-40% of the image."""
    height, width = yy.shape[0], xx.shape[1]
    cy, cx = rng.uniform(0.25, 0.75) * height, rng.uniform(0.25, 0.75) * width
    a, b = rng.uniform(0.25, 0.42) * side, rng.uniform(0.2, 0.35) * side
    theta = rng.uniform(0, np.pi)
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(theta) + dy * np.sin(theta)) / a
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / b
    wobble = 1 + 0.12 * np.sin(3 * np.arctan2(v, u) + rng.uniform(0, 2 * np.pi))
    return np.sqrt(u * u + v * v) <= wobble


def _stripes(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, unit: float) -> np.ndarray:
    """Luminance stripes in [-1, 1], random angle and period 5-8 px (scaled)."""
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(5, 8) * unit
    return np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)


def _place(
    rng: np.random.Generator,
    shape_fn: Callable[[int, int, float], np.ndarray],
    size: float,
    allowed: np.ndarray,
    tries: int = 30,
) -> np.ndarray | None:
    """Rejection-sample an object mask lying wholly inside `allowed`; None when nothing fits."""
    height, width = allowed.shape
    margin = int(np.ceil(size)) + 1
    if height <= 2 * margin or width <= 2 * margin:
        return None
    for _ in range(tries):
        cy, cx = rng.integers(margin, height - margin), rng.integers(margin, width - margin)
        obj = shape_fn(cy, cx, size)
        if not (obj & ~allowed).any():
            return obj
    return None


def _disc(yy: np.ndarray, xx: np.ndarray, cy: int, cx: int, r: float) -> np.ndarray:
    """Disc mask of radius r."""
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _square(yy: np.ndarray, xx: np.ndarray, cy: int, cx: int, r: float) -> np.ndarray:
    """Axis-aligned square mask of half-side r."""
    return (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)


def _draw_specks(rng: np.random.Generator, image: np.ndarray, label: np.ndarray, unit: float) -> None:
    """10-24 yellow specks of 1-2 px (scaled), in place."""
    height, width = label.shape
    for _ in range(rng.integers(10, 25)):
        s = max(1, round(rng.integers(1, 3) * unit))
        y0, x0 = rng.integers(0, height - s + 1), rng.integers(0, width - s + 1)
        image[y0 : y0 + s, x0 : x0 + s] = _jitter(rng, SPECK_RGB)
        label[y0 : y0 + s, x0 : x0 + s] = SPECK


def _draw_bars(rng: np.random.Generator, image: np.ndarray, label: np.ndarray, unit: float) -> None:
    """1-3 cyan bars 1 px wide and 10-30 px long (scaled), in place."""
    height, width = label.shape
    for _ in range(rng.integers(1, 4)):
        length, angle = rng.uniform(10, 30) * unit, rng.uniform(0, np.pi)
        y0, x0 = rng.uniform(0, height), rng.uniform(0, width)
        t = np.linspace(0.0, length, int(2 * length) + 2)
        ys = np.clip(np.round(y0 + t * np.sin(angle)).astype(int), 0, height - 1)
        xs = np.clip(np.round(x0 + t * np.cos(angle)).astype(int), 0, width - 1)
        image[ys, xs] = _jitter(rng, BAR_RGB)
        label[ys, xs] = BAR


def _draw_objects(rng: np.random.Generator, image: np.ndarray, label: np.ndarray, field: np.ndarray,
                  grid: tuple[np.ndarray, np.ndarray], unit: float, num_classes: int) -> None:
    """Discs and squares inside and outside the field, each ringed by 1 px of ignore, in place."""
    yy, xx = grid
    # The in-field/outside pair shares one appearance; only context separates them. A square's
    # half-side is 0.8x a disc's radius (area 2.56 r^2 against the disc's 3.14 r^2).
    kinds = [(functools.partial(_disc, yy, xx), DISC_RGB, DISC_IN, DISC_OUT, 1.0),
             (functools.partial(_square, yy, xx), SQUARE_RGB, SQUARE_IN, SQUARE_OUT, 0.8)]
    objects = np.zeros(label.shape, dtype=bool)
    # An "outside" object keeps 2 px from the field so no pixel of it touches the stripes.
    outside = ~_dilate(field, 2)
    for shape_fn, rgb, class_in, class_out, size_factor in kinds:
        for target_class, region in ((class_in, field), (class_out, outside)):
            if num_classes <= target_class:
                continue
            for _ in range(rng.integers(1, 4)):
                free = region & ~_dilate(objects, 3)
                obj = _place(rng, shape_fn, rng.uniform(5, 9) * unit * size_factor, free)
                if obj is None:
                    continue
                image[obj] = _jitter(rng, rgb)
                label[obj] = target_class
                objects |= obj
    label[_dilate(objects) & ~objects] = IGNORE


def _make_pair(
    seed: int, stream: int, index: int, source_size: tuple[int, int], num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Generate image `index` of a stream: (uint8 image [h,w,3], uint8 mask [h,w])."""
    rng = np.random.default_rng([seed, stream, index])
    height, width = source_size
    side = float(min(height, width))
    unit = side / 128.0  # object sizes are quoted at 128x128 and scale with the source
    yy, xx = np.ogrid[:height, :width]
    yy = yy.astype(np.float32)
    xx = xx.astype(np.float32)

    image = _blotches(rng, height, width, cell=max(4, int(16 * unit)), spread=45.0)
    label = np.zeros((height, width), dtype=np.uint8)

    field = np.zeros((height, width), dtype=bool)
    if num_classes > FIELD and rng.random() < 0.9:
        field = _field(rng, yy, xx, side)
        image[field] += 48.0 * _stripes(rng, yy, xx, unit)[field][:, None]
        label[field] = FIELD
    if num_classes > SPECK:
        _draw_specks(rng, image, label, unit)
    if num_classes > BAR:
        _draw_bars(rng, image, label, unit)
    _draw_objects(rng, image, label, field, (yy, xx), unit, num_classes)

    image += rng.normal(0.0, 10.0, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8), label


@functools.lru_cache(maxsize=4)
def _generate(
    seed: int, stream: int, length: int, source_size: tuple[int, int], num_classes: int
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """All pairs of one stream (cached: building the same split twice costs nothing)."""
    pairs = [_make_pair(seed, stream, i, source_size, num_classes) for i in range(length)]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def _grey(images: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """RGB images as 1-channel [h, w, 1] luma (PIL's ITU-R 601 conversion, as the folder loader uses)."""
    return [np.asarray(Image.fromarray(image).convert("L"))[:, :, None] for image in images]


def shapes(
    split: str = "train",
    root: object = None,
    input_size: tuple[int, int] | None = None,
    augment: bool | Augmentation = False,
    seed: int = 0,
    *,
    length: int | None = None,
    source_size: tuple[int, int] = (128, 128),
    num_classes: int = 5,
    channels: int = 3,
) -> SegmentationDataset:
    """The synthetic `shapes` dataset (needs no files; `root` is ignored).

    Args:
        split: "train", "val" or "test"; each is drawn from its own seed stream (disjoint).
        root: ignored (accepted so every dataset takes the same arguments).
        input_size: (H, W) of the items; None keeps `source_size`.
        augment: random scale + crop + horizontal flip (True or an Augmentation).
        seed: seed of both the generated images and the augmentation stream.
        length: number of images; default 256 for train, 64 for val and test. Image i does not depend on it.
        source_size: (H, W) at which images are generated (object sizes scale with it).
        num_classes: 2..8 including background; see the module docstring for the class order.
        channels: 3 (RGB) or 1 (the same images as grey luma: a stand-in for grey data such as microscopy).
    """
    if split not in SPLIT_STREAM:
        raise DataError(f"shapes: unknown split {split!r}; valid: {choices_text(list(SPLIT_STREAM))}")
    if not 2 <= num_classes <= len(SHAPES_CLASSES):
        raise DataError(f"shapes: num_classes must be in 2..{len(SHAPES_CLASSES)}, got {num_classes=}")
    if channels not in (1, 3):
        raise DataError(f"shapes: channels must be 1 or 3, got {channels=}")
    length = DEFAULT_LENGTH[split] if length is None else length
    if length < 1:
        raise DataError(f"shapes: length must be >= 1, got {length=}")
    size = check_input_size(source_size)
    assert size is not None
    if min(size) < 32:
        raise DataError(f"shapes: source_size must be at least 32x32, got {source_size=}")
    images, masks = _generate(int(seed), SPLIT_STREAM[split], int(length), size, int(num_classes))
    return SegmentationDataset(
        name="shapes",
        split=split,
        images=images if channels == 3 else _grey(images),
        masks=masks,
        num_classes=num_classes,
        ignore_index=IGNORE,
        class_names=SHAPES_CLASSES[:num_classes],
        input_size=input_size,
        augment=augment,
        seed=seed,
        image_files=[f"shapes/{split}/{i}" for i in range(length)],
        mask_files=[f"shapes/{split}/{i}" for i in range(length)],
    )
