"""Networks as data: frozen dataclass specs that validate on construction and round-trip through JSON."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from scaler.errors import SpecError

__all__ = ["StageSpec", "NetSpec", "PARTS"]

#: The parts a scaling rule can be applied to.
PARTS = ("encoder", "decoder")


@dataclass(frozen=True)
class StageSpec:
    """One stage: `depth` repeated units of kind `block`, `width` output channels, entered at `stride`.

    For an encoder stage `stride` is the downsampling at its entry; for a decoder stage it is the
    upsampling at its entry. What a "unit" is (a conv+BN+act, a bottleneck block, ...) is the
    family's business; depth scaling only multiplies the count.
    """

    depth: int
    width: int
    block: str = "conv"
    stride: int = 1

    def __post_init__(self) -> None:
        for name in ("depth", "width", "stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"stage {name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.block, str) or not self.block:
            raise SpecError(f"stage block must be a non-empty string, got {self.block!r}")


def _freeze_options(options: Any) -> tuple[tuple[str, Any], ...]:
    """Options as a sorted tuple of (name, value) pairs so the spec stays hashable."""
    items = dict(options).items() if not isinstance(options, tuple) else options
    frozen = []
    for key, value in items:
        if isinstance(value, list):
            value = tuple(value)
        frozen.append((str(key), value))
    return tuple(sorted(frozen))


@dataclass(frozen=True)
class NetSpec:
    """A whole encoder-decoder network: family, I/O, per-stage records for encoder and decoder, options."""

    family: str
    in_channels: int
    classes: int
    input_size: tuple[int, int]
    encoder: tuple[StageSpec, ...]
    decoder: tuple[StageSpec, ...]
    options: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "encoder", tuple(self.encoder))
        object.__setattr__(self, "decoder", tuple(self.decoder))
        object.__setattr__(self, "options", _freeze_options(self.options))
        if not isinstance(self.family, str) or not self.family:
            raise SpecError(f"family must be a non-empty string, got {self.family!r}")
        for name in ("in_channels", "classes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{name} must be an integer >= 1, got {value!r}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise SpecError(f"input_size must be (H, W) with positive sides, got {self.input_size!r}")
        if not self.encoder:
            raise SpecError("a network needs at least one encoder stage")
        for stage in (*self.encoder, *self.decoder):
            if not isinstance(stage, StageSpec):
                raise SpecError(f"stages must be StageSpec records, got {type(stage).__name__}")

    # -- convenience -------------------------------------------------------------------------
    @property
    def opts(self) -> dict[str, Any]:
        """The options as a plain dict."""
        return dict(self.options)

    def option(self, name: str, default: Any = None) -> Any:
        """One option's value, or `default`."""
        return self.opts.get(name, default)

    @property
    def total_stride(self) -> int:
        """Product of the encoder strides: input sides must be a multiple of it."""
        return math.prod(stage.stride for stage in self.encoder)

    def part(self, name: str) -> tuple[StageSpec, ...]:
        """The stages of one part (encoder or decoder)."""
        if name not in PARTS:
            raise SpecError(f"unknown part {name!r}; valid: {', '.join(PARTS)}")
        return getattr(self, name)

    def with_part(self, name: str, stages: tuple[StageSpec, ...]) -> NetSpec:
        """A copy with one part's stages replaced."""
        self.part(name)
        return replace(self, **{name: tuple(stages)})

    # -- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "family": self.family,
            "in_channels": self.in_channels,
            "classes": self.classes,
            "input_size": list(self.input_size),
            "encoder": [vars(s).copy() for s in self.encoder],
            "decoder": [vars(s).copy() for s in self.decoder],
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options},
        }

    def digest(self) -> str:
        """The spec's canonical hash: 16 hex digits of SHA-256 over its sorted, compact JSON (cache keys)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self, indent: int | None = 2) -> str:
        """The spec as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetSpec:
        """Inverse of `to_dict`; unknown or missing keys are a SpecError."""
        valid = {"family", "in_channels", "classes", "input_size", "encoder", "decoder", "options"}
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - valid
        missing = valid - {"options"} - set(data)
        if unknown:
            raise SpecError(f"unknown spec key(s) {sorted(unknown)}; valid: {sorted(valid)}")
        if missing:
            raise SpecError(f"spec is missing key(s) {sorted(missing)}")
        try:
            stages = {p: tuple(StageSpec(**s) for s in data[p]) for p in PARTS}
        except TypeError as exc:
            raise SpecError(f"bad stage record: {exc}") from None
        return cls(
            family=data["family"],
            in_channels=data["in_channels"],
            classes=data["classes"],
            input_size=tuple(data["input_size"]),
            options=data.get("options", {}),
            **stages,
        )

    @classmethod
    def from_json(cls, text: str) -> NetSpec:
        """Parse JSON text made by `to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
        if isinstance(data, dict) and "spec" in data and "family" not in data:
            data = data["spec"]  # accept a `scaler scale --json` variant record too
        return cls.from_dict(data)
