"""TrainConfig: every knob of a training run in one frozen, validated dataclass that round-trips through JSON."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scaler.errors import ConfigError

__all__ = ["TrainConfig", "OPTIMIZERS", "AMP_MODES", "CLASS_WEIGHTS", "DEFAULT_LR", "EVAL_SPLITS"]

OPTIMIZERS = ("adamw", "sgd")
AMP_MODES = ("auto", "off", "bf16", "fp16")
CLASS_WEIGHTS = ("inverse_frequency", "none")
#: Learning rate when `lr` is None: AdamW's usual 1e-3; SGD with momentum needs ~10x more for the same progress.
DEFAULT_LR = {"adamw": 1e-3, "sgd": 1e-2}
LOSS_NAMES = ("ce", "focal", "dice", "focal+dice", "ce+dice")
#: Splits a run can report its val-selected best checkpoint on, besides val (scaler.vocabulary.SPLITS).
EVAL_SPLITS = ("test",)


@dataclass(frozen=True)
class TrainConfig:
    """How to train one network: data, optimisation, schedule, precision, stopping and timing.

    The network itself is a `NetSpec` (its input size is the training resolution); this record
    holds everything else, so `spec.json` + `config.json` reproduce a run exactly.
    """

    # -- data ----------------------------------------------------------------------------------
    data: str = "shapes"  # the synthetic set needs no files, so a bare `scaler train` runs anywhere
    data_root: str | None = None
    #: Extra keyword arguments of `make_dataset` (e.g. shapes `length`); JSON-able values only.
    data_options: dict[str, Any] = field(default_factory=dict)
    #: Scale jitter + crop + flip on the training split: CamVid has only 367 training images.
    augment: bool = True
    batch_size: int = 8  # BatchNorm statistics stay stable from ~8 up; a CPU step stays ~0.1 s at width 16, 96x128
    #: 0: the datasets are decoded once and cached in memory, so worker processes only add IPC cost.
    num_workers: int = 0

    # -- optimisation --------------------------------------------------------------------------
    epochs: int = 30
    optimizer: str = "adamw"  # adaptive steps need no per-width LR tuning, which a scaling study cannot afford
    lr: float | None = None  # None: DEFAULT_LR of the optimizer
    weight_decay: float = 1e-4  # the usual segmentation value; with BN after every conv it mostly rescales weights
    momentum: float = 0.9  # SGD only
    #: The encoder's parameters train at lr x this, the rest at lr (two parameter groups; the warm-up and
    #: poly schedule scale both). EDNet's recipe: SGD lr 0.01, backbone 0.001, so 0.1. 1.0: one group.
    encoder_lr_mult: float = 1.0
    #: A local state_dict file loaded into the encoder (weights only, strictly: every tensor must fit)
    #: before the first step; ImageNet weights are what the papers start from. None: random init.
    pretrained: str | None = None
    #: Linear warm-up over this many epochs (fractions allowed): AdamW's early second-moment
    #: estimates are noisy and a cold start at full LR can blow up BN statistics.
    warmup_epochs: float = 1.0
    poly_power: float = 0.9  # the DeepLab "poly" schedule the paper uses: lr * (1 - t/T)^0.9
    grad_clip: float | None = None  # max global grad norm; None: no clipping (one fewer reduction per step)

    # -- loss ----------------------------------------------------------------------------------
    loss: str = "focal"  # the paper's loss: it down-weights the easy majority pixels (road, sky, building)
    focal_gamma: float = 2.0  # Lin et al.'s default
    #: "inverse_frequency": per-class alpha from the ENet-style modified inverse frequency of the
    #: TRAINING masks, 1 / ln(1.02 + p_c), bounded in [1.4, 50]; plain 1/p would explode on rare classes.
    class_weights: str = "inverse_frequency"

    # -- reproducibility, hardware -------------------------------------------------------------
    seed: int = 0
    device: str = "auto"  # cuda > mps > cpu
    #: "auto": bf16 on CUDA when supported else fp16; bf16 on a CPU with native bf16 (AVX512-BF16 or
    #: AMX), where it measured ~1.6x faster than fp32; off elsewhere (emulated bf16 is slower).
    amp: str = "auto"
    #: None: on where it measured faster (CPU; CUDA with amp, where tensor-core convs want NHWC).
    channels_last: bool | None = None
    compile: bool = False  # torch.compile: minutes of compile time, which short scaling runs rarely recoup
    #: On CPU, let glibc keep freed activation buffers instead of unmapping them (see `tune_malloc`):
    #: without it each step page-faults its activations in afresh (~30k faults/step at width 16, 96x128).
    tune_malloc: bool = True

    # -- stopping --------------------------------------------------------------------------------
    #: Stop after this many epochs without a new best val mIoU; None trains all epochs.
    early_stop_patience: int | None = None
    #: Cap on optimizer steps per epoch (a random subset each epoch); None: the whole split.
    max_steps_per_epoch: int | None = None
    #: After training, evaluate the best checkpoint (selected on val) on this split too and record it in
    #: metrics.json under "test": val picks the epoch, so only another split reports it without bias.
    eval_split: str | None = None

    # -- timing --------------------------------------------------------------------------------
    #: Steps excluded from ms/step at the start of each process: allocator growth, oneDNN/cuDNN
    #: kernel selection and (with compile) tracing make them several times slower than steady state.
    timing_warmup_steps: int = 5

    def __post_init__(self) -> None:
        try:  # JSON-normalised (tuples become lists) so a resumed run compares equal to config.json
            options = json.loads(json.dumps(dict(self.data_options or {})))
        except (TypeError, ValueError):
            raise ConfigError(f"data_options must be a mapping of JSON values, got {self.data_options!r}") from None
        object.__setattr__(self, "data_options", options)
        _check_str(self, "data")
        for name in ("data_root", "pretrained"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, str(getattr(self, name)))
        for name in ("augment", "compile", "tune_malloc"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise ConfigError(f"channels_last must be true, false or null (auto), got {self.channels_last!r}")
        _check_int(self, "batch_size", 1)
        _check_int(self, "num_workers", 0)
        _check_int(self, "epochs", 1)
        _check_int(self, "seed", 0)
        _check_int(self, "timing_warmup_steps", 0)
        _check_int(self, "early_stop_patience", 1, optional=True)
        _check_int(self, "max_steps_per_epoch", 1, optional=True)
        _check_choice(self, "optimizer", OPTIMIZERS)
        _check_choice(self, "amp", AMP_MODES)
        _check_choice(self, "class_weights", CLASS_WEIGHTS)
        _check_choice(self, "loss", LOSS_NAMES)
        if self.eval_split is not None and self.eval_split not in EVAL_SPLITS:
            raise ConfigError(f"unknown eval_split {self.eval_split!r}; valid: {', '.join(EVAL_SPLITS)} "
                              f"(or null: val only)")
        if self.pretrained is not None:
            _check_str(self, "pretrained")
        _check_float(self, "lr", 0.0, optional=True, strict=True)
        _check_float(self, "weight_decay", 0.0)
        _check_float(self, "momentum", 0.0)
        _check_float(self, "encoder_lr_mult", 0.0)
        _check_float(self, "warmup_epochs", 0.0)
        _check_float(self, "poly_power", 0.0)
        _check_float(self, "focal_gamma", 0.0)
        _check_float(self, "grad_clip", 0.0, optional=True, strict=True)
        if self.momentum >= 1:
            raise ConfigError(f"momentum must be in [0, 1), got momentum={self.momentum!r}")
        if self.warmup_epochs > self.epochs:
            raise ConfigError(f"warmup_epochs must be <= epochs ({self.epochs}), "
                              f"got warmup_epochs={self.warmup_epochs!r}")
        _check_str(self, "device")

    @property
    def effective_lr(self) -> float:
        """The peak learning rate: `lr`, or the optimizer's default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the content of config.json)."""
        return asdict(self)

    def with_absolute_paths(self) -> TrainConfig:
        """This config with data_root and pretrained made absolute, as a run stores them (config.json finds them
        from any directory, and a relative path given again compares equal to the stored one)."""
        paths = {name: str(Path(value).expanduser().resolve()) for name in ("data_root", "pretrained")
                 if (value := getattr(self, name)) is not None and not Path(value).is_absolute()}
        return replace(self, **paths) if paths else self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of `to_dict`; an unknown key is a ConfigError that lists the valid ones."""
        if not isinstance(data, dict):
            raise ConfigError(f"a train config must be a JSON object, got {type(data).__name__}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown train config key(s) {unknown}; valid: {', '.join(valid)}")
        return cls(**data)


def _check_str(cfg: TrainConfig, name: str) -> None:
    """A non-empty string."""
    value = getattr(cfg, name)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, got {name}={value!r}")


def _check_choice(cfg: TrainConfig, name: str, valid: tuple[str, ...]) -> None:
    """One of `valid`."""
    value = getattr(cfg, name)
    if value not in valid:
        raise ConfigError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


def _check_int(cfg: TrainConfig, name: str, low: int, optional: bool = False) -> None:
    """An int >= low (or None when optional)."""
    value = getattr(cfg, name)
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        valid = f"an integer >= {low}" + (" or null" if optional else "")
        raise ConfigError(f"{name} must be {valid}, got {name}={value!r}")


def _check_float(cfg: TrainConfig, name: str, low: float, optional: bool = False, strict: bool = False) -> None:
    """A finite number >= low (> low when strict), stored as float (or None when optional)."""
    value = getattr(cfg, name)
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        valid = f"a finite number {'>' if strict else '>='} {low:g}" + (" or null" if optional else "")
        raise ConfigError(f"{name} must be {valid}, got {name}={value!r}")
    object.__setattr__(cfg, name, float(value))
