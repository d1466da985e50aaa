"""RunResult: what a training run produced, as written to (and read back from) its run directory."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scaler.errors import ScalerError
from scaler.train._checkpoint import read_json
from scaler.vocabulary import RUN_STATUSES

__all__ = ["RunResult", "Diverged", "load_run", "STATUSES"]

#: A run's statuses (the vocabulary's RUN_STATUSES: which are final and which resume is said there).
STATUSES = RUN_STATUSES


class Diverged(ScalerError):
    """The training loss became NaN/inf: "diverged at epoch E step S"."""


@dataclass(frozen=True)
class RunResult:
    """A run's outcome: status, best and final epoch records, the per-epoch history and honest timing.

    Timing is over the run's timed steps (those after `timing_warmup_steps`): `ms_per_step` is the
    median step time (forward, loss, backward, optimizer; synchronized on CUDA), `ms_p10`/`ms_p90`
    its spread, `data_ms_per_step` the median time to get a batch onto the device, measured apart
    from the step. `peak_mem_bytes` is the CUDA allocator peak (None elsewhere); `wall_s` sums the
    wall time of every process that worked on the run.
    """

    run_dir: Path
    status: str
    epochs_run: int
    best: dict[str, Any]
    final: dict[str, Any]
    history: list[dict[str, Any]]
    ms_per_step: float | None
    ms_p10: float | None
    ms_p90: float | None
    data_ms_per_step: float | None
    peak_mem_bytes: int | None
    wall_s: float
    device: str = ""
    amp: str = "off"
    channels_last: bool = False
    message: str = ""
    #: The best (val-selected) checkpoint scored on the config's eval_split (see scaler.train._evaluate), or None.
    test: dict[str, Any] | None = None

    def to_dict(self, history: bool = True) -> dict[str, Any]:
        """A JSON-ready dict (metrics.json is this without the history)."""
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        if not history:
            del data["history"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], history: list[dict[str, Any]] | None = None) -> RunResult:
        """Inverse of `to_dict` (the history may come separately, from history.json)."""
        data = dict(data)
        if history is not None:
            data["history"] = history
        data.setdefault("history", [])
        data["run_dir"] = Path(data["run_dir"])
        return cls(**data)


def load_run(run_dir: str | Path) -> RunResult:
    """Read a run directory's metrics.json and history.json back into a RunResult."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ScalerError(f"run directory {str(run_dir)!r} does not exist; valid: an --out folder of `scaler train`")
    metrics = read_json(run_dir / "metrics.json")
    history_file = run_dir / "history.json"
    history = read_json(history_file) if history_file.is_file() else []
    try:
        return RunResult.from_dict({**metrics, "run_dir": str(run_dir)}, history)
    except TypeError as exc:
        raise ScalerError(f"{run_dir / 'metrics.json'}: not a scaler run record ({exc})") from None
