"""RunDir: a run's files, loading them, finished or not, and whether a spec + config may resume it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scaler.data import make_dataset
from scaler.errors import ScalerError
from scaler.families import base_spec
from scaler.train import RESUME_FREE_KEYS, RUN_FILES, RunDir, TrainConfig, train

SIZE = (32, 32)
DATA_OPTIONS = {"length": 16, "source_size": list(SIZE)}


@pytest.fixture(scope="module")
def spec():
    return base_spec("unet", width=4, levels=3, classes=5, input_size=SIZE)


@pytest.fixture(scope="module")
def data():
    common = dict(input_size=SIZE, **DATA_OPTIONS)
    return make_dataset("shapes", "train", **common), make_dataset("shapes", "val", **common)


def config(**changes) -> TrainConfig:
    base = dict(data="shapes", data_options=DATA_OPTIONS, epochs=1, batch_size=4, timing_warmup_steps=0,
                max_steps_per_epoch=1)
    return TrainConfig(**{**base, **changes})


def run(spec, data, out, cfg=None, **kwargs):
    return train(spec, cfg or config(), out, progress=False, train_ds=data[0], val_ds=data[1], **kwargs)


@pytest.fixture(scope="module")
def finished(spec, data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    run(spec, data, out)
    return out


def test_paths_and_loading(spec, finished):
    run_dir = RunDir(finished)
    assert [p.name for p in (run_dir.spec_file, run_dir.config_file, run_dir.history_file, run_dir.metrics_file,
                             run_dir.checkpoint_file("last"), run_dir.checkpoint_file("best"))] == list(RUN_FILES)
    assert run_dir.is_run() and run_dir.load_spec() == spec and run_dir.load_config() == config()
    assert run_dir.status() == "completed" and run_dir.is_finished()
    assert run_dir.load_result().epochs_run == 1
    assert run_dir.load_checkpoint("best", spec)["epoch"] == 1
    with pytest.raises(ScalerError, match="checkpoint 'first'; valid: best, last"):
        run_dir.checkpoint_file("first")


def test_an_empty_or_interrupted_folder_is_not_finished(spec, data, tmp_path):
    assert not RunDir(tmp_path).is_run() and RunDir(tmp_path).status() is None
    with pytest.raises(ScalerError, match="does not exist"):
        RunDir(tmp_path / "nope").require()

    def stop(epoch, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(spec, data, tmp_path / "run", config(epochs=2), on_epoch_end=stop)
    assert RunDir(tmp_path / "run").status() == "interrupted" and not RunDir(tmp_path / "run").is_finished()


def test_resume_free_keys_are_ignored_and_every_other_key_is_named(spec, finished):
    run_dir = RunDir(finished)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(RESUME_FREE_KEYS) <= fields  # a renamed field cannot linger here unnoticed
    speed_only = config(num_workers=2, device="cpu", tune_malloc=False, compile=True, timing_warmup_steps=3)
    run_dir.check_compatible(spec, speed_only)  # no error: these change speed, never the numbers
    assert run_dir.config_diff(speed_only) == []
    with pytest.raises(ScalerError, match=r"different config: batch_size=4 \(now 8\), lr=None \(now 0.5\);") as info:
        run_dir.check_compatible(spec, config(lr=0.5, batch_size=8, num_workers=1))
    assert "num_workers" not in str(info.value)
    other = base_spec("unet", width=8, levels=3, classes=5, input_size=SIZE)
    with pytest.raises(ScalerError, match="different network"):
        run_dir.check_compatible(other, config())


def test_a_checkpoint_of_another_network_is_refused(spec, finished):
    other = base_spec("unet", width=8, levels=3, classes=5, input_size=SIZE)
    with pytest.raises(ScalerError, match=r"best.pt holds a different network than .*spec.json"):
        RunDir(finished).load_checkpoint("best", other)
