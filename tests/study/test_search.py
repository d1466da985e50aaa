"""Search quality: every sample a trained network inside the budget (directions), one training per network."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import optuna
import pytest

from scaler.errors import ConfigError
from scaler.report import hypervolume, hypervolume_curve, report
from scaler.solver import cost_values, fits
from scaler.study import load_study_config, network_key, reuse_counts, run_study, study_trials_frame
from scaler.study._budget import frontier
from scaler.rules import Factors, apply_factors
from scaler.study._pareto_pruning import ParetoNSGAII, ParetoRule, hypervolume_share, pareto_rule, pruned_values
from tests.study.fakes import (
    FakeTrainer, check_one_network_one_training, check_pareto_pruned, pareto_study, write_study,
)

DIRECTION = {"direction": {"encoder_width": {"low": 0.0, "high": 1.0}, "decoder_depth": {"low": 0.0, "high": 1.0}}}


def test_a_direction_space_trains_n_trials_networks_each_on_the_budget_frontier(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path, DIRECTION, study={
        "sampler": "tpe", "n_trials": 8, "pruner": "none", "sampler_options": {"n_startup_trials": 3}}))
    trainer = FakeTrainer()
    run_study(config, train_fn=trainer, check=False)
    frame = study_trials_frame(config.storage, config.name)
    assert (frame.status == "completed").all() and not frame.infeasible.any()
    assert len(trainer.calls) == frame.reused_from.isna().sum() == 8  # n_trials trained networks; reuses extra
    assert frame.network_key.nunique() == 8
    limits = config.scaling.limits(config.base)
    for call in trainer.calls:
        assert fits(cost_values(call["spec"], list(limits)), limits)
    for row in frame.itertuples():  # the solver's largest network along the sampled direction
        weights = row.hyperparams
        direction = Factors(encoder_width=2 ** weights["encoder_width"], decoder_depth=2 ** weights["decoder_depth"])
        assert frontier(config.scaling, config.base, direction)[0].as_dict() == row.factors


def test_a_direction_the_budget_does_not_limit_is_refused_at_load(tmp_path: Path) -> None:
    space = {"direction": {"resolution": {"low": 0.0, "high": 1.0}}}
    with pytest.raises(ConfigError, match=r"direction\.resolution"):
        load_study_config(write_study(tmp_path, space))  # params=2x does not grow with resolution


@pytest.mark.parametrize("extra", [{"factors": {"encoder_width": 1.5}}, {"method": "depth"}])
def test_direction_is_exclusive_with_factors_and_methods(tmp_path: Path, extra: dict) -> None:
    with pytest.raises(ConfigError, match=r"\[direction\]|direction"):
        load_study_config(write_study(tmp_path, {**DIRECTION, **extra}))


def test_network_key_names_the_rounded_network_and_its_training(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path))
    base, train = config.base, config.train
    same = apply_factors(base, Factors(encoder_width=1.01))  # rounds back to the base widths
    assert same == base and network_key(same, train) == network_key(base, train)
    assert network_key(apply_factors(base, Factors(encoder_width=2.0)), train) != network_key(base, train)
    assert network_key(base, dataclasses.replace(train, seed=train.seed + 1)) != network_key(base, train)
    assert network_key(base, dataclasses.replace(train, device="cuda:1")) == network_key(base, train)  # per worker


def test_one_worker_trains_a_repeated_network_once(tmp_path: Path) -> None:
    check_one_network_one_training(tmp_path, f"sqlite:///{tmp_path / 'study.db'}", "dedupe", workers=1)


def test_workers_on_sqlite_train_a_repeated_network_once(tmp_path: Path) -> None:
    check_one_network_one_training(tmp_path, f"sqlite:///{tmp_path / 'study.db'}", "dedupe3", workers=3)


def test_hypervolume_is_exact_on_known_fronts() -> None:
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0])) == pytest.approx(3.0)
    assert hypervolume(np.array([[0, 0, 1], [1, 1, 0]]), np.array([2.0, 2.0, 2.0])) == pytest.approx(5.0)
    assert hypervolume(np.array([[4.0, 0.0]]), np.array([3.0, 3.0])) == 0.0  # beyond the reference: nothing


def test_hypervolume_curve_grows_only_with_a_better_front() -> None:
    frame = pd.DataFrame({"number": [0, 1, 2, 3], "status": ["completed", "completed", "pruned", "completed"],
                          "miou": [0.5, 0.4, 0.9, 0.6], "params": [50.0, 80.0, 10.0, 50.0]})
    record = hypervolume_curve(frame, ["miou", "params"], {"miou": 0.0, "params": 100.0})
    # trial 0: 0.5 x (1 - 0.5); trial 1 is dominated; trial 2 is pruned (no result); trial 3 dominates trial 0
    assert record.curve.hypervolume.tolist() == pytest.approx([0.25, 0.25, 0.25, 0.30])
    assert record.curve.front_size.tolist() == [1, 1, 1, 1] and record.final == pytest.approx(0.30)


@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
def test_pareto_pruning_stops_dominated_trials_of_a_multi_objective_study(tmp_path: Path, sampler: str) -> None:
    config = load_study_config(pareto_study(tmp_path, f"sqlite:///{tmp_path / 'study.db'}", "pareto", sampler))
    trainer = FakeTrainer()
    run_study(config, train_fn=trainer, check=False)
    frame = study_trials_frame(config.storage, config.name)
    check_pareto_pruned(frame, 12)
    study = optuna.load_study(study_name="pareto", storage=config.storage)
    for trial in study.get_trials():  # the toolkit's own curve, where Optuna refuses intermediate values
        if trial.user_attrs.get("reused_from") is not None:
            continue
        assert trial.intermediate_values == {} and trial.user_attrs["prune_costs"] == [trial.user_attrs["params"]]
        history = trial.user_attrs["history"]
        assert trial.user_attrs["curve"] == {str(r["epoch"]): max(h["miou"] for h in history[: r["epoch"]])
                                             for r in history}


def test_pareto_rule_prunes_only_when_no_costlier_trials_dominate_at_the_same_epoch() -> None:
    rule = ParetoRule(n_warmup_steps=2, n_dominating=2, margin=0.01, min_contribution=0.0)
    peers = [([1.0], 0.50), ([2.0], 0.60), ([3.0], 0.70), ([9.0], 0.99)]  # the last one costs more: no peer
    assert "2 no-costlier trials" in rule.verdict(3, 0.55, [3.0], peers)  # 0.60 and 0.70 beat it
    assert not rule.verdict(3, 0.65, [3.0], peers)  # only 0.70 beats it
    assert not rule.verdict(3, 0.595, [3.0], peers)  # 0.60 is within the margin: a tie, not domination
    assert not rule.verdict(2, 0.10, [3.0], peers)  # warm-up
    assert not rule.verdict(3, 0.10, [0.5], peers)  # the cheapest trial has no peers: never pruned
    with pytest.raises(ValueError, match="n_dominating=0"):
        pareto_rule({"n_dominating": 0})
    with pytest.raises(ValueError, match="min_contribution=1.5"):
        pareto_rule({"min_contribution": 1.5})
    with pytest.raises(ValueError, match="percentile"):
        pareto_rule({"percentile": 50})


def test_pareto_rule_prunes_a_trial_that_adds_almost_no_hypervolume() -> None:
    rule = ParetoRule(min_contribution=0.01)
    front = [([2.0], 0.60), ([4.0], 0.70)]  # reference (mIoU 0, cost 1.1 x 4 = 4.4): area 2 x 0.6 + 0.4 x 0.7 = 1.48
    # a hair cheaper and worse than (2.0, 0.60): not dominated, adds 0.05 x 0.55 = 0.0275 (1.8%) -> kept
    assert not ParetoRule(min_contribution=0.0).verdict(3, 0.55, [1.95], front)
    assert not rule.verdict(3, 0.55, [1.95], front)
    share = hypervolume_share(0.25, [1.95], front)  # adds 0.05 x 0.25 = 0.0125 of 1.4925: 0.84%
    assert share == pytest.approx(0.0125 / 1.4925)
    assert "adds 0.84% to the hypervolume of the 2 other trials at epoch 3" in rule.verdict(3, 0.25, [1.95], front)
    assert not ParetoRule(min_contribution=0.01, margin=0.1).verdict(3, 0.25, [1.95], front)  # credited the margin
    assert not rule.verdict(3, 0.25, [1.95], front[:0])  # no peers: nothing to compare with
    assert not ParetoRule(n_dominating=3).verdict(3, 0.25, [1.95], front)  # too few peers for a verdict
    assert not rule.verdict(1, 0.25, [1.95], front)  # warm-up


def _toy_nsga2_study(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    """A (maximize x, minimize cost) study of 12 trials where every trial from the fourth on is Pareto-pruned."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number >= 3:  # the curve and costs ParetoCurve records, then the stop
            trial.set_user_attr("curve", {"1": x / 4, "2": x / 2})
            trial.set_user_attr("prune_costs", [10.0])
            raise optuna.TrialPruned()
        return x, 10.0

    study.optimize(objective, n_trials=12)
    return study


