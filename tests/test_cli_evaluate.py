"""Issue 16 item 6 through the CLI: `scaler families`, `evaluate --split/--data/--data-root`, `train --no-resume`."""
from __future__ import annotations

import json
import shutil

import pytest

from scaler.families import families as registered

from tests.cli_helpers import run_cli
from tests.data.fakes import make_folder

NET = ("--base-width", "4", "--option", "levels=3", "--input", "32x32", "--batch-size", "2", "--no-progress")


def test_families_lists_every_registered_family_with_its_presets(capsys):
    out = run_cli(capsys, "families")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(registered())
    for line, (name, family) in zip(lines, registered().items()):
        assert line.split()[0] == name and family.description in line
        assert ("[presets: " in line) == bool(family.presets)
        for preset in family.presets:
            assert preset in line


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A tiny run trained on a folder dataset A (train: 4 images, val: 2), and B whose val split is A's train."""
    root = tmp_path_factory.mktemp("evaluate")
    make_folder(root / "A", "train", count=4, num_classes=5)
    make_folder(root / "A", "val", count=2, num_classes=5)
    shutil.copytree(root / "A" / "train", root / "B" / "val")
    shutil.copytree(root / "A" / "train", root / "B" / "train")
    return root


def _evaluate(capsys, run, *args) -> dict:
    out = run_cli(capsys, "evaluate", run, "--json", "--device", "cpu", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_evaluate_split_data_and_data_root(capsys, folder_run):
    run = folder_run / "run"
    out = run_cli(capsys, "train", *NET, "--data", "folder", "--data-root", folder_run / "A", "--data-option",
                  "num_classes=5", "--epochs", "1", "--out", run)
    assert out.returncode == 0, out.stderr
    val = _evaluate(capsys, run)
    train = _evaluate(capsys, run, "--split", "train")
    assert (val["data"], val["split"], train["split"]) == ("folder", "val", "train")
    assert train["miou"] != val["miou"] or train["pa"] != val["pa"]  # 4 images against 2
    # --data-root: B's val split holds A's train images, so it scores exactly what A's train split does
    other_root = _evaluate(capsys, run, "--data-root", folder_run / "B")
    assert {k: other_root[k] for k in ("pa", "mpa", "miou")} == {k: train[k] for k in ("pa", "mpa", "miou")}
    # --data: another dataset with the same class count, at the run's input size
    shapes = _evaluate(capsys, run, "--data", "shapes")
    assert shapes["data"] == "shapes" and shapes["class_names"] != val["class_names"]


def test_no_resume_starts_over_where_resuming_is_refused(capsys, tmp_path):
    tiny = (*NET, "--data-option", "length=4", "--data-option", "source_size=32x32", "--epochs", "1",
            "--out", tmp_path / "run")
    assert run_cli(capsys, "train", *tiny).returncode == 0
    refused = run_cli(capsys, "train", *tiny, "--seed", "1")
    assert refused.returncode == 2 and "--no-resume" in refused.stderr and "seed=0 (now 1)" in refused.stderr
    fresh = run_cli(capsys, "train", *tiny, "--seed", "1", "--no-resume")
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 1
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 1
