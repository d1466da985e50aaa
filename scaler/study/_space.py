"""Search spaces (search_spaces/*.toml): what a trial samples — a method or free per-part factors, plus training knobs.

A file has up to three tables; every entry is a fixed value, `{choices = [...]}` or a range
`{low = .., high = .., log = false, step = ..}` (integer when low and high are both integers,
except factors, which are always real):

    method = {choices = ["baseline", "depth", "width", "resolution", "compound", "asymmetric"]}

    [factors]            # free factors instead of a method; absent factors stay 1
    encoder_depth = {low = 1.0, high = 3.0}
    decoder_width = 1.0

    [direction]          # instead of [factors]: a DIRECTION, put on the budget frontier by the solver
    encoder_depth = {low = 0.0, high = 1.0}    # growth weights: factor = 2 ** (weight x phi)
    decoder_width = {low = 0.0, high = 1.0}

    [train]              # any TrainConfig field
    lr = {low = 3e-4, high = 3e-3, log = true}

A method is solved into the study's budget, so it is always feasible; free factors may not be
(see scaler.study for what happens then). A [direction] samples one growth weight per factor; only
their ratios matter: the solver (`scaler.solver.solve`, method "custom") finds the largest phi whose
ROUNDED network 2 ** (weights x phi) fits every budget, so every sample is a network on the budget
frontier, feasible by construction. All weights 0 is the base network. Optuna parameter names are the bare keys ("method",
"encoder_depth", "lr"), which is what optuna-dashboard shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import optuna

from scaler.errors import ConfigError
from scaler.io import read_toml
from scaler.rules import Factors
from scaler.vocabulary import NAMED_METHODS, choices_text

__all__ = ["Fixed", "Choice", "Range", "Param", "SearchSpace", "Candidate", "FACTOR_NAMES", "parse_search_space"]

#: Factor names a search space may sample; "depth"/"width" set both parts at once.
FACTOR_NAMES = ("encoder_depth", "encoder_width", "decoder_depth", "decoder_width", "resolution", "depth", "width")
#: Keys of a search-space file.
SPACE_KEYS = ("method", "factors", "direction", "train", "description")
#: Largest growth weight of a [direction] entry (2 ** 8: a 256x ratio between two factors is already absurd).
MAX_DIRECTION_WEIGHT = 8.0


@dataclass(frozen=True)
class Fixed:
    """A value that is not searched."""

    value: Any

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """The fixed value (not stored as an Optuna parameter)."""
        return self.value

    def values(self) -> list[Any]:
        """Its one value."""
        return [self.value]


@dataclass(frozen=True)
class Choice:
    """A categorical parameter."""

    choices: tuple[Any, ...]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """One of the choices."""
        return trial.suggest_categorical(name, list(self.choices))

    def values(self) -> list[Any]:
        """All choices (a grid axis)."""
        return list(self.choices)


@dataclass(frozen=True)
class Range:
    """A real or integer range, optionally log-scaled or stepped."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """A value in [low, high]."""
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def values(self) -> list[Any]:
        """The stepped values (a grid axis); a continuous range has none."""
        if self.step is None and not self.integer:
            raise ValueError("a continuous range has no grid values")
        step = self.step or 1
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        values = [self.low + i * step for i in range(count)]
        return [int(v) for v in values] if self.integer else [round(v, 12) for v in values]


Param = Union[Fixed, Choice, Range]


@dataclass(frozen=True)
class Candidate:
    """What one trial sampled: a method (solved into the budget) or free factors, and training overrides."""

    method: str
    factors: Factors | None
    train: dict[str, Any] = field(default_factory=dict)
    #: The factors are a direction: the network is the largest along it inside the budget (a [direction] space).
    on_frontier: bool = False


@dataclass(frozen=True)
class SearchSpace:
    """A parsed search space: the method (or free factors) and training parameters, each Fixed/Choice/Range."""

    method: Param = Fixed("baseline")
    factors: dict[str, Param] = field(default_factory=dict)
    train: dict[str, Param] = field(default_factory=dict)
    path: str | None = None
    #: Growth weights of a [direction] space (factor name -> weight parameter); empty otherwise.
    direction: dict[str, Param] = field(default_factory=dict)

    @property
    def free_factors(self) -> bool:
        """True when trials sample factors (method "custom"): absolute ones ([factors]) or a [direction]."""
        return bool(self.factors) or bool(self.direction)

    def methods(self) -> list[str]:
        """The methods trials may use."""
        return ["custom"] if self.free_factors else self.method.values()

    def suggest(self, trial: optuna.Trial) -> Candidate:
        """Sample one candidate (define-by-run: method, factors or direction first, then training knobs)."""
        factors, method = None, "custom"
        if self.direction:
            weights = {name: float(p.suggest(trial, name)) for name, p in self.direction.items()}
            factors = Factors.from_dict({name: 2.0 ** w for name, w in weights.items()})
        elif self.factors:
            factors = Factors.from_dict({name: float(p.suggest(trial, name)) for name, p in self.factors.items()})
        else:
            method = self.method.suggest(trial, "method")
        train = {name: p.suggest(trial, name) for name, p in self.train.items()}
        return Candidate(method, factors, train, on_frontier=bool(self.direction))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the space (stored with the study, so workers can check they agree)."""
        if self.direction:
            record: dict[str, Any] = {"direction": {k: _record(p) for k, p in self.direction.items()}}
        elif self.factors:
            record = {"factors": {k: _record(p) for k, p in self.factors.items()}}
        else:
            record = {"method": _record(self.method)}
        record["train"] = {k: _record(p) for k, p in self.train.items()}
        return record

    def grid(self) -> dict[str, list[Any]]:
        """The search space as a GridSampler grid; ConfigError when a parameter is a continuous range."""
        axes: dict[str, Param] = dict(self.direction or self.factors) if self.free_factors else {"method": self.method}
        axes.update(self.train)
        grid = {}
        for name, param in axes.items():
            if isinstance(param, Fixed):
                continue
            try:
                grid[name] = param.values()
            except ValueError:
                raise ConfigError(f"{self.path or 'search space'}: {name}={_describe(param)}: the grid sampler "
                                  f"needs finite values; valid: choices = [...] or a range with a step") from None
        return grid

    def grid_size(self) -> int:
        """Number of points of the grid."""
        return math.prod(len(v) for v in self.grid().values())


