"""Augmentation keeps image and mask aligned, crops any size with padding, and streams differ per epoch/worker.

The alignment source's mask is a FUNCTION OF PIXEL COLOUR: large flat blocks coloured with the 8
corners of the RGB cube, label = the corner's index. After random scale, crop and flip every output
pixel whose colour is (within 1/255) a pure palette colour must carry that colour's label; pixels
blended across a block boundary by the bilinear resize match no corner (a corner is never a mix of
others) and are not checked. The tests at the end run the same checks against deliberately broken
augmentations (mask flipped alone, mask cropped one row off, a stream that ignores the epoch or the
index) and require the checks to catch each one.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from scaler.data import IMAGENET_MEAN, IMAGENET_STD, Augmentation, SegmentationDataset, make_dataset
from scaler.data import _transforms
from scaler.errors import DataError

torch.set_num_threads(1)

PALETTE = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)
IGNORE = 255
SOURCE = (48, 64)
INPUT = (40, 56)  # differs from the source, so the resize to the input size is exercised too
CROP = (37, 53)  # neither a multiple of 32 nor smaller than every scaled image: some crops pad
SCALES = (0.5, 2.0)
_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def _cuts(rng: np.random.Generator, length: int) -> list[int]:
    """Band edges 0 = e0 < e1 < ... = length with bands 9..16 px wide."""
    edges = [0]
    while length - edges[-1] > 16:
        edges.append(edges[-1] + int(rng.integers(9, 17)))
    return edges + [length]


def colour_source(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image [h,w,3], mask [h,w]) of random blocks; mask = index of the block's palette colour."""
    rng = np.random.default_rng(seed)
    mask = np.empty(SOURCE, dtype=np.uint8)
    rows, cols = _cuts(rng, SOURCE[0]), _cuts(rng, SOURCE[1])
    for top, bottom in zip(rows, rows[1:]):
        for left, right in zip(cols, cols[1:]):
            mask[top:bottom, left:right] = rng.integers(0, len(PALETTE))
    return PALETTE[mask], mask


def colour_dataset(count: int = 6, same_source: bool = False, seed: int = 5,
                   cls: type[SegmentationDataset] = SegmentationDataset) -> SegmentationDataset:
    """Augmented dataset of colour sources (all the same one with `same_source`)."""
    pairs = [colour_source(0 if same_source else i) for i in range(count)]
    return cls(name="colours", split="train", images=[p[0] for p in pairs], masks=[p[1] for p in pairs],
               num_classes=len(PALETTE), ignore_index=IGNORE, class_names=[f"c{i}" for i in range(len(PALETTE))],
               input_size=INPUT, augment=Augmentation(SCALES, CROP), seed=seed)


def misaligned(image: torch.Tensor, mask: torch.Tensor) -> tuple[int, int]:
    """(pixels where mask != f(colour), pixels checked); padding must be image 0 with mask ignore."""
    rgb = (image * _STD + _MEAN) * 255
    distance = (rgb[None] - torch.from_numpy(PALETTE).float()[:, :, None, None]).abs().amax(dim=1)
    nearest, colour = distance.min(dim=0)
    pure = nearest < 1.0
    padded = mask == IGNORE
    wrong = (pure & (colour != mask)) | (padded & (image != 0).any(dim=0))
    return int(wrong.sum()), int(pure.sum())


def alignment_report(dataset: SegmentationDataset, workers: int, epochs: int = 3) -> dict[str, int]:
    """Run every item of `epochs` epochs through a DataLoader and count what the checks see."""
    report = {"wrong": 0, "checked": 0, "pixels": 0, "padded": 0, "items": 0}
    for epoch in range(epochs):
        dataset.set_epoch(epoch)  # before the loader starts, so the worker copies carry it
        for images, masks in DataLoader(dataset, batch_size=2, num_workers=workers):
            assert images.shape[-2:] == CROP and masks.shape[-2:] == CROP
            for image, mask in zip(images, masks):
                wrong, checked = misaligned(image, mask)
                report["wrong"] += wrong
                report["checked"] += checked
                report["pixels"] += int((mask != IGNORE).sum())
                report["padded"] += int((mask == IGNORE).any())
                report["items"] += 1
    return report


