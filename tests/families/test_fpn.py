"""FPN and UperNet (with and without the attention fusion) keep the family contract."""
from __future__ import annotations

import pytest

from scaler import SpecError, StageSpec, base_spec, build, complexity
from tests.families.contract import FamilyContract, numel


class TestFPN(FamilyContract):
    family = "fpn"
    variants = {"resnet18+max": {"encoder": "resnet18", "fusion_attention": "max", "classes": 21},
                "paper": {"preset": "paper"}}
    bad_option = ("encoder", "vgg16", ("resnet18", "resnet50"))


class TestUperNet(FamilyContract):
    family = "upernet"
    variants = {"resnet18+avgmax": {"encoder": "resnet18", "fusion_attention": "avgmax", "classes": 21},
                "paper": {"preset": "paper"}}
    bad_option = ("fusion_attention", "mean", ("avg", "max", "avgmax"))


@pytest.mark.parametrize("encoder", ["resnet18", "resnet50"])
def test_attention_adds_zero_params_and_exactly_its_macs(encoder):
    size = (512, 640)
    plain = base_spec("fpn", encoder=encoder, input_size=size)
    attended = base_spec("fpn", encoder=encoder, fusion_attention="avgmax", input_size=size)
    a, b = complexity(plain), complexity(attended)
    positions = [(size[0] // s) * (size[1] // s) for s in (16, 8, 4)]  # the three top-down upsamplings
    positions += [(size[0] // 4) * (size[1] // 4)] * 3  # the three levels upsampled to stride 4 for the merge
    assert b.params == a.params
    assert b.macs - a.macs == 256 * sum(positions)
    assert b.activations - a.activations == sum(positions)
    kinds = {row.kind for row in b.layers} - {row.kind for row in a.layers}
    assert kinds == {"attention"}


def test_upernet_attends_the_ppm_cells_the_top_down_path_and_the_merge():
    size = (512, 640)
    a = complexity(base_spec("upernet", input_size=size))
    b = complexity(base_spec("upernet", fusion_attention="avg", input_size=size))
    positions = [(size[0] // 32) * (size[1] // 32)] * 3  # the PPM's 2, 3 and 6 cell maps (not the broadcast)
    positions += [(size[0] // s) * (size[1] // s) for s in (16, 8, 4)]
    positions += [(size[0] // 4) * (size[1] // 4)] * 3
    assert (b.params, b.macs - a.macs, b.activations - a.activations) == (a.params, 512 * sum(positions),
                                                                          sum(positions))


def test_upernet_head_is_mmsegmentations_uperhead_shape():
    model = build(base_spec("upernet"), "meta")
    ppm = model.decoder.stages[0]
    assert [b.size for b in ppm.branches] == [1, 2, 3, 6]
    assert ppm.units[0][0].in_channels == 2048 + 4 * 512  # the feature and four pooled maps
    assert model.decoder.fuse[0].in_channels == 4 * 512 and model.decoder.fuse[0].kernel_size == (3, 3)
    assert all(level.lateral[0].kernel_size == (1, 1) for level in model.decoder.stages[1:])  # conv-BN-ReLU
    assert numel(model.encoder) == 23_508_032


@pytest.mark.parametrize("family", ["fpn", "upernet"])
def test_levels_must_share_one_width(family):
    spec = base_spec(family)
    uneven = spec.with_part("decoder", (StageSpec(1, 128, spec.decoder[0].block, 1), *spec.decoder[1:]))
    with pytest.raises(SpecError, match="one width"):
        build(uneven, "meta")
