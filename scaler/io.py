"""Reading and writing specs and records on disk, with errors that name the file."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scaler.complexity import complexity
from scaler.errors import ConfigError, ScalerError, SpecError, os_error_reason, shown
from scaler.families import validate
from scaler.spec import NetSpec

__all__ = ["load_spec", "save_spec", "read_toml", "prepare_out_dir", "write_text_atomic", "staged_folder"]


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


def prepare_out_dir(path: str | Path, option: str) -> Path:
    """Create the output folder `path` (and its parents) and check a file can be written in it.

    Anything that would make the command fail later (an existing file of that name, a read-only or
    full location, an over-long name) is a ScalerError naming `option` and the path, before any work.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise ScalerError(f"{option} {shown(path)} is an existing file; valid: a folder (new or existing)")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".scaler-write-check-"):
            pass
    except OSError as exc:
        raise ScalerError(f"{option} {shown(path)}: {os_error_reason(exc)}") from None
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` through a temporary sibling renamed over `path`: a failed write leaves the old file as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, _file_mode())  # mkstemp's 0600 would make the file private, unlike a plain write
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _file_mode() -> int:
    """The mode a newly created file gets under this process's umask (0666 & ~umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """`with staged_folder(out) as stage:` write into `stage`; on success its entries replace those in `out`.

    The stage is a temporary sibling of `out` (same file system, so the moves are renames). Files replace
    their namesakes one rename each and a sub-folder is swapped in whole, so a write that fails (a full
    disk, Ctrl-C) leaves `out` exactly as it was, and one that succeeds leaves no stale plot behind.
    Entries of `out` the stage does not hold (a reproduce folder's runs/) are kept.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.resolve().name}.", suffix=".tmp", dir=out.resolve().parent))
    try:
        yield stage
        for entry in sorted(stage.iterdir()):
            target = out / entry.name
            if entry.is_dir() and target.is_dir():
                old = target.with_name(f".{target.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                try:
                    os.replace(entry, target)
                except BaseException:
                    os.replace(old, target)  # the old sub-folder goes back where it was
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(entry, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
