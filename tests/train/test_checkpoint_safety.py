"""Checkpoints are data, never code: planted payloads, garbage, truncation, mismatches and a full disk.

A payload is an object whose unpickling opens (creates) a marker file. evaluate, resume and a study's
retry of a dead trial must refuse a checkpoint carrying one in one line naming the file, without
creating the marker.
"""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

import optuna
import pytest
import torch

from scaler.errors import ScalerError
from scaler.families import base_spec
from scaler.study import load_study_config, run_study
from scaler.train import OutOfSpace, RunDir, StopTraining, TrainConfig, evaluate_run, load_run, train
from scaler.train import _checkpoint
from tests.cli_helpers import run_cli
from tests.study.fakes import write_study
from tests.train.tiny import DATA_OPTIONS, SIZE

REFUSED = "cannot be loaded safely"


class Payload:
    """Unpickling this calls open(marker, "w"): arbitrary code run by whoever loads the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def config(**changes) -> TrainConfig:
    base = dict(data="shapes", data_options=DATA_OPTIONS, epochs=2, batch_size=4, timing_warmup_steps=0,
                max_steps_per_epoch=1)
    return TrainConfig(**{**base, **changes})


def run(spec, data, out, cfg=None, **kwargs):
    return train(spec, cfg or config(), out, progress=False, train_ds=data[0], val_ds=data[1], **kwargs)


def interrupted_run(spec, data, out: Path) -> Path:
    """A run stopped after epoch 1 (last.pt and best.pt on disk, resumable)."""
    def stop(epoch, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(spec, data, out, on_epoch_end=stop)
    return out


def plant(checkpoint: Path, marker: Path) -> None:
    """Rewrite a real checkpoint with a payload beside its real content."""
    state = torch.load(checkpoint, weights_only=True)
    torch.save({**state, "extra": Payload(marker)}, checkpoint)


def one_line_naming(exc: BaseException, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text and str(path) in text, text


def test_the_payload_runs_when_unpickled_unsafely(tmp_path):
    """The control: the planted file really executes code under weights_only=False."""
    marker = tmp_path / "marker"
    torch.save({"x": Payload(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("name", ["best", "last"])
def test_evaluate_refuses_a_planted_checkpoint(spec, data, tmp_path, name):
    out = interrupted_run(spec, data, tmp_path / "run")
    marker = tmp_path / "marker"
    plant(out / f"{name}.pt", marker)
    with pytest.raises(ScalerError, match=REFUSED) as info:
        evaluate_run(out, checkpoint=name)
    one_line_naming(info.value, out / f"{name}.pt")
    assert not marker.exists()


def test_cli_evaluate_refuses_a_planted_checkpoint_with_exit_2(spec, data, tmp_path, capsys):
    out = interrupted_run(spec, data, tmp_path / "run")
    marker = tmp_path / "marker"
    plant(out / "best.pt", marker)
    result = run_cli(capsys, "evaluate", str(out))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert str(out / "best.pt") in result.stderr and not marker.exists()


def test_resume_refuses_a_planted_last_checkpoint(spec, data, tmp_path):
    out = interrupted_run(spec, data, tmp_path / "run")
    marker = tmp_path / "marker"
    plant(out / "last.pt", marker)
    with pytest.raises(ScalerError, match=REFUSED) as info:
        run(spec, data, out)
    one_line_naming(info.value, out / "last.pt")
    assert not marker.exists()


def test_a_study_retry_of_a_dead_trial_refuses_a_planted_checkpoint(tmp_path):
    """The real trainer in a real study: trial 0 dies after epoch 1, its last.pt is planted, the retry resumes it."""
    path = write_study(tmp_path, {"method": {"choices": ["baseline"]}}, network={"width": 4, "levels": 3},
                       train={"epochs": 2, "max_steps_per_epoch": 1, "batch_size": 4, "timing_warmup_steps": 0})
    study_config = load_study_config(path)

    def killed_after_epoch_1(spec, cfg, out_dir, *, on_epoch_end, resume, progress):
        def stop(epoch, record):
            on_epoch_end(epoch, record)
            raise KeyboardInterrupt

        return train(spec, cfg, out_dir, on_epoch_end=stop, resume=resume, progress=progress)

    with pytest.raises(KeyboardInterrupt):
        run_study(study_config, train_fn=killed_after_epoch_1)
    [last] = list((tmp_path / "runs").rglob("last.pt"))
    marker = tmp_path / "marker"
    plant(last, marker)
    run_study(study_config, train_fn=train)  # the same API the objective calls: resume=True for a retry
    trials = optuna.load_study(study_name=study_config.name, storage=study_config.storage).get_trials()
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == 0)
    reason = retry.user_attrs["fail_reason"]
    assert REFUSED in reason and str(last) in reason and "\n" not in reason
    assert not marker.exists()


def test_a_checkpoint_of_another_network_is_refused(spec, data, tmp_path):
    out = interrupted_run(spec, data, tmp_path / "run")
    other = base_spec("unet", width=8, levels=3, classes=5, input_size=SIZE)
    RunDir(out).spec_file.write_text(other.to_json())
    with pytest.raises(ScalerError, match="different network") as info:
        evaluate_run(out)
    one_line_naming(info.value, out / "best.pt")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "foreign", "not_ours"])
def test_garbage_and_truncated_checkpoints_are_one_line(spec, data, tmp_path, damage):
    out = interrupted_run(spec, data, tmp_path / "run")
    last = out / "last.pt"
    if damage == "garbage":
        last.write_bytes(b"\x00garbage" * 100)
    elif damage == "truncated":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    elif damage == "empty":
        last.write_bytes(b"")
    elif damage == "foreign":
        torch.save(torch.nn.Linear(2, 2), last)  # a whole pickled module: code references, not data
    else:
        torch.save({"weights": torch.zeros(3)}, last)
    with pytest.raises(ScalerError) as info:
        run(spec, data, out)
    one_line_naming(info.value, last)
    with pytest.raises(ScalerError) as info:
        evaluate_run(out, checkpoint="last")
    one_line_naming(info.value, last)


def test_a_full_disk_while_saving_leaves_no_temp_file_and_resumes(spec, data, tmp_path, monkeypatch):
    straight = run(spec, data, tmp_path / "straight")
    out = tmp_path / "run"
    save = _checkpoint.torch.save
    calls = []

    def full_disk_on_second_save(state, file):
        calls.append(1)
        if len(calls) < 2:
            return save(state, file)
        file.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_checkpoint.torch, "save", full_disk_on_second_save)
    with pytest.raises(OutOfSpace, match="no space left.*last.pt") as info:
        run(spec, data, out)
    assert isinstance(info.value, StopTraining) and "\n" not in str(info.value)
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == []
    assert load_run(out).status == "interrupted" and torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(_checkpoint.torch, "save", save)
    resumed = run(spec, data, out)
    assert resumed.status == "completed" and resumed.best["miou"] == straight.best["miou"]


def test_a_failed_copy_to_best_keeps_the_old_best(tmp_path, monkeypatch):
    (tmp_path / "last.pt").write_bytes(b"new")
    (tmp_path / "best.pt").write_bytes(b"old")

    def full(source, target):
        Path(target).write_bytes(b"n")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(OutOfSpace):
        _checkpoint.copy_checkpoint(tmp_path / "last.pt", tmp_path / "best.pt")
    assert (tmp_path / "best.pt").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]
