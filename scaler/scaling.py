"""ScalingOptions: HOW to scale a base network — method, budgets, ratio, tolerance, depth rounding, factors.

One record, parsed once, used by every entry point: `scaler scale` and `scaler train` (CLI strings,
`ScalingOptions.parse`), study files and `reproduce` (TOML / Python values, `ScalingOptions.from_mapping`).
So every option is available everywhere and is validated with the same error text.

    options = ScalingOptions.parse(method="asymmetric", budget=["params=2x"], depth_rounding="floor")
    solution = options.scale(base)          # the solver's Solution: spec, factors, cost, slack
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scaler.errors import BudgetError, ScalerError, SpecError
from scaler.parsing import parse_assignments
from scaler.rules import PAPER_RATIO, Factors, parse_ratio
from scaler.solver import Budget, MeasuredCosts, Solution, budget_limits, check_distinct, check_tolerance, \
    parse_budgets, scale
from scaler.spec import NetSpec
from scaler.vocabulary import DEFAULT_DEPTH_ROUNDING, DEPTH_ROUNDINGS, METHODS, choices_text

__all__ = ["ScalingOptions", "SCALING_KEYS"]

#: The keys of a scaling table in TOML (study [scaling] table, reproduce settings) and of `to_dict`.
SCALING_KEYS = ("method", "budget", "ratio", "tolerance", "depth_rounding", "factors")


@dataclass(frozen=True)
class ScalingOptions:
    """How to scale: a method solved into budgets (or applied with explicit factors).

    Args:
        method: one of METHODS. Explicit `factors` with method "baseline" mean "custom".
        budgets: Budget records; every method but baseline (and custom with factors) needs one.
        ratio: (depth, width, resolution) direction of compound and asymmetric.
        tolerance: fraction over each limit that still fits (0.01: 1%).
        depth_rounding: one of DEPTH_ROUNDINGS (scaler.rounding).
        factors: explicit factors: applied as they are without a budget, the direction to solve
            along with one (method "custom").
    """

    method: str = "baseline"
    budgets: tuple[Budget, ...] = ()
    ratio: tuple[float, float, float] = PAPER_RATIO
    tolerance: float = 0.0
    depth_rounding: str = DEFAULT_DEPTH_ROUNDING
    factors: Factors | None = field(default=None)

    def __post_init__(self) -> None:
        if self.factors is not None and self.method == "baseline":
            object.__setattr__(self, "method", "custom")
        if self.method not in METHODS:
            raise SpecError(f"unknown scaling method {self.method!r}; valid: {choices_text(METHODS)}")
        if self.depth_rounding not in DEPTH_ROUNDINGS:
            raise SpecError(f"unknown depth rounding {self.depth_rounding!r}; valid: {choices_text(DEPTH_ROUNDINGS)}")
        object.__setattr__(self, "budgets", tuple(self.budgets))
        check_distinct(self.budgets)
        object.__setattr__(self, "tolerance", check_tolerance(self.tolerance))
        object.__setattr__(self, "ratio", parse_ratio(self.ratio))
        if self.method == "custom" and self.factors is None:
            raise SpecError("method 'custom' needs explicit factors, e.g. encoder_width=1.3,decoder_width=1.0")

    # -- parsing -----------------------------------------------------------------------------------
    @classmethod
    def parse(cls, method: str = "baseline", budget: str | Sequence[str] = (), ratio: str = "paper",
              tolerance: float = 0.0, depth_rounding: str = DEFAULT_DEPTH_ROUNDING,
              factors: str | Sequence[str] | Mapping[str, Any] = ()) -> ScalingOptions:
        """From command-line text: budget "params=2x,macs=3x" (or a list), factors "encoder_width=1.3,..."."""
        if isinstance(factors, Mapping):
            explicit = Factors.from_dict(dict(factors)) if factors else None
        else:
            parsed = parse_assignments([factors] if isinstance(factors, str) else list(factors), "factor")
            explicit = Factors.from_dict(parsed) if parsed else None
        return cls(method, parse_budgets(list(budget) if not isinstance(budget, str) else budget), ratio,
                   tolerance, depth_rounding, explicit)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str) -> ScalingOptions:
        """From a TOML table (or a JSON record of `to_dict`): keys SCALING_KEYS; errors name `where` and the key."""
        unknown = sorted(set(table) - set(SCALING_KEYS))
        if unknown:
            raise ScalerError(f"{where}: unknown key(s) {unknown}; valid: {choices_text(SCALING_KEYS)}")
        values = dict(table)
        budget = values.get("budget", [])
        if isinstance(budget, str):
            budget = [budget]
        if not isinstance(budget, list) or not all(isinstance(b, str) for b in budget):
            raise ScalerError(f"{where} budget = {budget!r}: valid: a list such as [\"params=2x\"]")
        factors = values.get("factors", {})
        if not isinstance(factors, Mapping):
            raise ScalerError(f"{where} factors = {factors!r}: valid: a table such as {{encoder_width = 1.3}}")
        for key in ("method", "depth_rounding"):
            if key in values and not isinstance(values[key], str):
                raise ScalerError(f"{where} {key} = {values[key]!r}: valid: a name")
        try:
            return cls.parse(values.get("method", "baseline"), budget, values.get("ratio", "paper"),
                             values.get("tolerance", 0.0), values.get("depth_rounding", DEFAULT_DEPTH_ROUNDING),
                             dict(factors))
        except ScalerError as exc:
            raise type(exc)(f"{where}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (the inverse of `from_mapping`)."""
        return {"method": self.method, "budget": [str(b) for b in self.budgets], "ratio": list(self.ratio),
                "tolerance": self.tolerance, "depth_rounding": self.depth_rounding,
                "factors": _flat(self.factors) if self.factors is not None else {}}

    def with_method(self, method: str) -> ScalingOptions:
        """The same options with another method (explicit factors kept only for "custom")."""
        return replace(self, method=method, factors=self.factors if method == "custom" else None)

    # -- using -------------------------------------------------------------------------------------
    def scale(self, base: NetSpec, measured: MeasuredCosts | None = None) -> Solution:
        """The scaled network: solved into the budgets, or the explicit factors applied (baseline: `base`)."""
        if self.method != "baseline" and self.method != "custom" and not self.budgets:
            raise BudgetError(f"method {self.method!r} needs a budget, e.g. params=2x (or use --method custom "
                              f"with explicit factors)")
        return scale(base, self.method, self.budgets or None, factors=self.factors, ratio=self.ratio,
                     tolerance=self.tolerance, depth_policy=self.depth_rounding, measured=measured)

    def limits(self, base: NetSpec, measured: MeasuredCosts | None = None) -> dict[str, float]:
        """The nominal limit of each budget for `base` (fits: value <= limit x (1 + tolerance))."""
        return budget_limits(base, self.budgets, self.tolerance, measured)


def _flat(factors: Factors) -> dict[str, float]:
    """Factors as flat names {"encoder_depth": .., ...}, the form `Factors.from_dict` and TOML take."""
    return {name: value for name, value in vars(factors).items()}

