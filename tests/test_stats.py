"""Intervals over seeds: the t distribution against published tables, and both branches of a paired comparison."""
from __future__ import annotations

import math

import pytest

from scaler.stats import estimate, paired_comparison, t_cdf, t_quantile

# Two-sided 95% critical values t_{0.975, df} (any statistics table) and t_{0.95, df}.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 29: 2.045, 1000: 1.962}
T95 = {2: 2.920, 4: 2.132, 10: 1.812}


@pytest.mark.parametrize("df,value", T975.items())
def test_t_quantile_matches_the_tables(df, value) -> None:
    assert t_quantile(0.975, df) == pytest.approx(value, abs=1.5e-3)
    assert t_quantile(0.025, df) == pytest.approx(-value, abs=1.5e-3)


@pytest.mark.parametrize("df,value", T95.items())
def test_one_sided_quantiles_and_cdf_invert(df, value) -> None:
    assert t_quantile(0.95, df) == pytest.approx(value, abs=1.5e-3)
    assert t_cdf(value, df) == pytest.approx(0.95, abs=2e-4)
    assert t_cdf(0.0, df) == pytest.approx(0.5)


def test_estimate_of_three_seeds() -> None:
    est = estimate([80.0, 82.0, 84.0])
    assert (est.mean, est.std, est.n) == (82.0, 2.0, 3)
    half = 4.303 * 2.0 / math.sqrt(3)  # t_{0.975,2} s / sqrt(n)
    assert est.low == pytest.approx(82.0 - half, abs=2e-3) and est.high == pytest.approx(82.0 + half, abs=2e-3)


def test_one_seed_has_no_interval() -> None:
    est = estimate([80.0, math.nan])
    assert est.n == 1 and est.mean == 80.0 and math.isnan(est.low) and math.isnan(est.std)


def test_a_consistent_paired_gain_is_established() -> None:
    # B is noisy across seeds, but A beats it by 1.0 +- 0.1 on every seed: the pairing removes the seed effect.
    b = {0: 70.0, 1: 75.0, 2: 80.0}
    a = {0: 71.0, 1: 76.1, 2: 80.9}
    cmp = paired_comparison("AWDR", a, "WDR", b)
    assert cmp.established and cmp.difference.mean == pytest.approx(1.0)
    assert cmp.difference.low > 0 and cmp.p_value < 0.01
    assert cmp.verdict().startswith("AWDR beats WDR")
    # the same values unpaired overlap completely: separate intervals would claim nothing
    assert estimate(list(a.values())).low < estimate(list(b.values())).high


def test_a_difference_within_noise_is_not_distinguishable() -> None:
    cmp = paired_comparison("A", {0: 80.0, 1: 82.0, 2: 79.0}, "B", {0: 81.0, 1: 80.5, 2: 79.5})
    assert not cmp.established and cmp.difference.low < 0 < cmp.difference.high
    assert "not distinguishable with 3 seeds" in cmp.verdict()


def test_only_common_seeds_are_paired() -> None:
    cmp = paired_comparison("A", {0: 1.0, 1: 2.0, 5: 9.0}, "B", {0: 0.0, 1: 0.5, 2: 3.0})
    assert cmp.seeds == (0, 1) and cmp.n == 2
    single = paired_comparison("A", {0: 1.0}, "B", {0: 0.0, 1: 1.0})
    assert not single.established and "1 common seed" in single.verdict()
