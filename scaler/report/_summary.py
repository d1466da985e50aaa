"""The short summary: Pareto-optimal networks, and per rule the accuracy gained over baseline per unit of cost."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scaler.report._pareto import pareto_front
from scaler.report._plots import ACCURACY

__all__ = ["Summary", "GAIN_AXES", "summarize"]

#: Cost axes of the gains: table column -> (gain column, unit in words).
GAIN_AXES = {"params_m": ("per_m_params", "extra M params"), "gflops": ("per_gflop", "extra GFLOP"),
             "ms_per_step": ("per_ms", "extra ms/step")}
#: Below this a cost difference counts as none (R keeps the params): its gain per unit is undefined (NaN).
_TINY = {"params_m": 1e-3, "gflops": 1e-3, "ms_per_step": 1e-2}


@dataclass(frozen=True)
class Summary:
    """What the report concludes, as data: fronts, per-rule gains, the best rule per cost, runs not completed."""

    accuracy: str
    #: Pareto-optimal networks per cost axis: axis, network, rule, cost, accuracy (%).
    front: pd.DataFrame
    #: One row per non-baseline rule (its most accurate network): accuracy, deltas vs baseline, gains per unit.
    gains: pd.DataFrame
    #: Cost axis -> the rule with the largest finite gain per unit (None when there is none).
    best: dict[str, str | None]
    baseline: str | None
    #: Networks with a run that did not complete: network, status, reason.
    not_completed: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    def to_markdown(self) -> str:
        """summary.md: the answer to "which rule buys the most accuracy per param, GFLOP and ms"."""
        name = ACCURACY[self.accuracy].replace(" (%)", "")
        lines = ["# Summary", ""]
        if self.baseline is None:
            lines += ["No completed baseline network: gains over baseline cannot be computed.", ""]
        else:
            lines += [f"Gains are in {name} points over the baseline network {self.baseline!r}, per unit of "
                      f"extra cost (each rule's most accurate completed network).", ""]
            for column, (gain, unit) in GAIN_AXES.items():
                rule = self.best.get(column)
                if rule is not None:
                    value = float(self.gains.loc[self.gains["rule"] == rule, gain].iloc[0])
                    per = unit.split(" ", 1)[1]
                    lines.append(f"- Most {name} per {unit}: **{rule}** ({value:+.3f} points per {per})")
                else:
                    lines.append(f"- Most {name} per {unit}: n/a (no rule with a defined gain)")
            lines += ["", "| Rule | Network | " + f"{name} (%) | Δ {name} | Δ params (M) | Δ GFLOPs | Δ ms/step | "
                      "per M params | per GFLOP | per ms |", "|---|---|" + "---:|" * 8]
            for r in self.gains.itertuples(index=False):
                cells = [r.rule, r.network, _f(r.accuracy), _f(r.delta, signed=True), _f(r.d_params_m, signed=True),
                         _f(r.d_gflops, signed=True), _f(r.d_ms_per_step, signed=True, digits=1),
                         _f(r.per_m_params, signed=True, digits=3), _f(r.per_gflop, signed=True, digits=3),
                         _f(r.per_ms, signed=True, digits=4)]
                lines.append("| " + " | ".join(map(str, cells)) + " |")
        lines += ["", f"## Pareto-optimal networks ({name} vs cost)", ""]
        for axis, unit in _FRONT_UNITS.items():
            group = self.front[self.front["axis"] == axis]
            members = ", ".join(f"{r.network} ({r.cost:.3g} {unit}, {r.accuracy:.2f}%)"
                                for r in group.itertuples(index=False))
            lines.append(f"- {name} vs {axis}: {members or 'none (no completed network with a value)'}")
        if len(self.not_completed):
            lines += ["", "## Runs that did not complete (in the table and plots; only completed runs enter fronts "
                          "and gains)", ""]
            lines += [f"- {r.network}: {r.status}{f' — {r.reason}' if r.reason else ''}"
                      for r in self.not_completed.itertuples(index=False)]
        if self.notes:
            lines += ["", *[f"Note: {n}" for n in self.notes]]
        return "\n".join(lines).rstrip() + "\n"

    def write(self, out: str | Path) -> Path:
        """Write summary.md into `out`; returns its path."""
        path = Path(out) / "summary.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_markdown())
        return path


def _f(value: float, signed: bool = False, digits: int = 2) -> str:
    """A number for the summary table, "n/a" for NaN."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


