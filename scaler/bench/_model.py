"""A latency model per device: step ms predicted from a spec's counted costs, fitted on a few measured networks.

Candidate forms (all with an intercept d, the fixed per-step cost: optimizer launch, Python, allocator):
    macs:               ms ~ a*GMACs + d
    macs+layers:        ms ~ a*GMACs + c*layers + d   (a fixed cost per layer: op dispatch, small kernels)
    macs+acts:          ms ~ a*GMACs + b*Mact + d      (memory traffic)
    macs+layers+params: ms ~ a*GMACs + c*layers + e*Mparams + d   (a training step's optimizer touches every
                        parameter several times: AdamW is memory-bound over the parameters)
    macs+acts+layers:   ms ~ a*GMACs + b*Mact + c*layers + d
    all:                ms ~ a*GMACs + b*Mact + c*layers + e*Mparams + d
Each is fitted by least squares on RELATIVE error (rows weighted by 1/measured), because the budget
promises are relative (+-10%, +-5%); a coefficient that comes out negative is dropped and the form
refitted (no physical cost is negative, and a negative one extrapolates badly). The form kept is the one
with the smallest leave-one-out error (each network predicted by a fit that did not see it); a larger
form must beat a smaller one by more than `SIMPLER_MARGIN` to be kept, since more terms fitted on a
handful of networks buy in-sample fit, not held-out accuracy.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from scaler.complexity import complexity
from scaler.errors import ScalerError
from scaler.spec import NetSpec

__all__ = ["FORMS", "LatencyModel", "features", "fit_latency_model", "SIMPLER_MARGIN"]

#: Model forms, simplest first: the features each one uses besides the intercept.
FORMS = {"macs": ("gmacs",), "macs+layers": ("gmacs", "layers"), "macs+acts": ("gmacs", "macts"),
         "macs+layers+params": ("gmacs", "layers", "mparams"), "macs+acts+layers": ("gmacs", "macts", "layers"),
         "all": ("gmacs", "macts", "layers", "mparams")}
#: A form with more terms is kept only when its leave-one-out error is lower by more than this (absolute).
SIMPLER_MARGIN = 0.005


def features(spec: NetSpec) -> dict[str, float]:
    """Per-image GMACs, millions of activations and params, and the MAC-bearing layers (conv, linear, counted ops)."""
    cost = complexity(spec)
    return {"gmacs": cost.macs / 1e9, "macts": cost.activations / 1e6, "mparams": cost.params / 1e6,
            "layers": float(sum(1 for layer in cost.layers if layer.macs > 0))}


def _fit(rows: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Relative-error least squares with an intercept; negative feature coefficients dropped and refitted."""
    names = list(names)
    while True:
        design = np.column_stack([rows[:, i] for i in range(len(names))] + [np.ones(len(y))]) / y[:, None]
        coef, *_ = np.linalg.lstsq(design, np.ones(len(y)), rcond=None)
        negative = [i for i in range(len(names)) if coef[i] < 0]
        if not negative:
            return {**dict(zip(names, map(float, coef[:-1]))), "intercept": float(coef[-1])}
        worst = min(negative, key=lambda i: coef[i])
        rows = np.delete(rows, worst, axis=1)
        del names[worst]


def _predict(coefficients: dict[str, float], feats: dict[str, float]) -> float:
    """ms from a coefficient record."""
    return coefficients["intercept"] + sum(v * feats[k] for k, v in coefficients.items() if k != "intercept")


def _loo_errors(table: list[dict[str, float]], y: np.ndarray, names: tuple[str, ...]) -> list[float]:
    """Relative error of each network predicted by the form fitted on all the others."""
    rows = np.array([[t[n] for n in names] for t in table])
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        coefficients = _fit(rows[keep], y[keep], names)
        errors.append(_predict(coefficients, table[i]) / y[i] - 1.0)
    return errors


@dataclass(frozen=True)
class LatencyModel:
    """A fitted latency model: its form, coefficients, the settings it holds for, and its measured error."""

    form: str
    coefficients: dict[str, float]
    settings: dict[str, object]
    #: Leave-one-out relative errors of every form tried (form -> mean |error|), and of the kept form per network.
    form_errors: dict[str, float] = field(default_factory=dict)
    loo_errors: tuple[float, ...] = ()
    reason: str = ""

    def predict(self, spec: NetSpec) -> float:
        """Predicted ms per step of `spec` under this model's settings."""
        return _predict(self.coefficients, features(spec))

    @property
    def error(self) -> float:
        """Mean |relative error| held out (leave-one-out) of the kept form."""
        return float(np.mean(np.abs(self.loo_errors))) if self.loo_errors else float("nan")

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready record."""
        return {**asdict(self), "loo_errors": list(self.loo_errors), "mean_abs_error": self.error}

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (parents created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyModel:
        """Read a model written by `save`; a bad file is one ScalerError naming it."""
        try:
            data = json.loads(Path(path).read_text())
            data.pop("mean_abs_error", None)
            return cls(**{**data, "loo_errors": tuple(data["loo_errors"])})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ScalerError(f"{path}: not a latency model written by scaler ({exc}); valid: a file from "
                              f"LatencyModel.save") from None


def fit_latency_model(specs: Sequence[NetSpec], measured_ms: Sequence[float],
                      settings: dict[str, object] | None = None) -> LatencyModel:
    """Fit every form on the measured networks; keep the one with the best leave-one-out error (see module doc)."""
    if len(specs) != len(measured_ms) or len(specs) < 5:
        raise ScalerError(f"a latency model needs >= 5 measured networks (one time each), got {len(specs)} "
                          f"specs and {len(measured_ms)} times")
    table = [features(s) for s in specs]
    y = np.asarray(measured_ms, dtype=float)
    errors = {form: _loo_errors(table, y, names) for form, names in FORMS.items()}
    mean_error = {form: float(np.mean(np.abs(e))) for form, e in errors.items()}
    kept = "macs"
    for form in FORMS:
        if mean_error[form] < mean_error[kept] - SIMPLER_MARGIN:
            kept = form
    reason = (f"kept {kept}: leave-one-out mean |error| "
              + ", ".join(f"{f} {e:.1%}" for f, e in mean_error.items())
              + f"; a form with more terms must be better by > {SIMPLER_MARGIN:.1%}")
    rows = np.array([[t[n] for n in FORMS[kept]] for t in table])
    return LatencyModel(kept, _fit(rows, y, FORMS[kept]), dict(settings or {}), mean_error,
                        tuple(errors[kept]), reason)
