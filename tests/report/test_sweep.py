"""`scaler sweep`: ladders, dropping methods that cannot be fitted before training, and a tiny run end to end."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from scaler.errors import BudgetError
from scaler.families import base_spec
from scaler.report import parse_ladder, sweep_points
from scaler.scaling import ScalingOptions
from tests.cli_helpers import run_cli


def test_ladders_parse_one_metric_of_relative_budgets() -> None:
    assert parse_ladder("params=1.25x,1.5x,2x") == ("params", (1.25, 1.5, 2.0))
    assert parse_ladder(["macs=2x", "macs=1.5x"]) == ("macs", (1.5, 2.0))
    for bad, match in (("params=1.5x,macs=2x", "one metric"), ("params=60M,70M", "relative budgets"),
                       ("params=1.5x", "at least 2 distinct"), ("ms=1.5x,2x", "counted metric")):
        with pytest.raises(BudgetError, match=match):
            parse_ladder(bad)


def test_a_method_keeps_one_point_per_distinct_network() -> None:
    base = base_spec("unet", width=8, input_size=(32, 32))
    points = sweep_points(base, ["depth", "resolution"], "params", (1.25, 1.5, 2.0), ScalingOptions())
    depth = [p for p in points if p.method == "depth"]
    assert len({p.spec for p in depth}) == len(depth) and all(1.0 < p.relative_cost <= p.multiple for p in depth)
    # params do not depend on input size: resolution gives one network for the whole ladder
    assert len([p for p in points if p.method == "resolution"]) == 1


def test_tiny_sweep_end_to_end(capsys, tmp_path) -> None:
    out = tmp_path / "sweep"
    done = run_cli(capsys, "sweep", "--ladder", "params=1.25x,1.5x,2x", "--target", "params=3x", "--out", out,
                   "--base-width", "4", "--input", "32x32", "--methods", "depth,width,resolution", "--check",
                   "--train-option", "epochs=1", "--train-option", "batch_size=4", "--train-option",
                   "max_steps_per_epoch=1", "--train-option", "timing_warmup_steps=0", "--train-option", "amp=off",
                   "--train-option", "device=cpu")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "sweep.json").read_text())
    assert "resolution" in manifest["skipped"]  # dropped before any training
    assert not any(r["method"] == "resolution" for r in manifest["runs"])
    # One isolated timing phase after training: every trained network, both modes, recorded in sweep.json.
    specs = {json.dumps(r["spec"], sort_keys=True) for r in manifest["runs"]}
    assert len(manifest["timing"]["results"]) == len(specs)
    assert all(set(modes) == {"train", "infer"} for modes in manifest["timing"]["results"].values())
    assert "timed" in done.stdout and "in isolation" in done.stdout
    assert len(pd.read_csv(out / "benchmark_train.csv")) == len(specs)
    predictions = pd.read_csv(out / "predictions.csv").set_index("method")
    assert sorted(predictions.index) == ["depth", "width"]
    fitted = [m for m in predictions.index if math.isfinite(predictions.loc[m, "predicted"])]
    assert fitted, predictions  # at least one method had 3 distinct costs and a curve
    for m in fitted:
        row = predictions.loc[m]
        assert row["low"] <= row["predicted"] <= row["high"] and row["seeds"] == 1  # --check measured the target
        assert 0 <= row["measured"] <= 1
    text = (out / "sweep.md").read_text()
    assert "predicted" in text.lower() and "Wall time" in text and (out / "plots" / "sweep.png").is_file()
    assert (out / "table.md").is_file() and "sweep.md" in done.stdout + "sweep.md"
