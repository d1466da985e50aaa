"""Paired image + report datasets for the multimodal family (scaler.families.multimodal).

An item is a dict: "image" float32 [C,H,W] (normalised as every dataset here), "tokens" int64
[max_tokens] (the report's word ids, cut to max_tokens and padded with PAD_ID), "label" int64 (the
class), and "mask" int64 [H,W] where the dataset has masks. The default collate stacks them.

Reports become ids with ONE tokenizer (`tokenize`: lower case, runs of letters and digits) and a
`Vocabulary` built from the TRAINING reports only: id 0 is padding, id 1 every word the training
reports did not hold (or that `max_words` / `min_count` left out), so val and test never leak words
into it. `len(vocabulary)` is the network's `vocab_size`.

Two sources:
- `shape_reports` (synthetic, generated from a seed): the image shows a disc whose COLOUR (red or
  blue) only the image tells, drawn at one size; the report states the disc's SIZE (small or large,
  in varied words) that only the text tells. The class is the pair (red_small, red_large,
  blue_small, blue_large), so an image-only or a text-only model is right at most half the time,
  and a fused one can be always right. The mask labels the disc's pixels with 1 + its class
  (background 0), so the text-guided segmentation head needs both modalities as well.
- `reports` (folder + CSV): `<root>/<split>.csv` with a header holding `image`, `report`, `label`
  and optionally `mask` (paths relative to root); labels are class names (the classes: the sorted
  labels of train.csv unless `class_names` is given). A bad row raises ONE DataError line naming
  the CSV file and the row (row 1 is the first line after the header).
"""
from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from scaler.data import _transforms
from scaler.data._base import _channel_stats, check_input_size, check_labels
from scaler.data._folders import _one_line, _read_image, _read_mask
from scaler.errors import DataError
from scaler.families._text import PAD_ID, UNK_ID
from scaler.vocabulary import SPLITS, choices_text

__all__ = ["Vocabulary", "PairedDataset", "tokenize", "shape_reports", "reports", "SHAPE_REPORT_CLASSES",
           "REPORT_COLUMNS"]

#: The special words, at their ids (scaler.families._text owns the ids).
SPECIALS = {PAD_ID: "<pad>", UNK_ID: "<unk>"}
#: CSV columns of `reports`: the required ones, then the optional mask.
REPORT_COLUMNS = ("image", "report", "label")
MASK_COLUMN = "mask"
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """The words of a report: lower case, runs of letters and digits (punctuation splits, then goes)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Words by id: `words[PAD_ID]` is "<pad>", `words[UNK_ID]` "<unk>", then the training words."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(self.words))
        specials = tuple(SPECIALS[i] for i in sorted(SPECIALS))
        if self.words[:len(specials)] != specials or len(set(self.words)) != len(self.words):
            raise DataError(f"a vocabulary starts with {specials} and holds each word once, got "
                            f"{self.words[:4]}... ({len(self.words)} words)")

    @classmethod
    def build(cls, reports: Iterable[str], max_words: int | None = None, min_count: int = 1) -> Vocabulary:
        """The vocabulary of `reports` (the TRAINING ones): words seen >= min_count times, the most frequent
        first (ties alphabetical), at most `max_words` of them besides the two special ones."""
        if max_words is not None and max_words < 0 or min_count < 1:
            raise DataError(f"vocabulary needs max_words >= 0 and min_count >= 1, got {max_words=} {min_count=}")
        counts = Counter(word for report in reports for word in tokenize(report))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls((*(SPECIALS[i] for i in sorted(SPECIALS)), *kept[:max_words]))

    def __len__(self) -> int:
        """Number of ids, the special ones included: the network's vocab_size."""
        return len(self.words)

    def encode(self, text: str, max_tokens: int) -> torch.Tensor:
        """int64 [max_tokens]: the report's ids (unknown words -> UNK_ID), cut to max_tokens, padded with PAD_ID."""
        index = self._index
        ids = [index.get(word, UNK_ID) for word in tokenize(text)][:max_tokens]
        return torch.tensor(ids + [PAD_ID] * (max_tokens - len(ids)), dtype=torch.long)

    @property
    def _index(self) -> dict[str, int]:
        """word -> id (built once per vocabulary)."""
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {w: i for i, w in enumerate(self.words) if i not in SPECIALS}
            object.__setattr__(self, "_index_cache", cached)
        return cached


