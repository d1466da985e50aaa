"""The budget acts before training: a candidate becomes a network whose ROUNDED cost is checked against it.

Limits, constraints and "fits" come from `scaler.solver` (the one place they are computed); how to
scale comes from the study's `ScalingOptions`. Only the study's own `infeasible` policy lives here.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from scaler.complexity import Complexity, complexity
from scaler.rules import Factors, apply_factors
from scaler.scaling import ScalingOptions
from scaler.solver import Solution, constraints, cost_values, fits
from scaler.spec import NetSpec
from scaler.study._space import Candidate

__all__ = ["Network", "resolve_network", "scaled", "frontier", "INFEASIBLE_POLICIES"]

#: What happens to a free-factor candidate whose rounded network breaks the budget (see scaler.study):
#: "constrain" records it with Optuna constraints and never trains it; "project" scales it back
#: along its own direction into the budget and trains that.
INFEASIBLE_POLICIES = ("constrain", "project")


@dataclass(frozen=True)
class Network:
    """The network a candidate names, after rounding and the budget: its cost and its budget constraints."""

    method: str
    factors: Factors
    spec: NetSpec
    cost: Complexity
    #: Per budget metric: cost / (limit x (1 + tolerance)) - 1 (<= 0 fits), the form Optuna's constrained
    #: samplers expect.
    constraints: dict[str, float]
    note: str = ""

    @property
    def feasible(self) -> bool:
        """Every budget holds for the rounded network."""
        return all(v <= 0 for v in self.constraints.values())


@functools.lru_cache(maxsize=256)
def scaled(options: ScalingOptions, base: NetSpec) -> Solution:
    """`options.scale(base)`, cached: a grid study solves each method once per process."""
    return options.scale(base)


@functools.lru_cache(maxsize=64)
def _limits(options: ScalingOptions, base: NetSpec) -> dict[str, float]:
    """The nominal budget limits for `base` (cached: the base cost is counted once per study)."""
    return options.limits(base)


def frontier(scaling: ScalingOptions, base: NetSpec, direction: Factors) -> tuple[Factors, NetSpec]:
    """(factors, spec) of the largest rounded network along `direction` that fits the budget (no growth: the base)."""
    if max(vars(direction).values()) <= 1.0:
        return Factors(), base
    solution = scaled(replace(scaling, method="custom", factors=direction), base)
    return solution.factors, solution.spec


def resolve_network(scaling: ScalingOptions, base: NetSpec, infeasible: str, candidate: Candidate) -> Network:
    """The network of a candidate: a method solved into the budget, or free factors checked (or projected)."""
    limits = _limits(scaling, base)
    note = ""
    if candidate.factors is None:  # a named method: the largest network of that method inside the budget
        solution = scaled(scaling.with_method(candidate.method), base)
        factors, spec, note = solution.factors, solution.spec, solution.note
    elif candidate.on_frontier:  # a direction: the largest network along it inside the budget
        factors, spec = frontier(scaling, base, candidate.factors)
        note = f"on the budget frontier along {candidate.factors.rounded(3).as_dict()}"
    else:
        factors = candidate.factors
        spec = apply_factors(base, factors, scaling.depth_rounding)
        if infeasible == "project" and not fits(cost_values(spec, list(limits)), limits, scaling.tolerance):
            solution = scaled(replace(scaling, method="custom", factors=factors), base)
            note = f"projected into the budget from {factors.as_dict()}"
            factors, spec = solution.factors, solution.spec
    cost = complexity(spec)
    values = cost_values(spec, list(limits))
    return Network(candidate.method, factors, spec, cost, constraints(values, limits, scaling.tolerance), note)
