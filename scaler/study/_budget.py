"""The budget acts before training: a candidate becomes a network whose ROUNDED cost is checked against it."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from scaler.complexity import Complexity, complexity
from scaler.rules import Factors, apply_factors
from scaler.solver import Budget, Solution, solve
from scaler.spec import NetSpec
from scaler.study._space import Candidate

__all__ = ["Network", "resolve_network", "budget_limits", "solved"]


@dataclass(frozen=True)
class Network:
    """The network a candidate names, after rounding and the budget: its cost and its budget constraints."""

    rule: str
    factors: Factors
    spec: NetSpec
    cost: Complexity
    #: Per budget metric: cost / limit - 1 (<= 0 fits), the form Optuna's constrained samplers expect.
    constraints: dict[str, float]
    note: str = ""

    @property
    def feasible(self) -> bool:
        """Every budget holds for the rounded network."""
        return all(v <= 0 for v in self.constraints.values())


def budget_limits(base: NetSpec, budgets: tuple[Budget, ...], tolerance: float) -> dict[str, float]:
    """Absolute limit per metric (the tightest budget of each), tolerance included."""
    base_cost = complexity(base)
    limits: dict[str, float] = {}
    for budget in budgets:
        limits[budget.metric] = min(budget.resolve(base_cost), limits.get(budget.metric, math.inf))
    return {metric: limit * (1 + tolerance) for metric, limit in limits.items()}


@functools.lru_cache(maxsize=256)
def solved(base: NetSpec, rule: str, budgets: tuple[Budget, ...], tolerance: float,
           ratio: tuple[float, float, float], depth_rounding: str, factors: Factors | None = None) -> Solution:
    """solve(), cached: a grid study solves each rule once per process."""
    return solve(base, rule, budgets, tolerance=tolerance, ratio=ratio, factors=factors, depth_policy=depth_rounding)


def resolve_network(config: Any, candidate: Candidate) -> Network:
    """The network of a candidate (`config`: the StudyConfig): a method solved into the budget, or free factors
    checked (or projected) against it."""
    limits = budget_limits(config.base, config.budgets, config.tolerance)
    note = ""
    if candidate.factors is None:  # a named rule: the largest network of that rule inside the budget
        if config.budgets:
            solution = solved(config.base, candidate.rule, config.budgets, config.tolerance, config.ratio,
                               config.depth_rounding)
            factors, spec, note = solution.factors, solution.spec, solution.note
        else:  # only "baseline" reaches here (the config requires a budget for other rules)
            factors, spec = Factors(), config.base
    else:
        factors = candidate.factors
        spec = apply_factors(config.base, factors, config.depth_rounding)
        if config.infeasible == "project" and not _fits(spec, limits):
            solution = solved(config.base, "custom", config.budgets, config.tolerance, config.ratio,
                               config.depth_rounding, factors)
            note = f"projected into the budget from {factors.as_dict()}"
            factors, spec = solution.factors, solution.spec
    cost = complexity(spec)
    constraints = {metric: float(getattr(cost, metric)) / limit - 1.0 for metric, limit in limits.items()}
    return Network(candidate.rule, factors, spec, cost, constraints, note)


def _fits(spec: NetSpec, limits: dict[str, float]) -> bool:
    """The spec's cost is within every limit."""
    cost = complexity(spec)
    return all(float(getattr(cost, metric)) <= limit for metric, limit in limits.items())