def assert_aligned(report: dict[str, int]) -> None:
    """No misaligned pixel, most pixels checked, and padding exercised."""
    assert report["wrong"] == 0, report
    assert report["checked"] > 0.6 * report["pixels"], report  # the check has teeth: most pixels are pure
    assert 0 < report["padded"] < report["items"], report


@pytest.mark.parametrize("workers", [0, 2])
def test_mask_stays_the_colour_function_of_the_image(workers):
    dataset = colour_dataset()
    flips = {dataset.window(i).flip for i in range(len(dataset))}
    assert flips == {True, False}
    assert_aligned(alignment_report(dataset, workers))


class _WithWorker(SegmentationDataset):
    """Items tagged with the id of the worker process that made them (-1 in the main process)."""

    def __getitem__(self, index):
        image, mask = super().__getitem__(index)
        info = torch.utils.data.get_worker_info()
        return image, mask, -1 if info is None else info.id


def items_by_worker(dataset: SegmentationDataset, workers: int) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """Every item in index order, with the worker that made it."""
    loader = DataLoader(dataset, batch_size=1, num_workers=workers)
    return [(image[0], mask[0], int(worker)) for image, mask, worker in loader]


def stream_report(dataset: SegmentationDataset, workers: int) -> dict[str, bool]:
    """Whether the stream of identical sources is reproducible, varies per item/worker and per epoch."""
    dataset.set_epoch(0)
    first, again = items_by_worker(dataset, workers), items_by_worker(dataset, 0)
    dataset.set_epoch(1)
    later = items_by_worker(dataset, workers)
    same = [torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again)]
    by_worker: dict[int, list[torch.Tensor]] = {}
    for image, _, worker in first:
        by_worker.setdefault(worker, []).append(image)
    streams = list(by_worker.values())
    return {
        "reproducible": all(same),
        "workers_used": len(by_worker),
        "workers_differ": all(not torch.equal(a, b) for a, b in zip(streams[0], streams[-1]))
        if len(streams) > 1 else all(not torch.equal(a, b) for a, b in zip(streams[0][::2], streams[0][1::2])),
        "epochs_differ": all(not torch.equal(a[0], b[0]) for a, b in zip(first, later)),
    }


def test_augmentation_stream_differs_per_epoch_and_worker_and_is_reproducible():
    # Eight copies of ONE source: any difference between items is the augmentation's.
    dataset = colour_dataset(count=8, same_source=True, cls=_WithWorker)
    report = stream_report(dataset, workers=2)
    assert report == {"reproducible": True, "workers_used": 2, "workers_differ": True, "epochs_differ": True}


def test_same_seed_epoch_and_index_give_the_same_item():
    first, twin = colour_dataset(seed=9), colour_dataset(seed=9)
    first.set_epoch(4)
    twin.set_epoch(4)
    assert all(torch.equal(first[i][0], twin[i][0]) and first.window(i) == twin.window(i) for i in range(6))
    twin.set_epoch(5)
    assert all(first.window(i) != twin.window(i) for i in range(6))


# ---------------------------------------------------------------- scale range + crop size options


def test_crop_of_any_size_pads_image_with_zero_and_mask_with_ignore():
    dataset = make_dataset("shapes", length=8, input_size=(40, 40), augment=True, scale_range=(0.5, 0.5),
                           crop_size=(38, 45))
    assert dataset.item_size == (38, 45) and dataset.input_size == (40, 40)
    image, mask = dataset[3]
    window = dataset.window(3)
    assert window.scaled == (20, 20) and image.shape == (3, 38, 45) and mask.shape == (38, 45)
    rows = slice(-window.top, -window.top + 20)
    cols = slice(-window.left, -window.left + 20)
    inside = torch.zeros(38, 45, dtype=torch.bool)
    inside[rows, cols] = True
    assert (mask[~inside] == 255).all() and (image[:, ~inside] == 0).all()
    assert (mask[inside] != 255).float().mean() > 0.8  # shapes' ignore rings are thin


