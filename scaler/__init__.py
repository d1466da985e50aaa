"""scaler: scale encoder-decoder segmentation networks by rule and budget, search, and report.

The small public API::

    import scaler
    base = scaler.base_spec("unet", width=64, classes=19, input_size=(512, 1024))
    awdr = scaler.scale(base, "asymmetric", budget="params=2x")   # solved after rounding
    awdr.factors, awdr.cost.params, awdr.cost.macs, awdr.slack
    model = scaler.build(awdr.spec)                               # nn.Module
    scaler.complexity(awdr.spec)                                  # params / MACs / activations
"""
from __future__ import annotations

from scaler.complexity import Complexity, complexity, stage_table, traced_complexity
from scaler.errors import BudgetError, ConfigError, DataError, ScalerError, SpecError
from scaler.families import FAMILIES, base_spec, build, get_family
from scaler.families._pretrained import load_encoder_weights
from scaler.rules import METHODS, PAPER_RATIO, Factors, apply_factors
from scaler.solver import Budget, Solution, parse_budgets, scale, solve
from scaler.spec import NetSpec, StageSpec

__all__ = [
    "Budget", "BudgetError", "Complexity", "ConfigError", "DataError", "FAMILIES", "Factors", "METHODS",
    "NetSpec", "PAPER_RATIO", "ScalerError", "Solution", "SpecError", "StageSpec", "apply_factors",
    "base_spec", "build", "complexity", "get_family", "load_encoder_weights", "parse_budgets", "scale", "solve", "stage_table",
    "traced_complexity",
]
__version__ = "0.1.0"
