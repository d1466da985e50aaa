"""The short summary: Pareto-optimal networks, per method the accuracy gained over baseline per unit of cost,
paired comparisons between networks over seeds, and only the claims their intervals allow.

Every difference is a paired comparison over the seeds both networks completed (scaler.stats: a
t-interval of the per-seed differences). A gain over the baseline, a ranking of methods by gain
per unit of cost, or a winner between two networks is stated only where its 95% interval excludes
zero; otherwise the summary says "not distinguishable with N seeds". Costs (params, GFLOPs) are
exact and ms/step is measured in isolation (scaler.report._timing; never the contended step time of
training), so a gain per unit is the accuracy interval divided by the extra
cost; ranking two methods by gain per unit compares their per-seed gains, paired by seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scaler.report._pareto import pareto_front
from scaler.report._plots import ACCURACY
from scaler.stats import LEVEL, paired_comparison

__all__ = ["Summary", "GAIN_AXES", "summarize", "COMPARISON_COLUMNS"]

#: Cost axes of the gains: table column -> (gain column, unit in words).
GAIN_AXES = {"params_m": ("per_m_params", "extra M params"), "gflops": ("per_gflop", "extra GFLOP"),
             "step_ms": ("per_ms", "extra ms/step")}
#: Below this a cost difference counts as none (R keeps the params): its gain per unit is undefined (NaN).
_TINY = {"params_m": 1e-3, "gflops": 1e-3, "step_ms": 1e-2}
#: Front axis -> table column: the isolated train step and inference times beside the counted costs.
_FRONT_AXES = {"params": "params_m", "gflops": "gflops", "ms_per_step": "step_ms", "infer_ms": "infer_ms"}
_FRONT_UNITS = {"params": "M", "gflops": "GFLOPs", "ms_per_step": "ms", "infer_ms": "ms"}
#: Cost columns that are measured, not counted: a network may lack them (not timed in isolation).
_TIMED = ("step_ms", "infer_ms")
#: The comparison record: network A minus network B over their common seeds, in accuracy points.
COMPARISON_COLUMNS = ("a", "b", "seeds", "difference", "low", "high", "p_value", "established", "verdict")
_GAIN_COLUMNS = ("method", "network", "accuracy", "delta", "delta_low", "delta_high", "delta_established",
                 "seeds", "d_params_m", "d_gflops", "d_step_ms", "per_m_params", "per_gflop", "per_ms")


@dataclass(frozen=True)
class Summary:
    """What the report concludes, as data: fronts, per-method gains, the best method per cost (None unless
    the intervals establish it), paired comparisons, runs not completed."""

    accuracy: str
    #: Pareto-optimal networks per cost axis: axis, network, method, cost, accuracy (%).
    front: pd.DataFrame
    #: One row per non-baseline method (its most accurate network): accuracy, delta vs baseline with its
    #: paired interval, extra costs, gains per unit.
    gains: pd.DataFrame
    #: Cost axis -> the method whose gain per unit is established as the largest (None when none is).
    best: dict[str, str | None]
    baseline: str | None
    #: Networks with a run that did not complete: network, status, reason.
    not_completed: pd.DataFrame
    notes: tuple[str, ...] = field(default=())
    #: Every pair of networks with a common completed seed (COMPARISON_COLUMNS).
    comparisons: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(COMPARISON_COLUMNS)))
    #: Per cost axis, the headline sentence (a winner, or why none is named).
    verdicts: dict[str, str] = field(default_factory=dict)
    #: What the accuracies are: which split, which epoch, how many seeds.
    evaluation: str = ""
    #: The conditions of the isolated times (or why there are none).
    timing: str = ""

    def headlines(self, bold: bool = False) -> list[str]:
        """The answer in a few lines: per cost axis, the method that buys the most accuracy per unit, where the
        intervals establish it (Markdown bold on the method when `bold`)."""
        if self.baseline is None:
            return ["No completed baseline network: gains over baseline cannot be computed."]
        lines = []
        for column in GAIN_AXES:
            text = self.verdicts.get(column, "")
            method = self.best.get(column)
            if bold and method is not None:
                text = text.replace(f": {method} (", f": **{method}** (", 1)
            lines.append(text)
        return lines

    def to_markdown(self) -> str:
        """summary.md: the answer to "which method buys the most accuracy per param, GFLOP and ms"."""
        name = _name(self.accuracy)
        lines = ["# Summary", ""] + ([self.evaluation, ""] if self.evaluation else []) + (
            [self.timing, ""] if self.timing else [])
        if self.baseline is None:
            lines += [*self.headlines(), ""]
        else:
            lines += [f"Gains are in {name} points over the baseline network {self.baseline!r}, per unit of extra "
                      f"cost (each method's most accurate completed network); intervals are {LEVEL:.0%} paired "
                      f"t-intervals over seeds.", ""]
            lines += [f"- {line}" for line in self.headlines(bold=True)]
            lines += ["", f"| Method | Network | {name} (%) | Δ {name} [{LEVEL:.0%} CI] | seeds | Δ params (M) | "
                          f"Δ GFLOPs | Δ ms/step | per M params | per GFLOP | per ms |", "|---|---|" + "---:|" * 9]
            lines += [_gain_line(r) for r in self.gains.itertuples(index=False)]
        lines += _comparison_lines(self.comparisons, name)
        lines += ["", f"## Pareto-optimal networks ({name} vs cost)", ""]
        for axis, unit in _FRONT_UNITS.items():
            group = self.front[self.front["axis"] == axis]
            members = ", ".join(f"{r.network} ({r.cost:.3g} {unit}, {r.accuracy:.2f}%)"
                                for r in group.itertuples(index=False))
            missing = "not timed in isolation" if _FRONT_AXES[axis] in _TIMED else "no completed network with a value"
            lines.append(f"- {name} vs {axis}: {members or f'none ({missing})'}")
        if len(self.not_completed):
            lines += ["", "## Runs that did not complete (in the table and plots; only completed runs enter fronts "
                          "and gains)", ""]
            lines += [f"- {r.network}: {r.status}{f' — {r.reason}' if r.reason else ''}"
                      for r in self.not_completed.itertuples(index=False)]
        if self.notes:
            lines += ["", *[f"Note: {n}" for n in self.notes]]
        return "\n".join(lines).rstrip() + "\n"

    def write(self, out: str | Path) -> Path:
        """Write summary.md (and comparisons.csv) into `out`; returns the summary's path."""
        path = Path(out) / "summary.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_markdown())
        self.comparisons.to_csv(path.with_name("comparisons.csv"), index=False, float_format="%.6g")
        return path


