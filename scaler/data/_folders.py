"""Datasets read from local folders (camvid, cityscapes, voc, folder); nothing is ever downloaded."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from scaler.data._base import SegmentationDataset, check_input_size, check_labels
from scaler.data._transforms import Augmentation
from scaler.errors import DataError
from scaler.vocabulary import SPLITS, choices_text

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

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
MASK_MODES = ("L", "P", "I", "I;16", "I;16L", "I;16B")  # single-channel modes whose values are labels
GREY_MODES = ("1", "L", "LA")  # single-channel 8-bit images (LA: its alpha is dropped, as RGBA's is)
WIDE_MODES = ("I", "I;16", "I;16L", "I;16B", "F")  # grey images of more than 8 bits: kept only when 0..255
CHANNELS = (1, 3)  # what `channels=` may force; None follows the images

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


def _check_split(name: str, split: str, available: Sequence[str], where: str, needs: str = "") -> None:
    """DataError naming `split` and the splits `where` has (`needs`: what a split needs there, e.g. "test.txt")."""
    if split in available:
        return
    valid = choices_text(list(available)) if available else "none"
    if split not in SPLITS:
        raise DataError(f"{name}: unknown split {split!r}; valid for {where}: {valid}")
    missing = f" (no {needs})" if needs else ""
    raise DataError(f"{name}: no {split!r} split in {where}{missing}; valid there: {valid}")


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


def _wide_grey(image: Image.Image, path: Path) -> np.ndarray:
    """A >8-bit grey image as uint8 [h, w], refused when a value lies outside 0..255 (no silent clipping)."""
    values = np.array(image)
    if values.size and (values.min() < 0 or values.max() > 255 or not np.array_equal(values, np.round(values))):
        raise DataError(f"{path}: {image.mode} image with values {values.min():g}..{values.max():g}; valid: 8-bit "
                        "images (integers 0..255): rescale it first")
    return values.astype(np.uint8)


def _read_image(path: Path, channels: int | None) -> np.ndarray:
    """Decode an image to uint8 [h, w, 1] (grey) or [h, w, 3] (RGB), or as `channels` forces; DataError if bad."""
    try:
        with Image.open(path) as image:
            if image.mode in WIDE_MODES:
                pixels = _wide_grey(image, path)
                grey = True
            else:
                grey = channels == 1 or (channels is None and image.mode in GREY_MODES)
                pixels = np.array(image.convert("L" if grey else "RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: cannot decode image ({_one_line(err)})") from None
    if grey and channels == 3:
        return np.repeat(pixels[:, :, None], 3, axis=2)  # what PIL's L -> RGB conversion does
    return pixels[:, :, None] if grey else pixels


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


def _resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (PIL, antialiased) resize of a uint8 [h, w, C] image (C = 1 or 3) to (H, W)."""
    size_wh = (size[1], size[0])
    if image.shape[2] == 1:
        return np.array(Image.fromarray(image[:, :, 0]).resize(size_wh, Image.BILINEAR))[:, :, None]
    return np.array(Image.fromarray(image).resize(size_wh, Image.BILINEAR))


