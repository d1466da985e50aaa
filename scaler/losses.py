"""Segmentation losses (cross-entropy, focal, dice and their sums) and inverse-frequency class weights.

Every loss maps logits [N, C, H, W] and an int64 target [N, H, W] to a scalar; pixels whose
target is the ignore index contribute nothing, and a batch with no valid pixel gives 0 (not NaN).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scaler.errors import ScalerError

__all__ = [
    "LOSSES",
    "ENET_C",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "SumLoss",
    "inverse_frequency_weights",
    "make_loss",
]

# c of the ENet class weighting w = 1 / ln(c + p) (Paszke et al. 2016, "ENet", sec. 5.2): with
# c = 1.02 the weight of a class is bounded by 1 / ln(1.02) ~= 50.5 however rare the class.
ENET_C = 1.02


def inverse_frequency_weights(counts: torch.Tensor, modified: bool = True) -> torch.Tensor:
    """Class weights from per-class pixel counts (see `scaler.data.class_pixel_counts`).

    Args:
        counts: pixel count per class, shape [num_classes], ignore pixels already excluded.
        modified: True gives the ENet weighting w_c = 1 / ln(1.02 + p_c) with p_c = count_c / total,
            bounded in (1/ln(2.02) ~= 1.42, 1/ln(1.02) ~= 50.5]; False gives plain inverse frequency
            w_c = total / (num_classes * count_c) (1 for every class when balanced).

    Returns:
        float32 weights [num_classes]. A class with zero count gets weight 0 in both modes: it never
        occurs in the training targets, and 0 keeps the weights finite.
    """
    counts = torch.as_tensor(counts)
    if counts.dim() != 1 or counts.numel() == 0:
        raise ScalerError(f"counts must be a non-empty 1-D tensor, got shape {tuple(counts.shape)}")
    counts = counts.to(torch.float64)
    if (counts < 0).any():
        raise ScalerError(f"counts must be >= 0, got {counts.tolist()}")
    total = counts.sum()
    if total <= 0:
        raise ScalerError(f"counts sum to zero, no class weights can be derived: {counts.tolist()}")
    present = counts > 0
    if modified:
        weights = 1.0 / torch.log(ENET_C + counts / total)
    else:
        weights = total / (counts.numel() * counts.clamp_min(1.0))
    return torch.where(present, weights, torch.zeros_like(weights)).to(torch.float32)


def _check_weights(class_weights: torch.Tensor | None, num_classes: int) -> torch.Tensor | None:
    """Validate class weights: float [num_classes], finite, non-negative."""
    if class_weights is None:
        return None
    weights = torch.as_tensor(class_weights, dtype=torch.float32)
    if weights.shape != (num_classes,):
        raise ScalerError(f"class_weights must have shape ({num_classes},), got {tuple(weights.shape)}")
    if not torch.isfinite(weights).all() or (weights < 0).any():
        raise ScalerError(f"class_weights must be finite and >= 0, got {weights.tolist()}")
    return weights


class CrossEntropyLoss(nn.Module):
    """Cross-entropy with optional class weights; torch's weighted mean, but 0 (not NaN) when nothing is valid.

    As in `torch.nn.CrossEntropyLoss`, the weighted sum is divided by the summed weights of the valid pixels.
    """

    def __init__(self, num_classes: int, ignore_index: int, class_weights: torch.Tensor | None = None) -> None:
        """Store the ignore index and the class weights (a buffer, so it follows `.to(device)`)."""
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.register_buffer("class_weights", _check_weights(class_weights, num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss."""
        total = F.cross_entropy(
            logits, target, weight=self.class_weights, ignore_index=self.ignore_index, reduction="sum"
        )
        valid = target != self.ignore_index
        if self.class_weights is None:
            denominator = valid.sum()
        else:
            denominator = (self.class_weights[torch.where(valid, target, 0)] * valid).sum()
        return total / denominator.clamp_min(torch.finfo(logits.dtype).tiny)


class FocalLoss(nn.Module):
    """Focal loss FL = -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017, "Focal Loss for Dense Object Detection").

    alpha_t is the class weight of the target class (1 when no weights are given). The sum is divided
    by the NUMBER of valid (non-ignore) pixels, not by the sum of their weights as weighted
    cross-entropy does: the weights then rescale the loss, and with gamma = 0 and uniform weights
    of 1 the loss equals cross-entropy exactly.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int,
        class_weights: torch.Tensor | None = None,
        gamma: float = 2.0,
    ) -> None:
        """Store the class weights (alpha) and the focusing parameter gamma >= 0."""
        super().__init__()
        if not gamma >= 0:
            raise ScalerError(f"focal gamma must be >= 0, got {gamma=}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.gamma = float(gamma)
        self.register_buffer("class_weights", _check_weights(class_weights, num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss."""
        valid = target != self.ignore_index
        safe_target = torch.where(valid, target, 0)
        log_pt = F.log_softmax(logits, dim=1).gather(1, safe_target.unsqueeze(1)).squeeze(1)
        loss = -log_pt
        if self.gamma != 0:
            loss = loss * (1 - log_pt.exp()).clamp_min(0).pow(self.gamma)
        if self.class_weights is not None:
            loss = loss * self.class_weights[safe_target]
        loss = torch.where(valid, loss, torch.zeros_like(loss))
        return loss.sum() / valid.sum().clamp_min(1)