def test_pareto_nsga2_fills_its_generations_with_pruned_trials_at_their_pruned_values() -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    plain = _toy_nsga2_study(optuna.samplers.NSGAIISampler(population_size=4, seed=0))
    # Optuna's NSGA-II counts COMPLETE trials only: 3 of them never make a generation of 4
    assert {t.system_attrs["NSGAIISampler:generation"] for t in plain.trials} == {0}
    sampler = ParetoNSGAII(population_size=4, seed=0)
    study = _toy_nsga2_study(sampler)
    generations = [t.system_attrs["ParetoNSGAII:generation"] for t in study.trials]
    assert generations == [0] * 4 + [1] * 4 + [2] * 4  # pruned trials count: the search moves on
    pruned = study.trials[5]
    assert pruned.state == optuna.trial.TrialState.PRUNED  # stored as it is; only NSGA-II's view differs
    assert pruned_values(pruned) == [pruned.params["x"] / 2, 10.0]
    population = sampler.get_population(study, 1)
    assert [t.number for t in population] == [4, 5, 6, 7]
    assert all(t.state == optuna.trial.TrialState.COMPLETE and t.values == pruned_values(study.trials[t.number])
               for t in population)
    assert pruned_values(study.trials[0]) is None  # a completed trial keeps its own values


def test_a_study_report_writes_its_networks_and_hypervolume(tmp_path: Path) -> None:
    space = {"factors": {"encoder_width": {"choices": [1.0, 1.01]}}, "train": {"lr": {"choices": [1e-3, 2e-3]}}}
    path = write_study(tmp_path, space, study={"sampler": "grid"})  # 4 samples, 2 networks (one per lr)
    run_study(load_study_config(path), train_fn=FakeTrainer(), check=False)
    rep = report(str(path), tmp_path / "report")
    saved = json.loads((tmp_path / "report" / "search.json").read_text())
    assert saved["networks"] == rep.search["networks"] == {"trials": 4, "distinct_networks": 2, "reused_trials": 2}
    assert saved["hypervolume"]["reference_rule"] == {"miou": "no accuracy", "params": "budget params<=2x"}
    assert saved["hypervolume"]["final"] > 0 and len(saved["hypervolume"]["curve"]) == 4
