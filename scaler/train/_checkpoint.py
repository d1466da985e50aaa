"""Run-directory files: atomic JSON/checkpoint writes, weights-only loading, and the RNG state that makes a resume exact.

A checkpoint holds tensors and plain Python data only (dicts, lists, tuples, numbers, strings, None):
RNG states are stored as tensors and ints, spec and config as JSON-able dicts. It is read back with
`torch.load(weights_only=True)`, so a planted object whose unpickling would run code is refused, never run.
"""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from scaler.errors import ScalerError
from scaler.train._stop import OutOfSpace

__all__ = ["write_json", "read_json", "save_checkpoint", "copy_checkpoint", "load_checkpoint", "rng_state", "set_rng_state",
           "CHECKPOINT_KEYS"]

#: What every checkpoint written by training holds (a file missing one is not ours, or torn).
CHECKPOINT_KEYS = ("model", "optimizer", "grad_scaler", "epoch", "global_step", "rng", "history", "step_ms",
                   "data_ms", "wall_s", "status", "spec", "config")
#: errno values that mean "the disk is full" (ENOSPC) or "the quota is" (EDQUOT).
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _replace_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary sibling, then rename: a kill or a full disk never leaves a torn file or a temp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            raise OutOfSpace(f"no space left on the device to write {path} ({exc.strerror}); the previous "
                             f"{path.name} is kept: free some space and run again to resume") from None
        raise


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    _replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path) -> Any:
    """Read a JSON file of a run; a missing or broken file is a ScalerError naming it."""
    if not path.is_file():
        raise ScalerError(f"{path} does not exist; valid: a run directory written by `scaler train`")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScalerError(f"{path}: not valid JSON ({exc})") from None


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` atomically; a full disk raises OutOfSpace and leaves no temporary file."""
    _replace_atomically(path, lambda tmp: _torch_save(state, tmp))


def copy_checkpoint(source: Path, target: Path) -> None:
    """Copy a checkpoint file atomically (last.pt -> best.pt); a full disk raises OutOfSpace and keeps `target`."""
    _replace_atomically(target, lambda tmp: shutil.copyfile(source, tmp))


def _torch_save(state: dict[str, Any], path: Path) -> None:
    """torch.save through a Python file, so a full disk raises OSError(ENOSPC) (a path gives an opaque RuntimeError)."""
    with open(path, "wb") as file:
        torch.save(state, file)


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` with weights_only=True; anything else is one ScalerError line."""
    if not path.is_file():
        raise ScalerError(f"checkpoint {path} does not exist; valid: last.pt or best.pt of a run directory")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - garbage, truncation and forbidden objects all raise differently
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScalerError(f"checkpoint {path} cannot be loaded safely ({type(exc).__name__}: {reason[:200]}); "
                          f"valid: a last.pt/best.pt written by `scaler train` (tensors and plain data only)") from None
    missing = [key for key in CHECKPOINT_KEYS if key not in state] if isinstance(state, dict) else list(CHECKPOINT_KEYS)
    if missing:
        raise ScalerError(f"checkpoint {path} is not a scaler training checkpoint (missing {', '.join(missing)}); "
                          f"valid: a last.pt/best.pt written by `scaler train`")
    return state


def rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from (python, numpy, torch CPU and CUDA), as tensors and ints."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    assert kind == "MT19937", kind  # the only bit generator of numpy's legacy global RNG
    state = {
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    python, numpy_state = state["python"], state["numpy"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
