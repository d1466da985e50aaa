"""The family registry: name -> Family (base-spec factory and presets, validation, builder, analytic cost).

Everything that takes a spec goes through `validate` first — `build`, `scaler.complexity` and hence
the solver — so a spec one of them accepts, all of them accept. Every family brings its own `check`.

Families of other packages plug in through the entry point group `scaler.families` (see
`load_plugins`): the value names a module that registers its families on import, or a callable that
returns (or registers) a Family. They are loaded lazily, on the first unknown name and by `families()`.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Callable

import torch
from torch import nn

from scaler.errors import ScalerError, SpecError
from scaler.spec import NetSpec, StageSpec
from scaler.vocabulary import choices_text

__all__ = [
    "Family", "FAMILIES", "ENTRY_POINT_GROUP", "register", "get_family", "families", "load_plugins", "base_spec",
    "build", "check_choice", "check_options", "check_stages", "validate",
]

#: The entry point group through which installed packages add families.
ENTRY_POINT_GROUP = "scaler.families"


@dataclass(frozen=True)
class Family:
    """A family: how to make its base spec, check any spec of it, build it into a module, and count it.

    `builder` is usually a `SegmentationNet` subclass (scaler.families._base); its classmethod `cost`
    then is the analytic count unless `cost` is given. Without either, counts trace the meta device.
    """

    name: str
    make_base: Callable[..., NetSpec]
    builder: Callable[[NetSpec], nn.Module]
    #: Raises SpecError for a spec of this family that cannot be built (options, stage records).
    check: Callable[[NetSpec], None]
    description: str = ""
    #: Analytic cost: walks the spec and records every layer in a CostSheet (None: the builder's `cost`).
    cost: Callable[[NetSpec, Any], None] | None = None
    #: The part of a spec's cost that budgets limit, `budget_cost(spec, cost) -> Complexity` (None: all of it).
    budget_cost: Callable[[NetSpec, Any], Any] | None = None
    #: Named sets of `make_base` options, e.g. {"paper": {...}}: `base_spec(name, preset="paper")`.
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.check):
            raise SpecError(f"family {self.name!r} needs a check(spec) function, got {self.check!r}")
        if self.cost is None and callable(getattr(self.builder, "cost", None)):
            object.__setattr__(self, "cost", self.builder.cost)

    def input_multiple(self, spec: NetSpec) -> int:
        """Input sides must be a multiple of this (the builder's `input_multiple`, else the total stride)."""
        multiple = getattr(self.builder, "input_multiple", None)
        return multiple(spec) if callable(multiple) else spec.total_stride


FAMILIES: dict[str, Family] = {}
_plugins = {"loaded": False}


def register(family: Family) -> Family:
    """Add a family to the registry (a name can be registered once)."""
    if family.name in FAMILIES:
        raise SpecError(f"family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def load_plugins() -> None:
    """Register the families of installed packages (entry point group `scaler.families`), once per process."""
    if _plugins["loaded"]:
        return
    _plugins["loaded"] = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
            made = None if isinstance(loaded, (ModuleType, Family)) else loaded()
        except ScalerError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a third-party package is the same user error
            raise SpecError(f"family plug-in {point.name!r} ({point.value}) failed to load: "
                            f"{type(exc).__name__}: {exc}") from None
        for family in (loaded, made):
            if isinstance(family, Family) and FAMILIES.get(family.name) is not family:
                register(family)


def families() -> dict[str, Family]:
    """Every registered family by name, sorted, installed plug-ins included."""
    load_plugins()
    return dict(sorted(FAMILIES.items()))


def get_family(name: str) -> Family:
    """The registered family called `name` (plug-ins load on the first unknown name); else lists the valid ones."""
    if name not in FAMILIES:
        load_plugins()
    try:
        return FAMILIES[name]
    except KeyError:
        raise SpecError(f"unknown model family {name!r}; valid: {choices_text(sorted(FAMILIES))}") from None


def check_choice(what: str, value: Any, valid: tuple[Any, ...]) -> Any:
    """Return `value` if it is one of `valid`, else raise a SpecError naming both."""
    # bool is an int: `1 in (True, False)` holds, so a flag must be given as a real bool
    if value not in valid or (isinstance(value, bool) != any(isinstance(v, bool) for v in valid)):
        raise SpecError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}")
    return value


def check_options(spec: NetSpec, choices: Mapping[str, tuple[Any, ...]], free: tuple[str, ...] = (),
                  defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The spec's options (missing ones from `defaults`) after checking every name is known and every
    choice-valued one is valid."""
    opts = spec.opts
    unknown = set(opts) - set(choices) - set(free)
    if unknown:
        raise SpecError(f"unknown {spec.family} option(s) {sorted(unknown)}; valid: {sorted((*choices, *free))}")
    for name, valid in choices.items():
        if name in opts:
            check_choice(name, opts[name], valid)
    return {**(defaults or {}), **opts}


def check_stages(spec: NetSpec, part: str, expected: tuple[tuple[str, int], ...]) -> tuple[StageSpec, ...]:
    """The stages of `part` after checking their (block, stride) records are exactly `expected`."""
    stages = spec.part(part)
    found = tuple((s.block, s.stride) for s in stages)
    if found != expected:
        raise SpecError(f"{spec.family} {part} stages must be (block, stride) {list(expected)}, got {list(found)}")
    return stages


def base_spec(family: str, preset: str | None = None, **options: Any) -> NetSpec:
    """The base network of `family`, e.g. `base_spec("unet", width=64, classes=19)`.

    `preset` names a set of options the family keeps (e.g. "paper": the network as its paper
    describes it); options given here override the preset's.
    """
    fam = get_family(family)
    if preset is not None:
        if preset not in fam.presets:
            raise SpecError(f"unknown {family} preset {preset!r}; valid: {choices_text(sorted(fam.presets))}")
        options = {**fam.presets[preset], **options}
    accepted = inspect.signature(fam.make_base).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise SpecError(f"unknown {family} option(s) {unknown}; valid: {choices_text(sorted(accepted))}")
    try:
        spec = fam.make_base(**options)
    except TypeError as exc:
        raise SpecError(f"bad option for family {family!r}: {exc}") from None
    validate(spec)
    return spec


def validate(spec: NetSpec) -> Family:
    """The spec's family, after checking the spec can be built: the family's own checks, then the input size."""
    fam = get_family(spec.family)
    fam.check(spec)
    multiple = fam.input_multiple(spec)
    if any(side % multiple for side in spec.input_size):
        h, w = spec.input_size
        snapped = "x".join(str(max(multiple, round(side / multiple) * multiple)) for side in spec.input_size)
        raise SpecError(f"input size {h}x{w} is not a multiple of the {spec.family} total stride {multiple}; "
                        f"valid: sides divisible by {multiple}, e.g. {snapped}")
    return fam


def build(spec: NetSpec, device: torch.device | str | None = None) -> nn.Module:
    """Build `spec` into an nn.Module (on `device`; "meta" builds without allocating weights)."""
    fam = validate(spec)
    if device is None:
        return fam.builder(spec)
    with torch.device(device):
        return fam.builder(spec)
