"""Study files (studies/*.toml): validated on load into a frozen StudyConfig; errors name file, key and value.

Every relative path written IN a study file (search_space, data.root, a sqlite storage URL,
run_root) is relative to the folder of that file, so a study runs the same from any working
directory. What the file leaves out defaults under ./runs/studies/ of the working directory: the
storage is the SQLite file <name>/study.db there. A trial's run directory is always
<run_root>/<study name>/trial_NNNN, so studies sharing a run_root never share a directory.

    [study]    name, search_space, objectives, sampler, sampler_options, pruner, pruner_options,
               n_trials, timeout, seed (of the sampler, and of training unless [train] sets one),
               run_root (default runs/studies), description
    [storage]  url, heartbeat_interval, grace_period, max_retry
    [network]  family and its base-spec options (width, input_size = [H, W], classes, ...)
    [budget]   limits = ["params=2x", ...], tolerance, ratio, depth_rounding, infeasible
    [data]     name, root, options (dataset keyword arguments)
    [train]    any other TrainConfig field (epochs, batch_size, lr, optimizer, ...)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaler.errors import ConfigError, ScalerError
from scaler.families import base_spec
from scaler.io import read_toml
from scaler.rules import EFFICIENTNET_RATIO, PAPER_RATIO
from scaler.solver import Budget, parse_budgets
from scaler.spec import NetSpec
from scaler.train import TrainConfig
from scaler.vocabulary import DEPTH_ROUNDINGS
from scaler.study._budget import solved
from scaler.study._samplers import make_pruner, make_sampler
from scaler.study._space import SearchSpace, load_search_space

__all__ = ["StudyConfig", "load_study_config", "OBJECTIVES", "SAMPLERS", "PRUNERS", "INFEASIBLE_POLICIES"]

#: Objective name -> direction. mIoU is always first: it is the one learned objective.
OBJECTIVES = {"miou": "maximize", "params": "minimize", "macs": "minimize", "flops": "minimize",
              "activations": "minimize", "ms_per_step": "minimize"}
SAMPLERS = ("tpe", "nsga2", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
#: What happens to a free-factor candidate whose rounded network breaks the budget (see scaler.study).
INFEASIBLE_POLICIES = ("constrain", "project")
#: Heartbeat defaults: a beat a minute is free next to a training step; a trial is declared dead after
#: three missed beats, so a slow storage round-trip never kills a live worker's trial.
HEARTBEAT_INTERVAL = 60
MAX_RETRY = 2
_TABLES = {
    "study": {"name", "search_space", "objectives", "sampler", "sampler_options", "pruner", "pruner_options",
              "n_trials", "timeout", "seed", "run_root", "description"},
    "storage": {"url", "heartbeat_interval", "grace_period", "max_retry"},
    "network": None,  # family options, checked by the family's base_spec
    "budget": {"limits", "tolerance", "ratio", "depth_rounding", "infeasible"},
    "data": {"name", "root", "options"},
    "train": None,  # TrainConfig fields, checked against the dataclass
}
#: TrainConfig fields that the [data] table sets, so [train] may not.
_DATA_FIELDS = ("data", "data_root", "data_options")


@dataclass(frozen=True)
class StudyConfig:
    """One study: base network, data, training, budgets, objectives, sampler, pruner, storage, search space."""

    name: str
    base: NetSpec
    train: TrainConfig
    space: SearchSpace
    budgets: tuple[Budget, ...] = ()
    tolerance: float = 0.0
    ratio: tuple[float, float, float] = PAPER_RATIO
    depth_rounding: str = "stagewise"
    infeasible: str = "constrain"
    objectives: tuple[str, ...] = ("miou",)
    sampler: str = "tpe"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner: str = "median"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    n_trials: int | None = None
    timeout: float | None = None
    seed: int = 0
    storage: str = ""
    run_root: Path = Path("runs/studies")
    heartbeat_interval: int = HEARTBEAT_INTERVAL
    grace_period: int = 3 * HEARTBEAT_INTERVAL
    max_retry: int = MAX_RETRY
    path: Path | None = None
    text: str = ""
    description: str = ""

    @property
    def study_dir(self) -> Path:
        """Where the trials' run directories go: <run_root>/<name>."""
        return self.run_root / self.name

    @property
    def directions(self) -> list[str]:
        """Optuna directions of the objectives, in order."""
        return [OBJECTIVES[o] for o in self.objectives]

    @property
    def multi_objective(self) -> bool:
        """More than one objective (no pruning then)."""
        return len(self.objectives) > 1

    def with_overrides(self, **changes: Any) -> StudyConfig:
        """A copy with command-line overrides (storage, n_trials, timeout, run_root, device, name), re-checked."""
        device = changes.pop("device", None)
        changes = {k: v for k, v in changes.items() if v is not None}
        if device is not None:
            changes["train"] = dataclasses.replace(self.train, device=device)
        if "run_root" in changes:
            changes["run_root"] = Path(changes["run_root"]).resolve()
        config = dataclasses.replace(self, **changes)
        _check_counts(config, "command line")
        return config


