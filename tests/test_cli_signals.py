"""Ctrl-C and SIGTERM on a real `scaler train` subprocess: exit 130 / 143, one line saying what was saved."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scaler.cli import main

#: A tiny network on tiny synthetic data, many epochs: the signal always lands mid-run.
TINY = ("train", "--base-width", "4", "--option", "levels=3", "--input", "32x32", "--data-option", "length=16",
        "--data-option", "source_size=32x32", "--batch-size", "4", "--no-progress", "--epochs", "500")


def _start(out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, "-m", "scaler", *TINY, "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.is_file():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_train_stopped_by_a_signal_exits_130_or_143_and_says_how_to_resume(tmp_path, signum, code, name):
    out = tmp_path / "run"
    proc = _start(out)
    try:
        _wait_for(out / "last.pt", proc)
        for _ in range(3):  # in quick succession: the later ones land while the run is being recorded
            proc.send_signal(signum)
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs_run"] >= 1
    assert lines[0] == (f"interrupted by {name}: {out} holds {metrics['epochs_run']} completed epoch(s) in last.pt; "
                        f"run the same command to resume")


def test_main_exits_with_the_code_typer_returns(monkeypatch):
    """Outside standalone mode typer RETURNS a typer.Exit's code; main() must exit with it, not 0."""
    from scaler import cli

    monkeypatch.setattr(cli, "app", lambda standalone_mode: 143)
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 143


def test_reproduce_stopped_by_sigterm_exits_143_and_names_its_runs(tmp_path):
    out = tmp_path / "rep"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "scaler", "reproduce", "--data", "shapes", "--base-width", "4",
                             "--input", "32x32", "--epochs", "500", "--batch-size", "4", "--max-steps-per-epoch", "1",
                             "--network", "Baseline", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / "runs" / "Baseline-seed0" / "last.pt", proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, (stdout, stderr)
    assert stderr.strip().splitlines() == [
        f"interrupted by SIGTERM: {out / 'runs'} holds 1 run folder(s) with records (finished runs are skipped, the "
        f"stopped one resumes); run the same command to resume"]
    assert json.loads((out / "runs" / "Baseline-seed0" / "metrics.json").read_text())["status"] == "interrupted"
