"""Scaling rules as pure NetSpec -> NetSpec functions, composed from three primitives on a chosen part.

The primitives are depth, width and resolution. Every named method (depth, width, resolution,
compound, asymmetric) is a *direction* in factor space, a `Factors` record; `Factors ** phi` walks
along it, which is how the solver scales any rule with one coefficient.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from scaler.errors import SpecError
from scaler.families import get_family
from scaler.rounding import make_divisible, round_depths, snap_size
from scaler.spec import PARTS, NetSpec
from scaler.vocabulary import DEFAULT_DEPTH_ROUNDING, METHODS, choices_text

__all__ = [
    "Factors", "METHODS", "PAPER_RATIO", "EFFICIENTNET_RATIO", "NAMED_RATIOS", "scale_depth", "scale_width",
    "scale_resolution", "apply_factors", "direction", "factors_text", "parse_ratio",
]

#: The asymmetric-scaling paper's compound factors (WDR / AWDR): depth 1.8, width 1.16, resolution 1.4.
PAPER_RATIO = (1.8, 1.16, 1.4)
#: EfficientNet-B0's grid-searched alpha, beta, gamma (Tan & Le 2019), for depth, width, resolution.
EFFICIENTNET_RATIO = (1.2, 1.1, 1.15)
#: Compound ratios by name (`--ratio paper`, `ratio = "efficientnet"` in TOML).
NAMED_RATIOS = {"paper": PAPER_RATIO, "efficientnet": EFFICIENTNET_RATIO}


def _check_factor(name: str, value: float) -> float:
    """A factor must be a finite number > 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{name} factor must be a number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SpecError(f"{name} factor must be a finite number > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Factors:
    """Per-part depth and width factors and the (global) input-resolution factor."""

    encoder_depth: float = 1.0
    encoder_width: float = 1.0
    decoder_depth: float = 1.0
    decoder_width: float = 1.0
    resolution: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _check_factor(f.name, getattr(self, f.name)))

    @classmethod
    def uniform(cls, depth: float = 1.0, width: float = 1.0, resolution: float = 1.0) -> Factors:
        """The same depth and width factor on both parts."""
        return cls(depth, width, depth, width, resolution)

    def __pow__(self, phi: float) -> Factors:
        """Every factor raised to `phi`: phi = 0 is the identity, phi = 1 is this record."""
        return Factors(**{f.name: getattr(self, f.name) ** phi for f in fields(self)})

    def rounded(self, digits: int = 3, down: bool = False) -> Factors:
        """Factors rounded to `digits` decimals (floored when `down`)."""
        scale = 10**digits
        op = (lambda v: math.floor(v * scale + 1e-9) / scale) if down else (lambda v: round(v, digits))
        return Factors(**{f.name: max(op(getattr(self, f.name)), 1 / scale) for f in fields(self)})

    def as_dict(self) -> dict[str, object]:
        """{"depth", "width", "resolution"}, or per part {"encoder": {...}, "decoder": {...}} where they differ."""
        if self.encoder_depth == self.decoder_depth and self.encoder_width == self.decoder_width:
            return {"depth": self.encoder_depth, "width": self.encoder_width, "resolution": self.resolution}
        return {"encoder": {"depth": self.encoder_depth, "width": self.encoder_width},
                "decoder": {"depth": self.decoder_depth, "width": self.decoder_width},
                "resolution": self.resolution}

    def text(self) -> str:
        """The factors as tables and status lines print them (see `factors_text`)."""
        return factors_text(self.as_dict())

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Factors:
        """Inverse of `as_dict`; also takes flat names such as {"encoder_width": 1.3}."""
        valid = {f.name for f in fields(cls)} | {"depth", "width", "encoder", "decoder"}
        unknown = set(data) - valid
        if unknown:
            raise SpecError(f"unknown factor name(s) {sorted(unknown)}; valid: {sorted(valid)}")
        flat: dict[str, object] = {}
        for key in ("depth", "width"):
            if key in data:
                flat[f"encoder_{key}"] = flat[f"decoder_{key}"] = data[key]
        for part in PARTS:
            for key, value in dict(data.get(part, {})).items():  # type: ignore[call-overload]
                if key not in ("depth", "width"):
                    raise SpecError(f"unknown {part} factor {key!r}; valid: depth, width")
                flat[f"{part}_{key}"] = value
        flat.update({k: v for k, v in data.items() if k not in ("depth", "width", *PARTS)})
        return cls(**flat)  # type: ignore[arg-type]


# -- the three primitives ----------------------------------------------------------------------

def scale_depth(spec: NetSpec, factor: float, part: str = "both", policy: str = DEFAULT_DEPTH_ROUNDING) -> NetSpec:
    """Multiply the units of the stages of `part` (rounded by `policy`); added units repeat the stage's unit."""
    factor = _check_factor("depth", factor)
    for name in _parts(part):
        stages = spec.part(name)
        if not stages:
            continue
        depths = round_depths(tuple(s.depth for s in stages), factor, policy)
        spec = spec.with_part(name, tuple(replace(s, depth=d) for s, d in zip(stages, depths)))
    return spec


