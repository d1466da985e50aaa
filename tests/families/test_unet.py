"""The U-Net keeps the family contract, and its own checks run for build, complexity and solve alike."""
from __future__ import annotations

import pytest

from scaler import SpecError, base_spec, build, complexity, solve
from scaler.spec import NetSpec, StageSpec
from tests.families.contract import FamilyContract


class TestUNet(FamilyContract):
    family = "unet"
    variants = {"paper": {"preset": "paper", "width": 64, "classes": 2, "input_size": (256, 512)},
                "bilinear+avg": {"width": 64, "classes": 2, "input_size": (256, 512), "upsample": "bilinear",
                                 "fusion_attention": "avg"}}
    small_width_factor = 1 / 4
    bad_option = ("activation", "gelu", ("elu", "relu"))


def _from_json(**changes) -> NetSpec:
    """The paper's U-Net as a JSON file would bring it, with `changes` to its record."""
    data = base_spec("unet").to_dict()
    data.update(changes)
    return NetSpec.from_json(NetSpec.from_dict(data).to_json())


@pytest.mark.parametrize("case", ["3 decoder stages for 5 encoder stages", "a bad block", "a stride that misses"])
def test_complexity_and_solve_refuse_what_build_refuses(case):
    spec = base_spec("unet")
    decoder = [vars(s).copy() for s in spec.decoder]
    if case.startswith("3"):
        decoder = decoder[:3]
    elif case == "a bad block":
        decoder[1]["block"] = "dense"
    else:
        decoder[0]["stride"] = 4
    broken = _from_json(decoder=decoder)
    messages = []
    for use in (lambda: build(broken, "meta"), lambda: complexity(broken), lambda: solve(broken, "width", "params=2x")):
        with pytest.raises(SpecError) as info:
            use()
        messages.append(str(info.value))
    assert len(set(messages)) == 1  # one check, one message, whichever door the spec comes through


def test_attention_is_left_out_of_the_spec_when_off():
    assert "fusion_attention" not in base_spec("unet").opts
    assert base_spec("unet", fusion_attention="max").option("fusion_attention") == "max"
    assert base_spec("unet").decoder == (StageSpec(2, 512, "conv", 2), StageSpec(2, 256, "conv", 2),
                                        StageSpec(2, 128, "conv", 2), StageSpec(2, 64, "conv", 2))
