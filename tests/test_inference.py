"""Test-time augmentation: each scale and the flip reach the model, come back at the image's size, and average."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scaler.errors import ScalerError
from scaler.families import base_spec, build
from scaler.inference import PAPER_SCALES, TTA, parse_tta, predict


class _LeftRight(nn.Module):
    """A model that is NOT flip-invariant: class 1's logit grows with the column index, times the input's mean."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        n, _, h, w = x.shape
        ramp = torch.linspace(-1, 1, w).expand(n, h, w) * (1 + x.mean(dim=1))
        return torch.stack([torch.zeros_like(ramp), ramp], dim=1)


def test_single_scale_is_the_plain_forward() -> None:
    model = build(base_spec("unet", width=4, levels=3, input_size=(32, 32), classes=3)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(predict(model, x, TTA()), model(x))


def test_flip_averages_the_mirrored_prediction() -> None:
    model = _LeftRight()
    x = torch.rand(1, 3, 4, 6)
    out = predict(model, x, TTA(flip=True))
    plain = model(x).softmax(1)
    mirrored = torch.flip(model(torch.flip(x, dims=[-1])), dims=[-1]).softmax(1)
    assert torch.allclose(out, (plain + mirrored) / 2)
    assert not torch.allclose(out, plain)  # the flip changed something: the test can tell it ran


def test_scales_reach_the_model_and_come_back_at_the_image_size() -> None:
    model = _LeftRight()
    x = torch.rand(2, 3, 20, 30)
    out = predict(model, x, TTA((0.5, 1.0, 1.5), flip=True))
    assert out.shape == (2, 2, 20, 30)
    assert model.sizes == [(10, 15), (10, 15), (20, 30), (20, 30), (30, 45), (30, 45)]
    assert torch.allclose(out.sum(dim=1), torch.ones(2, 20, 30))  # averaged probabilities
    half = F.interpolate(x, size=(10, 15), mode="bilinear", align_corners=False)
    expected_half = F.interpolate(model(half), size=(20, 30), mode="bilinear", align_corners=False).softmax(1)
    only_half = predict(model, x, TTA((0.5,)))
    assert torch.allclose(only_half, expected_half)


def test_a_real_network_takes_every_paper_scale() -> None:
    model = build(base_spec("unet", width=4, levels=3, input_size=(32, 32), classes=3)).eval()
    with torch.no_grad():
        out = predict(model, torch.randn(1, 3, 24, 40), TTA(PAPER_SCALES, flip=True))
    assert out.shape == (1, 3, 24, 40)


def test_parse() -> None:
    assert parse_tta(None) == TTA()
    assert parse_tta("paper", flip=True) == TTA(PAPER_SCALES, True)
    assert parse_tta("scales=0.5,1,2") == TTA((0.5, 1.0, 2.0))
    assert parse_tta("0.75,1.25").scales == (0.75, 1.25)
    assert TTA(PAPER_SCALES, True).describe() == "ms 0.5,0.75,1,1.25,1.5,1.75,2 + flip"
    for bad, message in (("sizes=1,2", "unknown test-time option 'sizes'"), ("scales=a,b", "malformed"),
                         ("scales=0,1", "invalid")):
        with pytest.raises(ScalerError, match=message):
            parse_tta(bad)
