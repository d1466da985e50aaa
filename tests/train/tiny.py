"""The tiny training setting the trainer tests share: a width-4, 3-level U-Net on 16 generated 32x32 images."""
from __future__ import annotations

SIZE = (32, 32)
DATA_OPTIONS = {"length": 16, "source_size": list(SIZE)}