def _where(path: Path, table: str, key: str | None = None) -> str:
    """"file: [table] key" for error messages."""
    return f"{path}: [{table}]" + (f" {key}" if key else "")


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    """A top-level table, checked for unknown keys."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name}={table!r}: valid: a [{name}] table")
    valid = _TABLES[name]
    if valid is not None:
        unknown = set(table) - valid
        if unknown:
            raise ConfigError(f"{_where(path, name)}: unknown key(s) {sorted(unknown)}; "
                              f"valid: {', '.join(sorted(valid))}")
    return table


def _int(path: Path, table: str, key: str, value: Any, low: int) -> int:
    """An integer >= low."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{_where(path, table, key)} = {value!r}: valid: an integer >= {low}")
    return value


def _choice(path: Path, table: str, key: str, value: Any, valid: tuple[str, ...]) -> str:
    """One of `valid`."""
    if value not in valid:
        raise ConfigError(f"{_where(path, table, key)} = {value!r}: valid: {', '.join(valid)}")
    return value


def _relative(path: Path, value: Any, table: str, key: str) -> Path:
    """A path written in the file, resolved against the file's folder."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{_where(path, table, key)} = {value!r}: valid: a path (relative to {path.parent})")
    return (path.parent / value).resolve()


def _storage_url(path: Path, url: Any) -> str:
    """A storage URL; a relative SQLite path is made relative to the file's folder."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"{_where(path, 'storage', 'url')} = {url!r}: valid: an SQLAlchemy URL such as "
                          f"sqlite:///study.db or postgresql://user@host/db")
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:" and not url[len(prefix):].startswith("/"):
        return prefix + str((path.parent / url[len(prefix):]).resolve())
    return url


def default_storage(name: str) -> str:
    """The default storage: a SQLite file under ./runs/studies/<name>/."""
    return f"sqlite:///{(Path('runs/studies') / name / 'study.db').resolve()}"


def _ratio(path: Path, value: Any) -> tuple[float, float, float]:
    """"paper", "efficientnet" or [D, W, R]."""
    named = {"paper": PAPER_RATIO, "efficientnet": EFFICIENTNET_RATIO}
    if isinstance(value, str) and value in named:
        return named[value]
    numbers = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if numbers and len(value) == 3 and all(math.isfinite(v) and v > 0 for v in value):
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    raise ConfigError(f"{_where(path, 'budget', 'ratio')} = {value!r}: valid: \"paper\", \"efficientnet\" or "
                      f"[depth, width, resolution] factors > 0")


def _train_config(path: Path, data: dict[str, Any], train: dict[str, Any]) -> Any:
    """The base TrainConfig from [data] and [train]."""
    valid = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _DATA_FIELDS]
    for key in train:
        if key not in valid:
            hint = " (set it in [data])" if key in _DATA_FIELDS else ""
            raise ConfigError(f"{_where(path, 'train', key)}: unknown training field{hint}; valid: {', '.join(valid)}")
    name = data.get("name", "shapes")
    root = data.get("root")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{_where(path, 'data', 'options')} = {options!r}: valid: a table of dataset options")
    kwargs = dict(train, data=name, data_root=None if root is None else str(_relative(path, root, "data", "root")),
                  data_options=options)
    try:
        return TrainConfig(**kwargs)
    except ScalerError as exc:
        raise ConfigError(f"{path}: [train]/[data]: {exc}") from None


