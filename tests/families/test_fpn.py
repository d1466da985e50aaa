"""FPN (with and without the attention fusion) keeps the family contract."""
from __future__ import annotations

import pytest

from scaler import SpecError, StageSpec, base_spec, build, complexity
from tests.families.contract import FamilyContract


class TestFPN(FamilyContract):
    family = "fpn"
    base_options = {"encoder": "resnet50", "classes": 21}
    bad_option = ("encoder", "vgg16", ("resnet18", "resnet50"))


class TestFPNAttention(FamilyContract):
    family = "fpn"
    base_options = {"encoder": "resnet18", "fusion_attention": "max", "classes": 21}
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


def test_levels_must_share_one_width():
    spec = base_spec("fpn")
    uneven = spec.with_part("decoder", (StageSpec(1, 128, "fpn", 1), *spec.decoder[1:]))
    with pytest.raises(SpecError, match="one width"):
        build(uneven, "meta")