class PairedDataset(Dataset):
    """Images, encoded reports, class labels and optional masks; every item resized to `input_size`.

    Items are dicts (see the module docstring). Sources are uint8 [h, w, C] images (one channel
    count for all), report strings, labels in [0, len(class_names)), and integer masks [h, w] with
    values in [0, mask_classes) or `ignore_index`; all checked at construction.
    """

    def __init__(self, *, name: str, split: str, images: Sequence[np.ndarray], reports: Sequence[str],
                 labels: Sequence[int], class_names: Sequence[str], vocabulary: Vocabulary, max_tokens: int,
                 masks: Sequence[np.ndarray] | None = None, mask_class_names: Sequence[str] = (),
                 ignore_index: int = 255, input_size: tuple[int, int] | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        if not images or len({len(images), len(reports), len(labels), len(masks or images)}) != 1:
            raise DataError(f"{name} {split}: {len(images)} images, {len(reports)} reports, {len(labels)} labels"
                            f"{'' if masks is None else f', {len(masks)} masks'}; valid: as many of each, >= 1")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise DataError(f"{name}: max_tokens must be an integer >= 1, got {max_tokens!r}")
        self.name, self.split, self.vocabulary, self.max_tokens = name, split, vocabulary, max_tokens
        self.class_names, self.mask_class_names = tuple(class_names), tuple(mask_class_names)
        self.ignore_index = ignore_index
        self.images = [np.ascontiguousarray(image.transpose(2, 0, 1)) for image in images]
        if len({image.shape[0] for image in self.images}) != 1:
            raise DataError(f"{name} {split}: images with {sorted({i.shape[0] for i in self.images})} channels; "
                            f"valid: one channel count for every image")
        self.tokens = torch.stack([vocabulary.encode(report, max_tokens) for report in reports])
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.masks = None if masks is None else [np.asarray(mask, dtype=np.int64) for mask in masks]
        sizes = {image.shape[1:] for image in self.images}
        self.input_size = check_input_size(input_size) or (next(iter(sizes)) if len(sizes) == 1 else None)
        if self.input_size is None:
            raise DataError(f"{name} {split}: images of {len(sizes)} different sizes, so input_size=(H, W) is required")
        self._mean, self._std = _channel_stats(name, self.in_channels, mean, std)

    @property
    def in_channels(self) -> int:
        """Channels of every image: the network's in_channels."""
        return int(self.images[0].shape[0])

    @property
    def num_classes(self) -> int:
        """Classes of the labels: the classification head's classes."""
        return len(self.class_names)

    @property
    def mask_classes(self) -> int:
        """Classes of the mask values: the segmentation head's classes (0 without masks)."""
        return len(self.mask_class_names) if self.masks is not None else 0

    @property
    def vocab_size(self) -> int:
        """Ids of the vocabulary: the network's vocab_size."""
        return len(self.vocabulary)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Item `index`: image, tokens, label (and mask) as in the module docstring."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name} {self.split}: index {index} out of range for {len(self)} items")
        image = torch.from_numpy(self.images[index])
        item = {"tokens": self.tokens[index], "label": self.labels[index]}
        if self.masks is not None:
            image, mask = _transforms.resize_pair(image, torch.from_numpy(self.masks[index]), self.input_size)
            item["mask"] = mask.long()
        else:
            image = _transforms._resize_image(image, self.input_size)
        return {"image": _transforms.normalize(image, self._mean, self._std), **item}

    def __repr__(self) -> str:
        return (f"PairedDataset(name={self.name!r}, split={self.split!r}, items={len(self)}, classes="
                f"{self.num_classes}, vocab_size={self.vocab_size}, max_tokens={self.max_tokens}, "
                f"masks={self.masks is not None}, input_size={self.input_size})")


# -- shape_reports: synthetic, each modality holds half of the label ----------------------------------------

