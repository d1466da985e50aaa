"""Segmentation datasets read from local folders (or generated), decoded once and cached in memory."""
from __future__ import annotations

from scaler.data._base import SegmentationDataset, class_pixel_counts
from scaler.data._folders import CAMVID_CLASSES, CITYSCAPES_CLASSES, VOC_CLASSES, default_camvid_root
from scaler.data._registry import AUGMENTATION_OPTIONS, DATASETS, make_dataset
from scaler.data._shapes import SHAPES_CLASSES
from scaler.data._transforms import (
    GREY_MEAN,
    GREY_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Augmentation,
    Window,
    default_normalization,
)

__all__ = [
    "AUGMENTATION_OPTIONS",
    "Augmentation",
    "CAMVID_CLASSES",
    "CITYSCAPES_CLASSES",
    "DATASETS",
    "GREY_MEAN",
    "GREY_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SHAPES_CLASSES",
    "VOC_CLASSES",
    "SegmentationDataset",
    "Window",
    "class_pixel_counts",
    "default_camvid_root",
    "default_normalization",
    "make_dataset",
]
