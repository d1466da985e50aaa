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


def test_power_law_fit_recovers_a_known_curve() -> None:
    from scaler.stats import PowerLaw, fit_power_law

    truth = PowerLaw(0.12, 0.3, 0.7)
    costs = [1.0, 1.25, 1.5, 2.0, 3.0, 4.0]
    law = fit_power_law(costs, [truth(c) for c in costs])
    assert (law.floor, law.scale, law.exponent) == pytest.approx((0.12, 0.3, 0.7), rel=1e-3)
    assert law(8.0) == pytest.approx(truth(8.0), rel=1e-4)  # extrapolation beyond the points


def test_power_law_fit_keeps_floor_and_scale_non_negative() -> None:
    from scaler.stats import fit_power_law

    rising = fit_power_law([1.0, 2.0, 3.0, 4.0], [0.2, 0.25, 0.3, 0.35])  # error growing with cost
    assert rising.floor >= 0 and rising.scale >= 0
    with pytest.raises(ValueError, match="at least|>= 3 points"):
        fit_power_law([1.0, 1.0, 1.0], [0.3, 0.2, 0.1])


def test_bootstrap_intervals_cover_the_truth_and_shrink_with_seeds() -> None:
    import random

    from scaler.stats import PowerLaw, compare_predictions, fit_scaling_curve

    truth, rng = PowerLaw(0.2, 0.25, 0.8), random.Random(1)
    costs = [1.0, 1.25, 1.5, 2.0, 3.0]
    noisy = {c: [truth(c) + rng.gauss(0, 0.01) for _ in range(3)] for c in costs}
    fit = fit_scaling_curve(noisy, resamples=200)
    assert fit.bootstrap == "seeds resampled per cost"
    at6 = fit.predict(6.0)
    assert at6.low <= at6.mean <= at6.high and at6.low < truth(6.0) + 0.03 and at6.high > truth(6.0) - 0.03
    single = fit_scaling_curve({c: v[:1] for c, v in noisy.items()}, resamples=200)
    assert single.bootstrap == "residuals resampled"
    # a curve 5 points worse everywhere is distinguishable; the same curve against itself is not
    worse = fit_scaling_curve({c: [e + 0.05 for e in v] for c, v in noisy.items()}, resamples=200)
    gap = compare_predictions(worse, 4.0, fit, 4.0)
    assert gap.low > 0 and gap.mean == pytest.approx(0.05, abs=0.01)
    same = compare_predictions(fit, 4.0, fit_scaling_curve(noisy, resamples=200, seed=7), 4.0)
    assert same.low < 0 < same.high
