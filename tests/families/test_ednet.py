"""EDNet and its FCN-ResNet50 baseline keep the family contract with every ablation switch, and land near
the paper's parameter counts; the spatial branch and global pooling module scale with the encoder."""
from __future__ import annotations

import pytest

from scaler import base_spec, build, complexity
from scaler.families.ednet import SWITCHES, guide_widths
from scaler.rules import scale_width
from tests.families.contract import FamilyContract, numel

#: EDNet paper, Table 4, 21 classes (PASCAL VOC).
PAPER_EDNET = 30.11e6
PAPER_FCN_RESNET50 = 24.23e6
#: torchvision's ResNet-50 without its classifier (25,557,032 - 2048*1000 - 1000).
RESNET50_PARAMS = 23_508_032


class TestEDNet(FamilyContract):
    family = "ednet"
    variants = {"paper": {"preset": "paper"}, **{f"no-{s}": {s: False} for s in SWITCHES[:3]},
                "no-brm+resnet18+avgmax": {"brm": False, "encoder": "resnet18", "fusion_attention": "avgmax"}}
    bad_option = ("encoder", "resnet99", ("resnet18", "resnet50"))


class TestFCNResNet(FamilyContract):
    family = "fcn_resnet"
    variants = {"paper": {"preset": "paper"},
                "+sim+gpm+resnet18+max": {"sim": True, "gpm": True, "encoder": "resnet18", "fusion_attention": "max"}}
    bad_option = ("sim", "yes", ("True", "False"))


@pytest.mark.parametrize("family, paper", [("ednet", PAPER_EDNET), ("fcn_resnet", PAPER_FCN_RESNET50)])
def test_paper_preset_within_5_percent_of_the_paper(family, paper):
    params = complexity(base_spec(family, preset="paper")).params
    assert abs(params - paper) <= 0.05 * paper, params


def test_the_ablation_rows_add_one_module_each_from_the_baseline_to_ednet():
    rows = [complexity(base_spec("fcn_resnet", **{s: True for s in SWITCHES[:k]})).params for k in range(5)]
    assert all(a < b for a, b in zip(rows, rows[1:])), rows
    assert rows[0] == complexity(base_spec("fcn_resnet")).params
    assert rows[-1] == complexity(base_spec("ednet")).params  # all four on: EDNet itself


def test_encoder_is_torchvision_resnet50_plus_the_spatial_branch_and_global_pooling():
    model = build(base_spec("ednet"), "meta")
    assert numel(model.encoder.stages) == RESNET50_PARAMS
    assert numel(model.encoder) == RESNET50_PARAMS + numel(model.encoder.spatial) + numel(model.encoder.gpm)
    gpm, sim = guide_widths(base_spec("ednet"))
    assert (gpm, sim) == (192, (16, 24, 48, 96))
    assert model.encoder.gpm.conv.out_channels == gpm
    assert [b.conv[0].out_channels for b in model.encoder.spatial.blocks] == list(sim)


def test_spatial_branch_and_global_pooling_follow_encoder_width_not_decoder_width():
    spec = base_spec("ednet")
    assert guide_widths(scale_width(spec, 2.0, "decoder")) == guide_widths(spec)
    gpm, sim = guide_widths(scale_width(spec, 2.0, "encoder"))
    assert gpm == 2 * 192 and sim == (24, 48, 96, 192)


@pytest.mark.parametrize("encoder", ["resnet18", "resnet50"])
def test_both_encoders_build(encoder):
    spec = base_spec("ednet", encoder=encoder)
    assert complexity(spec).params == numel(build(spec, "meta"))
