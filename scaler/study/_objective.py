"""The objective: sampled candidate -> network inside the budget -> trained run -> trial record and value(s)."""
from __future__ import annotations

import dataclasses
import math
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
import torch
from optuna.trial import TrialState

from scaler.complexity import Complexity
from scaler.errors import ScalerError
from scaler.train import SEGMENTATION, Diverged, OutOfSpace, Pruned, Task, task_of
from scaler.study._budget import Network, resolve_network
from scaler.study._config import StudyConfig
from scaler.study._dedupe import find_source, network_key
from scaler.study._pareto_pruning import ParetoCurve, pareto_rule
from scaler.study._optuna_private import set_user_attrs

__all__ = ["StudyObjective", "TrialFailed", "TrialTiming", "INTERRUPTED"]

#: The record a reusing trial copies from the trial that trained its network.
REUSED_ATTRS = ("history", "best", "epochs_run", "train_status", "ms_per_step", "ms_p10", "ms_p90",
                "data_ms_per_step", "peak_mem_bytes", "wall_s", "run_dir", "curve")
#: Seconds between two looks at a running trial whose network a reusing trial waits for.
REUSE_POLL_S = 0.5
#: The fail_reason of a trial stopped by Ctrl-C or SIGTERM (it is queued for a retry).
INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"


class TrialFailed(Exception):
    """A trial that failed for a recorded reason the study survives: diverged, out of memory, bad candidate."""


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy: tuples to lists, numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf, and optuna-dashboard parses attributes as strict JSON
    if isinstance(value, Path):
        return str(value)
    return value