COLOURS = {"red": (200, 55, 55), "blue": (55, 70, 205)}
SIZES = {"small": ("small", "tiny", "minor", "subcentimetre"), "large": ("large", "big", "extensive", "bulky")}
SHAPE_REPORT_CLASSES = tuple(f"{c}_{s}" for c in COLOURS for s in SIZES)
#: Words around the size word: they vary the reports and carry nothing about the class.
_OPENINGS = ("the scan shows a", "there is a", "imaging reveals a", "noted a", "findings include a")
_FINDINGS = ("lesion", "nodule", "mass", "opacity")
_PLACES = ("in the upper left region", "in the lower right region", "near the centre", "at the margin", "")
_STREAM = {split: stream for stream, split in enumerate(SPLITS)}
_LENGTH = {"train": 512, "val": 128, "test": 128}
_RADIUS = 5  # one disc size for every class: the image must not tell the size


def _shape_sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str, int, np.ndarray]:
    """One (image [size, size, 3] uint8, report, label, mask) of shape_reports."""
    colour, size_word = rng.integers(len(COLOURS)), rng.integers(len(SIZES))
    label = colour * len(SIZES) + size_word
    tint = rng.uniform(90, 160, 3)
    image = tint + rng.normal(0, 22, (size, size, 3))
    cy, cx = rng.integers(_RADIUS + 1, size - _RADIUS - 1, 2)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= _RADIUS**2
    rgb = np.asarray(list(COLOURS.values())[colour], dtype=np.float64) + rng.uniform(-20, 20, 3)
    image[disc] = rgb + rng.normal(0, 12, (int(disc.sum()), 3))
    words = list(SIZES.values())[size_word]
    report = " ".join(part for part in (str(rng.choice(_OPENINGS)), str(rng.choice(words)),
                                         str(rng.choice(_FINDINGS)), str(rng.choice(_PLACES))) if part) + "."
    mask = np.where(disc, 1 + label, 0).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8), report, int(label), mask


def _shape_split(split: str, seed: int, length: int, size: int) -> list[tuple[np.ndarray, str, int, np.ndarray]]:
    """The samples of one split: its own seed stream (train 0, val 1, test 2), so no sample is in two splits."""
    rng = np.random.default_rng([seed, _STREAM[split]])
    return [_shape_sample(rng, size) for _ in range(length)]


def _check_choices(name: str, split: str, augment: object) -> None:
    """DataError on an unknown split or on augmentation (not offered by the paired datasets yet)."""
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; valid: {choices_text(list(SPLITS))}")
    if augment:
        raise DataError(f"{name}: augmentation is not offered for paired image + report data; valid: augment off")


def shape_reports(split: str = "train", root: str | os.PathLike | None = None,
                  input_size: tuple[int, int] | None = None, augment: object = False, seed: int = 0, *,
                  length: int | None = None, source_size: int = 32, max_tokens: int = 16) -> PairedDataset:
    """The synthetic paired dataset (module docstring): `length` items (train 512, val/test 128) of
    `source_size`-pixel images; the vocabulary is the one of the train split of the same seed."""
    _check_choices("shape_reports", split, augment)
    if root is not None:
        raise DataError(f"shape_reports is generated and reads no folder; valid: root=None, got {root!r}")
    if not isinstance(source_size, int) or source_size < 4 * _RADIUS:
        raise DataError(f"shape_reports source_size must be an integer >= {4 * _RADIUS}, got {source_size!r}")
    length = _LENGTH[split] if length is None else length
    if not isinstance(length, int) or length < 1:
        raise DataError(f"shape_reports length must be an integer >= 1, got {length!r}")
    train_reports = [s[1] for s in _shape_split("train", seed, _LENGTH["train"], source_size)]
    samples = _shape_split(split, seed, length, source_size)
    images, texts, labels, masks = zip(*samples)
    return PairedDataset(name="shape_reports", split=split, images=images, reports=texts, labels=labels,
                         class_names=SHAPE_REPORT_CLASSES, vocabulary=Vocabulary.build(train_reports),
                         max_tokens=max_tokens, masks=masks, mask_class_names=("background", *SHAPE_REPORT_CLASSES),
                         input_size=input_size)


# -- reports: a folder with one CSV per split ------------------------------------------------------------------