def _check_counts(config: StudyConfig, where: str) -> None:
    """n_trials/timeout/sampler/pruner consistency (also after command-line overrides)."""
    if config.n_trials is not None and (not isinstance(config.n_trials, int) or isinstance(config.n_trials, bool)
                                        or config.n_trials < 1):
        raise ConfigError(f"{where}: n_trials={config.n_trials!r}: valid: an integer >= 1")
    if config.timeout is not None and not (isinstance(config.timeout, (int, float))
                                           and not isinstance(config.timeout, bool) and config.timeout > 0):
        raise ConfigError(f"{where}: timeout={config.timeout!r}: valid: seconds > 0")
    if config.sampler == "grid":
        size = config.space.grid_size()
        if config.n_trials is not None and config.n_trials > size:
            raise ConfigError(f"{where}: n_trials={config.n_trials} exceeds the {size} points of the grid of "
                              f"{config.space.path}; valid: n_trials <= {size}, or leave it out")
    elif config.n_trials is None and config.timeout is None:
        raise ConfigError(f"{where}: neither n_trials nor timeout is set; valid: at least one of them "
                          f"(only a grid sampler stops by itself)")


def _check_sampler(path: Path, config: StudyConfig) -> None:
    """Build the sampler and pruner once so bad options fail at load time, naming the key."""
    try:
        make_sampler(config, config.seed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_where(path, 'study', 'sampler_options')} = {config.sampler_options!r}: {exc}") from None
    try:
        make_pruner(config)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_where(path, 'study', 'pruner_options')} = {config.pruner_options!r}: {exc}") from None


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a study TOML file (and the search-space file it names).

    Args:
        path: the study file; relative paths inside it are relative to its folder.

    Returns:
        The StudyConfig. Every rule of the search space has already been solved into the budget,
        so a budget that cannot be met fails here, not in the middle of a study.

    Raises:
        ConfigError: naming the file, the key and the bad value.
    """
    path = Path(path).resolve()
    data = read_toml(path)
    unknown = set(data) - set(_TABLES)
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {sorted(unknown)}; valid: {', '.join(_TABLES)}")
    study, storage, network, budget, data_t, train_t = (_table(data, n, path) for n in _TABLES)

    name = study.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{_where(path, 'study', 'name')} = {name!r}: valid: a non-empty string")

    # -- network --------------------------------------------------------------------------------
    options = dict(network)
    family = options.pop("family", "unet")
    if "input_size" in options:
        size = options["input_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            raise ConfigError(f"{_where(path, 'network', 'input_size')} = {size!r}: valid: [H, W] integers")
        options["input_size"] = tuple(size)
    try:
        base = base_spec(family, **options)
    except ScalerError as exc:
        raise ConfigError(f"{_where(path, 'network')}: {exc}") from None

    # -- training and search space -----------------------------------------------------------------
    seed = _int(path, "study", "seed", study.get("seed", 0), 0)
    train = _train_config(path, data_t, {"seed": seed, **train_t})  # [study] seed seeds training too
    train_fields = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _DATA_FIELDS)

    def check_train(key: str, value: Any) -> None:
        dataclasses.replace(train, **{key: value})

    if "search_space" not in study:
        raise ConfigError(f"{_where(path, 'study', 'search_space')}: missing; valid: a search_spaces/*.toml file "
                          f"(relative to {path.parent})")
    space = load_search_space(_relative(path, study["search_space"], "study", "search_space"), train_fields,
                              check_train)

    # -- budget -------------------------------------------------------------------------------------
    limits = budget.get("limits", [])
    if isinstance(limits, str):
        limits = [limits]
    if not isinstance(limits, list) or not all(isinstance(v, str) for v in limits):
        raise ConfigError(f"{_where(path, 'budget', 'limits')} = {limits!r}: valid: a list such as [\"params=2x\"]")
    try:
        budgets = parse_budgets(limits)
    except ScalerError as exc:
        raise ConfigError(f"{_where(path, 'budget', 'limits')} = {limits!r}: {exc}") from None
    tolerance = budget.get("tolerance", 0.0)
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or not 0 <= tolerance < 1:
        raise ConfigError(f"{_where(path, 'budget', 'tolerance')} = {tolerance!r}: valid: a number in [0, 1)")
    ratio = _ratio(path, budget.get("ratio", "paper"))
    depth_rounding = _choice(path, "budget", "depth_rounding", budget.get("depth_rounding", "stagewise"),
                             DEPTH_ROUNDINGS)
    infeasible = _choice(path, "budget", "infeasible", budget.get("infeasible", "constrain"), INFEASIBLE_POLICIES)
    rules = [r for r in space.rules() if r not in ("baseline", "custom")]
    if rules and not budgets:
        raise ConfigError(f"{_where(path, 'budget', 'limits')}: missing; the rules {rules} are solved into a "
                          f"budget; valid: e.g. limits = [\"params=2x\"]")
    for rule in rules:
        try:
            solved(base, rule, budgets, float(tolerance), ratio, depth_rounding)  # cached for the trials
        except ScalerError as exc:
            raise ConfigError(f"{_where(path, 'budget', 'limits')} = {limits!r}: rule {rule!r}: {exc}") from None

    # -- objectives, sampler, pruner ----------------------------------------------------------------
    objectives = study.get("objectives", ["miou"])
    if isinstance(objectives, str):
        objectives = [objectives]
    if (not isinstance(objectives, list) or not objectives or objectives[0] != "miou"
            or len(set(objectives)) != len(objectives) or any(o not in OBJECTIVES for o in objectives)):
        raise ConfigError(f"{_where(path, 'study', 'objectives')} = {objectives!r}: valid: [\"miou\"] optionally "
                          f"followed by distinct costs to minimise from {', '.join(list(OBJECTIVES)[1:])}")
    sampler = _choice(path, "study", "sampler", study.get("sampler", "tpe"), SAMPLERS)
    default_pruner = "none" if len(objectives) > 1 or sampler == "grid" else "median"
    pruner = _choice(path, "study", "pruner", study.get("pruner", default_pruner), PRUNERS)
    if len(objectives) > 1 and pruner != "none":
        raise ConfigError(f"{_where(path, 'study', 'pruner')} = {pruner!r}: Optuna cannot prune a multi-objective "
                          f"study (objectives={objectives}); valid: pruner = \"none\", or objectives = [\"miou\"] "
                          f"with the costs as hard [budget] limits and the Pareto front computed afterwards")
    for key in ("sampler_options", "pruner_options"):
        if not isinstance(study.get(key, {}), dict):
            raise ConfigError(f"{_where(path, 'study', key)} = {study[key]!r}: valid: a table of keyword arguments")

    # -- storage ----------------------------------------------------------------------------------
    heartbeat = _int(path, "storage", "heartbeat_interval", storage.get("heartbeat_interval", HEARTBEAT_INTERVAL), 1)
    grace = _int(path, "storage", "grace_period", storage.get("grace_period", 3 * heartbeat), 1)
    if grace <= heartbeat:
        raise ConfigError(f"{_where(path, 'storage', 'grace_period')} = {grace!r}: valid: more than "
                          f"heartbeat_interval ({heartbeat}), or a live trial is declared dead between two beats")
    url = _storage_url(path, storage["url"]) if "url" in storage else default_storage(name)
    run_root = (_relative(path, study["run_root"], "study", "run_root") if "run_root" in study
                else Path("runs/studies").resolve())
    description = study.get("description", "")

    config = StudyConfig(
        name=name, base=base, train=train, space=space, budgets=budgets, tolerance=float(tolerance),
        ratio=ratio, depth_rounding=depth_rounding, infeasible=infeasible, objectives=tuple(objectives),
        sampler=sampler, sampler_options=dict(study.get("sampler_options", {})), pruner=pruner,
        pruner_options=dict(study.get("pruner_options", {})), n_trials=study.get("n_trials"),
        timeout=study.get("timeout"), seed=seed, storage=url, run_root=run_root, heartbeat_interval=heartbeat,
        grace_period=grace, max_retry=_int(path, "storage", "max_retry", storage.get("max_retry", MAX_RETRY), 0),
        path=path, text=path.read_text(), description=str(description),
    )
    _check_counts(config, _where(path, "study"))
    _check_sampler(path, config)
    return config
