"""EDNet keeps the family contract and lands near the paper's parameter count."""
from __future__ import annotations

import pytest

from scaler import base_spec, build, complexity
from tests.families.contract import FamilyContract

#: EDNet paper, 21 classes (PASCAL VOC).
PAPER_PARAMS = 30.11e6
#: torchvision's ResNet-50 without its classifier (25,557,032 - 2048*1000 - 1000).
RESNET50_PARAMS = 23_508_032


class TestEDNet(FamilyContract):
    family = "ednet"
    base_options = {"classes": 21}
    bad_option = ("encoder", "resnet99", ("resnet18", "resnet50"))


def test_base_params_within_5_percent_of_the_paper():
    params = complexity(base_spec("ednet", classes=21)).params
    assert abs(params - PAPER_PARAMS) <= 0.05 * PAPER_PARAMS, params


def test_encoder_is_torchvision_resnet50_sized():
    model = build(base_spec("ednet"), "meta")
    assert sum(p.numel() for p in model.encoder.parameters()) == RESNET50_PARAMS


@pytest.mark.parametrize("encoder", ["resnet18", "resnet50"])
def test_both_encoders_build(encoder):
    spec = base_spec("ednet", encoder=encoder)
    assert complexity(spec).params == sum(p.numel() for p in build(spec, "meta").parameters())
