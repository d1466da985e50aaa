"""The training loop: one process trains (or resumes) one spec under one TrainConfig into a run directory."""
from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from scaler.errors import ConfigError, ScalerError
from scaler.families import build
from scaler.families._pretrained import load_encoder_weights
from scaler.losses import make_loss
from scaler.spec import NetSpec
from scaler.train._checkpoint import copy_checkpoint, rng_state, save_checkpoint, set_rng_state, write_json
from scaler.train._config import TrainConfig
from scaler.train._data import EpochSampler, check_data, class_weights, make_datasets, make_loader, steps_per_epoch
from scaler.train._evaluate import eval_split_dataset, evaluate, report_eval_split
from scaler.train._hardware import autocast, select_device, tune_malloc
from scaler.train._progress import Progress
from scaler.train._result import Diverged, RunResult
from scaler.train._rundir import RunDir
from scaler.train._stop import OutOfSpace, StopTraining
from scaler.train._task import task_of
from scaler.train._timing import PrecisionChoice, StepTimer, auto_precision, peak_memory, reset_peak_memory, summarize

__all__ = ["train", "lr_factor"]


def lr_factor(step: int, total_steps: int, warmup_steps: int, power: float) -> float:
    """Multiplier of the peak LR at 0-based `step`: linear warm-up to 1, then poly decay (1 - t/T)^power."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max(0.0, 1.0 - progress) ** power


def _optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW or SGD (with momentum) at the peak LR over `_param_groups`."""
    # Weight decay on every parameter, BN included: simpler to reproduce, and at 1e-4 it hardly matters.
    groups = _param_groups(cfg, model)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.effective_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.effective_lr, weight_decay=cfg.weight_decay)


def _param_groups(cfg: TrainConfig, model: nn.Module) -> list[dict[str, Any]]:
    """One group of all parameters; with encoder_lr_mult != 1, the encoder's (its `lr_mult`) and the rest's."""
    if cfg.encoder_lr_mult == 1.0:  # one group, as before the option: older checkpoints still resume
        return [{"params": list(model.parameters())}]
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ConfigError(f"encoder_lr_mult={cfg.encoder_lr_mult:g} needs a model with an encoder, and "
                          f"{type(model).__name__} has none; valid: encoder_lr_mult=1")
    in_encoder = {id(p) for p in encoder.parameters()}
    rest = [p for p in model.parameters() if id(p) not in in_encoder]
    return [{"params": list(encoder.parameters()), "lr_mult": cfg.encoder_lr_mult},
            {"params": rest, "lr_mult": 1.0}]


def _seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _stop_status(exc: BaseException) -> str:
    """The status a run stopped by `exc` records: the StopTraining's own, else "interrupted"."""
    return exc.status if isinstance(exc, StopTraining) else "interrupted"


