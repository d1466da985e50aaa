"""Budget solver: the largest coefficient along a rule whose ROUNDED network fits every budget."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from collections.abc import Callable, Mapping

from scaler.complexity import Complexity, budget_complexity, complexity
from scaler.errors import BudgetError, SpecError
from scaler.rules import PAPER_RATIO, Factors, apply_factors, direction
from scaler.spec import NetSpec
from scaler.vocabulary import (
    BUDGET_METRICS, COST_METRICS, DEFAULT_DEPTH_ROUNDING, METHODS, TIME_METRICS, choices_text,
)

__all__ = [
    "Budget", "Solution", "parse_budgets", "solve", "scale", "format_count", "DEFAULT_RESOLUTION", "MeasuredCosts",
    "budget_limits", "cost_values", "constraints", "fits",
]

#: Used for the resolution method when no budget depends on resolution (params does not): the paper's R x1.4.
DEFAULT_RESOLUTION = 1.4
#: Costs that are measured rather than counted (TIME_METRICS): metric -> function of the spec.
MeasuredCosts = Mapping[str, Callable[[NetSpec], float]]
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
        if self.metric not in BUDGET_METRICS:
            raise BudgetError(f"unknown budget metric {self.metric!r}; valid: {choices_text(BUDGET_METRICS)}")
        value = self.multiple if self.limit is None else self.limit
        if (self.multiple is None) == (self.limit is None) or value is None or not math.isfinite(value) or value <= 0:
            raise BudgetError(f"budget {self.metric} needs one positive finite multiple or limit, "
                              f"got multiple={self.multiple!r} limit={self.limit!r}")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """Parse "params=2x", "macs<=40G", "activations=1.5x", "params=60M", "ms=1.5x" or "ms=250" (milliseconds)."""
        match = _BUDGET_RE.match(text)
        if not match:
            raise BudgetError(f"malformed budget {text!r}; valid: METRIC=Nx or METRIC=N[K|M|G|T] with "
                              f"METRIC one of {choices_text(BUDGET_METRICS)}, e.g. params=2x, macs=40G, ms=250")
        metric, number, suffix = match.group(1).lower(), float(match.group(2)), match.group(3).lower()
        if metric not in BUDGET_METRICS:
            raise BudgetError(f"unknown budget metric {metric!r} in {text!r}; valid: {choices_text(BUDGET_METRICS)}")
        if suffix == "x":
            return cls(metric, multiple=number)
        if metric in TIME_METRICS and suffix:
            raise BudgetError(f"unknown unit {suffix!r} in budget {text!r}; valid: x (relative) or a plain "
                              f"number of milliseconds, e.g. {metric}=1.5x or {metric}=250")
        if suffix not in _SUFFIX:
            raise BudgetError(f"unknown unit {suffix!r} in budget {text!r}; valid: x, K, M, G, T")
        return cls(metric, limit=number * _SUFFIX[suffix])

    def resolve(self, base: Mapping[str, float] | Complexity) -> float:
        """The absolute limit for a base network of cost `base` (a Complexity, or values from `cost_values`)."""
        if self.limit is not None:
            return self.limit
        value = getattr(base, self.metric) if isinstance(base, Complexity) else base[self.metric]
        return self.multiple * float(value)

    def __str__(self) -> str:
        if self.multiple is not None:
            return f"{self.metric}<={self.multiple:g}x"
        return f"{self.metric}<={self.limit:g}" if self.metric in TIME_METRICS else \
            f"{self.metric}<={format_count(self.limit)}"


def parse_budgets(texts: str | list[str] | tuple[str, ...] | None) -> tuple[Budget, ...]:
    """Budgets from "params=2x,macs=3x" or a list of such strings; one budget per metric."""
    if not texts:
        return ()
    if isinstance(texts, str):
        texts = [texts]
    budgets = tuple(Budget.parse(part) for text in texts for part in text.split(",") if part.strip())
    check_distinct(budgets)
    return budgets


def check_distinct(budgets: tuple[Budget, ...] | list[Budget]) -> None:
    """A BudgetError when two budgets limit the same metric (which one was meant is anyone's guess)."""
    seen: dict[str, Budget] = {}
    for budget in budgets:
        if budget.metric in seen:
            raise BudgetError(f"two budgets for {budget.metric}: {seen[budget.metric]} and {budget}; "
                              f"valid: one budget per metric")
        seen[budget.metric] = budget


def cost_values(spec: NetSpec, metrics: tuple[str, ...] | list[str] | None = None,
                measured: MeasuredCosts | None = None) -> dict[str, float]:
    """The values of `metrics` (default: every counted one) for `spec`: counted from the spec, or measured.

    A time metric (ms, infer_ms) needs a function in `measured`; without one it is a BudgetError.
    """
    metrics = COST_METRICS if metrics is None else tuple(metrics)
    cost = budget_complexity(spec)
    values: dict[str, float] = {}
    for metric in metrics:
        if metric in COST_METRICS:
            values[metric] = float(getattr(cost, metric))
        elif measured is not None and metric in measured:
            values[metric] = float(measured[metric](spec))
        else:
            raise BudgetError(f"a {metric} budget needs a measurable device and a latency model "
                              f"(scaler.bench); valid without one: {choices_text(COST_METRICS)}")
    return values


def budget_limits(base: NetSpec, budgets: tuple[Budget, ...] | list[Budget], tolerance: float = 0.0,
                  measured: MeasuredCosts | None = None) -> dict[str, float]:
    """The nominal limit of each budgeted metric for `base`: THE one place limits come from.

    A network fits when every value <= limit x (1 + tolerance) (see `fits`). A budget that even the
    base network breaks is a BudgetError: nothing scaled up from the base can fit it.
    """
    check_tolerance(tolerance)
    check_distinct(budgets)
    base_values = cost_values(base, [b.metric for b in budgets], measured)
    limits = {}
    for budget in budgets:
        limit = budget.resolve(base_values)
        if base_values[budget.metric] > limit * (1 + tolerance):
            raise BudgetError(f"budget {budget} ({_fmt(budget.metric, limit)}) is below the base network's "
                              f"{budget.metric} {_fmt(budget.metric, base_values[budget.metric])}; valid: "
                              f"a limit >= the base (>= 1x)")
        limits[budget.metric] = limit
    return limits


def check_tolerance(tolerance: float) -> float:
    """A tolerance is a fraction in [0, 1): 0.01 accepts 1% over every limit."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance) \
            or not 0 <= tolerance < 1:
        raise BudgetError(f"tolerance must be a number in [0, 1), got {tolerance!r}; e.g. 0.01 accepts 1% over")
    return float(tolerance)


def _fmt(metric: str, value: float) -> str:
    """A limit or cost as text: milliseconds for time metrics, a K/M/G count otherwise."""
    return f"{value:.1f} ms" if metric in TIME_METRICS else format_count(value)


def constraints(values: Mapping[str, float], limits: Mapping[str, float], tolerance: float = 0.0) -> dict[str, float]:
    """Per limited metric: value / (limit x (1 + tolerance)) - 1, <= 0 when it fits (Optuna's constraint form)."""
    return {metric: float(values[metric]) / (limit * (1 + tolerance)) - 1.0 for metric, limit in limits.items()}


def fits(values: Mapping[str, float], limits: Mapping[str, float], tolerance: float = 0.0) -> bool:
    """Every limited metric is within its limit x (1 + tolerance)."""
    return all(float(values[metric]) <= limit * (1 + tolerance) for metric, limit in limits.items())


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
    #: Measured costs of the solved network that a time budget limited (ms, infer_ms), in milliseconds.
    measured: dict[str, float] = field(default_factory=dict)

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
            **({"measured_ms": self.measured} if self.measured else {}),
            "spec": self.spec.to_dict(),
        }


def _solution(method: str, base: NetSpec, factors: Factors, phi: float, limits: dict[str, float],
              note: str = "", depth_policy: str = DEFAULT_DEPTH_ROUNDING,
              measured: MeasuredCosts | None = None) -> Solution:
    """Build the Solution record for `factors` applied to `base`."""
    spec = apply_factors(base, factors, depth_policy)
    values = cost_values(spec, list(limits), measured)
    slack = {m: 1.0 - values[m] / lim for m, lim in limits.items()}
    binding = min(slack, key=slack.get) if slack else None  # type: ignore[arg-type]
    timed = {m: v for m, v in values.items() if m in TIME_METRICS}
    return Solution(method, spec, factors, complexity(spec), phi, limits, slack, binding, note, timed)


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
    depth_policy: str = DEFAULT_DEPTH_ROUNDING,
    measured: MeasuredCosts | None = None,
) -> Solution:
    """Largest coefficient along `method` whose rounded network fits every budget (x (1 + tolerance)).

    Args:
        base: the base network.
        method: one of METHODS; "custom" scales along the direction given by `factors`.
        budgets: Budget records or a string such as "params=2x,macs=40G".
        tolerance: relative slack allowed over each limit (0.01 accepts 1% over, like pycls' band).
        ratio: (depth, width, resolution) factors of compound/asymmetric at coefficient 1.
        factors: the direction for "custom".
        default_resolution: the factor used when no budget depends on resolution (resolution method).
        max_factor: no factor grows beyond this; a method no budget stops before it is an error.
        depth_policy: one of DEPTH_ROUNDINGS (see scaler.rounding).
        measured: functions giving measured costs (ms, infer_ms) of a spec, for time budgets.

    Returns:
        The Solution; its `binding` names the budget with the least slack.
    """
    if isinstance(budgets, str):
        budgets = parse_budgets(budgets)
    if not budgets:
        raise BudgetError(f"solving method {method!r} needs at least one budget, e.g. params=2x")
    dir_factors = direction(method, ratio, factors)
    limits = budget_limits(base, budgets, tolerance, measured)
    if method == "baseline":
        return _solution(method, base, Factors(), 0.0, limits, depth_policy=depth_policy, measured=measured)

    def fits_factors(candidate: Factors) -> bool:
        spec = apply_factors(base, candidate, depth_policy)
        return fits(cost_values(spec, list(limits), measured), limits, tolerance)

    largest = max(vars(dir_factors).values())
    if largest <= 1.0:
        raise SpecError(f"method {method!r} has no factor above 1 to grow along: {dir_factors.as_dict()}")
    phi_max = math.log(max_factor) / math.log(largest)
    if fits_factors(dir_factors**phi_max):  # nothing stops this method: only resolution has a fallback
        if method != "resolution":
            raise BudgetError(f"no budget ({', '.join(map(str, budgets))}) limits method {method!r} up to factor "
                              f"{max_factor:g}; valid: add a budget that grows with it (params, macs, activations)")
        note = (f"no budget depends on resolution ({', '.join(limits)}); used the default factor "
                f"{default_resolution:g} (add a macs or activations budget to solve it)")
        return _solution(method, base, Factors(resolution=default_resolution), math.log2(default_resolution),
                         limits, note, depth_policy, measured)
    phi = _largest_fitting(lambda p: fits_factors(dir_factors**p), phi_max)
    # Report round numbers: the nearest 3-decimal factors if they still fit, else the floored ones.
    solved = next((f for f in ((dir_factors**phi).rounded(3), (dir_factors**phi).rounded(3, down=True))
                   if fits_factors(f)), dir_factors**phi)
    return _solution(method, base, solved, phi, limits, depth_policy=depth_policy, measured=measured)


