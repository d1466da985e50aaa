"""Study files (studies/*.toml): validated on load into a frozen StudyConfig; errors name file, key and value.

Every relative path written IN a study file (search_space, data.root, a sqlite storage URL,
run_root) is relative to the folder of that file, so a study runs the same from any working
directory. What the file leaves out defaults under ./runs/studies/ of the working directory: the
storage is the SQLite file <name>/study.db there. A trial's run directory is
<run_root>/<study name>-<run key>/trial_NNNN, where the run key is drawn once per study and kept
in the study's storage (see scaler.study._runner), so two studies never share a directory, even
with the same name in different storages.

    [study]    name, search_space, objectives, sampler, sampler_options, pruner, pruner_options,
               n_trials, timeout, seed (of the sampler, and of training unless [train] sets one),
               run_root (default runs/studies), infeasible ("constrain" or "project"), description
    [storage]  url, heartbeat_interval, grace_period, max_retry
    [network]  family and its base-spec options (width, input_size = [H, W], classes, ...)
    [scaling]  budget = ["params=2x", ...], ratio, tolerance, depth_rounding (scaler.scaling.ScalingOptions;
               the methods or factors come from the search space)
    [data]     name, root, options (dataset keyword arguments)
    [train]    any other TrainConfig field (epochs, batch_size, lr, optimizer, ...)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaler.errors import ConfigError, ScalerError
from scaler.families import base_spec
from scaler.io import read_toml
from scaler.rules import Factors
from scaler.scaling import SCALING_KEYS, ScalingOptions
from scaler.spec import NetSpec
from scaler.train import TrainConfig
from scaler.vocabulary import choices_text
from scaler.study._budget import INFEASIBLE_POLICIES, frontier, scaled
from scaler.study._pareto_pruning import pareto_rule
from scaler.study._samplers import make_pruner, make_sampler
from scaler.study._space import SearchSpace, load_search_space
from scaler.study._storage import check_storage_url

__all__ = ["StudyConfig", "load_study_config", "OBJECTIVES", "SAMPLERS", "PRUNERS", "INFEASIBLE_POLICIES",
           "check_study_name"]

#: Objective name -> direction. mIoU is always first: it is the one learned objective.
OBJECTIVES = {"miou": "maximize", "params": "minimize", "macs": "minimize", "flops": "minimize",
              "activations": "minimize", "ms_per_step": "minimize"}
SAMPLERS = ("tpe", "nsga2", "random", "grid")
PRUNERS = ("median", "hyperband", "pareto", "none")
#: Heartbeat defaults: a beat a minute is free next to a training step; a trial is declared dead after
#: three missed beats, so a slow storage round-trip never kills a live worker's trial.
HEARTBEAT_INTERVAL = 60
MAX_RETRY = 2
#: The keys of [scaling] a study takes: the method (or factors) of each trial comes from its search space.
STUDY_SCALING_KEYS = tuple(k for k in SCALING_KEYS if k not in ("method", "factors"))
_TABLES: dict[str, tuple[str, ...] | None] = {
    "study": ("name", "search_space", "objectives", "sampler", "sampler_options", "pruner", "pruner_options",
              "n_trials", "timeout", "seed", "run_root", "infeasible", "description"),
    "storage": ("url", "heartbeat_interval", "grace_period", "max_retry"),
    "network": None,  # family options, checked by the family's base_spec
    "scaling": STUDY_SCALING_KEYS,
    "data": ("name", "root", "options"),
    "train": None,  # TrainConfig fields, checked against the dataclass
}
#: Tables of older study files, refused with what replaced them.
_RENAMED_TABLES = {"budget": "[budget] is now [scaling]: budget = [...] (was limits), ratio, tolerance, "
                             "depth_rounding; infeasible moved to [study]"}
#: TrainConfig fields that the [data] table sets, so [train] may not.
_DATA_FIELDS = ("data", "data_root", "data_options")
#: A study name becomes a folder name (plus "-" and an 8-character run key) and an Optuna study name:
#: file systems take 255 bytes per name, Optuna's storages 512 characters.
MAX_NAME_BYTES = 200


@dataclass(frozen=True)
class StudyConfig:
    """One study: base network, data, training, scaling options, objectives, sampler, pruner, storage, search space."""

    name: str
    base: NetSpec
    train: TrainConfig
    space: SearchSpace
    #: Budgets, ratio, tolerance and depth rounding; each trial's method (or factors) comes from `space`.
    scaling: ScalingOptions = ScalingOptions()
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
    def directions(self) -> list[str]:
        """Optuna directions of the objectives, in order."""
        return [OBJECTIVES[o] for o in self.objectives]

    @property
    def multi_objective(self) -> bool:
        """More than one objective (no pruning then)."""
        return len(self.objectives) > 1

    def study_dir(self, run_key: str) -> Path:
        """Where the trials' run directories go: <run_root>/<name>-<run key> (the key is the study's, in storage)."""
        return self.run_root / f"{self.name}-{run_key}"

    def with_overrides(self, **changes: Any) -> StudyConfig:
        """A copy with command-line overrides (storage, n_trials, timeout, run_root, device, name), re-checked."""
        device = changes.pop("device", None)
        changes = {k: v for k, v in changes.items() if v is not None}
        if device is not None:
            changes["train"] = dataclasses.replace(self.train, device=device)
        if "run_root" in changes:
            changes["run_root"] = Path(changes["run_root"]).resolve()
        if "name" in changes:
            check_study_name(changes["name"], "--name")
        if "storage" in changes:
            changes["storage"] = check_storage_url(changes["storage"], "--storage")
        config = dataclasses.replace(self, **changes)
        _check_counts(config, "command line")
        return config


def _where(path: Path, table: str, key: str | None = None) -> str:
    """"file: [table] key" for error messages."""
    return f"{path}: [{table}]" + (f" {key}" if key else "")


def _tables(path: Path, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every top-level table (empty when absent), each checked for unknown keys."""
    for old, message in _RENAMED_TABLES.items():
        if old in data:
            raise ConfigError(f"{path}: {message}")
    unknown = set(data) - set(_TABLES)
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {sorted(unknown)}; valid: {choices_text(list(_TABLES))}")
    tables = {}
    for name, valid in _TABLES.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name}={table!r}: valid: a [{name}] table")
        unknown = set(table) - set(valid) if valid is not None else set()
        if unknown:
            hint = " (a study's method or factors come from its search space)" if name == "scaling" else ""
            raise ConfigError(f"{_where(path, name)}: unknown key(s) {sorted(unknown)}; "
                              f"valid: {choices_text(valid)}{hint}")
        tables[name] = table
    return tables


