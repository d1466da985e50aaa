"""`scaler scale` off the default path (issue 16 item 3): ratio, flops budgets, custom directions, tolerance and
depth rounding change the solved network as documented, checked from the CLI's JSON."""
from __future__ import annotations

import json
import math

import pytest

from scaler import complexity
from scaler.families import base_spec
from scaler.rules import Factors, apply_factors
from scaler.spec import NetSpec

from tests.cli_helpers import run_cli

BASE = ("--base-width", "16", "--input", "128x128")
BASE_SPEC = base_spec("unet", width=16, input_size=(128, 128))


@pytest.fixture
def scale(capsys):
    def run(*args: str) -> list[dict]:
        out = run_cli(capsys, "scale", *args, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    return run


def _dwr(record: dict) -> tuple[float, float, float]:
    factors = record["factors"]
    return factors["depth"], factors["width"], factors["resolution"]


@pytest.mark.parametrize("ratio, expected", [("efficientnet", (1.2, 1.1, 1.15)), ("2,1.1,1.3", (2.0, 1.1, 1.3)),
                                             ("1.3,1.6,1.1", (1.3, 1.6, 1.1))])
def test_compound_moves_along_the_given_ratio(scale, ratio, expected):
    """Factors are (d^phi, w^phi, r^phi) of THAT ratio (to the 3 decimals reported), not of the paper's."""
    [record] = scale(*BASE, "--method", "compound", "--budget", "params=2x,macs=3x", "--ratio", ratio)
    phi = record["coefficient"]
    assert phi > 0
    assert _dwr(record) == pytest.approx(tuple(v ** phi for v in expected), abs=2e-3)
    [paper] = scale(*BASE, "--method", "compound", "--budget", "params=2x,macs=3x")
    assert _dwr(record) != _dwr(paper)


def test_a_flops_budget_solves_exactly_like_the_macs_budget(scale):
    """FLOPs = 2 x MACs, so flops=2x and macs=2x are the same limit: the same network, the same factors."""
    for method in ("depth", "width", "resolution", "compound", "asymmetric"):
        [by_flops] = scale(*BASE, "--method", method, "--budget", "flops=2x")
        [by_macs] = scale(*BASE, "--method", method, "--budget", "macs=2x")
        assert by_flops["spec"] == by_macs["spec"] and by_flops["factors"] == by_macs["factors"], method
        assert by_flops["flops"] == 2 * by_flops["macs"]
        assert by_flops["budgets"]["flops"]["limit"] == 2 * by_macs["budgets"]["macs"]["limit"]


@pytest.mark.parametrize("direction", ["encoder_width=1.3,decoder_width=1.0", "encoder_depth=2,resolution=1.2",
                                       "decoder_width=1.5"])
def test_custom_with_a_budget_fits_and_is_maximal(scale, direction):
    """Solved along the given direction: the network fits, and a step further along it does not."""
    [record] = scale(*BASE, "--method", "custom", "--factors", direction, "--budget", "params=2x")
    base_params = complexity(BASE_SPEC).params
    assert record["params"] <= 2 * base_params
    assert complexity(NetSpec.from_dict(record["spec"])).params == record["params"]
    names = dict(part.split("=") for part in direction.split(","))
    along = Factors.from_dict({k: float(v) for k, v in names.items()})
    further = apply_factors(BASE_SPEC, along ** (record["coefficient"] + 1e-3))
    assert complexity(further).params > 2 * base_params


def test_tolerance_lets_the_paper_depth_x2_fit(scale):
    """README: with --tolerance 0.01 depth x2 fits at 62,457,602 params (2.012x); strictly it stops below x2."""
    base = complexity(base_spec("unet")).params
    [strict] = scale("--method", "depth", "--budget", "params=2x")
    [tolerant] = scale("--method", "depth", "--budget", "params=2x", "--tolerance", "0.01")
    assert strict["factors"]["depth"] < 2.0 and strict["params"] <= 2 * base
    assert tolerant["factors"]["depth"] == 2.0 and tolerant["params"] == 62_457_602
    assert 2 * base < tolerant["params"] <= 2.02 * base


def test_depth_rounding_uniform_stops_at_three_units(scale):
    """README: uniform rounding moves every stage 2 -> 3 units at once, so params <= 2x stops at x1.5 (1.51x);
    stagewise adds units one at a time and goes further."""
    base = complexity(base_spec("unet")).params
    [uniform] = scale("--method", "depth", "--budget", "params=2x", "--depth-rounding", "uniform")
    [stagewise] = scale("--method", "depth", "--budget", "params=2x", "--depth-rounding", "stagewise")
    spec = NetSpec.from_dict(uniform["spec"])
    assert uniform["factors"]["depth"] == 1.5
    assert {s.depth for s in (*spec.encoder, *spec.decoder)} == {3}
    assert round(uniform["params"] / base, 2) == 1.51
    assert stagewise["factors"]["depth"] > uniform["factors"]["depth"] and stagewise["params"] > uniform["params"]
    assert math.isclose(stagewise["factors"]["depth"], 1.9)
