"""One worker's life: its set-up check, signals, timeout, wait, run folders, and the `scaler study` CLI options."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import scaler.study._objective as objective_module
import scaler.study._runner as runner
from scaler.errors import ConfigError
from scaler.scaling import ScalingOptions
from scaler.study import (
    FRAME_COLUMNS, Interrupted, load_study_config, network_counts, run_study, study_trials_frame,
)
from scaler.signals import StopSignals
from scaler.study._storage import open_storage
from scaler.vocabulary import RECORD_STATUSES
from tests.cli_helpers import run_cli
from tests.study.fakes import (
    FakeTrainer, check_separate_run_folders, finish, start_worker, wait_stopped, write_study,
)


def _study(config) -> optuna.Study:
    return optuna.load_study(study_name=config.name, storage=config.storage)


# -- the set-up check: a configuration this worker cannot run consumes no trial ---------------------

BROKEN = {  # what is wrong -> (study tables, override of with_overrides, a fragment of the one-line error)
    "device": ({}, {"device": "cuda:3"}, "cuda:3"),
    "data root": ({"data": {"name": "camvid", "root": "nowhere", "options": {}}}, {}, "nowhere"),
    "dataset name": ({"data": {"name": "nosuchdata", "options": {}}}, {}, "nosuchdata"),
    "class count": ({"network": {"classes": 3}}, {}, "3 classes"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_configuration_consumes_no_trial_and_a_fixed_rerun_completes(tmp_path: Path, case: str) -> None:
    tables, override, fragment = BROKEN[case]
    broken = load_study_config(write_study(tmp_path / "broken", **tables)).with_overrides(
        storage=f"sqlite:///{tmp_path / 'study.db'}", **override)
    trainer = FakeTrainer()
    with pytest.raises(ConfigError) as info:
        run_study(broken, train_fn=trainer)
    message = str(info.value)
    assert fragment in message and "no trial was claimed" in message and "\n" not in message
    assert optuna.get_all_study_names(broken.storage) == [] and trainer.calls == []  # no trial, no step
    fixed = load_study_config(write_study(tmp_path / "fixed")).with_overrides(storage=broken.storage)
    run = run_study(fixed, train_fn=trainer)
    assert run.stopped == "n_trials reached" and len(run.trials) == 6
    assert network_counts(study_trials_frame(fixed.storage, fixed.name)) == {"completed": 6}


def test_cli_with_a_device_this_machine_lacks_exits_2_in_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "train", FakeTrainer())
    path = write_study(tmp_path)
    result = run_cli(capsys, "study", "run", str(path), "--device", "cuda:3")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and "cuda:3" in result.stderr
    assert optuna.get_all_study_names(load_study_config(path).storage) == []


# -- signals: the first stops the worker, later ones cannot lose the retry ---------------------------

class _InterruptedAtEpoch(FakeTrainer):
    """Sends this process SIGINT after `epoch` (as a user's Ctrl-C would arrive), once."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch, self.sent = epoch, False

    def __call__(self, spec, cfg, out_dir, *, on_epoch_end=None, resume=True, progress=False):
        def hook(epoch, record):
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
            if epoch == self.epoch and not self.sent:
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler raises here

        return super().__call__(spec, cfg, out_dir, on_epoch_end=hook, resume=resume, progress=progress)


def test_more_ctrl_c_while_saving_cannot_lose_the_retry(tmp_path: Path, monkeypatch) -> None:
    """Two more SIGINTs land inside the bookkeeping (recording the trial, queueing its retry): it completes."""
    config = load_study_config(write_study(tmp_path, train={"epochs": 3}))
    record, requeue = objective_module.set_user_attrs, runner.retry_callback

    def interrupted_record(trial, attrs):
        if attrs.get("status") == "interrupted":
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while the trial is being recorded
            time.sleep(0.2)
        record(trial, attrs)

    def interrupted_requeue(max_retry):
        os.kill(os.getpid(), signal.SIGINT)  # a third while its retry is being queued
        time.sleep(0.2)
        return requeue(max_retry)

    monkeypatch.setattr(objective_module, "set_user_attrs", interrupted_record)
    monkeypatch.setattr(runner, "retry_callback", interrupted_requeue)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted) as info:
        run_study(config, train_fn=_InterruptedAtEpoch(2))
    assert info.value.exit_code == 130 and "trial 0 stopped after 2 epoch(s)" in str(info.value)
    assert "queued for a retry" in str(info.value)
    assert signal.getsignal(signal.SIGINT) is handler  # the worker's handler is gone again
    trials = _study(config).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs["status"] == "interrupted" and trials[1].system_attrs["failed_trial"] == 0

    monkeypatch.undo()
    trainer = FakeTrainer()
    run = run_study(config, train_fn=trainer)
    assert run.trials[0] == 1 and trainer.calls[0]["resumed_epochs"] == 2  # the retry resumed epoch 3
    frame = study_trials_frame(config.storage, config.name)
    assert frame.retried_by[0] == 1 and frame.retried_from[1] == 0
    assert network_counts(frame) == {"completed": 6}  # the interrupted trial and its retry: one network


