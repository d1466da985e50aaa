"""Uncertainty over seeds: means with confidence intervals, and paired comparisons between networks.

Why a paired t-interval (and not a bootstrap): tables here have 2 to 5 seeds per network. A
bootstrap over 3 values has only 10 distinct resamples and its percentile interval is far too
narrow; Student's t-interval is exact when the per-seed values (or, paired, the per-seed
differences) are normal, and honest about small n through its degrees of freedom (t_0.975 = 4.30
with 3 seeds). Pairing by seed removes what two networks trained with the same seed share (data
order, augmentation stream), so a paired difference is often established where two separate
intervals overlap. With one seed no interval exists: every interval is NaN and nothing is claimed.

No SciPy: the t distribution's CDF is the regularized incomplete beta function (continued fraction,
Numerical Recipes 6.4), inverted by bisection; tests check it against published t tables.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Estimate", "PairedComparison", "estimate", "paired_comparison", "t_cdf", "t_quantile", "LEVEL"]

#: The confidence level of every interval the toolkit prints.
LEVEL = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p (bisection on the CDF to 1e-12)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got {p=} {df=}")
    low, high = -1e3, 1e3
    for _ in range(200):
        mid = (low + high) / 2.0
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
        if high - low < 1e-12:
            break
    return (low + high) / 2.0


@dataclass(frozen=True)
class Estimate:
    """A mean over n seeds with its sample std (n - 1) and a two-sided confidence interval (NaN for n < 2)."""

    mean: float
    std: float
    n: int
    low: float
    high: float
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN without an interval)."""
        return (self.high - self.low) / 2.0


def estimate(values: Sequence[float], level: float = LEVEL) -> Estimate:
    """Mean, sample std and the t-interval of the mean of `values` (NaNs dropped)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return Estimate(math.nan, math.nan, 0, math.nan, math.nan, level)
    mean = sum(xs) / n
    if n < 2:
        return Estimate(mean, math.nan, 1, math.nan, math.nan, level)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * std / math.sqrt(n)
    return Estimate(mean, std, n, mean - half, mean + half, level)


@dataclass(frozen=True)
class PairedComparison:
    """A minus B over the seeds both have: the mean difference, its t-interval, and a two-sided p-value."""

    a: str
    b: str
    seeds: tuple[int, ...]
    difference: Estimate
    p_value: float
    method: str = "paired t-test over seeds"

    @property
    def n(self) -> int:
        """Seeds both networks completed."""
        return len(self.seeds)

    @property
    def established(self) -> bool:
        """The interval excludes zero: the sign of the difference is supported at the interval's level."""
        d = self.difference
        return d.n >= 2 and math.isfinite(d.low) and (d.low > 0 or d.high < 0)

    def verdict(self, unit: str = "points") -> str:
        """One sentence a report may print: a winner only where the interval excludes zero."""
        d = self.difference
        if d.n < 2:
            return f"{self.a} vs {self.b}: not distinguishable with {d.n} common seed(s) (no interval)"
        interval = f"{d.mean:+.2f} {unit} [{d.low:+.2f}, {d.high:+.2f}] ({d.level:.0%} CI, n={d.n}, p={self.p_value:.3f})"
        if not self.established:
            return f"{self.a} vs {self.b}: not distinguishable with {d.n} seeds: {interval}"
        winner, loser = (self.a, self.b) if d.mean > 0 else (self.b, self.a)
        return f"{winner} beats {loser}: {self.a} - {self.b} = {interval}"


def paired_comparison(a: str, a_by_seed: Mapping[int, float], b: str, b_by_seed: Mapping[int, float],
                      level: float = LEVEL) -> PairedComparison:
    """Compare two networks on the seeds both completed: per-seed differences a - b, t-interval and p-value."""
    seeds = tuple(sorted(s for s in a_by_seed if s in b_by_seed and all(
        v is not None and math.isfinite(float(v)) for v in (a_by_seed[s], b_by_seed[s]))))
    diffs = [float(a_by_seed[s]) - float(b_by_seed[s]) for s in seeds]
    diff = estimate(diffs, level)
    if diff.n < 2:
        p_value = math.nan
    elif diff.std == 0.0:
        p_value = 0.0 if diff.mean != 0.0 else 1.0
    else:
        t = diff.mean / (diff.std / math.sqrt(diff.n))
        p_value = 2.0 * (1.0 - t_cdf(abs(t), diff.n - 1))
    return PairedComparison(a, b, seeds, diff, p_value)