def _int(path: Path, table: str, key: str, value: Any, low: int) -> int:
    """An integer >= low."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{_where(path, table, key)} = {value!r}: valid: an integer >= {low}")
    return value


def _choice(path: Path, table: str, key: str, value: Any, valid: tuple[str, ...]) -> str:
    """One of `valid`."""
    if value not in valid:
        raise ConfigError(f"{_where(path, table, key)} = {value!r}: valid: {choices_text(valid)}")
    return value


def _relative(path: Path, value: Any, table: str, key: str) -> Path:
    """A path written in the file, resolved against the file's folder."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{_where(path, table, key)} = {value!r}: valid: a path (relative to {path.parent})")
    return (path.parent / value).resolve()


def check_study_name(name: Any, where: str) -> str:
    """A study name usable as an Optuna study name and inside a folder name."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} = {name!r}: valid: a non-empty string")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES or "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
        shown = name if len(name) <= 40 else f"{name[:40]}... ({len(name)} characters)"
        raise ConfigError(f"{where} = {shown!r}: valid: at most {MAX_NAME_BYTES} bytes (UTF-8), no '/', '\\' or "
                          f"NUL, not '.' or '..' (it names the study's run folder)")
    return name


def _storage_url(path: Path, url: Any) -> str:
    """A storage URL; a relative SQLite path is made relative to the file's folder."""
    where = _where(path, "storage", "url")
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"{where} = {url!r}: valid: an SQLAlchemy URL such as sqlite:///study.db or "
                          f"postgresql://user@host/db")
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:" and not url[len(prefix):].startswith("/"):
        url = prefix + str((path.parent / url[len(prefix):]).resolve())
    return check_storage_url(url, where)


def default_storage(name: str) -> str:
    """The default storage: a SQLite file under ./runs/studies/<name>/."""
    return f"sqlite:///{(Path('runs/studies') / name / 'study.db').resolve()}"


