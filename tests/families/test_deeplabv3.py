"""DeepLabV3 (with the attention fusion at its ASPP fusion) and V3+ keep the family contract."""
from __future__ import annotations

import pytest

from scaler import base_spec, build, complexity
from scaler.rules import scale_resolution
from tests.families.contract import FamilyContract


class TestDeepLabV3(FamilyContract):
    family = "deeplabv3"
    variants = {"v3": {"encoder": "resnet50", "classes": 21}, "paper": {"preset": "paper"}}
    bad_option = ("encoder", "resnet99", ("resnet18", "resnet50"))


class TestDeepLabV3PlusAttention(FamilyContract):
    family = "deeplabv3"
    variants = {"v3plus+avgmax": {"encoder": "resnet18", "decoder": "v3plus", "fusion_attention": "avgmax",
                                  "classes": 21}}
    bad_option = ("fusion_attention", "sum", ("avg", "max", "avgmax"))


@pytest.mark.parametrize("mode", ["avg", "max", "avgmax"])
def test_attention_adds_zero_params_and_exactly_its_macs(mode):
    plain = base_spec("deeplabv3", decoder="v3plus", input_size=(512, 768))
    attended = base_spec("deeplabv3", decoder="v3plus", fusion_attention=mode, input_size=(512, 768))
    a, b = complexity(plain), complexity(attended)
    positions = (512 // 4) * (768 // 4)  # the ASPP output upsampled to stride 4
    assert b.params == a.params
    assert b.macs - a.macs == 256 * positions  # C*H*W: the similarity of the pooled and the upsampled feature
    assert b.activations - a.activations == positions


@pytest.mark.parametrize("mode", ["avg", "max", "avgmax"])
def test_plain_v3_attends_its_aspp_fusion(mode):
    """DeepLabV3's one upsampling before a fusion is the image-pooling broadcast: the attention attends the
    concatenation it joins, 5 branches x 256 channels at stride 16."""
    plain = base_spec("deeplabv3", input_size=(512, 768))
    attended = base_spec("deeplabv3", fusion_attention=mode, input_size=(512, 768))
    a, b = complexity(plain), complexity(attended)
    positions = (512 // 16) * (768 // 16)
    assert b.params == a.params
    assert b.macs - a.macs == 5 * 256 * positions
    assert b.activations - a.activations == positions
    assert build(attended, "meta").decoder.stages[0].aspp.attention.mode == mode


def test_output_stride_trades_stride_for_dilation():
    os16, os8 = base_spec("deeplabv3", output_stride=16), base_spec("deeplabv3", output_stride=8)
    assert (os16.total_stride, os8.total_stride) == (16, 8)
    assert complexity(os16).params == complexity(os8).params
    assert complexity(os8).macs > 3 * complexity(os16).macs
    assert os16.option("aspp_rates") == (6, 12, 18) and os8.option("aspp_rates") == (12, 24, 36)
    assert scale_resolution(os16, 1.4).input_size == (720, 720)  # snapped to the stride-16 multiple


def test_v3_matches_torchvision_deeplabv3_resnet50_but_the_pooling_bn():
    # torchvision's deeplabv3_resnet50 lists 42,004,074 params (21 classes, with the aux head); less its
    # aux FCNHead(1024) (2,365,205) and less 256 for the image-pooling branch, where torchvision has a
    # bias-free conv + BN (512) and ours a conv with bias (256).
    spec = base_spec("deeplabv3", encoder="resnet50", classes=21)
    assert complexity(spec).params == 42_004_074 - 2_365_205 - 256
    assert sum(p.numel() for p in build(spec, "meta").parameters()) == complexity(spec).params
