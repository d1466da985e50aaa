"""Run many `scaler` command lines as real processes cheaply: import the package once, fork one child per case.

    python -m tests.cli_fork < cases.json > results.json

Each case is {"args": [...], "cwd": DIR}. Each child is a fresh process that calls the console entry
point `scaler.cli.main()` with that argv and exits with its code (an uncaught exception: a traceback
and exit 1, as the console script would); stdout and stderr are its own. After each case the parent
records the SHA-256 of every file under the case's cwd, so a test can prove nothing there changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path


def tree_hashes(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every regular file under `root` (dot-files included)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _child(args: list[str], cwd: str, out: str, err: str) -> None:
    """In the forked child: run main() with `args`, stdout/stderr into files, exit with its code."""
    code = 1
    try:
        os.chdir(cwd)
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv = ["scaler", *args]
        from scaler.cli import main

        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_cases(cases: list[dict]) -> list[dict]:
    """Each case in its own forked process, one after the other; returns code, stdout, stderr, hashes after."""
    import scaler.cli  # noqa: F401  (imported once here; every child starts with it loaded)
    import scaler.report  # noqa: F401
    import scaler.study  # noqa: F401
    import scaler.train  # noqa: F401

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            out, err = os.path.join(tmp, f"{i}.out"), os.path.join(tmp, f"{i}.err")
            pid = os.fork()
            if pid == 0:
                _child(case["args"], case["cwd"], out, err)
            _, status = os.waitpid(pid, 0)
            results.append({"code": os.waitstatus_to_exitcode(status), "stdout": Path(out).read_text(errors="replace"),
                            "stderr": Path(err).read_text(errors="replace"), "hashes": tree_hashes(Path(case["cwd"]))})
    return results


if __name__ == "__main__":
    json.dump(run_cases(json.load(sys.stdin)), sys.stdout)