def _largest_fitting(fits_at: Callable[[float], bool], high: float) -> float:
    """The largest coefficient in [0, high] that fits, by bisection on a monotone step function.

    Rounding makes cost a step function of the coefficient, monotone because every rounding rule is
    (scaler.rounding); 60 halvings reach float precision.
    """
    low = 0.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if fits_at(mid) else (low, mid)
    return low


def scale(
    spec: NetSpec,
    method: str,
    budget: str | tuple[Budget, ...] | list[Budget] | None = None,
    *,
    factor: float | None = None,
    factors: Factors | dict[str, object] | None = None,
    ratio: tuple[float, float, float] = PAPER_RATIO,
    tolerance: float = 0.0,
    depth_policy: str = DEFAULT_DEPTH_ROUNDING,
    measured: MeasuredCosts | None = None,
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
        depth_policy: one of DEPTH_ROUNDINGS (see scaler.rounding).
        measured: functions giving measured costs (ms, infer_ms) of a spec, for time budgets.

    Returns:
        A Solution with `.spec`, `.factors`, `.cost` and, when solved, `.slack` per budget.
    """
    if method not in METHODS:
        raise SpecError(f"unknown scaling method {method!r}; valid: {choices_text(METHODS)}")
    if isinstance(factors, dict):
        factors = Factors.from_dict(factors)
    if budget:
        return solve(spec, method, budget, tolerance=tolerance, ratio=ratio, factors=factors,
                     depth_policy=depth_policy, measured=measured)
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