def _record(param: Param) -> Any:
    """A parameter as a JSON-ready value: the fixed value, {"choices"} or the range's fields."""
    if isinstance(param, Fixed):
        return param.value
    if isinstance(param, Choice):
        return {"choices": list(param.choices)}
    return {"low": param.low, "high": param.high, "log": param.log, "step": param.step}


def _describe(param: Param) -> str:
    """A parameter as it would be written in TOML."""
    if isinstance(param, Fixed):
        return repr(param.value)
    if isinstance(param, Choice):
        return f"{{choices = {list(param.choices)!r}}}"
    return f"{{low = {param.low!r}, high = {param.high!r}, log = {str(param.log).lower()}, step = {param.step!r}}}"


def _number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_param(where: str, key: str, raw: Any, real: bool = False) -> Param:
    """One entry: a fixed value, {choices}, or {low, high, log, step}."""
    if not isinstance(raw, dict):
        if isinstance(raw, list):
            raise ConfigError(f"{where}: {key}={raw!r}: a list is ambiguous; valid: {{choices = {raw!r}}} "
                              f"or a single value")
        return Fixed(float(raw) if real and _number(raw) else raw)
    keys = set(raw)
    if "choices" in raw:
        if keys != {"choices"}:
            raise ConfigError(f"{where}: {key}={raw!r}: choices cannot be mixed with {sorted(keys - {'choices'})}; "
                              f"valid: {{choices = [...]}}")
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: {key}.choices={choices!r}: valid: a non-empty list")
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where}: {key}.choices={choices!r}: valid: distinct values")
        return Choice(tuple(float(c) if real and _number(c) else c for c in choices))
    unknown = keys - {"low", "high", "log", "step"}
    if unknown or not {"low", "high"} <= keys:
        raise ConfigError(f"{where}: {key}={raw!r}: valid: {{choices = [...]}} or {{low = .., high = .., "
                          f"log = true|false, step = ..}}")
    low, high, log, step = raw["low"], raw["high"], raw.get("log", False), raw.get("step")
    if not (_number(low) and _number(high)) or low >= high:
        raise ConfigError(f"{where}: {key} low={low!r} high={high!r}: valid: finite numbers with low < high")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: {key}.log={log!r}: valid: true or false")
    if log and low <= 0:
        raise ConfigError(f"{where}: {key}.low={low!r}: a log range needs low > 0")
    if step is not None and (not _number(step) or step <= 0 or log):
        raise ConfigError(f"{where}: {key}.step={step!r}: valid: a number > 0, and no step on a log range")
    integer = not real and all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int))
    return Range(float(low) if not integer else low, float(high) if not integer else high, log,
                 step if integer or step is None else float(step), integer)


