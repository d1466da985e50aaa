"""The study's sampler and pruner, built from its config (imported by the config loader to check options early)."""
from __future__ import annotations

from typing import Any

import optuna

from scaler.study._pareto_pruning import ParetoNSGAII

__all__ = ["make_sampler", "make_pruner"]


def make_sampler(config: Any, seed: int) -> optuna.samplers.BaseSampler:
    """The study's sampler, seeded with `seed`."""
    options = dict(config.sampler_options)
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if config.sampler == "nsga2":  # pruner "pareto": pruned trials fill NSGA-II's generations (ParetoNSGAII)
        nsga2 = ParetoNSGAII if config.pruner == "pareto" else optuna.samplers.NSGAIISampler
        return nsga2(seed=seed, **options)
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed, **options)
    # The grid's seed shuffles the order of its points, which every worker must agree on: never per trial.
    return optuna.samplers.GridSampler(config.space.grid(), seed=config.seed, **options)


def make_pruner(config: Any) -> optuna.pruners.BasePruner:
    """The study's pruner; Hyperband's resource is epochs (1 .. train.epochs) unless its options say otherwise."""
    options = dict(config.pruner_options)
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(**options)
    if config.pruner == "hyperband":
        options.setdefault("min_resource", 1)
        options.setdefault("max_resource", config.train.epochs)
        return optuna.pruners.HyperbandPruner(**options)
    return optuna.pruners.NopPruner()  # "none", and "pareto", which scaler applies itself (_pareto_pruning)