def _name(accuracy: str) -> str:
    """The accuracy's name without its unit, e.g. "mIoU"."""
    return ACCURACY[accuracy].replace(" (%)", "")


def _f(value: float, signed: bool = False, digits: int = 2) -> str:
    """A number for the summary table, "n/a" for NaN."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _gain_line(r) -> str:
    """One row of the gains table."""
    interval = f" [{_f(r.delta_low, True)}, {_f(r.delta_high, True)}]" if math.isfinite(r.delta_low) else ""
    cells = [r.method, r.network, _f(r.accuracy), _f(r.delta, signed=True) + interval, r.seeds,
             _f(r.d_params_m, signed=True), _f(r.d_gflops, signed=True), _f(r.d_step_ms, signed=True, digits=1),
             _f(r.per_m_params, signed=True, digits=3), _f(r.per_gflop, signed=True, digits=3),
             _f(r.per_ms, signed=True, digits=4)]
    return "| " + " | ".join(map(str, cells)) + " |"


def _comparison_lines(comparisons: pd.DataFrame, name: str) -> list[str]:
    """The paired comparisons section: every established difference, then how many are not."""
    if comparisons.empty:
        return []
    lines = ["", f"## Paired comparisons ({name}, {LEVEL:.0%} t-interval over common seeds)", ""]
    lines += [f"- {v}" for v in comparisons.loc[comparisons["established"], "verdict"]]
    undecided = comparisons[~comparisons["established"]]
    if len(undecided):
        counts = sorted(set(undecided["seeds"]))
        lines.append(f"- {len(undecided)} other pair(s) not distinguishable with {'/'.join(map(str, counts))} "
                     f"seed(s) (comparisons.csv lists every pair with its interval)")
    return lines


def _per_seed(records: pd.DataFrame | None, accuracy: str) -> dict[str, dict[int, float]]:
    """network -> {seed: accuracy in %} over completed runs with a seed and a value."""
    if records is None or records.empty:
        return {}
    done = records[(records["status"] == "completed") & records["seed"].notna()]
    values: dict[str, dict[int, float]] = {}
    for row in done.itertuples(index=False):
        value = pd.to_numeric(getattr(row, accuracy), errors="coerce")
        if pd.notna(value):
            values.setdefault(str(row.network), {})[int(row.seed)] = 100.0 * float(value)
    return values


def _fronts(ranked: pd.DataFrame, mean: str) -> pd.DataFrame:
    """The Pareto-optimal networks of each cost axis."""
    rows = []
    for axis, column in _FRONT_AXES.items():
        for r in ranked[pareto_front(ranked, column, mean)].sort_values(column).itertuples(index=False):
            rows.append({"axis": axis, "network": r.network, "method": r.method, "cost": getattr(r, column),
                         "accuracy": getattr(r, mean)})
    return pd.DataFrame(rows, columns=["axis", "network", "method", "cost", "accuracy"])


def _comparisons(per_seed: dict[str, dict[int, float]], order: list[str]) -> pd.DataFrame:
    """Every pair of networks with at least one common seed: A - B, paired, A later in the table than B
    (so a scaled network is compared against the baseline above it, not the other way round)."""
    rows = []
    for i, b in enumerate(order):
        for a in order[i + 1:]:
            if a in per_seed and b in per_seed and set(per_seed[a]) & set(per_seed[b]):
                c = paired_comparison(a, per_seed[a], b, per_seed[b])
                d = c.difference
                rows.append({"a": a, "b": b, "seeds": c.n, "difference": d.mean, "low": d.low, "high": d.high,
                             "p_value": c.p_value, "established": c.established, "verdict": c.verdict()})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS)).astype({"established": bool})


def _gains(done: pd.DataFrame, base: pd.Series, per_seed: dict[str, dict[int, float]], mean: str) -> pd.DataFrame:
    """Per non-baseline method, its most accurate network's gain over the baseline, paired over seeds."""
    rows = []
    for method, group in done[done["method"] != "baseline"].groupby("method", sort=False):
        best = group.loc[group[mean].idxmax()]
        paired = paired_comparison(best["network"], per_seed.get(best["network"], {}), base["network"],
                                   per_seed.get(base["network"], {}))
        d = paired.difference
        delta = d.mean if d.n else float(best[mean] - base[mean])
        row = {"method": method, "network": best["network"], "accuracy": float(best[mean]), "delta": delta,
               "delta_low": d.low, "delta_high": d.high, "delta_established": paired.established, "seeds": d.n}
        for column, (gain, _unit) in GAIN_AXES.items():
            extra = float(best[column] - base[column])
            row[f"d_{column}"] = extra
            row[gain] = delta / extra if math.isfinite(extra) and extra > _TINY[column] else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=list(_GAIN_COLUMNS))