def _resize_mask_nearest(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an integer mask to (H, W), pixel-centre aligned."""
    height, width = mask.shape
    rows = np.minimum(((np.arange(size[0]) + 0.5) * height / size[0]).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * width / size[1]).astype(np.int64), width - 1)
    return mask[rows[:, None], cols[None, :]]


def _to_rgb_where_mixed(images: list[np.ndarray]) -> list[np.ndarray]:
    """All grey -> unchanged (1 channel); grey and RGB mixed -> every grey one replicated to RGB."""
    if all(image.shape[2] == 1 for image in images):
        return images
    return [np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image for image in images]


def _decode_pair(image_path: Path, mask_path: Path, num_classes: int, ignore_index: int, channels: int | None,
                 label_map: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Decode and check one (image, mask) pair; relabel the mask through `label_map` when given."""
    image = _read_image(image_path, channels)
    mask = _read_mask(mask_path)
    if image.shape[:2] != mask.shape[:2]:
        raise DataError(
            f"{mask_path}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from image "
            f"{image_path} size {image.shape[1]}x{image.shape[0]}"
        )
    if label_map is not None:
        mask = label_map[np.clip(mask, 0, len(label_map) - 1)]
    check_labels(mask, str(mask_path), num_classes, ignore_index)  # before a resize could hide a bad value
    return image, mask


def _decode_pairs(
    pairs: Sequence[tuple[Path, Path]],
    num_classes: int,
    ignore_index: int,
    source_size: tuple[int, int] | None,
    channels: int | None = None,
    label_map: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Decode every (image, mask) file pair once, checking each as it is read; optionally shrink and relabel.

    `source_size` (H, W) resizes at decode time (image bilinear with antialiasing, mask nearest) to
    bound memory on large datasets (a full Cityscapes train split is ~19 GB of uint8 at 1024x2048).
    `channels` None keeps grey images 1-channel when every image is grey (RGB when mixed); 1 or 3
    converts every image. `label_map` is a 256-entry uint8 lookup table applied to the raw mask values.
    """
    if channels not in (None, *CHANNELS):
        raise DataError(f"channels must be one of {', '.join(map(str, CHANNELS))} or None (follow the images), "
                        f"got {channels=}")
    for image_path, mask_path in pairs:  # fail fast, before spending time decoding
        if not image_path.is_file():
            raise DataError(f"image file not found: {image_path}")
        if not mask_path.is_file():
            raise DataError(f"missing mask for image {image_path}: expected {mask_path}")
    images, masks = [], []
    for image_path, mask_path in pairs:
        image, mask = _decode_pair(image_path, mask_path, num_classes, ignore_index, channels, label_map)
        if source_size is not None and image.shape[:2] != source_size:
            image, mask = _resize_image(image, source_size), _resize_mask_nearest(mask, source_size)
        images.append(image)
        masks.append(mask)
    return _to_rgb_where_mixed(images), masks


def _build(
    name: str,
    split: str,
    pairs: Sequence[tuple[Path, Path]],
    *,
    num_classes: int,
    ignore_index: int,
    class_names: Sequence[str],
    input_size: tuple[int, int] | None,
    augment: bool | Augmentation,
    seed: int,
    source_size: tuple[int, int] | None,
    channels: int | None = None,
    label_map: np.ndarray | None = None,
) -> SegmentationDataset:
    """Decode the pairs and wrap them in a SegmentationDataset."""
    size = check_input_size(source_size)
    images, masks = _decode_pairs(pairs, num_classes, ignore_index, size, channels, label_map)
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


def _camvid_root(root: str | os.PathLike | None) -> Path:
    """The CamVid folder: `root`, else `default_camvid_root()`; DataError when there is none."""
    if root is None:
        root = default_camvid_root()
        if root is None:
            looked = ", ".join(str(p) for p in _camvid_candidates())
            raise DataError(f"CamVid not found at {looked}; set SCALER_CAMVID or pass root=")
    return _require_root("camvid", root, "train.txt, val.txt, test.txt")


def _camvid_pairs(base: Path, list_file: Path) -> list[tuple[Path, Path]]:
    """The (image, label) paths a SegNet-layout list file names, relative to `base`."""
    pairs = []
    for number, line in enumerate(_read_lines(list_file), start=1):
        fields = line.split()
        if len(fields) != 2:
            raise DataError(f"{list_file}:{number}: expected 'image label', got {line!r}")
        pairs.append((base / fields[0], base / fields[1]))
    return pairs


def camvid(
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool | Augmentation = False,
    seed: int = 0,
    *,
    source_size: tuple[int, int] | None = None,
) -> SegmentationDataset:
    """CamVid, 11 classes (SegNet labelling), void = ignore index 11.

    Args:
        split: "train" (367 images), "val" (101) or "test" (233), whichever `{split}.txt` the folder has.
        root: folder with `{split}.txt` listing `image label` pairs relative to it; None uses
            `default_camvid_root()` ($SCALER_CAMVID, else <repo>/../shared/data/camvid).
        input_size: (H, W) of the items; None keeps the source size (180x240 for the shared copy).
        augment: random scale + crop + horizontal flip (True or an Augmentation).
        seed: seed of the augmentation stream.
        source_size: optional (H, W) to shrink the sources to at decode time.
    """
    base = _camvid_root(root)
    _check_split("camvid", split, [s for s in SPLITS if (base / f"{s}.txt").is_file()], str(base), f"{split}.txt")
    return _build(
        "camvid",
        split,
        _camvid_pairs(base, base / f"{split}.txt"),
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
    augment: bool | Augmentation = False,
    seed: int = 0,
    *,
    source_size: tuple[int, int] | None = None,
) -> SegmentationDataset:
    """Cityscapes fine annotations mapped to the 19 train ids; every other labelId is ignore (255).

    Args:
        split: "train" or "val". "test" is refused: its gtFine masks are placeholders (the labels are
            held by the benchmark server), so report on val.
        root: folder holding `leftImg8bit/{split}/{city}/*_leftImg8bit.png` and
            `gtFine/{split}/{city}/*_gtFine_labelIds.png` (the official layout).
        input_size: (H, W) of the items; None keeps the source size.
        augment: random scale + crop + horizontal flip (True or an Augmentation).
        seed: seed of the augmentation stream.
        source_size: optional (H, W) to shrink the sources to at decode time; recommended, since
            the full-resolution train split needs ~19 GB of memory.
    """
    if split == "test":
        raise DataError("cityscapes: split 'test' has no public labels (its gtFine masks are placeholders); "
                        "valid: train, val (report on val)")
    _check_split("cityscapes", split, ("train", "val"), "cityscapes")  # a missing folder is named below
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


def _voc_pairs(base: Path, split: str) -> list[tuple[Path, Path]]:
    """(JPEG, PNG mask) paths of a VOC split list; DataError for a test list without its labels."""
    list_dir = base / "ImageSets" / "Segmentation"
    _check_split("voc", split, [s for s in SPLITS if (list_dir / f"{s}.txt").is_file()], str(list_dir), f"{split}.txt")
    ids = _read_lines(list_dir / f"{split}.txt")
    pairs = [(base / "JPEGImages" / f"{i}.jpg", base / "SegmentationClass" / f"{i}.png") for i in ids]
    if split == "test" and not any(mask.is_file() for _, mask in pairs):
        # VOC2012's test masks are held by the evaluation server; VOC2007's test masks are public.
        raise DataError(f"voc: split 'test' lists {len(ids)} images but {base / 'SegmentationClass'} has none of "
                        "their masks (VOC2012 test labels are not public); valid: train, val (report on val)")
    return pairs


def voc(
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool | Augmentation = False,
    seed: int = 0,
    *,
    source_size: tuple[int, int] | None = None,
) -> SegmentationDataset:
    """PASCAL VOC segmentation, 21 classes (background included), 255 = ignore (object borders).

    Args:
        split: "train", "val", or "test" where `ImageSets/Segmentation/test.txt` and its masks exist
            (VOC2007; VOC2012's test labels are not public, so that test split is refused).
        root: the VOC folder (`JPEGImages/`, `SegmentationClass/`, `ImageSets/Segmentation/`),
            or a folder containing `VOCdevkit/VOC2012`.
        input_size: (H, W) of the items; required unless `source_size` is given, as VOC sizes vary.
        augment: random scale + crop + horizontal flip (True or an Augmentation).
        seed: seed of the augmentation stream.
        source_size: optional (H, W) to resize the sources to at decode time.
    """
    base = _require_root("voc", root, "JPEGImages/, SegmentationClass/, ImageSets/Segmentation/")
    if (base / "VOCdevkit" / "VOC2012").is_dir():
        base = base / "VOCdevkit" / "VOC2012"
    return _build(
        "voc",
        split,
        _voc_pairs(base, split),
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


def _folder_dirs(split: str, root: str | os.PathLike | None, images: str | os.PathLike | None,
                 masks: str | os.PathLike | None) -> tuple[Path, Path]:
    """The (images, masks) folders of a folder-dataset split: root/{split}/images|masks or the explicit ones."""
    if (images is None) != (masks is None):
        raise DataError(f"folder dataset needs both images= and masks= or neither, got {images=} {masks=}")
    if images is None:
        base = _require_root("folder", root, "<split>/images/ and <split>/masks/")
        available = [s for s in SPLITS if (base / s / "images").is_dir()]
        _check_split("folder", split, available, str(base), f"{split}/images/")
        return base / split / "images", base / split / "masks"
    _check_split("folder", split, SPLITS, "the folder dataset")
    prefix = Path(root).expanduser() if root is not None else Path()
    return prefix / Path(images).expanduser(), prefix / Path(masks).expanduser()


def _folder_pairs(image_dir: Path, mask_dir: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths matched by file stem; DataError for an empty folder or an image without a mask."""
    image_files = _files_by_stem(_require_dir(image_dir, "folder images"))
    mask_files = _files_by_stem(_require_dir(mask_dir, "folder masks"))
    if not image_files:
        raise DataError(f"empty split: no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
    pairs = []
    for stem, image_path in image_files.items():
        if stem not in mask_files:
            raise DataError(f"missing mask for image {image_path}: no file with stem {stem!r} in {mask_dir}")
        pairs.append((image_path, mask_files[stem]))
    return pairs


def folder(
    split: str = "train",
    root: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
    augment: bool | Augmentation = False,
    seed: int = 0,
    *,
    num_classes: int | None = None,
    ignore_index: int = IGNORE_255,
    class_names: Sequence[str] | None = None,
    images: str | os.PathLike | None = None,
    masks: str | os.PathLike | None = None,
    source_size: tuple[int, int] | None = None,
    channels: int | None = None,
) -> SegmentationDataset:
    """Any folder of images plus index-valued masks matched by file stem (a.jpg <-> a.png).

    Layout: `root/{split}/images/` and `root/{split}/masks/` for each split the folder has (train,
    val, test); or pass `images=` and `masks=` folders for this split explicitly (relative ones are
    taken relative to `root` when given).

    Args:
        split: "train", "val" or "test".
        root: dataset folder (see layout).
        input_size: (H, W) of the items; None keeps the source size (all sources must share it).
        augment: random scale + crop + horizontal flip (True or an Augmentation).
        seed: seed of the augmentation stream.
        num_classes: number of classes (required); mask values lie in [0, num_classes) or ignore.
        ignore_index: mask value excluded from loss and metrics (default 255).
        class_names: optional names, default "class0", "class1", ...
        images, masks: explicit image and mask folders of this split.
        source_size: optional (H, W) to resize the sources to at decode time.
        channels: None follows the images (every image grey, e.g. microscopy: 1 channel; otherwise
            3, grey ones replicated to RGB); 1 converts colour images to grey (ITU-R 601 luma); 3 RGB.
    """
    if num_classes is None:
        raise DataError("folder dataset needs num_classes=<number of classes, background included>")
    names = tuple(class_names) if class_names is not None else tuple(f"class{i}" for i in range(num_classes))
    return _build(
        "folder",
        split,
        _folder_pairs(*_folder_dirs(split, root, images, masks)),
        num_classes=num_classes,
        ignore_index=ignore_index,
        class_names=names,
        input_size=input_size,
        augment=augment,
        seed=seed,
        source_size=source_size,
        channels=channels,
    )