def _network(path: Path, network: dict[str, Any]) -> NetSpec:
    """The base network from [network]: family and its base-spec options."""
    options = dict(network)
    family = options.pop("family", "unet")
    if "input_size" in options:
        size = options["input_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
            raise ConfigError(f"{_where(path, 'network', 'input_size')} = {size!r}: valid: [H, W] integers")
        options["input_size"] = tuple(size)
    try:
        return base_spec(family, **options)
    except ScalerError as exc:
        raise ConfigError(f"{_where(path, 'network')}: {exc}") from None


def _train_config(path: Path, data: dict[str, Any], train: dict[str, Any]) -> TrainConfig:
    """The base TrainConfig from [data] and [train]."""
    valid = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in _DATA_FIELDS]
    for key in train:
        if key not in valid:
            hint = " (set it in [data])" if key in _DATA_FIELDS else ""
            raise ConfigError(f"{_where(path, 'train', key)}: unknown training field{hint}; "
                              f"valid: {choices_text(valid)}")
    name = data.get("name", "shapes")
    root = data.get("root")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{_where(path, 'data', 'options')} = {options!r}: valid: a table of dataset options")
    kwargs = dict(train, data=name, data_root=None if root is None else str(_relative(path, root, "data", "root")),
                  data_options=options)
    if train.get("pretrained") is not None:  # a weights file, like the data root, is relative to the study file
        kwargs["pretrained"] = str(_relative(path, train["pretrained"], "train", "pretrained"))
    try:
        return TrainConfig(**kwargs)
    except ScalerError as exc:
        raise ConfigError(f"{path}: [train]/[data]: {exc}") from None


def _search_space(path: Path, study: dict[str, Any], train: TrainConfig) -> SearchSpace:
    """The search-space file [study] search_space names, its training values checked against `train`."""
    if "search_space" not in study:
        raise ConfigError(f"{_where(path, 'study', 'search_space')}: missing; valid: a search_spaces/*.toml file "
                          f"(relative to {path.parent})")
    train_fields = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _DATA_FIELDS)

    def check_train(key: str, value: Any) -> None:
        dataclasses.replace(train, **{key: value})

    return load_search_space(_relative(path, study["search_space"], "study", "search_space"), train_fields,
                             check_train)


def _scaling(path: Path, table: dict[str, Any], base: NetSpec, space: SearchSpace) -> ScalingOptions:
    """[scaling] through ScalingOptions.from_mapping; every method of the space is solved once here (cached)."""
    where = _where(path, "scaling")
    try:
        scaling = ScalingOptions.from_mapping(table, where)
    except ScalerError as exc:
        raise ConfigError(str(exc)) from None
    try:
        scaling.limits(base)  # a budget below the base network fails here, not in the first trial
    except ScalerError as exc:
        raise ConfigError(f"{where} budget = {table.get('budget')!r}: {exc}") from None
    methods = [m for m in space.methods() if m not in ("baseline", "custom")]
    if methods and not scaling.budgets:
        raise ConfigError(f"{where} budget: missing; the methods {methods} are solved into a budget; "
                          f"valid: e.g. budget = [\"params=2x\"]")
    for method in methods:
        try:
            scaled(scaling.with_method(method), base)  # cached for the trials
        except ScalerError as exc:
            raise ConfigError(f"{where} budget = {table.get('budget')!r}: method {method!r}: {exc}") from None
    _check_direction(where, table, scaling, base, space)
    return scaling


def _check_direction(where: str, table: dict[str, Any], scaling: ScalingOptions, base: NetSpec,
                     space: SearchSpace) -> None:
    """Every factor a [direction] may grow is limited by some budget, so every sampled direction has a frontier."""
    if not space.direction:
        return
    if not scaling.budgets:
        raise ConfigError(f"{where} budget: missing; a [direction] search space puts each network on the "
                          f"budget frontier; valid: e.g. budget = [\"params=2x\"]")
    for name in space.direction:
        try:
            frontier(scaling, base, Factors.from_dict({name: 2.0}))
        except ScalerError as exc:
            raise ConfigError(f"{where} budget = {table.get('budget')!r}: direction.{name}: {exc}") from None


