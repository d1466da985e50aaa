"""Rules are pure spec -> spec functions built from three primitives on a chosen part."""
from __future__ import annotations

import math

import pytest

from scaler import Factors, SpecError, apply_factors, base_spec, complexity
from scaler.rules import METHODS, direction, scale_depth, scale_resolution, scale_width

BASE = base_spec("unet", width=64, classes=2, input_size=(256, 512))


def test_rules_do_not_mutate_the_base():
    before = BASE.to_json()
    apply_factors(BASE, Factors.uniform(2.0, 1.4, 1.4))
    assert BASE.to_json() == before


def test_width_rounds_every_stage_and_keeps_classes():
    spec = scale_width(BASE, 1.4)
    assert [s.width for s in spec.encoder] == [88, 176, 360, 720, 1432]
    assert all(s.width % 8 == 0 for s in (*spec.encoder, *spec.decoder))
    assert spec.classes == BASE.classes


def test_depth_x2_is_the_papers_d_unet():
    spec = scale_depth(BASE, 2.0)
    assert all(s.depth == 4 for s in (*spec.encoder, *spec.decoder))
    assert complexity(spec).params == 62_457_602


def test_resolution_snaps_to_total_stride():
    spec = scale_resolution(BASE, 1.4)
    assert spec.input_size == (352, 720)
    assert all(side % BASE.total_stride == 0 for side in spec.input_size)
    assert complexity(spec).params == complexity(BASE).params


def test_encoder_only_scaling_keeps_the_decoder_records():
    spec = apply_factors(BASE, Factors(encoder_depth=1.8, encoder_width=1.16, resolution=1.4))
    assert spec.decoder == BASE.decoder
    assert spec.encoder != BASE.encoder


def test_per_part_factors_are_expressible():
    spec = apply_factors(BASE, Factors(encoder_width=1.3, decoder_width=1.0))
    assert spec.encoder[0].width == 80 and spec.decoder == BASE.decoder
    assert Factors(encoder_width=1.3).as_dict()["encoder"] == {"depth": 1.0, "width": 1.3}
    assert Factors.from_dict({"encoder": {"width": 1.3}, "resolution": 1.2}) == Factors(encoder_width=1.3, resolution=1.2)


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "x"])
def test_bad_factor_is_refused(bad):
    with pytest.raises(SpecError, match="factor"):
        Factors(encoder_width=bad)


def test_unknown_method_lists_valid():
    with pytest.raises(SpecError, match="valid: baseline, depth"):
        direction("diagonal")


def test_at_equal_factors_asymmetric_has_fewer_params_than_compound():
    compound = apply_factors(BASE, direction("compound"))
    asymmetric = apply_factors(BASE, direction("asymmetric"))
    assert complexity(asymmetric).params < complexity(compound).params
    assert set(METHODS) >= {"baseline", "depth", "width", "resolution", "compound", "asymmetric"}


def test_factors_power_walks_the_direction():
    paper = direction("compound")
    assert paper**0 == Factors()
    assert paper**1 == paper
    half = paper**0.5
    assert half.encoder_depth == pytest.approx(math.sqrt(1.8))