def _verdict(column: str, gains: pd.DataFrame, base: str, per_seed: dict[str, dict[int, float]],
             name: str) -> tuple[str | None, str]:
    """(method, sentence): the method with the largest gain per unit of `column`, named only where established.

    The leader must beat the runner-up's gain per unit on the per-seed paired differences, and (as
    the only candidate) its own gain over the baseline must be established.
    """
    gain, unit = GAIN_AXES[column]
    per = unit.split(" ", 1)[1]
    finite = gains[gains[gain].notna()].sort_values(gain, ascending=False)
    if finite.empty:
        if column in _TIMED and not gains[f"d_{column}"].notna().any():
            return None, (f"Most {name} per {unit}: n/a (not timed in isolation; the step time measured during "
                          f"training is contended and is not used)")
        return None, f"Most {name} per {unit}: n/a (no method with a defined gain)"
    top = finite.iloc[0]
    text = f"Most {name} per {unit}: {top['method']} ({top[gain]:+.3f} points per {per})"
    if len(finite) == 1:
        if top["delta_established"]:
            return str(top["method"]), text
        return None, f"Most {name} per {unit}: not established: {top['method']}'s gain over baseline is not " \
                     f"distinguishable from zero with {top['seeds']} seed(s)"
    second = finite.iloc[1]

    def per_unit(row: pd.Series) -> dict[int, float]:
        values, base_values = per_seed.get(row["network"], {}), per_seed.get(base, {})
        return {s: (v - base_values[s]) / row[f"d_{column}"] for s, v in values.items() if s in base_values}

    cmp = paired_comparison(top["method"], per_unit(top), second["method"], per_unit(second))
    if cmp.established and cmp.difference.mean > 0:
        return str(top["method"]), text + f"; beats {second['method']} on every-seed pairing ({cmp.n} seeds)"
    return None, (f"Most {name} per {unit}: {top['method']} and {second['method']} not distinguishable with "
                  f"{cmp.n} seed(s) ({top[gain]:+.3f} vs {second[gain]:+.3f} points per {per})")


