"""Datasets read from local folders (camvid, cityscapes, voc, folder); nothing is ever downloaded."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from scaler.data._base import SegmentationDataset, check_input_size, check_labels
from scaler.errors import DataError

__all__ = [
    "CAMVID_CLASSES",
    "CITYSCAPES_CLASSES",
    "VOC_CLASSES",
    "camvid",
    "cityscapes",
    "default_camvid_root",
    "folder",
    "voc",
]

SPLITS = ("train", "val")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
MASK_MODES = ("L", "P", "I", "I;16", "I;16L", "I;16B")  # single-channel modes whose values are labels

CAMVID_CLASSES = (
    "sky", "building", "pole", "road", "pavement", "tree",
    "sign/symbol", "fence", "car", "pedestrian", "bicyclist",
)  # fmt: skip
CAMVID_IGNORE = 11  # "void" in the SegNet 11-class labelling

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
# labelId -> trainId of the 19 evaluated classes (cityscapesScripts labels.py); all else is ignored.
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip

IGNORE_255 = 255


def _camvid_candidates() -> list[Path]:
    """Where CamVid is looked for: $SCALER_CAMVID if set, else <repo>/../shared/data/camvid."""
    env = os.environ.get("SCALER_CAMVID")
    if env:
        return [Path(env).expanduser()]
    return [Path(__file__).resolve().parents[2].parent / "shared" / "data" / "camvid"]


def default_camvid_root() -> Path | None:
    """The CamVid folder from $SCALER_CAMVID, else <repo>/../shared/data/camvid; None when it does not exist."""
    for candidate in _camvid_candidates():
        if candidate.is_dir():
            return candidate
    return None


def _one_line(err: BaseException) -> str:
    """An exception message squeezed onto one line."""
    return " ".join(str(err).split()) or type(err).__name__


def _check_split(name: str, split: str) -> None:
    """Raise DataError unless split is train or val."""
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; valid: {', '.join(SPLITS)}")


def _require_root(name: str, root: str | os.PathLike | None, layout: str) -> Path:
    """The root folder as a Path; DataError when it is not given or does not exist."""
    if root is None:
        raise DataError(f"{name} needs root=<folder with {layout}>")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"{name} root folder not found: {path}")
    return path


def _require_dir(path: Path, what: str) -> Path:
    """Path when it is a folder, else DataError naming it."""
    if not path.is_dir():
        raise DataError(f"{what} folder not found: {path}")
    return path


def _read_lines(list_file: Path) -> list[str]:
    """Non-blank stripped lines of a split list file; DataError when missing or empty."""
    if not list_file.is_file():
        raise DataError(f"split list file not found: {list_file}")
    lines = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    if not lines:
        raise DataError(f"empty split: {list_file} lists no images")
    return lines


def _read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 RGB [h, w, 3]; DataError when unreadable."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: cannot decode image ({_one_line(err)})") from None


def _read_mask(path: Path) -> np.ndarray:
    """Decode a label image to an integer array [h, w] of raw index values (palette indices for mode P)."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            # Mode P: np.array yields the palette INDICES (the labels), never the colours.
            values = np.array(image) if mode in MASK_MODES else None
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: cannot decode mask ({_one_line(err)})") from None
    if values is None:
        raise DataError(f"{path}: mask must be a single-channel label image (mode L, P or I), got mode {mode}")
    return values


def _decode_pairs(
    pairs: Sequence[tuple[Path, Path]],
    num_classes: int,
    ignore_index: int,
    source_size: tuple[int, int] | None,
    label_map: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Decode every (image, mask) file pair once, checking each as it is read; optionally shrink and relabel.

    `source_size` (H, W) resizes at decode time (image bilinear with antialiasing, mask nearest) to
    bound memory on large datasets (a full Cityscapes train split is ~19 GB of uint8 at 1024x2048).
    `label_map` is a 256-entry uint8 lookup table applied to the raw mask values.
    """
    for image_path, mask_path in pairs:  # fail fast, before spending time decoding
        if not image_path.is_file():
            raise DataError(f"image file not found: {image_path}")
        if not mask_path.is_file():
            raise DataError(f"missing mask for image {image_path}: expected {mask_path}")
    images, masks = [], []
    for image_path, mask_path in pairs:
        image = _read_image(image_path)
        mask = _read_mask(mask_path)
        if image.shape[:2] != mask.shape[:2]:
            raise DataError(
                f"{mask_path}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from image "
                f"{image_path} size {image.shape[1]}x{image.shape[0]}"
            )
        if label_map is not None:
            mask = label_map[np.clip(mask, 0, len(label_map) - 1)]
        check_labels(mask, str(mask_path), num_classes, ignore_index)  # before a resize could hide a bad value
        if source_size is not None and image.shape[:2] != source_size:
            size_wh = (source_size[1], source_size[0])
            image = np.array(Image.fromarray(image).resize(size_wh, Image.BILINEAR))
            mask = _resize_mask_nearest(mask, source_size)
        images.append(image)
        masks.append(mask)
    return images, masks


def _resize_mask_nearest(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an integer mask to (H, W), pixel-centre aligned."""
    height, width = mask.shape
    rows = np.minimum(((np.arange(size[0]) + 0.5) * height / size[0]).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * width / size[1]).astype(np.int64), width - 1)
    return mask[rows[:, None], cols[None, :]]


