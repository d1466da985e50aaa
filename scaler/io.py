"""Reading and writing specs and records on disk, with errors that name the file."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from scaler.complexity import complexity
from scaler.errors import ConfigError, ScalerError, SpecError
from scaler.families import validate
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
    """Load a spec JSON file (a bare spec or a `scaler scale --save` record), validated by its family.

    Derived numbers in a record (params, MACs, FLOPs, activations) are recomputed from the spec,
    never read back as truth: a record whose numbers disagree with its spec is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise ScalerError(f"spec file {str(path)!r} does not exist; valid: a JSON file written by `scaler scale --save`")
    try:
        text = path.read_text()
        spec = NetSpec.from_json(text)
        validate(spec)
        _check_recorded_costs(json.loads(text), spec)
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file; valid: a JSON file written by `scaler scale --save`") from None
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    return spec


def _check_recorded_costs(record: Any, spec: NetSpec) -> None:
    """A SpecError when a `scaler scale` record's params/MACs/FLOPs/activations are not its spec's."""
    if not isinstance(record, dict) or "family" in record:
        return  # a bare spec: it holds no derived numbers
    cost = complexity(spec).as_dict()
    for key in ("params", "macs", "flops", "activations"):
        if key in record and record[key] != cost[key]:
            raise SpecError(f"{key}={record[key]!r} does not match its spec ({key}={cost[key]}); valid: the "
                            f"record as `scaler scale --save` wrote it, or the bare spec")


def save_spec(spec: NetSpec, path: str | Path) -> Path:
    """Write a spec as JSON (parent folders are created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec.to_json())
    return path