class _Run:
    """One process's work on a run directory: model, optimizer, bookkeeping, and the epoch loop."""

    def __init__(self, spec: NetSpec, cfg: TrainConfig, run_dir: RunDir, train_ds: Dataset, val_ds: Dataset,
                 device: torch.device, amp: str, channels_last: bool, progress: bool,
                 checkpoint: dict[str, Any] | None) -> None:
        """Build the model, loss and optimizer (seeded), then load the checkpoint's state when resuming."""
        self.started = time.perf_counter()
        self.spec, self.cfg, self.run_dir, self.train_ds, self.val_ds = spec, cfg, run_dir, train_ds, val_ds
        self.device, self.amp, self.channels_last = device, amp, channels_last
        self.task = task_of(spec)  # what a batch's target is, the scores, and the key of the best epoch
        self.steps_per_epoch = steps_per_epoch(cfg, train_ds)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.warmup_steps = round(cfg.warmup_epochs * self.steps_per_epoch)

        _seed_everything(cfg.seed)
        self.model = build(spec).to(device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if cfg.pretrained is not None and checkpoint is None:  # a resumed run has its weights in last.pt
            load_encoder_weights(self.model, cfg.pretrained)
        self.task.check_loss(cfg.loss)
        self.loss_fn = make_loss(cfg.loss, self.task.num_classes(train_ds), train_ds.ignore_index,
                                 class_weights(cfg, train_ds, self.task), cfg.focal_gamma).to(device)
        self.optimizer = _optimizer(cfg, self.model)
        self.grad_scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")  # fp16 only: bf16 has fp32's range

        self.history: list[dict[str, Any]] = []
        self.step_ms: list[float] = []  # every timed step of the run (all processes), for the run's median
        self.data_ms: list[float] = []
        self.wall_before = 0.0
        self.status = "running"
        if checkpoint is not None:
            self.restore(checkpoint)
        self.step_model = torch.compile(self.model) if cfg.compile else self.model

        self.sampler = EpochSampler(len(train_ds), cfg.seed)
        # drop_last: equal batches, so BatchNorm never sees a batch of one and compiled shapes stay fixed.
        self.train_loader = make_loader(train_ds, cfg, device, self.sampler, drop_last=True)
        self.val_loader = make_loader(val_ds, cfg, device)
        self.timer = StepTimer(device, warmup=cfg.timing_warmup_steps)
        self.bar = Progress(progress, cfg.epochs)

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint: weights, optimizer, scaler, RNGs, history; one that does not fit is a ScalerError."""
        try:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.grad_scaler.load_state_dict(checkpoint["grad_scaler"])
            set_rng_state(checkpoint["rng"])
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ScalerError(f"checkpoint {self.run_dir.checkpoint_file('last')} does not fit this run "
                              f"({reason[:200]}); valid: --no-resume to start over") from None
        self.history = checkpoint["history"]
        self.step_ms, self.data_ms = checkpoint["step_ms"], checkpoint["data_ms"]
        self.wall_before = checkpoint["wall_s"]
        self.status = checkpoint["status"]  # "early_stopped" if killed between that decision and metrics.json

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        """One epoch of optimizer steps; returns (mean train loss, last LR). Raises Diverged on a NaN/inf loss."""
        cfg, device, optimizer = self.cfg, self.device, self.optimizer
        self.sampler.set_epoch(epoch)
        if hasattr(self.train_ds, "set_epoch"):
            self.train_ds.set_epoch(epoch)
        self.model.train()
        self.bar.start(epoch, self.steps_per_epoch)
        loss_sum, steps, lr = 0.0, 0, cfg.effective_lr
        first_step = (epoch - 1) * self.steps_per_epoch
        self.timer.start()
        for batch in self.train_loader:
            inputs, masks = self.task.inputs(batch, device, self.channels_last)
            self.timer.data_ready()
            lr = cfg.effective_lr * lr_factor(first_step + steps, self.total_steps, self.warmup_steps, cfg.poly_power)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_mult", 1.0)
            with autocast(device, self.amp):
                logits = self.step_model(*inputs)
            loss = self.loss_fn(logits.float(), masks)  # fp32 loss: rare-class log-probabilities underflow in half
            optimizer.zero_grad(set_to_none=True)
            if self.grad_scaler.is_enabled():
                self.grad_scaler.scale(loss).backward()
                if cfg.grad_clip is not None:
                    self.grad_scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.grad_scaler.step(optimizer)
                self.grad_scaler.update()
            else:
                loss.backward()
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                optimizer.step()
            # The one host read per step, for the NaN check and the epoch loss; on CUDA the timer
            # synchronizes at this point anyway, so it costs nothing extra.
            value = loss.item()
            self.timer.step_done()
            steps += 1
            if not math.isfinite(value):
                message = f"diverged at epoch {epoch} step {steps}"
                self.finish("diverged", message)
                raise Diverged(message)
            loss_sum += value
            self.bar.step(loss_sum / steps, self.timer.step_ms[-1] if self.timer.step_ms else None)
            if steps == self.steps_per_epoch:
                break
        return loss_sum / steps, lr

    def epoch_record(self, epoch: int, train_loss: float, lr: float) -> dict[str, Any]:
        """Validate, and make the epoch's history record (metrics, LR, timing of this epoch's steps)."""
        step_ms, data_ms = self.timer.take()
        self.step_ms += step_ms
        self.data_ms += data_ms
        metrics = evaluate(self.step_model, self.val_loader, self.device, self.amp, self.channels_last,
                           self.task.num_classes(self.val_ds), self.val_ds.ignore_index, self.loss_fn, task=self.task)
        times, data_times = summarize(step_ms), summarize(data_ms)
        per_step = None if times["median"] is None else times["median"] + (data_times["median"] or 0.0)
        return {
            "epoch": epoch, "train_loss": train_loss, "val_loss": metrics["loss"],
            **{k: metrics[k] for k in self.task.record_keys}, "lr": lr,
            "ms_per_step": times["median"], "ms_p10": times["p10"], "ms_p90": times["p90"],
            "data_ms_per_step": data_times["median"],
            # Steady-state throughput from the medians (one slow step does not skew it); wall_s has the total.
            "images_per_s": None if per_step is None else self.cfg.batch_size * 1000.0 / per_step,
            "peak_mem_bytes": peak_memory(self.device),
        }

    def wall_s(self) -> float:
        """Wall time of the run: earlier processes plus this one so far."""
        return self.wall_before + time.perf_counter() - self.started

    def save(self, epoch: int, improved: bool) -> None:
        """Write last.pt (everything a resume needs) and, when the epoch is the best so far, best.pt."""
        last = self.run_dir.checkpoint_file("last")
        save_checkpoint(last, {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "grad_scaler": self.grad_scaler.state_dict(), "epoch": epoch, "global_step": epoch * self.steps_per_epoch,
            "rng": rng_state(), "history": self.history, "step_ms": self.step_ms, "data_ms": self.data_ms,
            "wall_s": self.wall_s(), "status": self.status, "spec": self.spec.to_dict(), "config": self.cfg.to_dict(),
        })
        if improved:
            copy_checkpoint(last, self.run_dir.checkpoint_file("best"))

    def result(self, status: str, message: str = "") -> RunResult:
        """The RunResult of the run so far."""
        times, data_times = summarize(self.step_ms), summarize(self.data_ms)
        peaks = [r["peak_mem_bytes"] for r in self.history if r.get("peak_mem_bytes") is not None]
        key = self.task.select
        best = max(self.history, key=lambda r: r[key]) if self.history else {}  # the first of equal bests
        return RunResult(
            run_dir=self.run_dir.path, status=status, epochs_run=len(self.history),
            best={k: best[k] for k in ("epoch", *self.task.record_keys)} if best else {},
            final=self.history[-1] if self.history else {}, history=self.history,
            ms_per_step=times["median"], ms_p10=times["p10"], ms_p90=times["p90"],
            data_ms_per_step=data_times["median"], peak_mem_bytes=max(peaks) if peaks else None,
            wall_s=self.wall_s(), device=str(self.device), amp=self.amp, channels_last=self.channels_last,
            message=message)

    def finish(self, status: str, message: str = "") -> RunResult:
        """Write history.json and metrics.json (with `status`); return the result."""
        run = self.result(status, message)
        write_json(self.run_dir.history_file, self.history)
        write_json(self.run_dir.metrics_file, run.to_dict(history=False))
        return run

    def run(self, on_epoch_end: Callable[[int, dict[str, Any]], None] | None) -> RunResult:
        """Train the remaining epochs; checkpoint and record each; stop early, on divergence or on an exception."""
        epoch = len(self.history)
        try:
            while epoch < self.cfg.epochs and self.status == "running":
                epoch += 1
                reset_peak_memory(self.device)
                train_loss, lr = self.train_epoch(epoch)
                record = self.epoch_record(epoch, train_loss, lr)
                key = self.task.select
                improved = record[key] > max((r[key] for r in self.history), default=-1.0)
                self.history.append(record)
                since_best = epoch - max(self.history, key=lambda r: r[key])["epoch"]
                patience = self.cfg.early_stop_patience
                if patience is not None and since_best >= patience and epoch < self.cfg.epochs:
                    self.status = "early_stopped"
                self.save(epoch, improved)
                self.finish(self.status)
                self.bar.end(record)
                if on_epoch_end is not None:
                    on_epoch_end(epoch, record)
        except Diverged:
            self.bar.close()
            raise
        except BaseException as exc:
            self.bar.close()
            try:
                self.finish(_stop_status(exc), f"{type(exc).__name__}: {exc}".strip(": "))
            except OutOfSpace:
                pass  # the disk is full: last.pt and metrics.json stay as the last finished epoch left them
            raise
        return self.finish("completed" if self.status == "running" else self.status)


def _resume_state(run_dir: RunDir, spec: NetSpec, cfg: TrainConfig) -> dict[str, Any] | RunResult | None:
    """The checkpoint to resume from, the finished RunResult, or None (nothing to resume); a different run is an error."""
    if not run_dir.checkpoint_file("last").is_file():
        return None
    run_dir.check_compatible(spec, cfg)
    status = run_dir.status()
    if status in ("completed", "early_stopped"):
        return run_dir.load_result()
    if status == "diverged":
        raise Diverged(run_dir.load_result().message)
    return run_dir.load_checkpoint("last", spec)


def _datasets(spec: NetSpec, cfg: TrainConfig, train_ds: Dataset | None,
              val_ds: Dataset | None) -> tuple[Dataset, Dataset]:
    """The given datasets, or `cfg`'s at the network's input size; checked against the network."""
    if train_ds is None or val_ds is None:
        made_train, made_val = make_datasets(cfg, spec.input_size)
        train_ds = made_train if train_ds is None else train_ds
        val_ds = made_val if val_ds is None else val_ds
    check_data(spec, train_ds, "train")
    check_data(spec, val_ds, "val")
    return train_ds, val_ds


def _precision(run_dir: RunDir, spec: NetSpec, cfg: TrainConfig, device: torch.device, resume: bool,
               progress: bool) -> PrecisionChoice:
    """amp and memory layout: as configured, or ("auto") the fastest measured on this network and device.

    A resumed run keeps the choice it recorded in precision.json, so that resuming stays bit-identical
    whatever a new measurement would say.
    """
    saved = run_dir.load_precision() if resume and run_dir.checkpoint_file("last").is_file() else None
    if saved is not None:
        return PrecisionChoice(*saved, source="resumed")
    choice = auto_precision(spec, device, cfg.amp, cfg.channels_last, batch=cfg.batch_size)
    if progress and choice.source != "fixed":
        print(choice.line(), file=sys.stderr)
    return choice


def train(
    spec: NetSpec,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
    resume: bool = True,
    progress: bool = True,
    train_ds: Dataset | None = None,
    val_ds: Dataset | None = None,
) -> RunResult:
    """Train `spec` under `cfg`, writing the run directory `out_dir`; resume it if it holds a partial run.

    Args:
        spec: the network; its input size is the training resolution.
        cfg: the training configuration (a relative data_root is stored absolute).
        out_dir: the run directory (see `RunDir`), written once data, network and optimizer are ready: a
            failure before that leaves no run files behind.
        on_epoch_end: called as `on_epoch_end(epoch, record)` after each epoch's validation, once the
            epoch's checkpoint and history are on disk (epochs count from 1). If it raises, the run is
            recorded with the StopTraining's status (`Pruned`: "pruned") or "interrupted" (anything
            else) and the exception propagates.
        resume: continue from `out_dir/last.pt` when present (same spec and config required, see
            `RunDir.check_compatible`); a finished run is returned as it is. False starts over,
            clearing the run files.
        progress: one line per epoch on stderr (a tqdm bar on a terminal).
        train_ds, val_ds: datasets to use instead of `make_dataset(cfg.data, ...)`; items must be at
            `spec.input_size` and have `spec.classes` classes.

    Returns:
        The RunResult (also in metrics.json and history.json); with `cfg.eval_split`, a finished run's best
        checkpoint (selected on val) scored on that split too (`RunResult.test`, metrics.json "test").

    Raises:
        Diverged: the training loss became NaN/inf ("diverged at epoch E step S"); metrics.json then
            says status "diverged".
        OutOfSpace: the disk filled up while saving (the previous checkpoint is kept; resumable).
        ScalerError: a bad config, device, dataset, checkpoint, or a run directory holding a different run.
    """
    run_dir, cfg = RunDir(out_dir), cfg.with_absolute_paths()
    device = select_device(cfg.device)
    precision = _precision(run_dir, spec, cfg, device, resume, progress)
    amp, channels_last = precision.amp, precision.channels_last
    if cfg.tune_malloc and device.type == "cpu":
        tune_malloc()
    checkpoint = _resume_state(run_dir, spec, cfg) if resume else None
    eval_ds = eval_split_dataset(spec, cfg)
    if isinstance(checkpoint, RunResult):
        return report_eval_split(checkpoint, cfg, eval_ds)
    train_ds, val_ds = _datasets(spec, cfg, train_ds, val_ds)
    run = _Run(spec, cfg, run_dir, train_ds, val_ds, device, amp, channels_last, progress, checkpoint)
    if checkpoint is None:  # a fresh start: the old run files go only now that the new run is ready
        run_dir.clear()
        run_dir.start(spec, cfg)
        write_json(run_dir.precision_file, precision.as_dict())
    return report_eval_split(run.run(on_epoch_end), cfg, eval_ds)
