"""A family from another package: examples/my_family, really installed (pip, into a temporary folder), is
found through its `scaler.families` entry point by `scaler families`, `scaler scale`, training and the
shared contract, in fresh processes that see the folder on PYTHONPATH."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "my_family"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """The environment of a process that has the example installed (and this checkout's scaler)."""
    work = tmp_path_factory.mktemp("plugin")
    source, target = work / "source", work / "site"
    shutil.copytree(EXAMPLE, source)  # pip builds in the source folder: keep the checkout clean
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, capture_output=True, text=True)
    assert list(target.glob("scaler_my_family-*.dist-info/entry_points.txt"))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)]), "OMP_NUM_THREADS": "1"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`python ARGS` in the repository with `env`; fails the test with its stderr when it fails."""
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def test_the_plugin_is_not_there_without_the_install():
    done = subprocess.run([sys.executable, "-m", "scaler", "scale", "my_family"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and "unknown model family 'my_family'" in done.stderr


def test_scaler_families_lists_it_and_scale_solves_it(env):
    assert "my_family    a tiny encoder-decoder from a plug-in package" in run(env, "-m", "scaler", "families").stdout
    out = run(env, "-m", "scaler", "scale", "my_family", "--budget", "params=2x", "--json").stdout
    records = {r["method"]: r for r in json.loads(out)}
    assert set(records) >= {"baseline", "depth", "width", "resolution", "compound", "asymmetric"}
    assert all(r["spec"]["family"] == "my_family" for r in records.values())
    base = records["baseline"]["params"]
    assert all(base < r["params"] <= 2 * base for m, r in records.items() if m not in ("baseline", "resolution"))


def test_one_training_step_runs(env, tmp_path):
    script = f"""
from scaler.train import TrainConfig, plan_run, train
cfg = TrainConfig(data="shapes", data_options={{"length": 4}}, epochs=1, max_steps_per_epoch=1, batch_size=2,
                  device="cpu", amp="off")
plan = plan_run(cfg, family="my_family", base_options={{"input_size": (64, 64)}}, method="width", budget="params=2x")
result = train(plan.spec, cfg, {str(tmp_path / "run")!r}, progress=False, train_ds=plan.train_ds, val_ds=plan.val_ds)
print(plan.spec.family, plan.spec.encoder[0].width > 16, result.status, result.epochs_run)
"""
    assert run(env, "-c", script).stdout.split()[-4:] == ["my_family", "True", "completed", "1"]


def test_it_keeps_the_shared_contract(env):
    out = run(env, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/families/plugin_contract.py").stdout
    assert " passed" in out and "failed" not in out and "error" not in out, out[-2000:]
