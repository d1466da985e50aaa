"""Fake dataset folders written into tmp_path: images, masks and the layout of every registered dataset."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 16, 32  # fake source size (height, width)


def write_image(path: Path, seed: int, size: tuple[int, int] = (H, W), mode: str = "RGB") -> np.ndarray:
    """Write a random image (RGB, or grey with mode="L") as PNG/JPEG and return its pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (*size, 3) if mode == "RGB" else size
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels, mode=mode).save(path)
    return pixels


def write_mask(path: Path, values: np.ndarray, palette: bool = False) -> None:
    """Write an index-valued mask as mode L (or mode P with a palette, like VOC)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(values.astype(np.uint8), mode="L")
    if palette:
        image = image.convert("P")
        image.putpalette([v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)])
        image.frombytes(values.astype(np.uint8).tobytes())
    image.save(path)


def labels(seed: int, num_classes: int, ignore: int, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """A random label map with some ignore pixels."""
    values = np.random.default_rng(seed).integers(0, num_classes, size)
    values[0, :4] = ignore
    return values


def make_folder(root: Path, split: str = "train", count: int = 3, num_classes: int = 3,
                mode: str = "RGB") -> list[np.ndarray]:
    """root/{split}/images/*.png + root/{split}/masks/*.png; returns the masks."""
    masks = []
    for i in range(count):
        write_image(root / split / "images" / f"img{i}.png", seed=i, mode=mode)
        masks.append(labels(i, num_classes, 255))
        write_mask(root / split / "masks" / f"img{i}.png", masks[-1])
    return masks


def make_camvid(root: Path, split: str = "train", count: int = 2) -> None:
    """A tiny CamVid-layout folder: {split}.txt listing `image label` pairs."""
    lines = []
    for i in range(count):
        write_image(root / split / f"f{i}.png", seed=i)
        write_mask(root / f"{split}annot" / f"f{i}.png", labels(i, 11, 11))
        lines.append(f"{split}/f{i}.png {split}annot/f{i}.png")
    (root / f"{split}.txt").write_text("\n".join(lines) + "\n")


def make_voc(root: Path, split: str = "val", with_masks: bool = True) -> np.ndarray:
    """A tiny VOCdevkit/VOC2012 layout with one split list; returns the label map of its images."""
    base = root / "VOCdevkit" / "VOC2012"
    values = labels(0, 21, 255)
    names = [f"2007_00003{i}" for i in range(2)]
    for name in names:
        write_image(base / "JPEGImages" / f"{name}.jpg", seed=2)
        if with_masks:
            write_mask(base / "SegmentationClass" / f"{name}.png", values, palette=True)
    (base / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return values


def make_cityscapes(root: Path, split: str = "train") -> None:
    """Two images of the official Cityscapes layout, labelIds covering road, car and bicycle."""
    label_ids = np.zeros((H, W), dtype=np.uint8)
    label_ids[:, :8] = 7  # road -> 0
    label_ids[:, 8:16] = 26  # car -> 13
    label_ids[:, 16:20] = 33  # bicycle -> 18
    label_ids[:, 20:24] = 4  # static -> ignore
    label_ids[:, 24:] = 255  # license plate / anything else -> ignore
    for city, name in (("aachen", "aachen_000000_000019"), ("bonn", "bonn_000001_000019")):
        write_image(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png", seed=1)
        write_mask(root / "gtFine" / split / city / f"{name}_gtFine_labelIds.png", label_ids)


def make_reports(root: Path, split: str = "train", rows: list[tuple[str, str, str, bool]] | None = None) -> None:
    """root/{split}.csv (image, report, label, mask) and its files; `rows`: (stem, report, label, with mask)."""
    rows = rows or [("a", "Small nodule, left.", "benign", True), ("b", "A large mass!", "malignant", True),
                    ("c", "small small lesion", "benign", True)]
    lines = ["image,report,label,mask"]
    for i, (stem, report, label, with_mask) in enumerate(rows):
        write_image(root / split / f"{stem}.png", seed=i)
        if with_mask:
            write_mask(root / split / f"{stem}_mask.png", labels(i, 2, 255))
        lines.append(f"{split}/{stem}.png,\"{report}\",{label},{f'{split}/{stem}_mask.png' if with_mask else ''}")
    (root / f"{split}.csv").write_text("\n".join(lines) + "\n")


def _camvid_kwargs(root: Path) -> dict[str, object]:
    make_camvid(root)
    return {"root": root}


def _cityscapes_kwargs(root: Path) -> dict[str, object]:
    make_cityscapes(root)
    return {"root": root, "input_size": (H, W)}


def _folder_kwargs(root: Path) -> dict[str, object]:
    make_folder(root)
    return {"root": root, "num_classes": 3}


def _voc_kwargs(root: Path) -> dict[str, object]:
    make_voc(root, "train")
    return {"root": root, "input_size": (H, W)}


def _shapes_kwargs(root: Path) -> dict[str, object]:
    return {"length": 2, "source_size": (32, 32)}


def _reports_kwargs(root: Path) -> dict[str, object]:
    make_reports(root)
    return {"root": root}


def _shape_reports_kwargs(root: Path) -> dict[str, object]:
    return {"length": 2}


#: For each registered dataset: write a minimal train split under a folder and return make_dataset kwargs.
LAYOUTS: dict[str, Callable[[Path], dict[str, object]]] = {
    "camvid": _camvid_kwargs,
    "cityscapes": _cityscapes_kwargs,
    "folder": _folder_kwargs,
    "reports": _reports_kwargs,
    "shape_reports": _shape_reports_kwargs,
    "shapes": _shapes_kwargs,
    "voc": _voc_kwargs,
}