def _read_rows(csv_file: Path) -> list[dict[str, str]]:
    """The rows of a split's CSV as dicts; DataError when it is missing or lacks a required column."""
    if not csv_file.is_file():
        raise DataError(f"reports: split file not found: {csv_file}")
    with csv_file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REPORT_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DataError(f"{csv_file}: no column(s) {', '.join(missing)}; valid header: "
                            f"{', '.join(REPORT_COLUMNS)}[, {MASK_COLUMN}], got {reader.fieldnames}")
        rows = list(reader)
    if not rows:
        raise DataError(f"{csv_file}: no rows")
    return rows


def _class_names(rows: list[dict[str, str]]) -> tuple[str, ...]:
    """The sorted labels of the training rows (numerically when all are integers)."""
    labels = {row["label"].strip() for row in rows if row["label"] and row["label"].strip()}
    numeric = all(re.fullmatch(r"-?\d+", label) for label in labels)
    return tuple(sorted(labels, key=lambda x: (int(x), x) if numeric else (0, x)))


def _read_row(root: Path, row: dict[str, str], classes: dict[str, int], channels: int | None,
              mask_classes: int, ignore_index: int) -> tuple[np.ndarray, str, int, np.ndarray | None]:
    """One row's (image, report, label index, mask or None); DataError with what is wrong (no place)."""
    for column in REPORT_COLUMNS:
        if not (row.get(column) or "").strip():
            raise DataError(f"empty {column!r}")
    label = row["label"].strip()
    if label not in classes:
        raise DataError(f"label {label!r} is not a class; valid: {choices_text(list(classes))}")
    image = _read_image(root / row["image"].strip(), channels)
    mask = None
    if (row.get(MASK_COLUMN) or "").strip():
        mask_file = root / row[MASK_COLUMN].strip()
        mask = _read_mask(mask_file)
        if mask.shape != image.shape[:2]:
            raise DataError(f"mask {mask_file} is {mask.shape[1]}x{mask.shape[0]} but its image is "
                            f"{image.shape[1]}x{image.shape[0]} (WxH)")
        check_labels(mask, str(mask_file), mask_classes, ignore_index)
    return image, row["report"], classes[label], mask


def reports(split: str = "train", root: str | os.PathLike | None = None,
            input_size: tuple[int, int] | None = None, augment: object = False, seed: int = 0, *,
            max_tokens: int = 64, max_words: int | None = None, min_count: int = 1,
            class_names: Sequence[str] | None = None, mask_classes: int = 2, ignore_index: int = 255,
            channels: int | None = None) -> PairedDataset:
    """Images and reports listed in `<root>/<split>.csv` (module docstring). The vocabulary (`max_words`,
    `min_count`) and, unless given, the class names come from `<root>/train.csv`. Masks are all or none;
    their values lie in [0, mask_classes) or equal `ignore_index`."""
    _check_choices("reports", split, augment)
    if root is None or not Path(root).expanduser().is_dir():
        raise DataError(f"reports needs root=<folder with train.csv, val.csv, test.csv>, got {root!r}")
    base = Path(root).expanduser()
    train_rows = _read_rows(base / "train.csv")
    rows = train_rows if split == "train" else _read_rows(base / f"{split}.csv")
    classes = {name: i for i, name in enumerate(class_names or _class_names(train_rows))}
    csv_file, samples = base / f"{split}.csv", []
    for number, row in enumerate(rows, start=1):
        try:
            samples.append(_read_row(base, row, classes, channels, mask_classes, ignore_index))
        except DataError as err:
            raise DataError(f"{csv_file} row {number}: {_one_line(err)}") from None
    with_masks = sum(s[3] is not None for s in samples)
    if with_masks not in (0, len(samples)):
        raise DataError(f"{csv_file}: {with_masks} of {len(samples)} rows have a mask; valid: all rows or none")
    images, texts, labels, masks = zip(*samples)
    return PairedDataset(name="reports", split=split, images=images, reports=texts, labels=labels,
                         class_names=tuple(classes), max_tokens=max_tokens, ignore_index=ignore_index,
                         vocabulary=Vocabulary.build((r["report"] for r in train_rows), max_words, min_count),
                         masks=masks if with_masks else None, mask_class_names=tuple(map(str, range(mask_classes))),
                         input_size=input_size)
