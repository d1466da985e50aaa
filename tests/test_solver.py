"""The budget solver: largest factor whose ROUNDED network fits every budget; the paper's figures."""
from __future__ import annotations


import pytest

from scaler import Budget, BudgetError, base_spec, complexity, parse_budgets, scale, solve
from scaler.vocabulary import NAMED_METHODS

BASE = base_spec("unet", width=64, classes=2, input_size=(256, 512))
BASE_PARAMS = 31_037_698
GROWING = NAMED_METHODS[1:]  # every method that grows the network


def test_base_counts_are_the_papers():
    cost = complexity(BASE)
    assert cost.params == BASE_PARAMS
    assert cost.macs == pytest.approx(96.343e9, rel=1e-3)
    assert cost.flops == 2 * cost.macs


def test_width_under_2x_params_is_the_papers_1_4():
    sol = solve(BASE, "width", "params=2x")
    assert sol.factors.encoder_width == pytest.approx(1.40, abs=0.03)
    assert sol.factors.encoder_width == pytest.approx(1.414, abs=0.001)
    assert sol.cost.params / BASE_PARAMS == pytest.approx(1.988, abs=0.001)
    assert sol.binding == "params"


@pytest.mark.parametrize("policy, factor, units", [("uniform", 1.5, (3,) * 5), ("stagewise", 1.9, (4, 4, 4, 4, 3))])
def test_depth_under_2x_params_per_policy(policy, factor, units):
    sol = solve(BASE, "depth", "params=2x", depth_policy=policy)
    assert sol.factors.encoder_depth == pytest.approx(factor)
    assert tuple(s.depth for s in sol.spec.encoder) == units
    assert sol.cost.params <= 2 * BASE_PARAMS


def test_depth_x2_fits_with_one_percent_tolerance():
    strict = solve(BASE, "depth", "params=2x")
    tolerant = solve(BASE, "depth", "params=2x", tolerance=0.01)
    assert strict.factors.encoder_depth < 2.0
    assert tolerant.factors.encoder_depth == pytest.approx(2.0)
    assert tolerant.cost.params == 62_457_602
    assert tolerant.cost.params / BASE_PARAMS == pytest.approx(2.012, abs=0.001)


@pytest.mark.parametrize("policy", ["stagewise", "uniform"])
@pytest.mark.parametrize("budget", ["params=2x", "params=2x,macs=3x", "macs=2x", "activations=2.5x", "params=45M"])
@pytest.mark.parametrize("method", GROWING)
def test_every_variant_fits_every_budget_after_rounding(method, budget, policy):
    sol = solve(BASE, method, budget, depth_policy=policy)
    base_cost = complexity(BASE)
    for b in parse_budgets(budget):
        assert getattr(sol.cost, b.metric) <= b.resolve(base_cost)
    assert all(slack >= 0 for slack in sol.slack.values())
    assert complexity(sol.spec) == sol.cost


@pytest.mark.parametrize("method", ["width", "compound", "asymmetric", "depth"])
def test_solution_is_the_largest_that_fits(method):
    """One step further along the rule breaks the budget (the solver leaves nothing on the table)."""
    from scaler.rules import apply_factors, direction

    sol = solve(BASE, method, "params=2x")
    beyond = apply_factors(BASE, direction(method) ** (sol.coefficient + 0.02))
    assert complexity(beyond).params > 2 * BASE_PARAMS


def test_asymmetric_gets_larger_encoder_factors_than_compound():
    compound = solve(BASE, "asymmetric", "params=2x"), solve(BASE, "compound", "params=2x")
    asym, comp = compound
    assert asym.factors.encoder_width > comp.factors.encoder_width
    assert asym.factors.encoder_depth > comp.factors.encoder_depth
    assert asym.spec.decoder == BASE.decoder


def test_resolution_with_params_only_uses_the_stated_default():
    sol = solve(BASE, "resolution", "params=2x")
    assert sol.factors.resolution == pytest.approx(1.4)
    assert "no budget depends on resolution" in sol.note


def test_resolution_is_solved_by_a_macs_budget():
    sol = solve(BASE, "resolution", "macs=2x")
    assert sol.cost.macs <= 2 * complexity(BASE).macs
    assert sol.factors.resolution == pytest.approx(1.41, abs=0.03)
    assert sol.binding == "macs"


def test_two_budgets_the_tighter_binds():
    sol = solve(BASE, "width", "params=2x,macs=1.5x")
    assert sol.binding == "macs"
    assert sol.slack["macs"] < sol.slack["params"]


@pytest.mark.parametrize("text, needle", [
    ("params=0.5x", "below the base"),
    ("params=10M", "below the base"),
    ("params=2", None),
    ("watts=2x", "unknown budget metric 'watts'"),
    ("params=2y", "unknown unit"),
    ("params", "malformed budget"),
    ("params=-2x", "malformed budget"),
    ("params=0x", "positive"),
])
def test_bad_budgets_are_clear(text, needle):
    if needle is None:  # an absolute 2 params is legal to parse but below the base
        with pytest.raises(BudgetError, match="below the base"):
            solve(BASE, "width", text)
        return
    with pytest.raises(BudgetError, match=needle):
        solve(BASE, "width", text)


def test_budget_parsing():
    assert Budget.parse("params=2x") == Budget("params", multiple=2.0)
    assert Budget.parse("macs<=40G") == Budget("macs", limit=40e9)
    assert str(Budget.parse("params=60M")) == "params<=60.00M"


def test_explicit_factors_without_budget():
    assert scale(BASE, "depth", factor=2).cost.params == 62_457_602
    assert scale(BASE, "width", factor=1.4).factors.encoder_width == pytest.approx(1.4)
    awdr = scale(BASE, "asymmetric")
    assert awdr.factors.encoder_depth == pytest.approx(1.8) and awdr.factors.decoder_width == 1.0
