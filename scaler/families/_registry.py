"""The family registry: name -> Family (base-spec factory, validation, builder, analytic cost).

Everything that takes a spec goes through `validate` first — `build`, `scaler.complexity` and hence
the solver — so a spec one of them accepts, all of them accept.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from scaler.errors import SpecError
from scaler.spec import NetSpec
from scaler.vocabulary import choices_text

__all__ = ["Family", "FAMILIES", "register", "get_family", "base_spec", "build", "check_choice", "validate"]


@dataclass(frozen=True)
class Family:
    """A family: how to make its base spec, check any spec of it, build it into a module, and count it."""

    name: str
    make_base: Callable[..., NetSpec]
    builder: Callable[[NetSpec], nn.Module]
    description: str = ""
    #: Analytic cost: walks the spec and records every layer in a CostSheet (None: trace on meta).
    cost: Callable[[NetSpec, Any], None] | None = None
    #: Raises SpecError for a spec of this family that cannot be built (options, stage records).
    check: Callable[[NetSpec], None] | None = None

    def input_multiple(self, spec: NetSpec) -> int:
        """Input sides must be a multiple of this (the network's total stride)."""
        return spec.total_stride


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the registry (a name can be registered once)."""
    if family.name in FAMILIES:
        raise SpecError(f"family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The registered family called `name`; an unknown name lists the valid ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise SpecError(f"unknown model family {name!r}; valid: {choices_text(sorted(FAMILIES))}") from None


def check_choice(what: str, value: Any, valid: tuple[Any, ...]) -> Any:
    """Return `value` if it is one of `valid`, else raise a SpecError naming both."""
    if value not in valid:
        raise SpecError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}")
    return value


def base_spec(family: str, **options: Any) -> NetSpec:
    """The base network of `family`, e.g. `base_spec("unet", width=64, classes=19)`."""
    fam = get_family(family)
    try:
        spec = fam.make_base(**options)
    except TypeError as exc:
        raise SpecError(f"bad option for family {family!r}: {exc}") from None
    validate(spec)
    return spec


def validate(spec: NetSpec) -> Family:
    """The spec's family, after checking the spec can be built: the family's own checks, then the input size."""
    fam = get_family(spec.family)
    if fam.check is not None:
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