def test_study_status_counts_a_retried_trial_and_its_retry_as_one_network(tmp_path: Path, capsys) -> None:
    config = load_study_config(write_study(tmp_path, train={"epochs": 3}))
    with pytest.raises(Interrupted):
        run_study(config, train_fn=_InterruptedAtEpoch(2), check=False)
    run_study(config, train_fn=FakeTrainer(), check=False)
    result = run_cli(capsys, "study", "status", str(config.path))
    assert result.returncode == 0, result.stderr
    assert '7 trial(s), 6 network(s) {"completed": 6}' in result.stdout
    assert "retried as #1: one network" in result.stdout and "retry of #0" in result.stdout


def test_a_trial_stopped_before_optuna_recorded_its_end_is_still_queued(tmp_path: Path) -> None:
    """The first signal may land after the objective returned but before Optuna's tell: FAIL it, then queue it."""
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    message = runner._requeue_interrupted(study, trial, max_retry=2)
    first, retry = study.get_trials()
    assert first.state == TrialState.FAIL and first.user_attrs["status"] == "interrupted"
    assert retry.state == TrialState.WAITING and retry.system_attrs["failed_trial"] == 0
    assert "queued for a retry" in message


def test_a_signal_after_the_worker_ended_but_before_the_process_exits_is_held_off() -> None:
    """The CLI's outer block holds off what arrives between run_study's end and the exit, then ignores it."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with StopSignals(ignore_after=True) as outer:
            with pytest.raises(Interrupted) as info:
                with StopSignals():  # run_study's block
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(5)  # the handler raises here
            os.kill(os.getpid(), signal.SIGTERM)  # late: the CLI is printing its line
            time.sleep(0.2)
            assert outer.count == 2 and info.value.exit_code == 143
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # the process is on its way out
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signalled_worker_exits_130_or_143_saying_what_was_saved(tmp_path: Path, signum: int, code: int,
                                                                     name: str) -> None:
    path = write_study(tmp_path, train={"epochs": 3})
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    gate = tmp_path / "gate"
    worker = start_worker(path, storage, gate=gate, stop_epoch=2, stop_run=2)
    wait_stopped(worker, gate)
    for _ in range(3):  # in quick succession: the later ones arrive while the worker saves
        os.kill(worker.pid, signum)
        time.sleep(0.02)
    result = finish(worker, code=code)
    lines = result["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"interrupted by {name}: trial 1 stopped after 2 epoch(s)")
    assert "queued for a retry" in lines[0] and "run the same command to resume" in lines[0]
    trials = optuna.load_study(study_name="tiny", storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]


# -- timeout and wait ----------------------------------------------------------------------------------

def _slow(seconds: float) -> FakeTrainer:
    """A fake trainer whose every run takes `seconds` more."""
    fake = FakeTrainer()

    def train(*args, **kwargs):
        time.sleep(seconds)
        return fake(*args, **kwargs)

    return train


def test_timeout_stops_between_trials_and_leaves_none_running(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path, study={"sampler": "random", "n_trials": 50})).with_overrides(
        timeout=2.0)
    run = run_study(config, train_fn=_slow(0.5), check=False)
    trials = _study(config).get_trials()
    assert run.stopped == "timeout" and 1 <= len(run.trials) < 50
    # Finished, every one: completed, or pruned by the study's median pruner (more trials fit in the timeout on a
    # quiet machine, and a later one can be pruned); never RUNNING, never FAIL.
    assert len(trials) == len(run.trials) and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert any(t.state == TrialState.COMPLETE for t in trials)


def test_without_wait_a_worker_exits_at_once_when_another_holds_the_last_trial(tmp_path: Path) -> None:
    path = write_study(tmp_path, study={"sampler": "random", "n_trials": 1},
                       storage={"heartbeat_interval": 1, "grace_period": 120})
    config = load_study_config(path)
    gate = tmp_path / "gate"
    holder = start_worker(path, config.storage, gate=gate, stop_epoch=1)
    wait_stopped(holder, gate)
    # If the worker waited anyway, open the gate after a while so the test fails instead of hanging.
    timer = threading.Timer(30, lambda: (gate / "go").write_text("go"))
    timer.start()
    try:
        run = run_study(config, train_fn=FakeTrainer(), wait=False, check=False)
        states = [t.state for t in _study(config).get_trials()]
    finally:
        timer.cancel()
        (gate / "go").write_text("go")
    assert run.stopped == "n_trials reached" and run.trials == []
    assert states == [TrialState.RUNNING]  # it left while the other worker's trial was still running
    assert finish(holder)["trials"] == [0]


# -- run folders: unique per (storage, study) ----------------------------------------------------------

def test_same_study_name_in_two_sqlite_files_never_shares_run_folders(tmp_path: Path) -> None:
    check_separate_run_folders(tmp_path, (f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"), "tiny")


def test_a_study_deleted_and_made_again_gets_a_new_run_folder(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path))
    first = run_study(config, train_fn=FakeTrainer(), check=False).study_dir
    optuna.delete_study(study_name=config.name, storage=config.storage)
    second = run_study(config, train_fn=FakeTrainer(), check=False).study_dir
    assert first != second and first.is_dir() and second.is_dir()


# -- [scaling] options reach the trained networks -----------------------------------------------------

@pytest.mark.parametrize("option", [{"depth_rounding": "floor"}, {"depth_rounding": "uniform"}, {"tolerance": 0.05},
                                    {"ratio": "efficientnet"}], ids=lambda o: next(iter(o.values())).__str__())
def test_scaling_options_of_the_study_file_make_the_trained_networks(tmp_path: Path, option: dict) -> None:
    space = {"method": {"choices": ["depth", "compound", "asymmetric"]}}
    config = load_study_config(write_study(tmp_path, space, scaling=option))
    assert config.scaling == ScalingOptions.parse("baseline", "params=2x", **option)
    run_study(config, train_fn=FakeTrainer(), check=False)
    trained = {t.user_attrs["method"]: t.user_attrs["spec"] for t in _study(config).get_trials()}

    def spec(method: str, **kwargs) -> dict:
        return json.loads(ScalingOptions.parse(method, "params=2x", **kwargs).scale(config.base).spec.to_json())

    assert trained == {m: spec(m, **option) for m in trained}
    assert trained != {m: spec(m) for m in trained}  # the option changed at least one network


# -- the CLI: --n-trials, --storage, --timeout, --name, status --json ---------------------------------

def test_cli_n_trials_and_storage_override_the_file(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "train", FakeTrainer())
    path = write_study(tmp_path, study={"sampler": "random", "n_trials": 5})
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = run_cli(capsys, "study", "run", str(path), "--n-trials", "2", "--storage", other)
    assert result.returncode == 0, result.stderr
    trials = optuna.load_study(study_name="tiny", storage=other).trials
    assert f"stopped (n_trials reached) after {len(trials)} trial(s)" in result.stdout
    # two trained networks; a random draw of a method already trained reuses it and does not count
    assert sum(t.user_attrs.get("reused_from") is None for t in trials) == 2
    assert not (tmp_path / "study.db").exists()  # the file's own storage was not touched


def test_cli_timeout_stops_the_worker(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "train", _slow(0.5))
    path = write_study(tmp_path, study={"sampler": "random", "n_trials": 50})
    result = run_cli(capsys, "study", "run", str(path), "--timeout", "2")
    assert result.returncode == 0, result.stderr
    assert "stopped (timeout) after" in result.stdout
    done = len(_study(load_study_config(path)).trials)
    assert 1 <= done < 50 and f"after {done} trial(s)" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--storage", "foo://host/db"], "unknown database scheme 'foo'"),
    (["--storage", "mysql://user@host/db"], "driver of 'mysql' is not installed"),
    (["--name", "n" * 600], "600 characters"),
])
def test_cli_bad_storage_or_name_is_one_line_and_exit_2(tmp_path: Path, capsys, args: list, fragment: str) -> None:
    path = write_study(tmp_path)
    result = run_cli(capsys, "study", "run", str(path), *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.toml", "study.toml"]  # nothing created


def test_cli_status_json_holds_the_frame_networks_and_hypervolume(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "train", FakeTrainer())
    path = write_study(tmp_path)
    assert run_cli(capsys, "study", "run", str(path)).returncode == 0
    result = run_cli(capsys, "study", "status", str(path), "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    records = status["trials"]
    frame = study_trials_frame(load_study_config(path).storage, "tiny")
    assert status["networks"] == {"trials": 6, "distinct_networks": 6, "reused_trials": 0}
    assert status["hypervolume"]["objectives"] == ["miou", "params"] and status["hypervolume"]["final"] > 0
    assert status["hypervolume"]["reference_rule"]["params"] == "budget params<=2x"
    assert [list(r) for r in records] == [list(FRAME_COLUMNS)] * 6
    assert [r["method"] for r in records] == frame.method.tolist() and {r["status"] for r in records} == {"completed"}
    assert all(r["status"] in RECORD_STATUSES and r["retried_by"] is None for r in records)
    assert [r["miou"] for r in records] == pytest.approx(frame.miou.tolist())