def _check_values(where: str, key: str, param: Param, check: Any) -> None:
    """Run `check(value)` on every value a parameter can take (both ends of a range)."""
    values = [param.low, param.high] if isinstance(param, Range) else param.values()
    for value in values:
        try:
            check(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {key}={value!r}: {exc}") from None


def _parse_method(where: str, data: dict[str, Any]) -> Param:
    """The `method` entry: a method name or {choices = [...]} of NAMED_METHODS."""
    for table in ("factors", "direction"):
        if "method" in data and table in data:
            raise ConfigError(f"{where}: method={data['method']!r} and [{table}] both given; valid: a method "
                              f"(solved into the budget) or a [{table}] table, not both")
    method = _parse_param(where, "method", data.get("method", "baseline"))
    if isinstance(method, Range):
        raise ConfigError(f"{where}: method={data['method']!r}: valid: a method name or {{choices = [...]}}")
    for name in method.values():
        if name not in NAMED_METHODS:
            raise ConfigError(f"{where}: method={name!r}: unknown method; valid: {choices_text(NAMED_METHODS)} "
                              f"(free factors go in a [factors] table)")
    return method


def _parse_factors(where: str, data: dict[str, Any]) -> dict[str, Param]:
    """The [factors] table: factor name -> fixed value, choices or range (always real)."""
    factors_raw = data.get("factors", {})
    if not isinstance(factors_raw, dict):
        raise ConfigError(f"{where}: factors={factors_raw!r}: valid: a table of factor = value or range")
    factors: dict[str, Param] = {}
    for key, raw in factors_raw.items():
        if key not in FACTOR_NAMES:
            raise ConfigError(f"{where}: factors.{key}: unknown factor; valid: {choices_text(FACTOR_NAMES)}")
        param = _parse_param(where, f"factors.{key}", raw, real=True)
        _check_values(where, f"factors.{key}", param, lambda v, k=key: Factors.from_dict({k: v}))
        factors[key] = param
    for shared in ("depth", "width"):
        if shared in factors and {f"encoder_{shared}", f"decoder_{shared}"} & set(factors):
            raise ConfigError(f"{where}: factors.{shared} sets both parts and cannot be mixed with "
                              f"encoder_{shared}/decoder_{shared}")
    if "factors" in data and not factors:
        raise ConfigError(f"{where}: [factors] is empty; valid: at least one of {choices_text(FACTOR_NAMES)}")
    return factors


def _check_weight(value: Any) -> None:
    """A growth weight is a number in [0, MAX_DIRECTION_WEIGHT]."""
    if not _number(value) or not 0 <= value <= MAX_DIRECTION_WEIGHT:
        raise ValueError(f"a growth weight must be a number in [0, {MAX_DIRECTION_WEIGHT:g}]")


def _parse_direction(where: str, data: dict[str, Any]) -> dict[str, Param]:
    """The [direction] table: factor name -> growth weight (fixed, choices or range), exclusive with [factors]."""
    raw_table = data.get("direction", {})
    if not isinstance(raw_table, dict) or ("direction" in data and not raw_table):
        raise ConfigError(f"{where}: direction={raw_table!r}: valid: a table of factor = weight or range of "
                          f"weights in [0, {MAX_DIRECTION_WEIGHT:g}], factors from {choices_text(FACTOR_NAMES)}")
    if raw_table and "factors" in data:
        raise ConfigError(f"{where}: [direction] and [factors] are exclusive; valid: one of them")
    weights: dict[str, Param] = {}
    for key, raw in raw_table.items():
        if key not in FACTOR_NAMES:
            raise ConfigError(f"{where}: direction.{key}: unknown factor; valid: {choices_text(FACTOR_NAMES)}")
        param = _parse_param(where, f"direction.{key}", raw, real=True)
        _check_values(where, f"direction.{key}", param, _check_weight)
        weights[key] = param
    for shared in ("depth", "width"):
        if shared in weights and {f"encoder_{shared}", f"decoder_{shared}"} & set(weights):
            raise ConfigError(f"{where}: direction.{shared} sets both parts and cannot be mixed with "
                              f"encoder_{shared}/decoder_{shared}")
    return weights


def _parse_train(where: str, data: dict[str, Any], train_fields: tuple[str, ...], check_train: Any) -> dict[str, Param]:
    """The [train] table: TrainConfig field -> fixed value, choices or range, each value checked."""
    train_raw = data.get("train", {})
    if not isinstance(train_raw, dict):
        raise ConfigError(f"{where}: train={train_raw!r}: valid: a table of TrainConfig field = value or range")
    train: dict[str, Param] = {}
    for key, raw in train_raw.items():
        if key not in train_fields:
            raise ConfigError(f"{where}: train.{key}: unknown training field; valid: {choices_text(train_fields)}")
        param = _parse_param(where, f"train.{key}", raw)
        if check_train is not None:
            _check_values(where, f"train.{key}", param, lambda v, k=key: check_train(k, v))
        train[key] = param
    return train


def parse_search_space(data: dict[str, Any], where: str, train_fields: tuple[str, ...],
                       check_train: Any = None) -> SearchSpace:
    """Validate a search-space table; `where` names the file in errors.

    Args:
        data: the parsed TOML.
        where: the file name (or "file [search]") used in error messages.
        train_fields: the TrainConfig fields a [train] entry may name.
        check_train: optional callable(name, value) raising ValueError for a bad training value.
    """
    if "rule" in data:  # the word before the vocabulary settled on "method"
        raise ConfigError(f"{where}: rule={data['rule']!r}: the key is now 'method'; valid: "
                          f"method = {{choices = [...]}} of {choices_text(NAMED_METHODS)}")
    unknown = set(data) - set(SPACE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; valid: {choices_text(SPACE_KEYS)}")
    method = _parse_method(where, data)
    factors = _parse_factors(where, data)
    direction = _parse_direction(where, data)
    return SearchSpace(method, factors, _parse_train(where, data, train_fields, check_train), where, direction)


def load_search_space(path: str | Path, train_fields: tuple[str, ...], check_train: Any = None) -> SearchSpace:
    """Read and validate a search_spaces/*.toml file."""
    path = Path(path)
    return parse_search_space(read_toml(path), str(path), train_fields, check_train)
