"""CLI command groups: each module here defines `register(app)` and adds its typer commands."""
from __future__ import annotations

import importlib
import importlib.util

import typer

__all__ = ["register_all", "COMMAND_MODULES"]

#: Command modules, registered in this order when present.
COMMAND_MODULES = ("train", "study", "report")


def register_all(app: typer.Typer) -> None:
    """Register every command module that exists (each area of the toolkit owns its module)."""
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"scaler.commands.{name}") is not None:
            importlib.import_module(f"scaler.commands.{name}").register(app)