def test_default_augmentation_scales_up_and_never_pads():
    dataset = make_dataset("shapes", length=32, input_size=(48, 40), augment=True)
    assert dataset.augmentation == Augmentation((1.0, 1.25), None) and dataset.item_size == (48, 40)
    windows = [dataset.window(i) for i in range(32)]
    assert all(w.size == (48, 40) and w.top >= 0 and w.left >= 0 for w in windows)
    assert all(w.top + 48 <= w.scaled[0] and w.left + 40 <= w.scaled[1] for w in windows)
    assert max(w.scaled[0] for w in windows) > 56  # the jitter does reach well above 1x


@pytest.mark.parametrize(("scale_range", "crop_size"), [((0.5, 2.0), (380, 380)), ("0.5-2.0", "380x380"),
                                                        ([0.5, 2], 380), ("0.5 - 2", [380, 380])])
def test_options_accept_pairs_text_and_lists(scale_range, crop_size):
    dataset = make_dataset("shapes", length=1, augment=True, scale_range=scale_range, crop_size=crop_size)
    assert dataset.augmentation == Augmentation((0.5, 2.0), (380, 380))
    assert dataset[0][0].shape == (3, 380, 380)


def test_options_are_ignored_without_augmentation():
    val = make_dataset("shapes", "val", length=1, input_size=(40, 40), scale_range=(0.5, 2.0), crop_size=(38, 45))
    assert val.augmentation is None and val.item_size == (40, 40) and val[0][0].shape == (3, 40, 40)


@pytest.mark.parametrize(("option", "value"), [("scale_range", (2.0, 0.5)), ("scale_range", (0, 1)),
                                               ("scale_range", "big"), ("scale_range", 1.5),
                                               ("crop_size", (0, 10)), ("crop_size", "380"),
                                               ("crop_size", (1.5, 2)), ("crop_size", (1, 2, 3))])
def test_bad_options_are_one_line_naming_the_value(option, value):
    with pytest.raises(DataError) as info:
        make_dataset("shapes", length=1, augment=False, **{option: value})
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{option} must be") and repr(value) in message


def test_unknown_option_lists_the_augmentation_options():
    with pytest.raises(DataError, match=r"valid: length, source_size, num_classes, channels, scale_range, crop_size"):
        make_dataset("shapes", crop=1)


# ---------------------------------------------------------------- the checks catch broken augmentations


def _broken_flip(original):
    """augment_pair that flips the image but never the mask."""
    def broken(image, mask, window, mean, std, ignore_index):
        image_out, _ = original(image, mask, window, mean, std, ignore_index)
        _, mask_out = original(image, mask, dataclasses.replace(window, flip=False), mean, std, ignore_index)
        return image_out, mask_out
    return broken


def _broken_offset(original):
    """augment_pair that crops the mask one row below the image."""
    def broken(image, mask, window, mean, std, ignore_index):
        image_out, _ = original(image, mask, window, mean, std, ignore_index)
        _, mask_out = original(image, mask, dataclasses.replace(window, top=window.top + 1), mean, std, ignore_index)
        return image_out, mask_out
    return broken


@pytest.mark.parametrize("breaker", [_broken_flip, _broken_offset])
def test_alignment_check_catches_a_broken_augmentation(breaker, monkeypatch):
    monkeypatch.setattr(_transforms, "augment_pair", breaker(_transforms.augment_pair))
    report = alignment_report(colour_dataset(), workers=0)
    assert report["wrong"] > 100, report


@pytest.mark.parametrize(("stream", "flag"), [(lambda generator: lambda s, e, i: generator(s, 0, i), "epochs_differ"),
                                              (lambda generator: lambda s, e, i: generator(s, e, 0), "workers_differ")])
def test_stream_check_catches_a_stream_that_ignores_epoch_or_index(stream, flag, monkeypatch):
    monkeypatch.setattr(_transforms, "item_generator", stream(_transforms.item_generator))
    dataset = colour_dataset(count=8, same_source=True, cls=_WithWorker)
    report = stream_report(dataset, workers=0)
    assert report["reproducible"] and not report[flag], report