def _is_oom(exc: BaseException) -> bool:
    """An out-of-memory error of any device (CUDA, MPS, CPU allocator)."""
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    if isinstance(exc, (MemoryError, *oom_types)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()  # MPS, older torch


def _best_of(history: list[dict[str, Any]], task: Task = SEGMENTATION) -> dict[str, Any]:
    """The best epoch's scores (the task's: pa/mpa/miou, or a classifier's accuracy/recall/F1) and its number, of a
    partial history (pruned or interrupted run)."""
    score = task.select
    scored = [r for r in history if isinstance(r.get(score), (int, float)) and math.isfinite(r[score])]
    if not scored:
        return {}
    best = max(scored, key=lambda r: r[score])
    return {k: best.get(k) for k in (*task.record_keys, "epoch") if k in best}


@dataclass
class TrialTiming:
    """Where one trial's wall time went; everything but `train_s` is search overhead."""

    number: int = -1
    total_s: float = 0.0  # claim + ask + objective + tell, as the runner saw it
    train_s: float = 0.0  # inside train(), minus the per-epoch report callbacks
    claim_s: float = 0.0  # lock, stale-trial check, counting, sampler set-up
    budget_s: float = 0.0  # sampling the candidate and solving it into the budget
    record_s: float = 0.0  # writing user attributes and constraints
    report_s: float = 0.0  # per-epoch trial.report + should_prune

    @property
    def overhead_s(self) -> float:
        """Wall time not spent training."""
        return max(self.total_s - self.train_s, 0.0)


@dataclass
class StudyObjective:
    """The Optuna objective of a study; one instance per worker.

    Args:
        config: the study.
        train_fn: `scaler.train.train` or a stand-in with its signature.
        study_dir: the study's run folder (`config.study_dir(run_key)`); trial N trains in trial_NNNN.
        claim: the worker's claim lock, released as soon as the trial exists in storage.
        progress: show the trainer's progress bar.
    """

    config: StudyConfig
    train_fn: Callable[..., Any]
    study_dir: Path
    claim: Any = None
    progress: bool = False
    timing: TrialTiming = field(default_factory=TrialTiming)
    #: The trial this worker is running (None between trials): what an interrupt must save and queue.
    trial: optuna.Trial | None = None

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        self.trial = trial
        self.timing.number = trial.number
        try:
            return self._run(trial)
        finally:
            if self.claim is not None:
                self.claim.release()  # no-op when released already (the usual case, see `_run`)

    def _run(self, trial: optuna.Trial) -> float | list[float]:
        """Resolve, record and look up the network under the claim lock; then release it and train (or reuse)."""
        start = time.perf_counter()
        frozen = _running(trial)
        origin = frozen.system_attrs.get("failed_trial", trial.number)  # a retry resumes its original's run dir
        candidate = self.config.space.suggest(trial)
        try:
            network = resolve_network(self.config.scaling, self.config.base, self.config.infeasible, candidate)
            cfg = dataclasses.replace(self.config.train, **candidate.train)
        except ScalerError as exc:  # a candidate no network or training config can be made of
            self._record(trial, {"method": candidate.method, "status": "failed", "fail_reason": str(exc)})
            raise TrialFailed(str(exc)) from exc
        run_dir = self.study_dir / f"trial_{origin:04d}"
        key = network_key(network.spec, cfg)
        # Still under the claim lock: no other worker can pick this network between the look-up and the record.
        source = find_source(trial.study, key, trial.number) if network.feasible else None
        self.timing.budget_s = time.perf_counter() - start
        self._record(trial, {
            "method": network.method, "factors": network.factors.as_dict(), "spec": network.spec.to_dict(),
            "params": network.cost.params, "macs": network.cost.macs, "flops": network.cost.flops,
            "activations": network.cost.activations, "input_size": list(network.cost.input_size),
            "seed": cfg.seed, "run_dir": str(run_dir), "infeasible": not network.feasible,
            "status": "running" if network.feasible else "infeasible", "network_key": key,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            **({"direction": candidate.factors.as_dict()} if candidate.on_frontier else {}),
            **({"reused_from": source.number} if source is not None else {}),
            **({"note": network.note} if network.note else {}),
        })
        if self.claim is not None:
            self.claim.release()  # the trial is RUNNING and labelled in storage now, so it is counted right
        t = time.perf_counter()
        inherited = frozen.constraints  # a retried trial inherits its original's constraints
        for metric, value in network.constraints.items():
            if f"budget_{metric}" not in inherited:
                trial.set_constraint(f"budget_{metric}", value)
        self.timing.record_s += time.perf_counter() - t
        if not network.feasible:
            # Recorded, never trained: the constraint (not a made-up score) tells the sampler why.
            return self._values(0.0, network.cost, math.inf)
        if source is not None:
            reused = self._reuse(trial, source.number)
            if reused is not None:
                return reused
        # Only a retry resumes (its original's checkpoint); a fresh trial never inherits a stale directory.
        return self._train(trial, network, cfg, run_dir, dict(frozen.intermediate_values),
                           resume=origin != trial.number)

    def _reuse(self, trial: optuna.Trial, source_number: int) -> float | list[float] | None:
        """Take the result of the trial that trains this network (waiting while it runs); None: train it here."""
        while True:
            source = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == source_number)
            if source.state != TrialState.RUNNING:
                break
            time.sleep(REUSE_POLL_S)
            if self.claim is not None:  # its worker may have died: fail it (and queue its retry) as a claim does
                with self.claim.held(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(trial.study)
        attrs = {k: source.user_attrs.get(k) for k in REUSED_ATTRS if k in source.user_attrs}
        if source.state == TrialState.COMPLETE and source.values is not None:
            self._record(trial, {**attrs, "status": "completed", "reused_from": source.number})
            return source.values[0] if not self.config.multi_objective else list(source.values)
        if source.state == TrialState.PRUNED:
            self._record(trial, {**attrs, "status": "pruned", "reused_from": source.number})
            raise optuna.TrialPruned(f"the same network was pruned in trial {source.number}")
        # It failed (diverged, a dead worker): no result to take, so this trial trains the network itself.
        self._record(trial, {"reused_from": None, "note": f"trial {source.number} that trained this network "
                                                          f"ended {source.state.name}; trained here"})
        return None

    def _train(self, trial: optuna.Trial, network: Network, cfg: Any, run_dir: Path, reported: dict[int, float],
               resume: bool) -> float | list[float]:
        """Train the network; map the trainer's outcome to a trial state and its record."""
        history: list[dict[str, Any]] = []
        task = task_of(network.spec)
        score = task.select  # mIoU, or accuracy for a classification head
        on_epoch_end = self._epoch_callback(trial, network, history, reported, score)
        start = time.perf_counter()
        try:
            result = self.train_fn(network.spec, cfg, run_dir, on_epoch_end=on_epoch_end, resume=resume,
                                   progress=self.progress)
        except Pruned as exc:  # the trainer stopped on our callback's word; Optuna records PRUNED on its own type
            self._finish(trial, start, {"status": "pruned", "history": history, "best": _best_of(history, task),
                                        **({"fail_reason": str(exc)} if str(exc) else {})})
            raise optuna.TrialPruned(str(exc)) from exc
        except OutOfSpace as exc:  # not the network's fault: like an interruption, the run resumes on a retry
            self._finish(trial, start, {"status": "interrupted", "fail_reason": str(exc), "history": history})
            raise
        except Diverged as exc:
            self._finish(trial, start, {"status": "diverged", "fail_reason": str(exc), "history": history})
            raise TrialFailed(str(exc)) from exc
        except KeyboardInterrupt:
            self._finish(trial, start, {"status": "interrupted", "fail_reason": INTERRUPTED, "history": history})
            raise
        except Exception as exc:
            if _is_oom(exc):
                _free_device_memory()
                reason = f"out of memory: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                self._finish(trial, start, {"status": "oom", "fail_reason": reason, "history": history})
                raise TrialFailed(reason) from exc
            self._finish(trial, start, {"status": "failed", "fail_reason": f"{type(exc).__name__}: {exc}",
                                        "history": history})
            if isinstance(exc, ScalerError):  # a bad candidate (e.g. the data cannot feed it): record, go on
                raise TrialFailed(str(exc)) from exc
            raise  # a bug: the trial is FAIL with its reason, and the worker stops loudly
        self._finish(trial, start, {
            "status": "completed", "train_status": result.status, "run_dir": str(result.run_dir),
            "history": result.history, "best": result.best, "epochs_run": result.epochs_run,
            "ms_per_step": result.ms_per_step, "ms_p10": result.ms_p10, "ms_p90": result.ms_p90,
            **{k: getattr(result, k, None) for k in ("data_ms_per_step", "peak_mem_bytes", "wall_s", "test")},
        })
        accuracy = float(result.best.get(score) or 0.0)
        ms = float(result.ms_per_step) if result.ms_per_step is not None else math.inf
        return self._values(accuracy, network.cost, ms)

    def _epoch_callback(self, trial: optuna.Trial, network: Network, history: list[dict[str, Any]],
                        reported: dict[int, float], score: str) -> Callable[[int, dict[str, Any]], None]:
        """The trainer's per-epoch callback: keep the history, report the best `score` so far, prune (raise Pruned)."""
        single = not self.config.multi_objective
        pareto = self._pareto_curve(trial, network, score)

        def on_epoch_end(epoch: int, record: dict[str, Any]) -> None:
            t = time.perf_counter()
            try:
                history.append(dict(record))
                if pareto is not None:
                    pareto.step(trial, epoch, record)  # raises scaler.train.Pruned when dominated
                value = float(record.get(score, math.nan))
                if single and epoch not in reported and math.isfinite(value):
                    # The best val score so far: the quantity the trial's value will be, so the pruner
                    # compares like with like, and one noisy epoch does not condemn a trial.
                    best = max([value, *(v for v in reported.values() if math.isfinite(v))])
                    trial.report(best, epoch)
                    reported[epoch] = best
                    if trial.should_prune():
                        raise Pruned(f"pruned after epoch {epoch}: best val {score} {best:.4f}")
            finally:
                self.timing.report_s += time.perf_counter() - t
        return on_epoch_end

    def _pareto_curve(self, trial: optuna.Trial, network: Network, score: str = "miou") -> ParetoCurve | None:
        """The trial's Pareto-aware pruning curve (pruner "pareto"), resuming a retried original's; else None."""
        if self.config.pruner != "pareto":
            return None
        costs = {"params": network.cost.params, "macs": network.cost.macs, "flops": network.cost.flops,
                 "activations": network.cost.activations, "ms_per_step": None}  # ms: measured in epoch 1
        stored = _running(trial).user_attrs.get("curve") or {}
        return ParetoCurve(pareto_rule(self.config.pruner_options),
                           [costs[name] for name in self.config.objectives[1:]], dict(stored), score)

    def _finish(self, trial: optuna.Trial, start: float, attrs: dict[str, Any]) -> None:
        """Close the training clock and record the outcome."""
        self.timing.train_s = time.perf_counter() - start - self.timing.report_s
        attrs.setdefault("epochs_run", len(attrs.get("history") or []))
        self._record(trial, attrs)

    def _record(self, trial: optuna.Trial, attrs: dict[str, Any]) -> None:
        """Write user attributes, in one transaction."""
        t = time.perf_counter()
        set_user_attrs(trial, {key: _jsonable(value) for key, value in attrs.items()})
        self.timing.record_s += time.perf_counter() - t

    def _values(self, miou: float, cost: Complexity, ms_per_step: float) -> float | list[float]:
        """The objective value(s): mIoU, then each cost objective in its natural unit."""
        if not self.config.multi_objective:
            return miou
        costs = {"params": cost.params, "macs": cost.macs, "flops": cost.flops, "activations": cost.activations,
                 "ms_per_step": ms_per_step}
        return [miou] + [float(costs[name]) for name in self.config.objectives[1:]]


def _running(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The stored record of a running trial (system attributes, inherited intermediate values), by public calls."""
    running = trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return next(t for t in running if t.number == trial.number)


def _free_device_memory() -> None:
    """Give cached CUDA blocks back after an OOM so the next trial starts clean."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