def _build(
    name: str,
    split: str,
    pairs: Sequence[tuple[Path, Path]],
    *,
    num_classes: int,
    ignore_index: int,
    class_names: Sequence[str],
    input_size: tuple[int, int] | None,
    augment: bool,
    seed: int,
    source_size: tuple[int, int] | None,
    label_map: np.ndarray | None = None,
) -> SegmentationDataset:
    """Decode the pairs and wrap them in a SegmentationDataset."""
    images, masks = _decode_pairs(pairs, num_classes, ignore_index, check_input_size(source_size), label_map)
    return SegmentationDataset(
        name=name,
        split=split,
        images=images,
        masks=masks,
        num_classes=num_classes,
        ignore_index=ignore_index,
        class_names=class_names,
        input_size=input_size,
        augment=augment,
        seed=seed,
        image_files=[str(p) for p, _ in pairs],
        mask_files=[str(p) for _, p in pairs],
    )


def camvid(
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool = False,
    seed: int = 0,
    *,
    source_size: tuple[int, int] | None = None,
) -> SegmentationDataset:
    """CamVid, 11 classes (SegNet labelling), void = ignore index 11.

    Args:
        split: "train" (367 images) or "val" (101 images).
        root: folder with `{split}.txt` listing `image label` pairs relative to it; None uses
            `default_camvid_root()` ($SCALER_CAMVID, else <repo>/../shared/data/camvid).
        input_size: (H, W) of the items; None keeps the source size (180x240 for the shared copy).
        augment: scale jitter + random crop + horizontal flip.
        seed: seed of the augmentation stream.
        source_size: optional (H, W) to shrink the sources to at decode time.
    """
    _check_split("camvid", split)
    if root is None:
        root = default_camvid_root()
        if root is None:
            looked = ", ".join(str(p) for p in _camvid_candidates())
            raise DataError(f"CamVid not found at {looked}; set SCALER_CAMVID or pass root=")
    base = _require_root("camvid", root, f"{split}.txt")
    list_file = base / f"{split}.txt"
    pairs = []
    for number, line in enumerate(_read_lines(list_file), start=1):
        fields = line.split()
        if len(fields) != 2:
            raise DataError(f"{list_file}:{number}: expected 'image label', got {line!r}")
        pairs.append((base / fields[0], base / fields[1]))
    return _build(
        "camvid",
        split,
        pairs,
        num_classes=len(CAMVID_CLASSES),
        ignore_index=CAMVID_IGNORE,
        class_names=CAMVID_CLASSES,
        input_size=input_size,
        augment=augment,
        seed=seed,
        source_size=source_size,
    )


