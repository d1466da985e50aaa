"""Specs: validation on construction and JSON round trip."""
from __future__ import annotations

import pytest

from scaler import NetSpec, SpecError, StageSpec, base_spec


def test_json_round_trip_is_exact():
    spec = base_spec("unet", width=32, classes=19, input_size=(128, 256), activation="relu", upsample="bilinear")
    again = NetSpec.from_json(spec.to_json())
    assert again == spec
    assert hash(again) == hash(spec)


def test_from_json_accepts_a_scale_record():
    spec = base_spec("unet")
    assert NetSpec.from_json('{"method": "width", "spec": ' + spec.to_json() + "}") == spec


@pytest.mark.parametrize("kwargs, needle", [
    (dict(depth=0, width=8), "depth"),
    (dict(depth=2, width=-8), "width"),
    (dict(depth=2, width=8, stride=0), "stride"),
    (dict(depth=2.5, width=8), "depth"),
])
def test_bad_stage_is_refused(kwargs, needle):
    with pytest.raises(SpecError, match=needle):
        StageSpec(**kwargs)


def test_bad_spec_values_are_refused():
    stage = StageSpec(2, 8)
    with pytest.raises(SpecError, match="classes"):
        NetSpec("unet", 3, 0, (32, 32), (stage,), ())
    with pytest.raises(SpecError, match="input_size"):
        NetSpec("unet", 3, 2, (0, 32), (stage,), ())
    with pytest.raises(SpecError, match="encoder stage"):
        NetSpec("unet", 3, 2, (32, 32), (), ())


def test_unknown_json_key_names_it():
    with pytest.raises(SpecError, match="colour"):
        NetSpec.from_dict({**base_spec("unet").to_dict(), "colour": 1})


def test_unknown_family_lists_valid_ones():
    with pytest.raises(SpecError, match=r"unknown model family 'xnet'; valid: .*unet"):
        base_spec("xnet")


def test_unknown_option_value_lists_valid_ones():
    with pytest.raises(SpecError, match=r"activation 'gelu'; valid: elu, relu"):
        base_spec("unet", activation="gelu")
