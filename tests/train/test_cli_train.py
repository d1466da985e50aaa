"""`scaler train` / `scaler evaluate`: tiny synthetic runs end to end, scaled specs, one-line errors with exit 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scaler.complexity import complexity
from scaler.families import base_spec
from scaler.io import load_spec, save_spec

from tests.cli_helpers import run_cli

#: A tiny network on tiny synthetic data: each epoch is 4 steps of batch 4 at 32x32.
TINY = ("--base-width", "4", "--option", "levels=3", "--input", "32x32", "--data-option", "length=16",
        "--data-option", "source_size=32x32", "--batch-size", "4", "--no-progress")


@pytest.fixture
def run(capsys):
    return lambda *args: run_cli(capsys, *args)


def _console_script() -> list[str]:
    """The installed `scaler` entry point (what CI calls), else the same main() through -c."""
    script = Path(sys.executable).with_name("scaler")
    return [str(script)] if script.is_file() else [sys.executable, "-c", "from scaler.cli import main; main()"]


def test_console_script_trains_tiny_synthetic_run(tmp_path):
    """The CI smoke run: a real subprocess, the synthetic default data, a tiny network."""
    out = subprocess.run([*_console_script(), "train", *TINY, "--epochs", "2", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "completed: 2 epochs" in out.stdout and "ms median" in out.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 2


def test_console_script_bad_input_exits_2_with_one_line():
    out = subprocess.run([*_console_script(), "train", "--optimizer", "adam", "--out", "unused"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "adam" in out.stderr and "valid: adamw, sgd" in out.stderr


def test_train_then_evaluate(run, tmp_path):
    out = run("train", *TINY, "--epochs", "1", "--out", tmp_path / "run")
    assert out.returncode == 0, out.stderr
    assert "unet baseline: params" in out.stdout and "shapes 16 train / 16 val" in out.stdout
    spec = load_spec(tmp_path / "run" / "spec.json")
    assert spec == base_spec("unet", width=4, levels=3, classes=5, input_size=(32, 32))
    again = run("train", *TINY, "--epochs", "1", "--out", tmp_path / "run")  # finished: returned, not retrained
    assert again.returncode == 0 and "completed: 1 epochs" in again.stdout

    table = run("evaluate", tmp_path / "run", "--checkpoint", "last")
    assert table.returncode == 0 and "mIoU" in table.stdout and "background" in table.stdout
    as_json = run("evaluate", tmp_path / "run", "--json")
    metrics = json.loads(as_json.stdout)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert metrics["miou"] == pytest.approx(history[0]["miou"]) and metrics["split"] == "val"


def test_train_a_scaled_network(run, tmp_path):
    out = run("train", *TINY, "--method", "width", "--budget", "params=2x", "--epochs", "1",
              "--max-steps-per-epoch", "1", "--out", tmp_path / "run")
    assert out.returncode == 0, out.stderr
    assert "unet width:" in out.stdout
    assert load_spec(tmp_path / "run" / "spec.json").encoder[0].width > 4


def test_train_a_saved_spec(run, tmp_path):
    spec = base_spec("unet", width=4, levels=2, classes=5, input_size=(32, 32))
    path = save_spec(spec, tmp_path / "net.json")
    out = run("train", "--spec", path, "--data-option", "length=8", "--data-option", "source_size=32x32",
              "--batch-size", "4", "--epochs", "1", "--no-progress", "--out", tmp_path / "run")
    assert out.returncode == 0, out.stderr
    assert load_spec(tmp_path / "run" / "spec.json") == spec


@pytest.mark.parametrize("damage", ["params", "stages"])
def test_train_refuses_a_tampered_saved_spec(run, tmp_path, damage):
    spec = base_spec("unet", width=4, levels=3, classes=5, input_size=(32, 32))
    record = {"method": "baseline", **complexity(spec).as_dict(), "spec": spec.to_dict()}
    if damage == "params":
        record["params"] = 123  # derived numbers are recomputed, never trusted
    else:
        record["spec"]["decoder"] = record["spec"]["decoder"][:1]
    path = tmp_path / "net.json"
    path.write_text(json.dumps(record))
    out = run("train", "--spec", path, "--epochs", "1", "--no-progress", "--out", tmp_path / "run")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert str(path) in out.stderr and ("params=123" in out.stderr or "decoder stages" in out.stderr)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, named", [
    (("--amp", "fp8"), "fp8"),
    (("--input", "33x32"), "33x32"),
    (("--input", "big"), "'big'"),
    (("--data", "mnist"), "mnist"),
    (("--loss", "hinge"), "hinge"),
    (("--method", "diagonal"), "diagonal"),
    (("--budget", "params=0.5x", "--method", "width"), "params"),
    (("--device", "tpu"), "tpu"),
    (("--epochs", "0"), "epochs=0"),
    (("--spec", "/nonexistent/net.json"), "/nonexistent/net.json"),
    (("--classes", "3"), "classes"),
])
def test_bad_train_input_exits_2_with_one_line(run, tmp_path, args, named):
    out = run("train", *TINY, "--epochs", "1", *args, "--out", tmp_path / "run")
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1 and named in out.stderr


def test_missing_dataset_folder_exits_2_with_one_line(run, tmp_path):
    out = run("train", "--data", "camvid", "--data-root", "/nonexistent/camvid", "--out", tmp_path / "run")
    assert out.returncode == 2 and "/nonexistent/camvid" in out.stderr and out.stderr.count("\n") == 1


def test_spec_with_base_options_is_an_error(run, tmp_path):
    path = save_spec(base_spec("unet", width=4, levels=2, classes=5, input_size=(32, 32)), tmp_path / "net.json")
    out = run("train", "--spec", path, "--base-width", "8", "--out", tmp_path / "run")
    assert out.returncode == 2 and "width" in out.stderr and out.stderr.count("\n") == 1


def test_bad_evaluate_input_exits_2_with_one_line(run, tmp_path):
    missing = run("evaluate", tmp_path / "nothing")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and missing.stderr.count("\n") == 1
    assert run("train", *TINY, "--epochs", "1", "--max-steps-per-epoch", "1", "--out", tmp_path / "run").returncode == 0
    for args, named in ((("--split", "holdout"), "holdout"), (("--checkpoint", "first"), "first"),
                        (("--data", "mnist"), "mnist")):
        out = run("evaluate", tmp_path / "run", *args)
        assert out.returncode == 2 and named in out.stderr and out.stderr.count("\n") == 1, out.stderr
