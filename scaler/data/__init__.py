"""Segmentation datasets read from local folders (or generated), decoded once and cached in memory."""
from __future__ import annotations

from scaler.data._base import SegmentationDataset, class_pixel_counts
from scaler.data._folders import CAMVID_CLASSES, CITYSCAPES_CLASSES, VOC_CLASSES, default_camvid_root
from scaler.data._registry import DATASETS, make_dataset
from scaler.data._shapes import SHAPES_CLASSES
from scaler.data._transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "CAMVID_CLASSES",
    "CITYSCAPES_CLASSES",
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SHAPES_CLASSES",
    "VOC_CLASSES",
    "SegmentationDataset",
    "class_pixel_counts",
    "default_camvid_root",
    "make_dataset",
]
