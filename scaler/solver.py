"""Budget solver: the largest coefficient along a rule whose ROUNDED network fits every budget."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from scaler.complexity import Complexity, complexity
from scaler.errors import BudgetError, SpecError
from scaler.rules import METHODS, PAPER_RATIO, Factors, apply_factors, direction
from scaler.spec import NetSpec

__all__ = ["Budget", "Solution", "parse_budgets", "solve", "scale", "format_count", "DEFAULT_RESOLUTION"]

#: Used for the resolution rule when no budget depends on resolution (params does not): the paper's R x1.4.
DEFAULT_RESOLUTION = 1.4
METRICS = ("params", "macs", "flops", "activations")
_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_BUDGET_RE = re.compile(r"^\s*(\w+)\s*(?:<=|=)\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([a-z]?)\s*$", re.I)


def format_count(value: float) -> str:
    """A count with a K/M/G/T suffix, e.g. 31.04M."""
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:g}"


@dataclass(frozen=True)
class Budget:
    """One budget: `metric` <= `multiple` x base (relative) or <= `limit` (absolute)."""

    metric: str
    multiple: float | None = None
    limit: float | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise BudgetError(f"unknown budget metric {self.metric!r}; valid: {', '.join(METRICS)}")
        value = self.multiple if self.limit is None else self.limit
        if (self.multiple is None) == (self.limit is None) or value is None or not math.isfinite(value) or value <= 0:
            raise BudgetError(f"budget {self.metric} needs one positive finite multiple or limit, "
                              f"got multiple={self.multiple!r} limit={self.limit!r}")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """Parse "params=2x", "macs<=40G", "activations=1.5x" or "params=60M"."""
        match = _BUDGET_RE.match(text)
        if not match:
            raise BudgetError(f"malformed budget {text!r}; valid: METRIC=Nx or METRIC=N[K|M|G|T] with "
                              f"METRIC one of {', '.join(METRICS)}, e.g. params=2x, macs=40G")
        metric, number, suffix = match.group(1).lower(), float(match.group(2)), match.group(3).lower()
        if metric not in METRICS:
            raise BudgetError(f"unknown budget metric {metric!r} in {text!r}; valid: {', '.join(METRICS)}")
        if suffix == "x":
            return cls(metric, multiple=number)
        if suffix not in _SUFFIX:
            raise BudgetError(f"unknown unit {suffix!r} in budget {text!r}; valid: x, K, M, G, T")
        return cls(metric, limit=number * _SUFFIX[suffix])

    def resolve(self, base: Complexity) -> float:
        """The absolute limit for a base network of cost `base`."""
        return self.limit if self.limit is not None else self.multiple * _value(base, self.metric)

    def __str__(self) -> str:
        return f"{self.metric}<={self.multiple:g}x" if self.multiple is not None else \
            f"{self.metric}<={format_count(self.limit)}"


def parse_budgets(texts: str | list[str] | tuple[str, ...] | None) -> tuple[Budget, ...]:
    """Budgets from "params=2x,macs=3x" or a list of such strings."""
    if not texts:
        return ()
    if isinstance(texts, str):
        texts = [texts]
    return tuple(Budget.parse(part) for text in texts for part in text.split(",") if part.strip())


def _value(cost: Complexity, metric: str) -> float:
    """The value of `metric` in a cost record."""
    return float(getattr(cost, metric))


@dataclass(frozen=True)
class Solution:
    """A scaled network: its spec, the factors that made it, its cost, and the slack left in each budget."""

    method: str
    spec: NetSpec
    factors: Factors
    cost: Complexity
    coefficient: float = 0.0
    limits: dict[str, float] = field(default_factory=dict)
    slack: dict[str, float] = field(default_factory=dict)
    binding: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        """The `scaler scale --json` record of this variant."""
        return {
            "method": self.method,
            "factors": self.factors.as_dict(),
            "coefficient": self.coefficient,
            **self.cost.as_dict(),
            "budgets": {k: {"limit": v, "slack": self.slack[k]} for k, v in self.limits.items()},
            "binding": self.binding,
            "note": self.note,
            "spec": self.spec.to_dict(),
        }


def _solution(method: str, base: NetSpec, factors: Factors, phi: float, limits: dict[str, float],
              note: str = "", depth_policy: str = "stagewise") -> Solution:
    """Build the Solution record for `factors` applied to `base`."""
    spec = apply_factors(base, factors, depth_policy)
    cost = complexity(spec)
    slack = {m: 1.0 - _value(cost, m) / lim for m, lim in limits.items()}
    binding = min(slack, key=slack.get) if slack else None  # type: ignore[arg-type]
    return Solution(method, spec, factors, cost, phi, limits, slack, binding, note)


def solve(
    base: NetSpec,
    method: str,
    budgets: tuple[Budget, ...] | list[Budget] | str,
    *,
    tolerance: float = 0.0,
    ratio: tuple[float, float, float] = PAPER_RATIO,
    factors: Factors | None = None,
    default_resolution: float = DEFAULT_RESOLUTION,
    max_factor: float = 16.0,
    depth_policy: str = "stagewise",
) -> Solution:
    """Largest coefficient along `method` whose rounded network fits every budget (x (1 + tolerance)).

    Args:
        base: the base network.
        method: one of METHODS; "custom" scales along the direction given by `factors`.
        budgets: Budget records or a string such as "params=2x,macs=40G".
        tolerance: relative slack allowed over each limit (0.01 accepts 1% over, like pycls' band).
        ratio: (depth, width, resolution) factors of compound/asymmetric at coefficient 1.
        factors: the direction for "custom".
        default_resolution: the factor used when no budget depends on resolution (resolution rule).
        max_factor: no factor grows beyond this; a rule no budget stops before it is an error.
        depth_policy: "stagewise" (default) or "uniform" depth rounding (see scaler.rounding).

    Returns:
        The Solution; its `binding` names the budget with the least slack.
    """
    if isinstance(budgets, str):
        budgets = parse_budgets(budgets)
    if not budgets:
        raise BudgetError(f"solving method {method!r} needs at least one budget, e.g. params=2x")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise BudgetError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    dir_factors = direction(method, ratio, factors)
    base_cost = complexity(base)
    limits = {}
    for budget in budgets:
        limit = budget.resolve(base_cost)
        if _value(base_cost, budget.metric) > limit * (1 + tolerance):
            raise BudgetError(f"budget {budget} ({format_count(limit)}) is below the base network's "
                              f"{budget.metric} {format_count(_value(base_cost, budget.metric))}; valid: "
                              f"a limit >= the base (>= 1x)")
        limits[budget.metric] = min(limit, limits.get(budget.metric, math.inf))
    if method == "baseline":
        return _solution(method, base, Factors(), 0.0, limits)

    def fits_factors(candidate: Factors) -> bool:
        cost = complexity(apply_factors(base, candidate, depth_policy))
        return all(_value(cost, m) <= lim * (1 + tolerance) for m, lim in limits.items())

    def fits(phi: float) -> bool:
        return fits_factors(dir_factors**phi)

    largest = max(vars(dir_factors).values())
    if largest <= 1.0:
        raise SpecError(f"method {method!r} has no factor above 1 to grow along: {dir_factors.as_dict()}")
    phi_max = math.log(max_factor) / math.log(largest)
    if fits(phi_max):
        if method == "resolution":
            fixed = Factors(resolution=default_resolution)
            return _solution(method, base, fixed, math.log2(default_resolution), limits, depth_policy=depth_policy,
                             note=f"no budget depends on resolution ({', '.join(limits)}); used the default "
                                  f"factor {default_resolution:g} (add a macs or activations budget to solve it)")
        raise BudgetError(f"no budget ({', '.join(map(str, budgets))}) limits method {method!r} up to factor "
                          f"{max_factor:g}; valid: add a budget that grows with it (params, macs, activations)")
    low, high = 0.0, phi_max
    for _ in range(60):  # bisection on a monotone step function: 60 halvings reach float precision
        mid = (low + high) / 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    solved = dir_factors**low
    # Report round numbers: the nearest 3-decimal factors if they still fit, else the floored ones.
    for candidate in (solved.rounded(3), solved.rounded(3, down=True)):
        if fits_factors(candidate):
            solved = candidate
            break
    return _solution(method, base, solved, low, limits, depth_policy=depth_policy)


def scale(
    spec: NetSpec,
    method: str,
    budget: str | tuple[Budget, ...] | list[Budget] | None = None,
    *,
    factor: float | None = None,
    factors: Factors | dict[str, object] | None = None,
    ratio: tuple[float, float, float] = PAPER_RATIO,
    tolerance: float = 0.0,
    depth_policy: str = "stagewise",
) -> Solution:
    """Scale `spec` by a named method: solved into `budget`, or by an explicit `factor`/`factors`.

    Args:
        spec: the base network.
        method: baseline, depth, width, resolution, compound, asymmetric or custom.
        budget: e.g. "params=2x" or "params=2x,macs=60G": solve the largest factor that fits.
        factor: without a budget, the factor of a single-dimension rule (depth 2 -> x2 units).
        factors: without a budget, explicit (per-part) factors; with a budget and method "custom",
            the direction to solve along.
        ratio: (depth, width, resolution) of compound/asymmetric; the paper's (1.8, 1.16, 1.4) by default.
        tolerance: relative slack allowed over each budget.
        depth_policy: "stagewise" (default) or "uniform" depth rounding (see scaler.rounding).

    Returns:
        A Solution with `.spec`, `.factors`, `.cost` and, when solved, `.slack` per budget.
    """
    if method not in METHODS:
        raise SpecError(f"unknown scaling method {method!r}; valid: {', '.join(METHODS)}")
    if isinstance(factors, dict):
        factors = Factors.from_dict(factors)
    if budget:
        return solve(spec, method, budget, tolerance=tolerance, ratio=ratio, factors=factors,
                     depth_policy=depth_policy)
    if method == "baseline":
        chosen, phi = Factors(), 0.0
    elif factors is not None:
        chosen, phi = factors, 1.0
    elif method in ("compound", "asymmetric"):
        chosen, phi = direction(method, ratio), 1.0
    elif factor is None:
        raise SpecError(f"method {method!r} needs a budget (e.g. params=2x) or a factor")
    else:
        phi = math.log2(Factors(resolution=factor).resolution)
        chosen = direction(method) ** phi
    return _solution(method, spec, chosen, phi, {}, depth_policy=depth_policy)
