"""Run-directory files: atomic JSON/checkpoint writes and the RNG state that makes a resume exact."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scaler.errors import ScalerError

__all__ = ["write_json", "read_json", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]


def _replace_atomically(path: Path, write: Any) -> None:
    """Write through a temporary sibling, then rename: a kill mid-write never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    _replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path) -> Any:
    """Read a JSON file of a run; a missing or broken file is a ScalerError naming it."""
    if not path.is_file():
        raise ScalerError(f"{path} does not exist; valid: a run directory written by `scaler train`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ScalerError(f"{path}: not valid JSON ({exc})") from None


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` atomically."""
    _replace_atomically(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`; a missing file is a ScalerError naming it."""
    if not path.is_file():
        raise ScalerError(f"checkpoint {path} does not exist; valid: last.pt or best.pt of a run directory")
    # weights_only=False: the file holds RNG states (numpy arrays, tuples); we only load our own files.
    return torch.load(path, map_location=map_location, weights_only=False)


def rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from (python, numpy, torch CPU and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
