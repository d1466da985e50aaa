"""Errors raised at the boundaries (CLI, config, data); the CLI turns them into one line and exit code 2."""
from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["ScalerError", "SpecError", "BudgetError", "DataError", "ConfigError", "shown", "os_error_text",
           "os_error_reason", "IO_FAILURES"]

#: errnos of a genuine I/O failure (not a bad path): the CLI exits 1 for these, 2 for a bad path.
IO_FAILURES = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


class ScalerError(ValueError):
    """Base class: a user-facing error whose message names the bad value and what is valid."""


class SpecError(ScalerError):
    """A network spec, family name, option or scaling factor is invalid."""


class BudgetError(ScalerError):
    """A budget is malformed or cannot be met (for example it lies below the base network)."""


class DataError(ScalerError):
    """A dataset file is missing, unreadable or inconsistent (names the file)."""


class ConfigError(ScalerError):
    """A TOML study or search-space file has a bad key or value (names file, key and value)."""


def shown(path: str | Path, limit: int = 80) -> str:
    """A path for a one-line message: quoted, and cut with its length said when it is very long."""
    text = str(path)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def os_error_text(exc: OSError) -> str:
    """One line for an OSError: the path, what went wrong and what would be valid; an I/O failure says so."""
    where = shown(exc.filename) if exc.filename is not None else "a file"
    if exc.errno in IO_FAILURES:
        return f"I/O failure on {where}: {exc.strerror or exc}; free the space (or fix the device) and run it again"
    return f"{where}: {os_error_reason(exc)}"


def os_error_reason(exc: OSError) -> str:
    """"what went wrong; valid: what would do" for an OSError on a path the user gave."""
    valid = {errno.EEXIST: "a path that is not an existing file", errno.ENOTDIR: "a path whose parents are folders",
             errno.ENAMETOOLONG: "names of at most 255 bytes", errno.EACCES: "a folder you can write to",
             errno.EPERM: "a folder you can write to", errno.EROFS: "a folder on a writable file system",
             errno.ENOENT: "an existing path", errno.ENOSPC: "a folder on a disk with free space"}
    return f"{exc.strerror or exc}; valid: {valid.get(exc.errno, 'a path you can read and write')}"
