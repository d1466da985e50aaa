"""Ctrl-C and SIGTERM for a study worker: the first one stops it; the ones after it cannot undo the save.

A worker that is told to stop must first record its running trial as interrupted and queue it for
a retry (scaler.study._runner). A user who presses Ctrl-C three times, or a scheduler that follows
SIGTERM with more, used to interrupt that bookkeeping itself and lose the retry. So while a worker
runs, the FIRST SIGINT/SIGTERM raises `Interrupted` (a KeyboardInterrupt) where the worker is, and
every later one is only counted until the worker has saved and queued its trial. SIGKILL still
stops a worker at once; its trial is then retried through its stale heartbeat.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["Interrupted", "StopSignals"]

_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """A worker stopped by SIGINT or SIGTERM; `exit_code` is the shell's 128 + signal number (130, 143)."""

    def __init__(self, signum: int = signal.SIGINT, message: str = "") -> None:
        super().__init__(message or _NAMES.get(signum, f"signal {signum}"))
        self.signum = int(signum)
        self.message = message

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process a signal stopped."""
        return 128 + self.signum


class StopSignals:
    """`with StopSignals() as stops:` the first SIGINT/SIGTERM raises Interrupted, later ones are held off.

    Only the main thread can install signal handlers; elsewhere this does nothing (Ctrl-C then
    reaches the main thread, as without it).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
            raise Interrupted(signum)
        # A later signal: the worker is already saving and queueing its trial; let it finish.

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in _NAMES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
