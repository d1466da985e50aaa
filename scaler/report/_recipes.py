"""Paper recipes: a paper's fixed list of networks (an ablation, a host comparison) trained under one recipe, reported.

A study searches over scaling methods and factors; a paper's table instead compares named networks
that differ in family options (EDNet's +SIM/+GPM/..., the attention fusion on each host), so a recipe
file lists them (studies/ednet_ablation.toml and its siblings):

    [recipe]    name, description, input_size = [H, W], classes, seeds = 1 (a count, or a list of seeds)
    [data]      name, root (relative to the file), options       -- as in a study file
    [train]     any TrainConfig field (pretrained: relative to the file)
    [[network]] name = "+SIM", family = "fcn_resnet", options = {sim = true}   -- one per table row

Every network is trained per seed into OUT/runs/NAME-seedS (resumable, finished runs skipped, one
failing run recorded and the rest trained, as `scaler reproduce` does), listed in OUT/reproduce.json,
and reported into OUT (table.md, summary.md, plots/). The first network is the table's baseline.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scaler.data import make_dataset
from scaler.errors import ConfigError, ScalerError
from scaler.families import base_spec
from scaler.io import read_toml
from scaler.report._records import MANIFEST, records_from_reproduce
from scaler.report._report import Report, write_report
from scaler.report._runs import train_runs, write_manifest
from scaler.spec import NetSpec
from scaler.train import TrainConfig

__all__ = ["Recipe", "load_recipe", "run_recipe"]

_TABLES = ("recipe", "data", "train", "network")
_RECIPE_KEYS = ("name", "description", "input_size", "classes", "seeds")
_NETWORK_KEYS = ("name", "family", "options")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named list of (row label, network) trained under one TrainConfig on each seed."""

    name: str
    description: str
    networks: tuple[tuple[str, NetSpec], ...]
    config: TrainConfig
    seeds: tuple[int, ...]


def _where(path: Path, table: str, key: str | None = None) -> str:
    """Where in the file an error is: "FILE: [table] key"."""
    return f"{path}: [{table}]" + (f" {key}" if key else "")


def _seeds(path: Path, value: Any) -> tuple[int, ...]:
    """A count (3 -> 0, 1, 2) or a list of distinct non-negative seeds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return tuple(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                 for s in value) and len(set(value)) == len(value):
        return tuple(value)
    raise ConfigError(f"{_where(path, 'recipe', 'seeds')} = {value!r}: valid: a count >= 1 or a list of distinct "
                      f"seeds >= 0")


def _config(path: Path, data: dict[str, Any], train: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of [data] + [train] + overrides, paths relative to the file."""
    kwargs: dict[str, Any] = {**train, **overrides, "data": data.get("name", "shapes"),
                              "data_options": data.get("options", {})}
    if data.get("root") is not None and "data_root" not in overrides:
        kwargs["data_root"] = str((path.parent / str(data["root"])).resolve())
    if kwargs.get("pretrained") is not None and "pretrained" not in overrides:
        kwargs["pretrained"] = str((path.parent / str(kwargs["pretrained"])).resolve())
    try:
        return TrainConfig(**kwargs)
    except (ScalerError, TypeError) as exc:
        raise ConfigError(f"{path}: [train]/[data]: {exc}") from None


def _network(path: Path, index: int, entry: Any, input_size: Any, classes: Any) -> tuple[str, NetSpec]:
    """One [[network]] entry -> (its row label, its spec at the recipe's input size and classes)."""
    where = f"{path}: [[network]] #{index + 1}"
    if not isinstance(entry, dict) or set(entry) - set(_NETWORK_KEYS) or "name" not in entry or "family" not in entry:
        raise ConfigError(f"{where} = {entry!r}: valid: a table with name, family and optional options")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where} options = {options!r}: valid: a table of family options")
    size = tuple(input_size) if isinstance(input_size, list) else input_size
    try:
        return str(entry["name"]), base_spec(entry["family"], input_size=size, classes=classes, **options)
    except (ScalerError, TypeError) as exc:
        raise ConfigError(f"{where} ({entry['name']}): {exc}") from None


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None, seeds: int | None = None) -> Recipe:
    """Read and check a recipe file; `overrides` replace [train] fields, `seeds` the seed count."""
    path = Path(path)
    doc = read_toml(path)
    unknown = sorted(set(doc) - set(_TABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {unknown}; valid: {', '.join(_TABLES)}")
    head = doc.get("recipe", {})
    bad = sorted(set(head) - set(_RECIPE_KEYS))
    if bad or "name" not in head or "input_size" not in head or "classes" not in head:
        raise ConfigError(f"{_where(path, 'recipe')}: keys {sorted(head)}; valid: name, input_size, classes "
                          f"(required), description, seeds")
    entries = doc.get("network", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[network]] entries; valid: one [[network]] table per row of the table")
    networks = tuple(_network(path, i, e, head["input_size"], head["classes"]) for i, e in enumerate(entries))
    names = [n for n, _ in networks]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: network names {names} repeat; valid: one name per row")
    config = _config(path, doc.get("data", {}), doc.get("train", {}), dict(overrides or {}))
    return Recipe(str(head["name"]), str(head.get("description", "")), networks, config,
                  _seeds(path, seeds if seeds is not None else head.get("seeds", 1)))


def _slug(name: str) -> str:
    """A folder-safe form of a row label: "+SIM +GPM" -> "SIM_GPM"."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_") or "net"


def run_recipe(recipe: Recipe, out: str | Path, progress: bool = False,
               log: Callable[[str], None] | None = None) -> Report:
    """Train every network of `recipe` on each seed into `out` (resumable), then write its report there."""
    out, cfg = Path(out), recipe.config
    # A missing or wrong dataset is one error before anything is written, not one failed run per network.
    make_dataset(cfg.data, "val", root=cfg.data_root, input_size=recipe.networks[0][1].input_size, **cfg.data_options)
    out.mkdir(parents=True, exist_ok=True)
    specs = dict(recipe.networks)
    runs = [{"network": name, "method": "baseline" if i == 0 else "custom", "factors": None, "seed": seed,
             "spec": spec.to_dict(), "run_dir": f"runs/{i:02d}_{_slug(name)}-seed{seed}"}
            for i, (name, spec) in enumerate(recipe.networks) for seed in recipe.seeds]
    manifest = {"recipe": recipe.name, "description": recipe.description, "runs": runs,
                "base_spec": recipe.networks[0][1].to_dict(), "train": recipe.config.to_dict()}
    write_manifest(out, manifest, MANIFEST)
    train_runs(out, runs, specs, recipe.config, lambda: write_manifest(out, manifest, MANIFEST), progress, log)
    evaluation = "test" if recipe.config.eval_split is not None else "best"
    return write_report(records_from_reproduce(out, evaluation), out)
