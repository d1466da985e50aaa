"""RunDir: a run's files, loading them, finished or not, and whether a spec + config may resume it."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from scaler.complexity import complexity
from scaler.data import make_dataset
from scaler.errors import ScalerError
from scaler.families import base_spec
from scaler.io import load_spec
from scaler.train import RESUME_FREE_KEYS, RUN_FILES, OutOfSpace, RunDir, TrainConfig, evaluate_run, train
from scaler.train import _loop, _rundir
from tests.train.tiny import DATA_OPTIONS, SIZE



@pytest.fixture(scope="module")
def data():
    """Without augmentation (the shared fixture's train split augments): these runs compare folders, not scores."""
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
    assert [p.name for p in (run_dir.spec_file, run_dir.config_file, run_dir.precision_file, run_dir.history_file,
                             run_dir.metrics_file, run_dir.checkpoint_file("last"),
                             run_dir.checkpoint_file("best"))] == list(RUN_FILES)
    assert all((finished / name).is_file() for name in RUN_FILES)
    assert run_dir.load_precision() in (("off", False), ("off", True), ("bf16", False), ("bf16", True))
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


# -- what a run folder holds when things go wrong, and how its files are read back --------------

def test_a_relative_data_root_is_stored_absolute(spec, data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(spec, data, "run", config(data_root="data/shapes"))
    saved = RunDir(tmp_path / "run").load_config()
    assert saved.data_root == str(tmp_path / "data" / "shapes")
    monkeypatch.chdir(tmp_path / "run")  # from elsewhere the run still names the same data, and is finished
    assert run(spec, data, tmp_path / "run", config(data_root=str(tmp_path / "data" / "shapes"))).status == "completed"
    monkeypatch.chdir(tmp_path)  # the same relative path given again is the same run (reproduce/sweep resume)
    assert RunDir(tmp_path / "run").config_diff(config(data_root="data/shapes")) == []
    assert RunDir(tmp_path / "run").config_diff(config(data_root="data/other")) == [
        f"data_root={str(tmp_path / 'data' / 'shapes')!r} (now {str(tmp_path / 'data' / 'other')!r})"]


def test_a_failure_before_the_first_epoch_leaves_no_run_files(data, tmp_path):
    wrong = base_spec("unet", width=4, levels=3, classes=3, input_size=SIZE)  # the data has 5 classes
    with pytest.raises(ScalerError, match="3 classes"):
        run(wrong, data, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_failed_fresh_start_keeps_the_old_run(spec, data, tmp_path):
    """--no-resume over a finished run whose new start fails: the old run's files are all still there."""
    out = tmp_path / "run"
    run(spec, data, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    wrong = base_spec("unet", width=4, levels=3, classes=3, input_size=SIZE)
    with pytest.raises(ScalerError, match="3 classes"):
        run(wrong, data, out, resume=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_run_interrupted_in_its_first_epoch_is_marked(spec, data, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_loop._Run, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(spec, data, tmp_path / "run")
    result = RunDir(tmp_path / "run").load_result()
    assert result.status == "interrupted" and result.epochs_run == 0


def test_a_tampered_spec_json_is_refused_on_load(spec, finished, tmp_path):
    bad = spec.to_dict()
    bad["decoder"] = bad["decoder"][:1]  # 1 decoder stage for 3 encoder stages
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.json", "best.pt"):
        (out / name).write_bytes((finished / name).read_bytes())
    (out / "spec.json").write_text(json.dumps(bad))
    with pytest.raises(ScalerError, match=r"spec.json: a U-Net needs 2 decoder stages for 3 encoder stages") as info:
        RunDir(out).load_spec()
    assert "\n" not in str(info.value)
    with pytest.raises(ScalerError, match="decoder stages"):
        evaluate_run(out)


def test_a_scale_record_with_tampered_costs_is_refused(spec, tmp_path):
    record = {"method": "baseline", **complexity(spec).as_dict(), "spec": spec.to_dict()}
    (tmp_path / "ok.json").write_text(json.dumps(record))
    assert load_spec(tmp_path / "ok.json") == spec
    (tmp_path / "bad.json").write_text(json.dumps({**record, "params": 1}))
    with pytest.raises(ScalerError, match=r"bad.json: params=1 does not match its spec \(params=\d+\)"):
        load_spec(tmp_path / "bad.json")


def test_a_full_disk_while_starting_leaves_neither_spec_nor_config(spec, data, tmp_path, monkeypatch):
    write = _rundir.write_json

    def full_on_config(path, value):
        if path.name == "config.json":
            raise OutOfSpace(f"no space left on the device to write {path}")
        write(path, value)

    monkeypatch.setattr(_rundir, "write_json", full_on_config)
    with pytest.raises(OutOfSpace):
        run(spec, data, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []
