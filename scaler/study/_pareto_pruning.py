"""Pareto-aware pruning of multi-objective studies: stop a trial whose accuracy is dominated at the same epoch.

Optuna cannot prune a multi-objective study (`trial.report` raises NotImplementedError; optuna
issues 3450, 4902, 5662, 6676). In scaler only accuracy is learned: every other objective (params,
MACs, FLOPs, activations) is counted from the spec before training, and ms per step is measured in
the first epoch. So a running trial is dominated at epoch k when cheaper networks were already more
accurate at epoch k. The rule (`pruner = "pareto"`, options in `pruner_options`):

    peers(k)      = other trials (running, completed or pruned; never a reuse or an infeasible
                    record) that reported epoch k, each as (best mIoU up to k, its costs)
    dominating(k) = peers whose every cost objective is <= this trial's and whose mIoU beats
                    this trial's by more than `margin`
    share(k)      = the hypervolume this trial (its mIoU + `margin`) adds to the front of peers(k),
                    as a share of their joint hypervolume (reference: mIoU 0, each cost at 1.1 x
                    the largest among them)
    prune at epoch k  when  k > n_warmup_steps  and
        ( |dominating(k)| >= n_dominating  or  (|peers(k)| >= n_dominating and share(k) < min_contribution) )

The accuracy compared is the best validation mIoU up to epoch k (the quantity the trial's value
will be, so one noisy epoch does not condemn it), at the SAME epoch for everyone, so a learning-rate
schedule or an early dip hits all trials alike. It is Pareto dominance at epoch k: if curves
keep their order, the trial would end dominated, off the front, and adds nothing to the
hypervolume. `min_contribution` (default 0.005) also stops a trial that is not dominated but would
add less than 0.5% to the hypervolume at epoch k: a point a hair cheaper and a hair worse than the
front, which is most of what a dominance-only rule lets through (benchmarks/pareto_pruning.py: of
the 12-18 of 30 trials not dominated at epoch 2, 6-13 added under 1% there); each such trial
loses at most that share. Set it to 0 for dominance alone (there: a mean 0.61 of the epochs
instead of 0.45; 0.01 pruned more but lost 22% of the hypervolume on one seed). A trial with no
cheaper peers and a real gain (the cheapest networks) is never pruned, so the cheap end of the
front is explored. Why not "below a percentile of the cheaper trials": a percentile prunes a fixed
share of trials whatever their distance to the front, so it either keeps training most dominated
trials or stops some that are on the front; dominance and hypervolume share stop exactly the
trials that would add (almost) nothing (benchmarks/pareto_pruning.py measures both savings and
hypervolume). Curves are kept by the toolkit in each trial's user attributes ("curve": epoch ->
best so far, "prune_costs"), so every worker of a shared study (SQLite or PostgreSQL) sees every
other's, and NSGA-II and multi-objective TPE both work. A pruned trial is stored PRUNED. TPE
counts pruned trials among its worse group already; Optuna's NSGA-II counts COMPLETE trials only,
so a study that prunes most trials would sample its random first generation for ever (measured:
pruned NSGA-II studies lost up to 13% of the hypervolume that way). With pruner "pareto", NSGA-II is `ParetoNSGAII`: a pruned
trial joins its generation at the values it had when pruned (its best accuracy so far and its
costs): dominated by construction, so selection passes it over as a parent, but it fills the
generation and the search moves on as it would without pruning. The stop is `scaler.train.Pruned`,
raised from the trainer's per-epoch callback.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from scaler.hypervolume import UNBUDGETED_REFERENCE, contribution
from scaler.study._optuna_private import PrunedAsScored, set_user_attrs
from scaler.train import Pruned

__all__ = ["ParetoRule", "PARETO_OPTIONS", "pareto_rule", "ParetoCurve", "ParetoNSGAII", "pruned_values",
           "hypervolume_share"]

#: The options of pruner "pareto" (pruner_options).
PARETO_OPTIONS = ("n_warmup_steps", "n_dominating", "margin", "min_contribution")
#: States of the trials whose curves count as peers.
_PEER_STATES = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class ParetoRule:
    """Prune at epoch k a trial that `n_dominating` no-costlier trials beat, or that adds < `min_contribution`.

    Defaults: a verdict from epoch 2 on (`n_warmup_steps` = 1: the first epoch's warm-up leaves
    curves at the noise floor), Pareto dominance at that epoch (one dominating trial, no margin),
    and a 0.5% share of the epoch's hypervolume. With noisy validation, ask for more: `n_dominating
    = 2` (one lucky run cannot stop another) and a `margin` of about the epoch-to-epoch noise of the
    validation mIoU (e.g. 0.01), which the trial is credited with in its hypervolume share too.
    """

    n_warmup_steps: int = 1
    n_dominating: int = 1
    margin: float = 0.0
    min_contribution: float = 0.005

    def verdict(self, epoch: int, value: float, costs: list[float], peers: list[tuple[list[float], float]]) -> str:
        """Why to prune at `epoch` ("" to go on); `peers` holds (costs, best mIoU at `epoch`) of the other trials."""
        if epoch <= self.n_warmup_steps or not math.isfinite(value):
            return ""
        dominating = [v for c, v in peers if all(pc <= mc for pc, mc in zip(c, costs)) and v > value + self.margin]
        if len(dominating) >= self.n_dominating:
            return (f"pruned after epoch {epoch}: best val mIoU {value:.4f}; {len(dominating)} no-costlier trials "
                    f"were more accurate at epoch {epoch} (by > {self.margin:g}, up to {max(dominating):.4f})")
        if not self.min_contribution or len(peers) < self.n_dominating:
            return ""
        share = hypervolume_share(value + self.margin, costs, peers)
        if share >= self.min_contribution:
            return ""
        return (f"pruned after epoch {epoch}: best val mIoU {value:.4f} adds {share:.2%} to the hypervolume of the "
                f"{len(peers)} other trials at epoch {epoch} (< min_contribution {self.min_contribution:.2%})")


def hypervolume_share(value: float, costs: list[float], peers: list[tuple[list[float], float]]) -> float:
    """The share of the (mIoU, costs) hypervolume that (`value`, `costs`) adds to `peers`' points.

    Reference point: mIoU 0 and each cost at UNBUDGETED_REFERENCE (1.1) x the largest among the trial and its
    peers, so no point sits on the reference's edge.
    """
    finite = [(c, v) for c, v in peers if all(math.isfinite(x) for x in c)]
    largest = [max([cost, *(c[i] for c, _ in finite)]) for i, cost in enumerate(costs)]
    reference = np.array([0.0] + [UNBUDGETED_REFERENCE * x for x in largest])
    others = np.array([[-v, *c] for c, v in finite], dtype=float).reshape(-1, len(reference))
    return contribution(np.array([-value, *costs], dtype=float), others, reference)


def pareto_rule(options: dict[str, Any]) -> ParetoRule:
    """The rule from pruner_options; a ValueError names a bad key or value and what is valid."""
    unknown = sorted(set(options) - set(PARETO_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} of pruner 'pareto'; valid: {', '.join(PARETO_OPTIONS)}")
    rule = ParetoRule(**options)
    if isinstance(rule.margin, bool) or not isinstance(rule.margin, (int, float)) or not 0 <= rule.margin < 1:
        raise ValueError(f"margin={rule.margin!r}; valid: an mIoU difference in [0, 1)")
    if isinstance(rule.min_contribution, bool) or not isinstance(rule.min_contribution, (int, float)) \
            or not 0 <= rule.min_contribution < 1:
        raise ValueError(f"min_contribution={rule.min_contribution!r}; valid: a share of the hypervolume in [0, 1) "
                         f"(0.005 = 0.5%; 0: dominance alone)")
    for name, low in (("n_warmup_steps", 0), ("n_dominating", 1)):
        value = getattr(rule, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r}; valid: an integer >= {low}")
    return rule


@dataclass
class ParetoCurve:
    """One trial's curve under the rule: records the best mIoU of each epoch and raises Pruned when dominated.

    Args:
        rule: the pruning rule.
        costs: the trial's counted cost objectives, in objective order; a None (ms per step) is
            filled from the first epoch's measured ms_per_step.
        curve: epochs already reported (a retry resumes with its original's).
    """

    rule: ParetoRule
    costs: list[float | None]
    curve: dict[str, float] = field(default_factory=dict)
    score: str = "miou"  # the epoch record's accuracy: mIoU, or a classification head's accuracy

    def step(self, trial: optuna.Trial, epoch: int, record: dict[str, Any]) -> None:
        """Record epoch `epoch` of `record` on the trial; raise scaler.train.Pruned when the rule says so."""
        miou = float(record.get(self.score, math.nan))
        if not math.isfinite(miou) or str(epoch) in self.curve:
            return
        if any(c is None for c in self.costs):
            measured = float(record.get("ms_per_step") or math.inf)
            self.costs = [measured if c is None else c for c in self.costs]
        best = max([miou, *(v for v in self.curve.values() if math.isfinite(v))])
        self.curve[str(epoch)] = best
        set_user_attrs(trial, {"curve": dict(self.curve), "prune_costs": list(self.costs)})
        reason = self.rule.verdict(epoch, best, list(self.costs), _peers(trial, epoch))
        if reason:
            raise Pruned(reason)


def _peers(trial: optuna.Trial, epoch: int) -> list[tuple[list[float], float]]:
    """(costs, best mIoU at `epoch`) of every other trial that reached `epoch` (public Optuna calls only)."""
    peers = []
    for other in trial.study.get_trials(deepcopy=False, states=_PEER_STATES):
        attrs = other.user_attrs
        if other.number == trial.number or attrs.get("reused_from") is not None or attrs.get("infeasible"):
            continue
        value, costs = (attrs.get("curve") or {}).get(str(epoch)), attrs.get("prune_costs")
        if value is not None and costs:
            peers.append(([float(c) if c is not None else math.inf for c in costs], float(value)))
    return peers


def pruned_values(trial: optuna.trial.FrozenTrial) -> list[float] | None:
    """A Pareto-pruned trial's objective values when it was pruned: [best accuracy so far, *costs]; else None."""
    attrs = trial.user_attrs
    curve, costs = attrs.get("curve") or {}, attrs.get("prune_costs")
    if trial.state != TrialState.PRUNED or attrs.get("reused_from") is not None or not curve or not costs:
        return None
    values = [max(float(v) for v in curve.values()), *(float(c) if c is not None else math.nan for c in costs)]
    return values if all(math.isfinite(v) for v in values) else None


class ParetoNSGAII(optuna.samplers.NSGAIISampler):
    """NSGA-II whose generations count each Pareto-pruned trial at the values it had when pruned.

    Optuna's NSGA-II reads populations from COMPLETE trials only; here it reads them through
    `PrunedAsScored`, so a pruned trial fills its generation as a dominated member (see the module
    docstring). Same options as optuna.samplers.NSGAIISampler.
    """

    def get_trial_generation(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> int:
        return super().get_trial_generation(_scored(study), trial)

    def get_population(self, study: optuna.Study, generation: int) -> list[optuna.trial.FrozenTrial]:
        return super().get_population(_scored(study), generation)

    def get_parent_population(self, study: optuna.Study, generation: int) -> list[optuna.trial.FrozenTrial]:
        return super().get_parent_population(_scored(study), generation)


def _scored(study: optuna.Study) -> Any:
    """The study as ParetoNSGAII's populations see it (a view is not wrapped twice)."""
    return study if isinstance(study, PrunedAsScored) else PrunedAsScored(study, pruned_values)
