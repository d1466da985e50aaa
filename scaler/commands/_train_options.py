"""`scaler train`'s training flags, generated from `TrainConfig`'s fields: one source for CLI flags, TOML keys, JSON.

Every field is a flag `--field-name` (bools `--field-name/--no-field-name`; `data_options` is the
repeatable `--data-option NAME=VALUE`). A value typed on the command line is read like a TOML value
(`literal`) and checked by `TrainConfig` itself, so a bad value gets the same text as in a study file.
A flag left out keeps the field's default. A new TrainConfig field gets its flag without touching this file.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, fields
from typing import Any, List, Optional

import typer

from scaler.parsing import literal, parse_assignments, parse_size
from scaler.train._config import TrainConfig

__all__ = ["config_parameters", "config_from_flags", "flag_name"]

#: Help of the fields whose name does not say enough (any other field's help is its name and default).
HELP = {
    "data": "Dataset: shapes (synthetic), camvid, cityscapes, voc, folder.",
    "data_root": "Dataset folder (camvid defaults to ../shared/data/camvid).",
    "data_options": "Dataset option NAME=VALUE (repeatable), e.g. length=64; HxW values become (H, W).",
    "lr": "Peak learning rate; default 1e-3 (adamw) or 1e-2 (sgd).",
    "optimizer": "adamw or sgd.",
    "loss": "ce, focal, dice, focal+dice or ce+dice.",
    "class_weights": "inverse_frequency or none.",
    "warmup_epochs": "Linear LR warm-up epochs.",
    "poly_power": "Power of the poly LR decay.",
    "grad_clip": "Max global gradient norm (default: no clipping).",
    "early_stop_patience": "Early stop after N epochs without a better val mIoU.",
    "amp": "auto, off, bf16 or fp16 (CUDA).",
    "channels_last": "NHWC memory format; default: where it is faster.",
    "compile": "torch.compile the model.",
    "device": "auto, cpu, cuda, cuda:N or mps.",
    "seed": "Seed of weights, shuffling and augmentation.",
    "max_steps_per_epoch": "Cap on steps per epoch (a random subset).",
    "num_workers": "DataLoader worker processes.",
    "tune_malloc": "Keep freed activation buffers in glibc on CPU (fewer page faults).",
    "timing_warmup_steps": "Steps left out of ms/step at the start of each process.",
    "encoder_lr_mult": "The encoder trains at lr x this (EDNet: 0.1); the rest at lr.",
    "pretrained": "Local state_dict FILE loaded into the encoder before training (weights only).",
    "eval_split": "Also score the val-selected best checkpoint on this split (test) into metrics.json.",
}
#: Spellings kept from before the flags were generated.
ALIASES = {"early_stop_patience": ("--patience",)}
_METAVARS = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT"}


def flag_name(field: str) -> str:
    """The flag of a TrainConfig field: data_root -> --data-root (data_options -> --data-option)."""
    return "--data-option" if field == "data_options" else "--" + field.replace("_", "-")


def _kind(annotation: Any) -> str:
    """"int", "float", "str", "bool" or "dict" from a field's annotation ("float | None" -> "float")."""
    return str(annotation).split("|")[0].split("[")[0].strip()


def _default(field: Any) -> Any:
    return field.default_factory() if field.default is MISSING else field.default


def config_parameters() -> list[inspect.Parameter]:
    """One typer option per TrainConfig field, as keyword parameters named like the fields."""
    params = []
    for field in fields(TrainConfig):
        kind, default = _kind(field.type), _default(field)
        help_text = HELP.get(field.name, f"TrainConfig.{field.name}.")
        if kind == "bool":
            flag = flag_name(field.name)
            info = typer.Option(None, f"{flag}/--no-{flag[2:]}", help=help_text,
                                show_default="auto" if default is None else str(default).lower())
            annotation: Any = Optional[bool]
        elif kind == "dict":
            info, annotation = typer.Option([], flag_name(field.name), help=help_text), List[str]
        else:
            info = typer.Option(None, flag_name(field.name), *ALIASES.get(field.name, ()), help=help_text,
                                metavar=_METAVARS.get(kind, "VALUE"), show_default=str(default))
            annotation = Optional[str]
        params.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=info,
                                        annotation=annotation))
    return params


def config_from_flags(values: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of the flags given in `values` (others: the defaults), validated by TrainConfig."""
    given: dict[str, Any] = {}
    for field in fields(TrainConfig):
        value = values.get(field.name)
        if value is None or value == []:
            continue
        kind = _kind(field.type)
        if kind == "dict":
            value = _data_options(value)
        elif kind in ("int", "float"):
            value = literal(value)  # "abc" stays a string: TrainConfig names it, as it does for TOML
        given[field.name] = value
    return TrainConfig(**given)


def _data_options(items: List[str]) -> dict[str, object]:
    """Dataset options NAME=VALUE; an HxW value (e.g. source_size=64x64) becomes an (H, W) pair."""
    options = parse_assignments(items, "data option")
    return {k: parse_size(v) if isinstance(v, str) and re.fullmatch(r"\d+[xX]\d+", v) else v
            for k, v in options.items()}
