"""`scaler scale` / `scaler inspect`: table, JSON contract, saved specs, one-line errors with exit code 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scaler import NetSpec, complexity

from tests.cli_helpers import run_cli


@pytest.fixture
def run(capsys):
    return lambda *args: run_cli(capsys, *args)


def test_console_script_exits_2_with_one_line():
    """The real entry point (a subprocess), not only the in-process runner."""
    out = subprocess.run([sys.executable, "-m", "scaler", "scale", "--method", "diagonal"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "diagonal" in out.stderr


def test_scale_json_contract(run, tmp_path):
    out = run("scale", "unet", "--base-width", "64", "--classes", "19", "--input", "512x1024",
              "--budget", "params=2x", "--method", "all", "--json", "--save", str(tmp_path))
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert [r["method"] for r in records] == ["baseline", "depth", "width", "resolution", "compound", "asymmetric"]
    base_params = records[0]["params"]
    for record in records:
        for key in ("method", "factors", "params", "macs", "activations", "input_size", "spec"):
            assert key in record
        assert record["flops"] == 2 * record["macs"]
        spec = NetSpec.from_dict(record["spec"])
        assert complexity(spec).params == record["params"] and list(spec.input_size) == record["input_size"]
        assert record["params"] <= 2 * base_params
        saved = NetSpec.from_json((tmp_path / f"{record['method']}.json").read_text())
        assert saved == spec
    assert "encoder" in records[-1]["factors"]  # asymmetric: per-part factors where they differ


def test_scale_table_and_inspect(run, tmp_path):
    out = run("scale", "--budget", "params=2x", "--method", "width,asymmetric", "--save", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "GMACs" in out.stdout and "GFLOPs" in out.stdout and "slack params" in out.stdout
    assert "1.414" in out.stdout
    out = run("inspect", str(tmp_path / "asymmetric.json"))
    assert out.returncode == 0, out.stderr
    assert "encoder.0" in out.stdout and "head" in out.stdout and "GMACs" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (["scale", "xnet"], "unknown model family 'xnet'"),
    (["scale", "--method", "diagonal"], "unknown scaling method 'diagonal'"),
    (["scale", "--budget", "params=0.5x"], "below the base"),
    (["scale", "--budget", "params=2y"], "unknown unit"),
    (["scale", "--budget", "nonsense"], "malformed budget"),
    (["scale", "--input", "512by1024"], "malformed input size"),
    (["scale", "--input", "500x1000"], "not a multiple of the unet total stride 16"),
    (["scale", "--bogus"], "No such option: --bogus"),
    (["scale", "--tolerance", "abc"], "abc"),
    (["scale", "--method", "custom", "--factors", "encoder_width=nan"], "finite number > 0"),
    (["scale", "--method", "custom", "--factors", "encoder_width=-1"], "finite number > 0"),
    (["scale", "--method", "custom", "--factors", "elbow=2"], "unknown factor name"),
    (["scale", "--option", "activation=gelu"], "unknown activation 'gelu'"),
    (["inspect", "/nonexistent/spec.json"], "does not exist"),
])
def test_bad_input_is_one_line_exit_2(run, args, needle):
    out = run(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_inspect_rejects_a_corrupt_spec(run, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = run("inspect", str(bad))
    assert out.returncode == 2 and str(bad) in out.stderr