def _objectives(path: Path, study: dict[str, Any]) -> tuple[list[str], str, str]:
    """(objectives, sampler, pruner) from [study]; a pruner on a multi-objective study is refused."""
    objectives = study.get("objectives", ["miou"])
    if isinstance(objectives, str):
        objectives = [objectives]
    if (not isinstance(objectives, list) or not objectives or objectives[0] != "miou"
            or len(set(objectives)) != len(objectives) or any(o not in OBJECTIVES for o in objectives)):
        raise ConfigError(f"{_where(path, 'study', 'objectives')} = {objectives!r}: valid: [\"miou\"] optionally "
                          f"followed by distinct costs to minimise from {choices_text(list(OBJECTIVES)[1:])}")
    sampler = _choice(path, "study", "sampler", study.get("sampler", "tpe"), SAMPLERS)
    default_pruner = "none" if len(objectives) > 1 or sampler == "grid" else "median"
    pruner = _choice(path, "study", "pruner", study.get("pruner", default_pruner), PRUNERS)
    if len(objectives) > 1 and pruner not in ("pareto", "none"):
        raise ConfigError(f"{_where(path, 'study', 'pruner')} = {pruner!r}: Optuna cannot prune a multi-objective "
                          f"study (objectives={objectives}); valid: pruner = \"pareto\" (scaler's Pareto-aware "
                          f"rule, see scaler.study._pareto_pruning) or \"none\"")
    if len(objectives) == 1 and pruner == "pareto":
        raise ConfigError(f"{_where(path, 'study', 'pruner')} = \"pareto\": the Pareto-aware rule compares "
                          f"accuracy among no-costlier trials of a multi-objective study (objectives={objectives}); "
                          f"valid: \"median\", \"hyperband\" or \"none\", or add a cost objective")
    for key in ("sampler_options", "pruner_options"):
        if not isinstance(study.get(key, {}), dict):
            raise ConfigError(f"{_where(path, 'study', key)} = {study[key]!r}: valid: a table of keyword arguments")
    return objectives, sampler, pruner


def _storage(path: Path, storage: dict[str, Any], name: str) -> dict[str, Any]:
    """[storage]: url (default: a SQLite file under ./runs/studies/<name>/), heartbeat, grace period, retries."""
    heartbeat = _int(path, "storage", "heartbeat_interval", storage.get("heartbeat_interval", HEARTBEAT_INTERVAL), 1)
    grace = _int(path, "storage", "grace_period", storage.get("grace_period", 3 * heartbeat), 1)
    if grace <= heartbeat:
        raise ConfigError(f"{_where(path, 'storage', 'grace_period')} = {grace!r}: valid: more than "
                          f"heartbeat_interval ({heartbeat}), or a live trial is declared dead between two beats")
    return {"storage": _storage_url(path, storage["url"]) if "url" in storage else default_storage(name),
            "heartbeat_interval": heartbeat, "grace_period": grace,
            "max_retry": _int(path, "storage", "max_retry", storage.get("max_retry", MAX_RETRY), 0)}


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
        if config.pruner == "pareto":
            pareto_rule(config.pruner_options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_where(path, 'study', 'pruner_options')} = {config.pruner_options!r}: {exc}") from None


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a study TOML file (and the search-space file it names).

    Args:
        path: the study file; relative paths inside it are relative to its folder.

    Returns:
        The StudyConfig. Every method of the search space has already been solved into the budget,
        so a budget that cannot be met fails here, not in the middle of a study.

    Raises:
        ConfigError: naming the file, the key and the bad value.
    """
    path = Path(path).resolve()
    tables = _tables(path, read_toml(path))
    study = tables["study"]
    name = check_study_name(study.get("name", path.stem), _where(path, "study", "name"))
    base = _network(path, tables["network"])
    seed = _int(path, "study", "seed", study.get("seed", 0), 0)
    train = _train_config(path, tables["data"], {"seed": seed, **tables["train"]})  # [study] seed seeds training too
    space = _search_space(path, study, train)
    objectives, sampler, pruner = _objectives(path, study)
    run_root = (_relative(path, study["run_root"], "study", "run_root") if "run_root" in study
                else Path("runs/studies").resolve())
    config = StudyConfig(
        name=name, base=base, train=train, space=space, scaling=_scaling(path, tables["scaling"], base, space),
        infeasible=_choice(path, "study", "infeasible", study.get("infeasible", "constrain"), INFEASIBLE_POLICIES),
        objectives=tuple(objectives), sampler=sampler, sampler_options=dict(study.get("sampler_options", {})),
        pruner=pruner, pruner_options=dict(study.get("pruner_options", {})), n_trials=study.get("n_trials"),
        timeout=study.get("timeout"), seed=seed, run_root=run_root, path=path, text=path.read_text(),
        description=str(study.get("description", "")), **_storage(path, tables["storage"], name),
    )
    _check_counts(config, _where(path, "study"))
    _check_sampler(path, config)
    return config