class DiceLoss(nn.Module):
    """Soft multi-class dice loss, 1 - mean_c (2 sum p_c g_c + s) / (sum p_c + sum g_c + s), over softmax probabilities.

    Sums run over the whole batch and skip ignore pixels; the mean runs over the classes present in
    the batch target (an absent class would only add a constant near 1 or 0 depending on `smooth`).
    Class weights are not used by dice.
    """

    def __init__(self, num_classes: int, ignore_index: int, smooth: float = 1.0) -> None:
        """Store the ignore index and the smoothing term."""
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.smooth = float(smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss."""
        valid = target != self.ignore_index
        safe_target = torch.where(valid, target, 0)
        probs = F.softmax(logits.float(), dim=1) * valid.unsqueeze(1)
        # Per-class sums by scatter instead of a one-hot target: no [N, C, H, W] float copy of it.
        p_true = probs.gather(1, safe_target.unsqueeze(1)).flatten()
        flat_target = safe_target.flatten()
        intersection = torch.zeros(self.num_classes, device=logits.device).scatter_add(0, flat_target, p_true)
        truth = torch.zeros(self.num_classes, device=logits.device).scatter_add(0, flat_target, valid.flatten().float())
        predicted = probs.sum(dim=(0, 2, 3))
        dice = (2 * intersection + self.smooth) / (predicted + truth + self.smooth)
        present = truth > 0
        return ((1 - dice) * present).sum() / present.sum().clamp_min(1)


class SumLoss(nn.Module):
    """The unweighted sum of several losses (e.g. focal + dice)."""

    def __init__(self, *terms: nn.Module) -> None:
        """Keep the terms in order."""
        super().__init__()
        self.terms = nn.ModuleList(terms)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum of the terms."""
        return sum((term(logits, target) for term in self.terms[1:]), self.terms[0](logits, target))


def _ce(num_classes: int, ignore_index: int, class_weights: torch.Tensor | None, gamma: float) -> nn.Module:
    """Cross-entropy."""
    return CrossEntropyLoss(num_classes, ignore_index, class_weights)


def _focal(num_classes: int, ignore_index: int, class_weights: torch.Tensor | None, gamma: float) -> nn.Module:
    """Focal loss."""
    return FocalLoss(num_classes, ignore_index, class_weights, gamma)


def _dice(num_classes: int, ignore_index: int, class_weights: torch.Tensor | None, gamma: float) -> nn.Module:
    """Dice loss (class weights unused)."""
    return DiceLoss(num_classes, ignore_index)


def _focal_dice(num_classes: int, ignore_index: int, class_weights: torch.Tensor | None, gamma: float) -> nn.Module:
    """Focal + dice."""
    args = (num_classes, ignore_index, class_weights, gamma)
    return SumLoss(_focal(*args), _dice(*args))


def _ce_dice(num_classes: int, ignore_index: int, class_weights: torch.Tensor | None, gamma: float) -> nn.Module:
    """Cross-entropy + dice."""
    args = (num_classes, ignore_index, class_weights, gamma)
    return SumLoss(_ce(*args), _dice(*args))


# name -> constructor(num_classes, ignore_index, class_weights, gamma)
LOSSES = {"ce": _ce, "focal": _focal, "dice": _dice, "focal+dice": _focal_dice, "ce+dice": _ce_dice}


def make_loss(
    name: str,
    num_classes: int,
    ignore_index: int,
    class_weights: torch.Tensor | None = None,
    gamma: float = 2.0,
) -> nn.Module:
    """Build a loss module: logits [N, C, H, W], int64 target [N, H, W] -> scalar.

    Args:
        name: one of `LOSSES`: ce, focal, dice, focal+dice, ce+dice (sums are unweighted).
        num_classes: number of classes C.
        ignore_index: target value excluded from the loss.
        class_weights: optional [C] weights (e.g. `inverse_frequency_weights`), used by ce (torch's
            weighted mean) and focal (alpha; mean over valid pixels); dice ignores them.
        gamma: focal focusing parameter (gamma = 0 with no weights is cross-entropy).
    """
    if name not in LOSSES:
        raise ScalerError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    if num_classes < 1:
        raise ScalerError(f"num_classes must be >= 1, got {num_classes=}")
    return LOSSES[name](num_classes, ignore_index, class_weights, gamma)
