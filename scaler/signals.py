"""Ctrl-C and SIGTERM for a long command (a study worker, a training run): the first one stops it; the ones after it cannot undo the save.

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
from dataclasses import dataclass
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


@dataclass
class _Stop:
    """What nested StopSignals share: the first signal (which ended the work) and how many came."""

    signum: int | None = None
    count: int = 0
    depth: int = 0


_STOP = _Stop()


class StopSignals:
    """`with StopSignals() as stops:` the first SIGINT/SIGTERM raises Interrupted, later ones are held off.

    Nested blocks share one state, so a signal that arrives after an inner block (run_study) ended
    but before an outer one (the CLI printing its last line) is still held off. `ignore_after`: once
    a signal has stopped the work, leave SIGINT and SIGTERM ignored on leaving the block (for a
    process that is about to exit); otherwise the previous handlers come back. Only the main thread
    can install signal handlers; elsewhere this does nothing.
    """

    def __init__(self, ignore_after: bool = False) -> None:
        self.ignore_after = ignore_after
        self._previous: dict[int, Any] = {}

    @property
    def signum(self) -> int | None:
        """The signal that stopped the work, or None."""
        return _STOP.signum

    @property
    def count(self) -> int:
        """Signals received since the outermost block began."""
        return _STOP.count

    @staticmethod
    def _handle(signum: int, frame: FrameType | None) -> None:
        _STOP.count += 1
        if _STOP.signum is None:
            _STOP.signum = signum
            raise Interrupted(signum)
        # A later signal: the worker is already saving and queueing its trial; let it finish.

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            if _STOP.depth == 0:
                _STOP.signum, _STOP.count = None, 0
            _STOP.depth += 1
            for signum in _NAMES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._previous:
            return
        _STOP.depth -= 1
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.ignore_after and _STOP.signum is not None else handler)
        self._previous.clear()
