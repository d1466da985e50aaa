"""Load a local pretrained state_dict into a model's encoder (nothing is downloaded).

Accepted key names, tried in this order:
1. the encoder's own names (`stages.0.blocks.0.conv1.weight`), as `model.encoder.state_dict()` saves
   them, optionally prefixed by `encoder.` (a whole scaler model's state_dict) and/or `module.`
   (DataParallel); a file holding {"state_dict": ...} or {"model": ...} is unwrapped;
2. torchvision names, through the encoder's `torchvision_key(name)` map: ResNet-18/34/50/101
   (`conv1`, `bn1` -> stage 0's stem; `layerN.B.*` -> `stages.N-1.blocks.B.*`; `fc.*` ignored) and
   vgg16_bn (`features.K.*` -> the 13 conv+BN units; `classifier.*` ignored). Modules an encoder adds
   to the torchvision network (its `added_modules`: the strided convs that replace VGG's pooling,
   EDNet's spatial branch and global pooling module) have no counterpart there: they stay at their
   init, are listed as `added`, and do not count as missing, so strict loading still works.
A width- or depth-scaled encoder cannot take base weights whole: strict loading refuses, non-strict
loading takes the tensors whose names and shapes match and reports the rest.

    from scaler.families import build
    from scaler.families._pretrained import load_encoder_weights
    model = build(spec)
    report = load_encoder_weights(model, "resnet50-0676ba61.pth")   # a torchvision ResNet-50 file
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from scaler.errors import ScalerError

__all__ = ["LoadReport", "load_encoder_weights"]

_WRAPPERS = ("state_dict", "model")
_PREFIXES = ("module.", "encoder.")
#: BN step counters: older torchvision files lack them, and they carry no weights.
_OPTIONAL = "num_batches_tracked"


@dataclass(frozen=True)
class LoadReport:
    """What a load did: tensors loaded; encoder tensors missing from the file; file tensors with no place
    (unexpected) or the wrong shape (mismatched); file tensors dropped by design (a classifier);
    encoder tensors of modules the file's network does not have (added, left at init)."""

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[str, ...]
    ignored: tuple[str, ...]
    naming: str
    added: tuple[str, ...] = ()


def _read(path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in `path` (weights only), unwrapped; a ScalerError naming the file otherwise."""
    if not path.is_file():
        raise ScalerError(f"encoder weights file {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise ScalerError(f"cannot read encoder weights {str(path)!r}: {type(exc).__name__}: {exc}") from None
    for wrapper in _WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ScalerError(f"encoder weights {str(path)!r} are not a state_dict (a dict of name -> tensor)")
    return state


def _strip(key: str) -> str:
    """`key` without the DataParallel and whole-model prefixes."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def load_encoder_weights(model: nn.Module, path: str | Path, strict: bool = True) -> LoadReport:
    """Load the state_dict file at `path` into `model.encoder`.

    Args:
        model: a built scaler model (it has an `encoder`).
        path: a local file saved with torch.save (a state_dict, optionally under "state_dict"/"model").
        strict: refuse (ScalerError naming the file and the first offending keys) unless every encoder
            tensor is in the file with its shape and every file tensor has a place; with False, load the
            tensors that match and report the rest.

    Returns:
        A LoadReport of loaded, missing, unexpected, mismatched and ignored keys and the naming used.
    """
    path = Path(path)
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ScalerError(f"cannot load {str(path)!r}: {type(model).__name__} has no `encoder` module")
    state = _read(path)
    target = encoder.state_dict()
    renamed, ignored, naming = {_strip(k): v for k, v in state.items()}, [], "scaler"
    if not set(renamed) & set(target) and hasattr(encoder, "torchvision_key"):
        naming, renamed = "torchvision", {}
        for key, value in state.items():
            name = encoder.torchvision_key(_strip(key))
            if name is None:
                ignored.append(key)
            else:
                renamed[name] = value
    matched = {k: v for k, v in renamed.items() if k in target and v.shape == target[k].shape}
    extra = tuple(getattr(encoder, "added_modules", ())) if naming == "torchvision" else ()
    added = tuple(k for k in target if k.startswith(extra) and k not in renamed) if extra else ()
    report = LoadReport(
        loaded=tuple(matched),
        missing=tuple(k for k in target if k not in renamed and k not in added and not k.endswith(_OPTIONAL)),
        unexpected=tuple(k for k in renamed if k not in target),
        mismatched=tuple(f"{k} {tuple(v.shape)} vs {tuple(target[k].shape)}"
                         for k, v in renamed.items() if k in target and v.shape != target[k].shape),
        ignored=tuple(ignored), naming=naming, added=added)
    problems = [(what, keys) for what, keys in (("missing", report.missing), ("unexpected", report.unexpected),
                                                ("mismatched", report.mismatched)) if keys]
    if (strict and problems) or not any(not k.endswith(_OPTIONAL) for k in matched):
        detail = "; ".join(f"{len(keys)} {what} (e.g. {', '.join(keys[:3])})" for what, keys in problems)
        hint = " (use strict=False to load what matches)" if matched else ""
        raise ScalerError(f"encoder weights {str(path)!r} do not fit {type(model).__name__}.encoder "
                          f"({naming} names): {detail or 'no tensor matches'}{hint}")
    encoder.load_state_dict(matched, strict=False)
    return report
