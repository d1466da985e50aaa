"""From user choices to (network, data): the base or saved spec, scaled by a rule, with data at its input size."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from scaler.errors import ScalerError
from scaler.families import base_spec
from scaler.solver import parse_budgets, scale
from scaler.spec import NetSpec
from scaler.train._config import TrainConfig
from scaler.train._data import make_datasets
from scaler.train._task import task_of

__all__ = ["PlannedRun", "plan_run"]


@dataclass(frozen=True)
class PlannedRun:
    """The network to train, how it was scaled, and its datasets (made at the network's input size)."""

    spec: NetSpec
    base: NetSpec
    method: str
    solution: Any  # scaler.solver.Solution; None for the baseline, trained exactly as given
    train_ds: Dataset
    val_ds: Dataset


def plan_run(
    cfg: TrainConfig,
    *,
    family: str = "unet",
    base_options: dict[str, Any] | None = None,
    spec: NetSpec | None = None,
    method: str = "baseline",
    budget: str | list[str] | None = None,
    factors: dict[str, Any] | None = None,
) -> PlannedRun:
    """Choose the network and load its data, so `train(plan.spec, cfg, ..., train_ds=plan.train_ds, ...)` runs it.

    Args:
        cfg: the training config (its data, data_root, data_options, augment, seed are used).
        family: model family of the base network (ignored when `spec` is given).
        base_options: `base_spec` options such as width, input_size, classes; classes default to
            the dataset's (for the network's task: a paired dataset's labels or mask classes), input_size
            to its source size, and with paired image + report data vocab_size and max_tokens to its own.
        spec: a saved network to start from instead of a family's base (then no base_options).
        method: scaling method applied to the base (baseline: train it as is).
        budget: e.g. "params=2x"; solved after rounding.
        factors: explicit factors (method "custom"; with a budget, the direction to solve along).
    """
    options = dict(base_options or {})
    if spec is not None and options:
        raise ScalerError(f"a saved spec fixes the network; drop the base option(s) {', '.join(sorted(options))}")
    input_size = spec.input_size if spec is not None else options.get("input_size")
    train_ds, val_ds = make_datasets(cfg, input_size)
    if spec is None:
        base = _base(family, options, train_ds)
    else:
        base = spec
    if factors and method == "baseline":
        method = "custom"
    # The baseline skips the solver: applying even unit factors re-rounds widths (4 -> 8 at divisor 8).
    solution = None if method == "baseline" else scale(base, method, parse_budgets(budget) or None,
                                                           factors=factors or None)
    final = base if solution is None else solution.spec
    if tuple(final.input_size) != tuple(train_ds.input_size):
        train_ds, val_ds = make_datasets(cfg, final.input_size)
    return PlannedRun(final, base, method, solution, train_ds, val_ds)


def _base(family: str, options: dict[str, Any], train_ds: Dataset) -> NetSpec:
    """The family's base with the data's defaults: its classes (for the task the options choose), its size,
    and for paired image + report data its vocabulary size and report length."""
    given = dict(options)
    options = {"input_size": tuple(train_ds.input_size), "classes": train_ds.num_classes, **options}
    base = base_spec(family, **options)
    if hasattr(train_ds, "vocab_size"):
        if base.option("vocab_size") is None:
            raise ScalerError(f"{getattr(train_ds, 'name', 'the data')} pairs images with reports but the {family} "
                              f"network reads no reports; valid: a family with a text branch (--model multimodal)")
        options = {"vocab_size": train_ds.vocab_size, "max_tokens": train_ds.max_tokens, **options}
    if "classes" not in given:
        options["classes"] = task_of(base).num_classes(train_ds)  # a segmentation head counts the mask classes
    return base_spec(family, **options)