def scale_width(spec: NetSpec, factor: float, part: str = "both") -> NetSpec:
    """Multiply the channels of every stage of `part`, rounded by make_divisible(8); classes never change."""
    factor = _check_factor("width", factor)
    for name in _parts(part):
        spec = spec.with_part(name, tuple(replace(s, width=make_divisible(s.width * factor)) for s in spec.part(name)))
    return spec


def scale_resolution(spec: NetSpec, factor: float) -> NetSpec:
    """Multiply the input size, each side snapped to a multiple of the network's total stride."""
    factor = _check_factor("resolution", factor)
    multiple = get_family(spec.family).input_multiple(spec)
    return replace(spec, input_size=snap_size(spec.input_size, factor, multiple))


def _parts(part: str) -> tuple[str, ...]:
    """Expand "both" to the two parts and validate a single part's name."""
    if part == "both":
        return PARTS
    if part not in PARTS:
        raise SpecError(f"unknown part {part!r}; valid: both, {', '.join(PARTS)}")
    return (part,)


def apply_factors(spec: NetSpec, factors: Factors, depth_policy: str = DEFAULT_DEPTH_ROUNDING) -> NetSpec:
    """The base spec scaled by per-part factors: a composition of the three primitives.

    A factor of exactly 1 leaves its dimension as given (no re-rounding): the baseline of any
    method is the base network itself, even one whose widths are not multiples of 8.
    """
    for part in PARTS:
        if getattr(factors, f"{part}_depth") != 1.0:
            spec = scale_depth(spec, getattr(factors, f"{part}_depth"), part, depth_policy)
        if getattr(factors, f"{part}_width") != 1.0:
            spec = scale_width(spec, getattr(factors, f"{part}_width"), part)
    if factors.resolution != 1.0:
        spec = scale_resolution(spec, factors.resolution)
    return spec


def factors_text(factors: object) -> str:
    """Factors (a `Factors.as_dict`) as "d 1.8, w 1.16, r 1.4", or per part "enc d 1.8 w 1.16, dec d 1 w 1, r 1.4".

    The one way factors are written for people: tables, status lines and networks.md all use it.
    """
    if not isinstance(factors, dict) or not factors:
        return ""
    if "encoder" in factors:
        enc, dec = factors.get("encoder") or {}, factors.get("decoder") or {}
        return (f"enc d {enc.get('depth', 1):g} w {enc.get('width', 1):g}, "
                f"dec d {dec.get('depth', 1):g} w {dec.get('width', 1):g}, r {factors.get('resolution', 1):g}")
    return ", ".join(f"{k[0]} {v:g}" for k, v in factors.items() if isinstance(v, (int, float)))


def parse_ratio(value: object) -> tuple[float, float, float]:
    """A compound ratio: a name of NAMED_RATIOS, "D,W,R" text such as "1.8,1.16,1.4", or a [D, W, R] list."""
    if isinstance(value, str) and value in NAMED_RATIOS:
        return NAMED_RATIOS[value]
    numbers: tuple = ()
    try:
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[arg-type]
        if not any(isinstance(v, bool) for v in items):
            numbers = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != 3 or not all(math.isfinite(v) and v > 0 for v in numbers):
        raise SpecError(f"malformed ratio {value!r}; valid: {choices_text(list(NAMED_RATIOS))} or D,W,R factors "
                        f"> 0 such as 1.8,1.16,1.4")
    return numbers  # type: ignore[return-value]


def direction(method: str, ratio: tuple[float, float, float] = PAPER_RATIO, factors: Factors | None = None) -> Factors:
    """The direction of a named method in factor space: its factors at coefficient phi = 1.

    Single-dimension rules use base 2 (phi = log2 of the factor); compound and asymmetric use the
    (depth, width, resolution) `ratio`; asymmetric leaves the decoder at 1.
    """
    if method not in METHODS:
        raise SpecError(f"unknown scaling method {method!r}; valid: {choices_text(METHODS)}")
    d, w, r = (_check_factor(n, v) for n, v in zip(("ratio depth", "ratio width", "ratio resolution"), ratio))
    if method == "baseline":
        return Factors()
    if method == "depth":
        return Factors.uniform(depth=2.0)
    if method == "width":
        return Factors.uniform(width=2.0)
    if method == "resolution":
        return Factors(resolution=2.0)
    if method == "compound":
        return Factors.uniform(d, w, r)
    if method == "asymmetric":
        return Factors(encoder_depth=d, encoder_width=w, resolution=r)
    if factors is None:
        raise SpecError("method 'custom' needs explicit factors, e.g. encoder_width=1.3,decoder_width=1.0")
    return factors