def _cityscapes_label_map() -> np.ndarray:
    """256-entry lookup table labelId -> trainId, 255 for every non-evaluated id."""
    table = np.full(256, IGNORE_255, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
        table[label_id] = train_id
    return table


def cityscapes(
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool = False,
    seed: int = 0,
    *,
    source_size: tuple[int, int] | None = None,
) -> SegmentationDataset:
    """Cityscapes fine annotations mapped to the 19 train ids; every other labelId is ignore (255).

    Args:
        split: "train" or "val".
        root: folder holding `leftImg8bit/{split}/{city}/*_leftImg8bit.png` and
            `gtFine/{split}/{city}/*_gtFine_labelIds.png` (the official layout).
        input_size: (H, W) of the items; None keeps the source size.
        augment: scale jitter + random crop + horizontal flip.
        seed: seed of the augmentation stream.
        source_size: optional (H, W) to shrink the sources to at decode time; recommended, since
            the full-resolution train split needs ~19 GB of memory.
    """
    _check_split("cityscapes", split)
    base = _require_root("cityscapes", root, "leftImg8bit/ and gtFine/")
    image_dir = _require_dir(base / "leftImg8bit" / split, "cityscapes image")
    label_dir = base / "gtFine" / split
    suffix = "_leftImg8bit.png"
    image_paths = sorted(image_dir.glob(f"*/*{suffix}"))
    if not image_paths:
        raise DataError(f"empty split: no */*{suffix} images under {image_dir}")
    pairs = [
        (p, label_dir / p.parent.name / (p.name[: -len(suffix)] + "_gtFine_labelIds.png")) for p in image_paths
    ]
    return _build(
        "cityscapes",
        split,
        pairs,
        num_classes=len(CITYSCAPES_CLASSES),
        ignore_index=IGNORE_255,
        class_names=CITYSCAPES_CLASSES,
        input_size=input_size,
        augment=augment,
        seed=seed,
        source_size=source_size,
        label_map=_cityscapes_label_map(),
    )


def voc(
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool = False,
    seed: int = 0,
    *,
    source_size: tuple[int, int] | None = None,
) -> SegmentationDataset:
    """PASCAL VOC 2012 segmentation, 21 classes (background included), 255 = ignore (object borders).

    Args:
        split: "train" or "val".
        root: the VOC2012 folder (`JPEGImages/`, `SegmentationClass/`, `ImageSets/Segmentation/`),
            or a folder containing `VOCdevkit/VOC2012`.
        input_size: (H, W) of the items; required unless `source_size` is given, as VOC sizes vary.
        augment: scale jitter + random crop + horizontal flip.
        seed: seed of the augmentation stream.
        source_size: optional (H, W) to resize the sources to at decode time.
    """
    _check_split("voc", split)
    base = _require_root("voc", root, "JPEGImages/, SegmentationClass/, ImageSets/Segmentation/")
    if (base / "VOCdevkit" / "VOC2012").is_dir():
        base = base / "VOCdevkit" / "VOC2012"
    list_file = base / "ImageSets" / "Segmentation" / f"{split}.txt"
    ids = _read_lines(list_file)
    pairs = [(base / "JPEGImages" / f"{i}.jpg", base / "SegmentationClass" / f"{i}.png") for i in ids]
    return _build(
        "voc",
        split,
        pairs,
        num_classes=len(VOC_CLASSES),
        ignore_index=IGNORE_255,
        class_names=VOC_CLASSES,
        input_size=input_size,
        augment=augment,
        seed=seed,
        source_size=source_size,
    )


def _files_by_stem(directory: Path) -> dict[str, Path]:
    """Image files of a folder keyed by stem; DataError when two share a stem."""
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in found:
                raise DataError(
                    f"{directory}: two files share the stem {path.stem!r}: {found[path.stem].name}, {path.name}"
                )
            found[path.stem] = path
    return found


def folder(
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool = False,
    seed: int = 0,
    *,
    num_classes: int | None = None,
    ignore_index: int = IGNORE_255,
    class_names: Sequence[str] | None = None,
    images: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    source_size: tuple[int, int] | None = None,
) -> SegmentationDataset:
    """Any folder of images plus index-valued masks matched by file stem (a.jpg <-> a.png).

    Layout: `root/{split}/images/` and `root/{split}/masks/`; or pass `images=` and `masks=`
    folders for this split explicitly (relative ones are taken relative to `root` when given).

    Args:
        split: "train" or "val".
        root: dataset folder (see layout).
        input_size: (H, W) of the items; None keeps the source size (all sources must share it).
        augment: scale jitter + random crop + horizontal flip.
        seed: seed of the augmentation stream.
        num_classes: number of classes (required); mask values lie in [0, num_classes) or ignore.
        ignore_index: mask value excluded from loss and metrics (default 255).
        class_names: optional names, default "class0", "class1", ...
        images, masks: explicit image and mask folders of this split.
        source_size: optional (H, W) to resize the sources to at decode time.
    """
    _check_split("folder", split)
    if num_classes is None:
        raise DataError("folder dataset needs num_classes=<number of classes, background included>")
    if (images is None) != (masks is None):
        raise DataError(f"folder dataset needs both images= and masks= or neither, got {images=} {masks=}")
    if images is None:
        base = _require_root("folder", root, f"{split}/images/ and {split}/masks/")
        image_dir, mask_dir = base / split / "images", base / split / "masks"
    else:
        prefix = Path(root).expanduser() if root is not None else Path()
        image_dir, mask_dir = prefix / Path(images).expanduser(), prefix / Path(masks).expanduser()
    image_files = _files_by_stem(_require_dir(image_dir, "folder images"))
    mask_files = _files_by_stem(_require_dir(mask_dir, "folder masks"))
    if not image_files:
        raise DataError(f"empty split: no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
    pairs = []
    for stem, image_path in image_files.items():
        if stem not in mask_files:
            raise DataError(f"missing mask for image {image_path}: no file with stem {stem!r} in {mask_dir}")
        pairs.append((image_path, mask_files[stem]))
    names = tuple(class_names) if class_names is not None else tuple(f"class{i}" for i in range(num_classes))
    return _build(
        "folder",
        split,
        pairs,
        num_classes=num_classes,
        ignore_index=ignore_index,
        class_names=names,
        input_size=input_size,
        augment=augment,
        seed=seed,
        source_size=source_size,
    )
