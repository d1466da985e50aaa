"""Losses: focal reduces to cross-entropy, ignore pixels never count, weights are finite."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from scaler.errors import ScalerError
from scaler.losses import LOSSES, FocalLoss, inverse_frequency_weights, make_loss

C, IGNORE = 4, 255


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits [2, C, 5, 6] and a target with a few ignore pixels."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, C, 5, 6, generator=generator) * 2
    target = torch.randint(0, C, (2, 5, 6), generator=generator)
    target[0, 0, :3] = IGNORE
    target[1, 4, 4:] = IGNORE
    return logits, target


def test_focal_with_gamma_zero_and_no_weights_is_cross_entropy(batch):
    logits, target = batch
    expected = F.cross_entropy(logits, target, ignore_index=IGNORE)
    assert FocalLoss(C, IGNORE, gamma=0.0)(logits, target) == pytest.approx(expected.item(), rel=1e-6)
    uniform = FocalLoss(C, IGNORE, class_weights=torch.ones(C), gamma=0.0)
    assert uniform(logits, target) == pytest.approx(expected.item(), rel=1e-6)


def test_focal_weights_normalise_by_valid_pixel_count(batch):
    logits, target = batch
    weights = torch.tensor([0.5, 1.0, 2.0, 4.0])
    weighted_sum = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE, reduction="sum")
    valid = (target != IGNORE).sum()
    focal = FocalLoss(C, IGNORE, class_weights=weights, gamma=0.0)(logits, target)
    assert focal.item() == pytest.approx((weighted_sum / valid).item(), rel=1e-6)


def test_focal_single_pixel_matches_the_formula():
    logits = torch.tensor([2.0, 0.0]).view(1, 2, 1, 1)
    p = math.exp(2) / (math.exp(2) + 1)
    loss = FocalLoss(2, IGNORE, class_weights=torch.tensor([0.25, 1.0]), gamma=2.0)(logits, torch.zeros(1, 1, 1).long())
    assert loss.item() == pytest.approx(-0.25 * (1 - p) ** 2 * math.log(p), rel=1e-5)


def test_focal_down_weights_easy_pixels(batch):
    logits, target = batch
    assert FocalLoss(C, IGNORE, gamma=2.0)(logits, target) < FocalLoss(C, IGNORE, gamma=0.0)(logits, target)


def test_ce_matches_torch_weighted_mean(batch):
    logits, target = batch
    weights = torch.tensor([0.5, 1.0, 2.0, 4.0])
    expected = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE)
    assert make_loss("ce", C, IGNORE, class_weights=weights)(logits, target).item() == pytest.approx(expected.item())


def test_dice_uniform_prediction_by_hand():
    # two pixels, classes 0 and 1, p = 0.5 everywhere: dice_c = (2*0.5 + 1) / (1 + 1 + 1) = 2/3
    loss = make_loss("dice", 2, IGNORE)(torch.zeros(1, 2, 1, 2), torch.tensor([[[0, 1]]]))
    assert loss.item() == pytest.approx(1 / 3)


def test_dice_near_zero_for_a_confident_correct_prediction(batch):
    _, target = batch
    logits = F.one_hot(target.clamp_max(C - 1), C).permute(0, 3, 1, 2).float() * 30
    assert make_loss("dice", C, IGNORE)(logits, target).item() < 1e-3


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_is_a_finite_scalar_with_gradients(name, batch):
    logits, target = batch
    logits.requires_grad_(True)
    loss = make_loss(name, C, IGNORE, class_weights=torch.tensor([1.0, 2.0, 0.0, 3.0]))(logits, target)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", list(LOSSES))
def test_ignore_pixels_do_not_change_loss_or_get_gradient(name, batch):
    logits, target = batch
    ignored = (target == IGNORE).unsqueeze(1).expand_as(logits)
    noise = 7.0 * torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))
    changed = torch.where(ignored, logits + noise, logits).requires_grad_(True)  # only ignored pixels differ
    loss_fn = make_loss(name, C, IGNORE)
    assert loss_fn(changed, target).item() == pytest.approx(loss_fn(logits, target).item(), rel=1e-6)
    loss_fn(changed, target).backward()
    assert changed.grad[ignored].abs().max() == 0


@pytest.mark.parametrize("name", list(LOSSES))
def test_all_ignore_batch_gives_zero_not_nan(name):
    target = torch.full((1, 3, 3), IGNORE)
    loss = make_loss(name, C, IGNORE, class_weights=torch.ones(C))(torch.randn(1, C, 3, 3), target)
    assert loss.item() == 0.0


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ScalerError, match=r"unknown loss 'bce'; valid: ce, focal, dice, focal\+dice, ce\+dice"):
        make_loss("bce", C, IGNORE)


def test_bad_weights_and_gamma_are_rejected():
    with pytest.raises(ScalerError, match=r"shape \(4,\)"):
        make_loss("ce", C, IGNORE, class_weights=torch.ones(3))
    with pytest.raises(ScalerError, match="finite"):
        make_loss("focal", C, IGNORE, class_weights=torch.tensor([1.0, math.inf, 1.0, 1.0]))
    with pytest.raises(ScalerError, match="gamma"):
        make_loss("focal", C, IGNORE, gamma=-1.0)


def test_class_weights_follow_the_module_to_another_dtype():
    loss = make_loss("focal", C, IGNORE, class_weights=torch.ones(C)).to(torch.float64)
    assert loss.class_weights.dtype == torch.float64


def test_modified_inverse_frequency_is_enet_formula():
    weights = inverse_frequency_weights(torch.tensor([100, 300, 0, 600]))
    expected = [1 / math.log(1.02 + 0.1), 1 / math.log(1.02 + 0.3), 0.0, 1 / math.log(1.02 + 0.6)]
    assert weights.tolist() == pytest.approx(expected, rel=1e-6)
    assert weights.dtype == torch.float32


def test_plain_inverse_frequency_and_zero_counts_stay_finite():
    weights = inverse_frequency_weights(torch.tensor([100, 300, 0, 600]), modified=False)
    assert weights.tolist() == pytest.approx([1000 / 400, 1000 / 1200, 0.0, 1000 / 2400], rel=1e-6)
    assert torch.isfinite(weights).all()
    assert inverse_frequency_weights(torch.tensor([5, 5]), modified=False).tolist() == [1.0, 1.0]


def test_inverse_frequency_rejects_empty_counts():
    with pytest.raises(ScalerError, match="sum to zero"):
        inverse_frequency_weights(torch.zeros(3))
