"""Parsing of the small text forms users type: "HxW" sizes and NAME=VALUE assignments (no scaling logic)."""
from __future__ import annotations

import re
from typing import Any, Sequence

from scaler.errors import ScalerError

__all__ = ["parse_size", "parse_assignments", "literal"]

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """Parse "HxW" such as "512x1024" into (H, W)."""
    match = _SIZE_RE.match(text or "")
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise ScalerError(f"malformed input size {text!r}; valid: HxW with positive integers, e.g. 512x1024")
    return int(match.group(1)), int(match.group(2))


def literal(value: str) -> Any:
    """An option value as int, float, bool or string."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def parse_assignments(items: Sequence[str], what: str) -> dict[str, Any]:
    """Parse ["a=1,b=x", "c=2"] into {"a": 1, "b": "x", "c": 2}."""
    out: dict[str, Any] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ScalerError(f"malformed {what} {part!r}; valid: NAME=VALUE, e.g. encoder_width=1.3")
            out[key.strip()] = literal(value.strip())
    return out
