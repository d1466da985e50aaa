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
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Estimate", "PairedComparison", "estimate", "paired_comparison", "t_cdf", "t_quantile", "LEVEL", "PowerLaw",
    "fit_power_law", "CurveFit", "fit_scaling_curve", "compare_predictions",
]

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


# -- scaling curves ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PowerLaw:
    """error(c) = floor + scale * c ** (-exponent), c the cost relative to the base network (c = 1 at the base).

    A saturating power law (Kaplan et al. 2020; Hestness et al. 2017): error falls as a power of the
    cost towards an irreducible floor. floor, scale >= 0 and exponent > 0.
    """

    floor: float
    scale: float
    exponent: float
    sse: float = math.nan

    def __call__(self, cost: float) -> float:
        """The predicted error at relative cost `cost`."""
        return self.floor + self.scale * cost ** (-self.exponent)


#: Exponents the fit tries (log-spaced), then refines around the best: cost curves of networks
#: reported in the literature have exponents between about 0.05 and 1.
_EXPONENTS = tuple(0.01 * 1.05 ** k for k in range(130))  # 0.01 .. ~5.6


def _fit_linear(costs: Sequence[float], errors: Sequence[float], exponent: float) -> tuple[float, float, float]:
    """For a fixed exponent: least-squares floor and scale (both >= 0) and the sum of squared residuals."""
    xs = [c ** (-exponent) for c in costs]
    n, sx, sy = len(xs), sum(xs), sum(errors)
    sxx, sxy = sum(x * x for x in xs), sum(x * y for x, y in zip(xs, errors))
    det = n * sxx - sx * sx
    if det > 1e-15:
        scale = (n * sxy - sx * sy) / det
        floor = (sy - scale * sx) / n
    else:
        scale, floor = 0.0, sy / n
    if scale < 0 or floor < 0:  # the constraint binds: the best of the two one-parameter fits
        only_floor = (sy / n, 0.0)
        only_scale = (0.0, max(sxy / sxx, 0.0) if sxx > 0 else 0.0)
        floor, scale = min((only_floor, only_scale), key=lambda p: sum(
            (p[0] + p[1] * x - y) ** 2 for x, y in zip(xs, errors)))
    sse = sum((floor + scale * x - y) ** 2 for x, y in zip(xs, errors))
    return floor, scale, sse


def fit_power_law(costs: Sequence[float], errors: Sequence[float]) -> PowerLaw:
    """The saturating power law through (relative cost, error) points, by least squares.

    Variable projection: for each exponent on a log grid the best floor and scale are linear least
    squares (with floor, scale >= 0); the exponent with the least residual is then refined by a
    golden-section search between its grid neighbours. Needs at least 3 points at 2+ distinct costs.
    """
    if len(costs) != len(errors) or len(costs) < 3 or len(set(costs)) < 2:
        raise ValueError(f"a power-law fit needs >= 3 points at >= 2 distinct costs, got costs={list(costs)}")
    scores = [(_fit_linear(costs, errors, e)[2], i) for i, e in enumerate(_EXPONENTS)]
    best = min(scores)[1]
    low, high = _EXPONENTS[max(best - 1, 0)], _EXPONENTS[min(best + 1, len(_EXPONENTS) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if _fit_linear(costs, errors, a)[2] <= _fit_linear(costs, errors, b)[2]:
            high = b
        else:
            low = a
    exponent = (low + high) / 2
    floor, scale, sse = _fit_linear(costs, errors, exponent)
    return PowerLaw(floor, scale, exponent, sse)


@dataclass(frozen=True)
class CurveFit:
    """A power law fitted to per-cost mean errors, with bootstrap refits for its uncertainty.

    `samples` are refits on resampled data: the seeds at each cost resampled with replacement when
    every cost has two or more, else the central fit's residuals resampled (one seed per cost).
    """

    law: PowerLaw
    samples: tuple[PowerLaw, ...]
    bootstrap: str
    level: float = LEVEL

    def predict(self, cost: float) -> Estimate:
        """The fitted error at `cost` with the bootstrap's percentile interval (mean = the central fit)."""
        values = sorted(s(cost) for s in self.samples)
        low, high = _percentiles(values, self.level)
        return Estimate(self.law(cost), math.nan, len(values), low, high, self.level)

    def parameter(self, name: str) -> Estimate:
        """One parameter (floor, scale, exponent) with its percentile interval."""
        values = sorted(getattr(s, name) for s in self.samples)
        low, high = _percentiles(values, self.level)
        return Estimate(getattr(self.law, name), math.nan, len(values), low, high, self.level)


def _percentiles(values: Sequence[float], level: float) -> tuple[float, float]:
    """The two-sided percentile interval of sorted `values`."""
    if not values:
        return math.nan, math.nan
    k = len(values) - 1
    return values[round(k * (1 - level) / 2)], values[round(k * (1 + level) / 2)]


def fit_scaling_curve(errors_by_cost: Mapping[float, Sequence[float]], resamples: int = 400,
                      seed: int = 0, level: float = LEVEL) -> CurveFit:
    """Fit error vs relative cost (cost -> the errors of its seeds) with bootstrap uncertainty."""
    rng = random.Random(seed)
    costs = sorted(errors_by_cost)
    groups = [[float(e) for e in errors_by_cost[c] if math.isfinite(float(e))] for c in costs]
    keep = [i for i, g in enumerate(groups) if g]
    costs, groups = [costs[i] for i in keep], [groups[i] for i in keep]
    means = [sum(g) / len(g) for g in groups]
    law = fit_power_law(costs, means)
    samples = []
    by_seed = all(len(g) >= 2 for g in groups)
    residuals = [m - law(c) for c, m in zip(costs, means)]
    for _ in range(resamples):
        if by_seed:
            data = [sum(rng.choice(g) for _ in g) / len(g) for g in groups]
        else:
            data = [law(c) + rng.choice(residuals) for c in costs]
        samples.append(fit_power_law(costs, data))
    return CurveFit(law, tuple(samples), "seeds resampled per cost" if by_seed else "residuals resampled", level)


def compare_predictions(a: CurveFit, a_cost: float, b: CurveFit, b_cost: float,
                        level: float = LEVEL) -> Estimate:
    """a's predicted error at a_cost minus b's at b_cost, with the percentile interval of the refit differences."""
    values = sorted(x(a_cost) - y(b_cost) for x, y in zip(a.samples, b.samples))
    low, high = _percentiles(values, level)
    return Estimate(a.law(a_cost) - b.law(b_cost), math.nan, len(values), low, high, level)
