"""Studies on SQLite with a stand-in trainer: records, budget, failures, pruning, Ctrl-C, resume; one real CLI run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from scaler.complexity import complexity
from scaler.errors import ConfigError, ScalerError
from scaler.study import FRAME_COLUMNS, load_study_config, network_counts, run_study, study_trials_frame
from scaler.study._optuna_private import set_user_attrs
from scaler.study._runner import may_start
from scaler.study._storage import open_storage
from scaler.train import Diverged
from tests.cli_helpers import run_cli
from tests.study.fakes import METHODS, FakeTrainer, check_exact_total, check_kill_and_resume, write_study

TRIAL_ATTRS = {"method", "factors", "spec", "params", "macs", "flops", "activations", "input_size", "ms_per_step",
               "ms_p10", "ms_p90", "history", "best", "run_dir", "status", "infeasible", "seed"}
STUDY_ATTRS = {"study_file", "base_spec", "budgets", "scaling", "objectives", "directions", "run_key"}


def _study(config) -> optuna.Study:
    return optuna.load_study(study_name=config.name, storage=config.storage)


def test_grid_study_records_every_trial(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path))
    trainer = FakeTrainer()
    run = run_study(config, train_fn=trainer)
    assert run.stopped == "n_trials reached" and run.trials == list(range(6))
    study = _study(config)
    assert STUDY_ATTRS <= set(study.user_attrs)
    assert study.user_attrs["budgets"] == ["params<=2x"] and study.user_attrs["directions"] == ["maximize"]
    assert study.user_attrs["study_file"] == config.text
    trials = study.get_trials()
    assert sorted(t.params["method"] for t in trials) == sorted(METHODS)  # the grid: each method once
    for trial in trials:
        attrs = trial.user_attrs
        assert trial.state == TrialState.COMPLETE and TRIAL_ATTRS <= set(attrs)
        assert attrs["status"] == "completed" and attrs["infeasible"] is False
        assert trial.value == attrs["best"]["miou"] and 0 <= trial.value <= 1
        assert attrs["macs"] * 2 == attrs["flops"] and attrs["params"] <= 2 * complexity(config.base).params
        assert [r["epoch"] for r in attrs["history"]] == [1, 2] and set(trial.intermediate_values) == {1, 2}
        assert attrs["run_dir"] == str(run.study_dir / f"trial_{trial.number:04d}")
        assert all(v <= 0 for v in trial.constraints.values())  # a solved method always fits
    # The budget acts before training: the trainer got exactly the solved spec each trial records.
    trained = {c["out_dir"]: json.loads(c["spec"].to_json()) for c in trainer.calls}
    assert trained == {t.user_attrs["run_dir"]: t.user_attrs["spec"] for t in trials}
    frame = study_trials_frame(config.storage, config.name)
    assert list(frame.columns) == list(FRAME_COLUMNS) and len(frame) == 6
    assert set(frame.method) == set(METHODS) and frame.miou.notna().all()
    assert run.study_dir == tmp_path / "runs" / f"tiny-{study.user_attrs['run_key']}"
    # Running the study again starts nothing: it is done.
    assert run_study(config, train_fn=trainer).trials == []


def test_free_factors_over_budget_are_recorded_not_trained_nor_counted(tmp_path: Path) -> None:
    space = {"factors": {"encoder_width": {"low": 1.0, "high": 3.0}, "decoder_depth": {"low": 1.0, "high": 3.0}}}
    config = load_study_config(write_study(tmp_path, space, study={
        "sampler": "tpe", "n_trials": 12, "pruner": "none", "sampler_options": {"n_startup_trials": 4}}))
    trainer = FakeTrainer()
    run_study(config, train_fn=trainer)
    study = _study(config)
    trials = study.get_trials()
    infeasible = [t for t in trials if t.user_attrs["infeasible"]]
    feasible = [t for t in trials if not t.user_attrs["infeasible"]]
    trained = [t for t in feasible if t.user_attrs.get("reused_from") is None]
    assert infeasible and len(trained) == 12  # infeasible samples do not count toward n_trials
    assert len(trials) == len(infeasible) + len(feasible)
    assert len(trainer.calls) == len(trained)  # not a single step for an infeasible candidate, nor a reused one
    for trial in infeasible:
        assert trial.state == TrialState.COMPLETE and trial.user_attrs["status"] == "infeasible"
        assert trial.constraints["budget_params"] > 0 and trial.value == 0.0
        assert "history" not in trial.user_attrs and trial.user_attrs["method"] == "custom"
    assert all(t.constraints["budget_params"] <= 0 for t in feasible)
    assert not study.best_trial.user_attrs["infeasible"]  # Optuna skips infeasible trials for the best


def test_project_policy_trains_the_projection(tmp_path: Path) -> None:
    space = {"factors": {"encoder_width": {"choices": [1.0, 3.0]}}}
    config = load_study_config(write_study(tmp_path, space, study={"infeasible": "project"}))
    run_study(config, train_fn=FakeTrainer())
    trials = {t.params["encoder_width"]: t for t in _study(config).get_trials()}
    assert trials[3.0].user_attrs["status"] == "completed" and not trials[3.0].user_attrs["infeasible"]
    assert trials[3.0].user_attrs["factors"]["encoder"]["width"] < 3.0
    assert "projected" in trials[3.0].user_attrs["note"] and "note" not in trials[1.0].user_attrs


def test_diverged_oom_and_bad_candidates_fail_with_a_reason_and_the_study_goes_on(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path))
    base_width = config.base.encoder[0].width

    def fail(spec, cfg):
        if spec.input_size != config.base.input_size:  # resolution, compound, asymmetric
            return RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if spec.encoder[0].width != base_width:  # width
            return Diverged("diverged at epoch 2 step 3")
        if spec.encoder[0].depth != config.base.encoder[0].depth:  # depth
            return ScalerError("the network has 5 classes but the train data has 3")
        return None

    run = run_study(config, train_fn=FakeTrainer(fail=fail, fail_epoch=2))
    assert run.stopped == "n_trials reached" and len(run.trials) == 6
    frame = study_trials_frame(config.storage, config.name).set_index("method")
    assert frame.loc["baseline", "status"] == "completed"
    assert frame.loc["width", "status"] == "diverged"
    assert frame.loc["width", "fail_reason"] == "diverged at epoch 2 step 3"
    assert frame.loc["depth", "status"] == "failed" and "5 classes" in frame.loc["depth", "fail_reason"]
    assert (frame.loc[["resolution", "compound", "asymmetric"], "status"] == "oom").all()
    assert frame.loc["compound", "fail_reason"].startswith("out of memory: CUDA out of memory")
    assert (frame.drop(index="baseline").state == "FAIL").all()
    assert frame.loc["width", "epochs_run"] == 1  # the epoch before it diverged is kept


def test_an_unexpected_error_fails_the_trial_and_stops_the_worker(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path))
    with pytest.raises(ZeroDivisionError):
        run_study(config, train_fn=FakeTrainer(fail=lambda spec, cfg: ZeroDivisionError("bug")))
    frame = study_trials_frame(config.storage, config.name)
    assert len(frame) == 1 and frame.state[0] == "FAIL"
    assert frame.status[0] == "failed" and frame.fail_reason[0] == "ZeroDivisionError: bug"


def test_median_pruning_stops_bad_learning_rates(tmp_path: Path) -> None:
    space = {"method": "baseline", "train": {"lr": {"choices": [1e-3, 2e-3, 1e-5, 1e-1, 1e-6]}}}
    config = load_study_config(write_study(tmp_path, space, study={
        "sampler": "grid", "pruner": "median", "pruner_options": {"n_startup_trials": 2, "n_warmup_steps": 2}},
        train={"epochs": 6}))
    trainer = FakeTrainer()
    run_study(config, train_fn=trainer)
    frame = study_trials_frame(config.storage, config.name)
    bad = frame.hyperparams.map(lambda p: p["lr"] not in (1e-3, 2e-3))
    pruned = frame.state == "PRUNED"
    assert (pruned == (bad & (frame.number >= 2))).all()  # after the 2 startup trials, every bad rate and only those
    assert (frame[pruned].status == "pruned").all() and (frame[pruned].epochs_run == 2).all()  # judged at epoch 2
    assert (frame[~pruned].epochs_run == 6).all()
    assert (frame[pruned].miou > 0).all()  # a pruned trial keeps its best-so-far record
    assert len(trainer.calls) == 5


def test_the_pruner_sees_the_best_miou_so_far_not_the_epoch_s(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path, {"method": "baseline"}, train={"epochs": 4}))
    run_study(config, train_fn=FakeTrainer())
    trial = _study(config).trials[0]
    mious = [record["miou"] for record in trial.user_attrs["history"]]
    assert mious[2] < mious[1]  # the fake curve dips at epoch 3, so the two readings differ there
    assert trial.intermediate_values == {epoch: max(mious[:epoch]) for epoch in (1, 2, 3, 4)}


def test_hyperband_prunes_on_epochs(tmp_path: Path) -> None:
    space = {"method": "baseline", "train": {"lr": {"low": 1e-6, "high": 1e-1, "log": True}}}
    config = load_study_config(write_study(tmp_path, space, study={
        "sampler": "random", "n_trials": 12, "pruner": "hyperband"}, train={"epochs": 9}))
    run_study(config, train_fn=FakeTrainer())
    states = study_trials_frame(config.storage, config.name).state
    assert len(states) == 12 and "PRUNED" in set(states) and "COMPLETE" in set(states)


def test_multi_objective_values_are_miou_then_costs(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path, study={"objectives": ["miou", "params", "ms_per_step"]}))
    run_study(config, train_fn=FakeTrainer())
    for trial in _study(config).get_trials():
        assert trial.values == [trial.user_attrs["best"]["miou"], trial.user_attrs["params"], 10.0]
        assert trial.intermediate_values == {}  # Optuna cannot report (or prune) multi-objective trials


def test_ctrl_c_marks_the_trial_and_the_next_run_resumes_it(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path, train={"epochs": 3}))
    interrupts = [KeyboardInterrupt()]
    trainer = FakeTrainer(fail=lambda spec, cfg: interrupts.pop() if interrupts else None, fail_epoch=2)
    with pytest.raises(KeyboardInterrupt):
        run_study(config, train_fn=trainer)
    trials = _study(config).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[0].user_attrs["status"] == "interrupted" and trials[0].intermediate_values == {1: pytest.approx(
        trials[0].user_attrs["history"][0]["miou"])}
    assert trials[1].system_attrs["failed_trial"] == 0 and "status" not in trials[1].user_attrs

    run = run_study(config, train_fn=trainer)
    assert run.trials[0] == 1 and len(run.trials) == 6  # the retry first, then the five other methods
    retry = trainer.calls[1]
    assert retry["resume"] and retry["resumed_epochs"] == 1 and retry["out_dir"] == trainer.calls[0]["out_dir"]
    frame = study_trials_frame(config.storage, config.name)
    assert (frame.state == "COMPLETE").sum() == 6 and frame.retried_from[1] == 0 and frame.retried_by[0] == 1
    assert frame.status[0] == "interrupted" and network_counts(frame) == {"completed": 6}


def test_a_stored_study_from_another_setup_is_refused(tmp_path: Path) -> None:
    run_study(load_study_config(write_study(tmp_path)), train_fn=FakeTrainer())
    changed = load_study_config(write_study(tmp_path, scaling={"budget": ["params=3x"]}))
    stored_and_new = r"stored \{'budget': \['params<=2x'\]\}, this file \{'budget': \['params<=3x'\]\}"
    with pytest.raises(ConfigError, match=r"different scaling: " + stored_and_new):
        run_study(changed, train_fn=FakeTrainer())


def test_may_start_counts_originals_and_always_runs_waiting_retries() -> None:
    def trial(state: TrialState, retry_of: int | None = None):
        frozen = create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                              system_attrs={} if retry_of is None else {"failed_trial": retry_of})
        return frozen

    done = [trial(TrialState.COMPLETE), trial(TrialState.RUNNING), trial(TrialState.FAIL)]
    assert may_start(done, 4) and not may_start(done, 3)
    assert may_start(done + [trial(TrialState.WAITING, retry_of=2)], 3)  # a queued retry replaces trial 2
    assert not may_start(done + [trial(TrialState.COMPLETE, retry_of=2)], 3)
    assert may_start(done, None)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_user_attrs_are_written_in_one_batch_or_one_by_one(tmp_path: Path, backend: str) -> None:
    storage = None if backend == "memory" else open_storage(f"sqlite:///{tmp_path / 'a.db'}")
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    set_user_attrs(trial, {"method": "width", "factors": {"depth": 1.0}, "params": 12})
    set_user_attrs(trial, {"params": 13})
    study.tell(trial, 0.5)
    assert study.trials[0].user_attrs == {"method": "width", "factors": {"depth": 1.0}, "params": 13}


def test_search_overhead_is_small(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path))
    run = run_study(config, train_fn=FakeTrainer())
    # With a trainer that takes no time, everything is overhead; a few tens of ms per trial on SQLite.
    per_trial = sorted(t.overhead_s for t in run.timings)
    assert per_trial[len(per_trial) // 2] < 0.5, per_trial
    assert all(math.isfinite(t.total_s) and t.total_s >= t.train_s for t in run.timings)


def test_three_sqlite_workers_finish_exactly_n_trials(tmp_path: Path) -> None:
    check_exact_total(tmp_path, f"sqlite:///{tmp_path / 'study.db'}", "exact", "grid")


def test_sigkilled_sqlite_worker_is_retried(tmp_path: Path) -> None:
    check_kill_and_resume(tmp_path, f"sqlite:///{tmp_path / 'study.db'}", "killed")


def test_cli_runs_and_reports_a_tiny_real_study(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The real trainer: U-Net width 8 at 32x32, baseline and width, one epoch of 2 steps each."""
    path = write_study(tmp_path, {"method": {"choices": ["baseline", "width"]}},
                       network={"width": 8, "levels": 3},
                       train={"epochs": 1, "max_steps_per_epoch": 2, "batch_size": 4, "timing_warmup_steps": 0})
    result = run_cli(capsys, "study", "run", str(path), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "stopped (n_trials reached) after 2 trial(s)" in result.stdout
    assert result.stdout.count(" completed ") == 2 and "mIoU" in result.stdout
    status = run_cli(capsys, "study", "status", str(path))
    assert status.returncode == 0, status.stderr
    assert "2 trial(s)" in status.stdout and "baseline" in status.stdout and "best: trial" in status.stdout
    frame = study_trials_frame(load_study_config(path).storage, "tiny")
    assert (frame.status == "completed").all() and frame.ms_per_step.notna().all()
    assert all(Path(d, "metrics.json").is_file() for d in frame.run_dir)
    bad = run_cli(capsys, "study", "status", str(path), "--name", "nope")
    assert bad.returncode == 2 and "no study named 'nope'" in bad.stderr and "tiny" in bad.stderr


def test_the_shipped_multimodal_study_runs_with_the_real_trainer_and_scores_accuracy(tmp_path: Path) -> None:
    """studies/multimodal_scaling.toml: a classification head is a study's network like any other (set-up check,
    training, value = its validation accuracy, the report's accuracy columns)."""
    shipped = Path(__file__).resolve().parents[2] / "studies" / "multimodal_scaling.toml"
    config = load_study_config(shipped).with_overrides(storage=f"sqlite:///{tmp_path / 'mm.db'}", n_trials=2,
                                                        run_root=str(tmp_path / "runs"))
    run = run_study(config)
    trials = _study(config).get_trials()
    assert run.stopped == "n_trials reached" and [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:
        best = trial.user_attrs["best"]
        assert trial.values[0] == best["accuracy"] and 0.0 < best["accuracy"] <= 1.0 and "miou" not in best