_FRONT_AXES = {"params": "params_m", "gflops": "gflops", "ms_per_step": "ms_per_step"}
_FRONT_UNITS = {"params": "M", "gflops": "GFLOPs", "ms_per_step": "ms"}


def summarize(table: pd.DataFrame, accuracy: str = "miou") -> Summary:
    """The summary record from a `paper_table` (one row per network, accuracies in %).

    Args:
        table: from `paper_table`; networks with no completed seed are listed, never ranked.
        accuracy: miou, pa or mpa.
    """
    if accuracy not in ACCURACY:
        raise ValueError(f"unknown accuracy {accuracy=}; valid: {', '.join(ACCURACY)}")
    mean = f"{accuracy}_mean"
    ranked = table.assign(status=(table["seeds"] > 0).map({True: "completed", False: "none"}))
    fronts = []
    for axis, column in _FRONT_AXES.items():
        mask = pareto_front(ranked, column, mean)
        for r in ranked[mask].sort_values(column).itertuples(index=False):
            fronts.append({"axis": axis, "network": r.network, "rule": r.rule, "cost": getattr(r, column),
                           "accuracy": getattr(r, mean)})
    front = pd.DataFrame(fronts, columns=["axis", "network", "rule", "cost", "accuracy"])

    done = ranked[(ranked["status"] == "completed") & ranked[mean].notna()]
    bases = done[done["rule"] == "baseline"].sort_values("params_m")
    notes: list[str] = []
    gain_columns = ["rule", "network", "accuracy", "delta", "d_params_m", "d_gflops", "d_ms_per_step",
                    "per_m_params", "per_gflop", "per_ms"]
    rows = []
    baseline = None
    if len(bases):
        base = bases.iloc[0]
        baseline = str(base["network"])
        if len(bases) > 1:
            notes.append(f"{len(bases)} baseline networks; gains are over the smallest, {baseline!r}")
        for rule, group in done[done["rule"] != "baseline"].groupby("rule", sort=False):
            best = group.loc[group[mean].idxmax()]
            delta = float(best[mean] - base[mean])
            row = {"rule": rule, "network": best["network"], "accuracy": float(best[mean]), "delta": delta}
            for column, (gain, _unit) in GAIN_AXES.items():
                extra = float(best[column] - base[column])
                row[f"d_{column}"] = extra
                row[gain] = delta / extra if math.isfinite(extra) and extra > _TINY[column] else math.nan
            rows.append(row)
    gains = pd.DataFrame(rows, columns=gain_columns)
    for column, (gain, unit) in GAIN_AXES.items():
        free = gains[gains[f"d_{column}"].abs() <= _TINY[column]]
        for r in free.itertuples(index=False):
            notes.append(f"{r.rule} ({r.network}) costs no {unit}: its gain per unit is undefined (n/a); "
                         f"it changes {ACCURACY[accuracy].replace(' (%)', '')} by {r.delta:+.2f} points for free")
    best = {}
    for column, (gain, _unit) in GAIN_AXES.items():
        finite = gains[gains[gain].notna()]
        best[column] = str(finite.loc[finite[gain].idxmax(), "rule"]) if len(finite) else None
    incomplete = table[table["status"] != "completed"]
    not_completed = pd.DataFrame({"network": incomplete["network"], "status": incomplete["status"],
                                  "reason": incomplete["fail_reason"]}).reset_index(drop=True)
    return Summary(accuracy, front, gains, best, baseline, not_completed, tuple(notes))
