"""Errors raised at the boundaries (CLI, config, data); the CLI turns them into one line and exit code 2."""
from __future__ import annotations

__all__ = ["ScalerError", "SpecError", "BudgetError", "DataError", "ConfigError"]


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
