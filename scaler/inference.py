"""Test-time augmentation: multi-scale + horizontal-flip inference, as the segmentation papers evaluate.

The papers this toolkit carries report single-scale results AND "multi-scale + flip" results (scales
0.5 to 2.0, mmsegmentation's convention): the image is resized to each scale, predicted, and, with
flip, predicted again mirrored; every prediction is resized back to the image's size, turned into class
probabilities (softmax) and averaged. Averaging probabilities rather than logits keeps one over-confident
scale from outvoting the rest. Every family takes any input size (the base model pads to its stride and
crops back), so no scale needs snapping here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scaler.errors import ScalerError

__all__ = ["TTA", "SINGLE_SCALE", "PAPER_SCALES", "parse_tta", "predict"]

#: The multi-scale set of the attention-fusion and EDNet papers (mmsegmentation's aug_test ratios).
PAPER_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


@dataclass(frozen=True)
class TTA:
    """Which test-time augmentations to average: input scales (1.0 = as given) and a horizontal flip."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scales or any(not (0.0 < s <= 8.0) for s in self.scales):
            raise ScalerError(f"test-time scales {self.scales!r} are invalid; valid: one or more numbers in (0, 8]")

    @property
    def is_single(self) -> bool:
        """True when this is plain single-scale inference (no augmentation at all)."""
        return self.scales == (1.0,) and not self.flip

    def describe(self) -> str:
        """A short label for tables: "single-scale" or "ms 0.5-2 + flip"."""
        if self.is_single:
            return "single-scale"
        scales = "ms " + ",".join(f"{s:g}" for s in self.scales) if self.scales != (1.0,) else "single-scale"
        return scales + (" + flip" if self.flip else "")


SINGLE_SCALE = TTA()


def parse_tta(scales: str | None, flip: bool = False) -> TTA:
    """`--tta` text ("scales=0.5,0.75,1", "paper" or None) and `--flip` into a TTA record."""
    if scales is None or scales.strip() in ("", "none"):
        return TTA(flip=flip)
    text = scales.strip()
    if text == "paper":
        return TTA(PAPER_SCALES, flip)
    key, sep, values = text.partition("=")
    if sep and key.strip() != "scales":
        raise ScalerError(f"unknown test-time option {key.strip()!r}; valid: scales=S1,S2,... or paper")
    try:
        parsed = tuple(float(v) for v in (values if sep else text).split(",") if v.strip())
    except ValueError:
        raise ScalerError(f"malformed test-time scales {text!r}; valid: scales=0.5,0.75,1,1.25 or paper") from None
    return TTA(parsed, flip)


def _probabilities(model: nn.Module, images: torch.Tensor, size: tuple[int, int], flip: bool) -> torch.Tensor:
    """Class probabilities of `images` (already resized), mirrored back if `flip`, at `size`."""
    logits = model(torch.flip(images, dims=[-1]) if flip else images).float()
    if flip:
        logits = torch.flip(logits, dims=[-1])
    if tuple(logits.shape[-2:]) != size:
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return logits.softmax(dim=1)


def predict(model: nn.Module, images: torch.Tensor, tta: TTA = SINGLE_SCALE) -> torch.Tensor:
    """The model's output for a batch under `tta`: raw logits when single-scale, else averaged probabilities.

    Both have N x classes x H x W at the images' own size, so an argmax (the metrics) reads either.
    """
    if tta.is_single:
        return model(images)
    size = tuple(images.shape[-2:])
    total: torch.Tensor | None = None
    count = 0
    for scale in tta.scales:
        scaled = images
        if scale != 1.0:
            target = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
            scaled = F.interpolate(images, size=target, mode="bilinear", align_corners=False)
        for flip in ((False, True) if tta.flip else (False,)):
            probs = _probabilities(model, scaled, size, flip)
            total = probs if total is None else total + probs
            count += 1
    assert total is not None
    return total / count
