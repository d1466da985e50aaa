"""RunDir: a training run's folder on disk (its files, loading them, finished or not, compatible or not)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scaler.errors import ScalerError
from scaler.io import load_spec
from scaler.spec import NetSpec
from scaler.train._checkpoint import load_checkpoint, read_json, write_json
from scaler.train._config import TrainConfig
from scaler.train._result import RunResult, load_run
from scaler.vocabulary import FINAL_RUN_STATUSES

__all__ = ["RunDir", "RESUME_FREE_KEYS", "RUN_FILES", "CHECKPOINTS"]

#: TrainConfig keys that may differ when a run resumes (or is compared): they change speed, never the numbers
#: (eval_split adds a score of the finished run on another split; its training stays the same).
RESUME_FREE_KEYS = ("num_workers", "timing_warmup_steps", "compile", "device", "tune_malloc", "eval_split")
#: Files a run directory holds (a fresh, non-resumed run clears them).
RUN_FILES = ("spec.json", "config.json", "precision.json", "history.json", "metrics.json", "last.pt", "best.pt")
#: The checkpoints of a run: the best epoch's (by val mIoU) and the last epoch's.
CHECKPOINTS = ("best", "last")


@dataclass(frozen=True)
class RunDir:
    """The folder `train` writes: spec.json, config.json, history.json, metrics.json, last.pt, best.pt."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def spec_file(self) -> Path:
        """The network (`NetSpec` JSON)."""
        return self.path / "spec.json"

    @property
    def config_file(self) -> Path:
        """The `TrainConfig` JSON."""
        return self.path / "config.json"

    @property
    def history_file(self) -> Path:
        """One record per finished epoch."""
        return self.path / "history.json"

    @property
    def precision_file(self) -> Path:
        """The amp / memory layout the run trains with, and how it was chosen (measured, cached, fixed)."""
        return self.path / "precision.json"

    @property
    def metrics_file(self) -> Path:
        """The `RunResult` without its history (status, best, final, timing)."""
        return self.path / "metrics.json"

    def checkpoint_file(self, name: str = "last") -> Path:
        """last.pt or best.pt; another name is a ScalerError listing the valid ones."""
        if name not in CHECKPOINTS:
            raise ScalerError(f"unknown checkpoint {name!r}; valid: {', '.join(CHECKPOINTS)}")
        return self.path / f"{name}.pt"

    def is_run(self) -> bool:
        """True when the folder holds a run (spec.json and config.json)."""
        return self.spec_file.is_file() and self.config_file.is_file()

    def require(self) -> RunDir:
        """Self, or a ScalerError when the folder does not exist."""
        if not self.path.is_dir():
            raise ScalerError(f"run directory {str(self.path)!r} does not exist; valid: an --out folder of "
                              f"`scaler train`")
        return self

    def load_spec(self) -> NetSpec:
        """The run's network, validated by its family; a bad file is a ScalerError naming it."""
        return load_spec(self.spec_file)

    def load_config(self) -> TrainConfig:
        """The run's TrainConfig; a bad file is a ScalerError naming it."""
        data = read_json(self.config_file)
        try:
            return TrainConfig.from_dict(data)
        except ScalerError as exc:
            raise type(exc)(f"{self.config_file}: {exc}") from None

    def load_result(self) -> RunResult:
        """The RunResult in metrics.json and history.json."""
        return load_run(self.path)

    def status(self) -> str | None:
        """The status in metrics.json (None before the first epoch finished or was interrupted)."""
        return self.load_result().status if self.metrics_file.is_file() else None

    def is_finished(self) -> bool:
        """True when the run needs no more training (completed, early stopped, diverged, pruned)."""
        return self.status() in FINAL_RUN_STATUSES

    def load_checkpoint(self, name: str = "last", spec: NetSpec | None = None,
                        map_location: torch.device | str = "cpu") -> dict[str, Any]:
        """A checkpoint, loaded weights-only; with `spec`, a checkpoint of another network is a ScalerError."""
        path = self.checkpoint_file(name)
        state = load_checkpoint(path, map_location)
        if spec is not None and state["spec"] != spec.to_dict():
            raise ScalerError(f"checkpoint {path} holds a different network than {self.spec_file}; valid: the "
                              f"checkpoint written with that spec (train again with --no-resume to start over)")
        return state

    def load_precision(self) -> tuple[str, bool] | None:
        """(amp, channels_last) the run trained with, or None when it recorded none (older runs)."""
        if not self.precision_file.is_file():
            return None
        data = read_json(self.precision_file)
        if not isinstance(data, dict) or data.get("amp") not in ("off", "bf16", "fp16") \
                or not isinstance(data.get("channels_last"), bool):
            raise ScalerError(f"{self.precision_file}: not a precision record; valid: "
                              f'{{"amp": "off"|"bf16"|"fp16", "channels_last": true|false}}')
        return data["amp"], data["channels_last"]

    def config_diff(self, cfg: TrainConfig) -> list[str]:
        """`key=saved (now new)` for each config key that differs from the run's, except RESUME_FREE_KEYS
        (paths compared absolute, as the run stores them)."""
        saved, current = read_json(self.config_file), cfg.with_absolute_paths().to_dict()
        if not isinstance(saved, dict):
            raise ScalerError(f"{self.config_file}: not a train config (a JSON object)")
        keys = sorted((set(saved) | set(current)) - set(RESUME_FREE_KEYS))
        return [f"{k}={saved.get(k)!r} (now {current.get(k)!r})" for k in keys if saved.get(k) != current.get(k)]

    def check_compatible(self, spec: NetSpec, cfg: TrainConfig) -> None:
        """A ScalerError naming what differs when the run is of another network or another config."""
        if self.load_spec() != spec:
            raise ScalerError(f"{self.path} holds a run of a different network; valid: the same spec, "
                              f"another --out, or --no-resume to start over")
        diff = self.config_diff(cfg)
        if diff:
            raise ScalerError(f"{self.path} holds a run with a different config: {', '.join(diff)}; valid: the same "
                              f"config, another --out, or --no-resume to start over")

    def clear(self) -> None:
        """Delete the run files (nothing else in the folder)."""
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)

    def start(self, spec: NetSpec, cfg: TrainConfig) -> None:
        """Create the folder and write spec.json and config.json (atomically; both or, on a failure, neither)."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            write_json(self.spec_file, spec.to_dict())
            write_json(self.config_file, cfg.to_dict())
        except BaseException:
            self.spec_file.unlink(missing_ok=True)
            raise
