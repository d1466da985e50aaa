"""Ctrl-C and SIGTERM for long commands (train, reproduce, sweep): exit 130 / 143 with one line saying what was saved.

    with exit_on_signal() as stop:              # the whole command body
        stop.saved = lambda: saved_run_text(out)  # once there is something on disk to name
        ...

The first SIGINT/SIGTERM raises `Interrupted` (a KeyboardInterrupt) where the command is
(scaler.signals); training records the run as "interrupted", its last epoch's checkpoint stays
on disk. Later signals are held off until the process has printed its line and exited, so a second
Ctrl-C cannot interrupt that bookkeeping.
"""
from __future__ import annotations

import signal
from pathlib import Path
from types import TracebackType
from typing import Callable

import typer

from scaler.signals import StopSignals
from scaler.train import RunDir

__all__ = ["exit_on_signal", "signal_name", "exit_code", "saved_run_text"]


def exit_code(exc: BaseException) -> int:
    """128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM); a bare KeyboardInterrupt is Ctrl-C."""
    return int(getattr(exc, "exit_code", 128 + signal.SIGINT))


def signal_name(exc: BaseException) -> str:
    """"Ctrl-C" or "SIGTERM", from an Interrupted's exit code."""
    return "SIGTERM" if exit_code(exc) == 128 + signal.SIGTERM else "Ctrl-C"


def saved_run_text(run_dir: Path) -> str:
    """What a stopped `scaler train` left in `run_dir`: its completed epochs and checkpoint, or nothing yet."""
    run = RunDir(run_dir)
    try:
        epochs = run.load_result().epochs_run if run.metrics_file.is_file() else 0
    except (ValueError, OSError):  # an unreadable record: say only what is certain
        epochs = 0
    if epochs and run.checkpoint_file("last").is_file():
        return f"{run_dir} holds {epochs} completed epoch(s) in last.pt"
    return f"no epoch had completed in {run_dir} (it starts from epoch 1)"


class exit_on_signal:  # noqa: N801  (used as a context manager, named like one)
    """`with exit_on_signal() as stop:` a signal ends the command with ONE stderr line and exit 130 or 143.

    `stop.saved()` says what is on disk; the command sets it once it knows (e.g. its run folder).
    """

    def __init__(self) -> None:
        self.saved: Callable[[], str] = lambda: "nothing was saved yet"
        self._signals = StopSignals(ignore_after=True)  # the process exits after a signal: hold later ones off

    def __enter__(self) -> exit_on_signal:
        self._signals.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._signals.__exit__(kind, exc, tb)
        if isinstance(exc, KeyboardInterrupt):
            typer.echo(f"interrupted by {signal_name(exc)}: {self.saved()}; run the same command to resume", err=True)
            raise typer.Exit(exit_code(exc)) from None
