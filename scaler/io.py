"""Reading and writing specs and records on disk, with errors that name the file."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from scaler.errors import ConfigError, ScalerError, SpecError
from scaler.spec import NetSpec

__all__ = ["load_spec", "save_spec", "read_toml"]


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error names the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; valid: a TOML file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_spec(path: str | Path) -> NetSpec:
    """Load a spec JSON file (a bare spec or a `scaler scale --save` record)."""
    path = Path(path)
    if not path.is_file():
        raise ScalerError(f"spec file {str(path)!r} does not exist; valid: a JSON file written by `scaler scale --save`")
    try:
        return NetSpec.from_json(path.read_text())
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def save_spec(spec: NetSpec, path: str | Path) -> Path:
    """Write a spec as JSON (parent folders are created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec.to_json())
    return path