def summarize(table: pd.DataFrame, records: pd.DataFrame | None = None, accuracy: str = "miou",
              evaluation: str = "", timing: str = "") -> Summary:
    """The summary record from a `paper_table` (one row per network, accuracies in %) and the per-seed records.

    Args:
        table: from `paper_table`; networks with no completed seed are listed, never ranked.
        records: the tidy per-run record the table was made from (per-seed values for the paired
            comparisons); without it no difference is established and no winner is named.
        accuracy: miou, pa or mpa.
        evaluation: a sentence saying which split and epoch the accuracies come from.
        timing: a sentence stating the conditions of the isolated times (Timings.conditions).
    """
    if isinstance(records, str):  # summarize(table, "pa"): the accuracy given positionally (the 0.1 signature)
        records, accuracy = None, records
    if accuracy not in ACCURACY:
        raise ValueError(f"unknown accuracy {accuracy=}; valid: {', '.join(ACCURACY)}")
    mean, name = f"{accuracy}_mean", _name(accuracy)
    ranked = table.assign(status=(table["seeds"] > 0).map({True: "completed", False: "none"}))
    per_seed = _per_seed(records, accuracy)
    done = ranked[(ranked["status"] == "completed") & ranked[mean].notna()]
    bases = done[done["method"] == "baseline"].sort_values("params_m")
    notes: list[str] = []
    gains, baseline, best, verdicts = pd.DataFrame(columns=list(_GAIN_COLUMNS)), None, {}, {}
    if len(bases):
        base = bases.iloc[0]
        baseline = str(base["network"])
        if len(bases) > 1:
            notes.append(f"{len(bases)} baseline networks; gains are over the smallest, {baseline!r}")
        gains = _gains(done, base, per_seed, mean)
        for column in GAIN_AXES:
            best[column], verdicts[column] = _verdict(column, gains, baseline, per_seed, name)
    else:
        best = {column: None for column in GAIN_AXES}
    notes += _free_notes(gains, name)
    incomplete = table[table["status"] != "completed"]
    not_completed = pd.DataFrame({"network": incomplete["network"], "status": incomplete["status"],
                                  "reason": incomplete["fail_reason"]}).reset_index(drop=True)
    return Summary(accuracy, _fronts(ranked, mean), gains, best, baseline, not_completed, tuple(notes),
                   _comparisons(per_seed, [str(n) for n in table["network"]]), verdicts, evaluation, timing)


def _free_notes(gains: pd.DataFrame, name: str) -> list[str]:
    """A note per method that costs nothing on an axis (its gain per unit is undefined there)."""
    notes = []
    for column, (_gain, unit) in GAIN_AXES.items():
        for r in gains[gains[f"d_{column}"].abs() <= _TINY[column]].itertuples(index=False):
            notes.append(f"{r.method} ({r.network}) costs no {unit}: its gain per unit is undefined (n/a); "
                         f"it changes {name} by {r.delta:+.2f} points for free")
    return notes
