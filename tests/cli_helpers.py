"""Run the `scaler` CLI in-process (fast) exactly as the console script does, exit code included."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    """What a CLI call returned: exit code, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> CliResult:
    """Call scaler.cli.main() with `args` as argv; SystemExit becomes the return code."""
    from scaler.cli import main

    capsys.readouterr()
    old_argv = sys.argv
    sys.argv = ["scaler", *map(str, args)]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
    out = capsys.readouterr()
    return CliResult(code, out.out, out.err)
