"""The paper-style table: one row per network, accuracies as mean +/- std over seeds, every status kept."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from scaler.report._records import METHOD_ORDER, SCORES
from scaler.rules import factors_text
from scaler.stats import LEVEL, estimate
from scaler.train import CLASSIFICATION, SEGMENTATION
from scaler.vocabulary import EVALUATIONS

__all__ = ["TABLE_COLUMNS", "paper_table", "table_markdown", "write_table"]

#: The table's columns. Accuracies in percent; std is the sample std (n - 1), NaN with one seed. A
#: segmentation network has pa/mpa/miou, a classification one accuracy/macro_recall/macro_f1 (the others NaN).
TABLE_COLUMNS = (
    "network", "method", "task", "status", "seeds", "runs",
    *(f"{m}_{s}" for m in SCORES for s in ("mean", "std", "ci_low", "ci_high")), "params_m", "params_ratio",
    "gmacs", "gflops", "ms_per_step", "ms_p10", "ms_p90", "input_size", "factors", "fail_reason",
)


def _status_text(statuses: pd.Series) -> str:
    """"completed" when every run completed, else counts such as "completed 2/3, oom 1"."""
    counts = statuses.value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    total = len(statuses)
    parts = [f"completed {counts.get('completed', 0)}/{total}"] if "completed" in counts else []
    parts += [f"{name} {n}" for name, n in counts.items() if name != "completed"]
    return ", ".join(parts)


def _first_finite(values: pd.Series) -> float:
    """The first finite value (a network's cost is the same in every seed), else NaN."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else math.nan


def paper_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per network (grouping its seeds), ordered by method then params.

    Accuracies are the mean and sample std over the network's COMPLETED runs, in percent;
    a network with no completed run keeps its row, with NaN accuracies and its status and reason.
    Timings are averaged over every run that measured them (speed does not depend on convergence).
    """
    rows = []
    for network, group in df.groupby("network", sort=False):
        done = group[group["status"] == "completed"]
        row: dict[str, object] = {"network": network, "method": group["method"].iloc[0],
                                  "task": group["task"].iloc[0] if "task" in group else SEGMENTATION.name,
                                  "status": _status_text(group["status"]), "seeds": len(done), "runs": len(group)}
        for metric in SCORES:
            est = estimate(list(pd.to_numeric(done[metric], errors="coerce").dropna() * 100))
            row.update({f"{metric}_mean": est.mean, f"{metric}_std": est.std, f"{metric}_ci_low": est.low,
                        f"{metric}_ci_high": est.high})
        for key in ("params_m", "gmacs", "gflops"):
            row[key] = _first_finite(group[key])
        for key in ("ms_per_step", "ms_p10", "ms_p90"):
            row[key] = float(pd.to_numeric(group[key], errors="coerce").mean())
        sizes = [s for s in group["input_size"] if isinstance(s, (list, tuple)) and len(s) == 2]
        row["input_size"] = "x".join(map(str, sizes[0])) if sizes else ""
        row["factors"] = next((factors_text(f) for f in group["factors"] if isinstance(f, dict) and f), "")
        reasons = [r for r, s in zip(group["fail_reason"], group["status"]) if s != "completed" and r]
        row["fail_reason"] = "; ".join(dict.fromkeys(reasons))
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    base = table.loc[table["method"] == "baseline", "params_m"].dropna()
    table["params_ratio"] = table["params_m"] / base.min() if len(base) else math.nan
    table["_order"] = table["method"].map({r: i for i, r in enumerate(METHOD_ORDER)})
    table = table.sort_values(["_order", "params_m", "network"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


def _pm(mean: float, std: float, digits: int = 2) -> str:
    """"84.70 ± 0.31", "84.70" with one seed, "—" with none."""
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if math.isfinite(std) else f"{mean:.{digits}f}"


def _num(value: float, digits: int = 2) -> str:
    """A number, or "—" for NaN."""
    return f"{value:.{digits}f}" if math.isfinite(value) else "—"


def _cost(value: float) -> str:
    """A cost in M or G units: 2 decimals from 1 up (31.04), 3 significant digits below (0.124), "—" for NaN."""
    if not math.isfinite(value):
        return "—"
    return f"{value:.1f}" if value >= 100 else f"{value:.2f}" if value >= 1 else f"{value:.3g}"


def _ci(low: float, high: float) -> str:
    """"[83.91, 85.49]", or "—" without an interval (fewer than two seeds)."""
    return f"[{low:.2f}, {high:.2f}]" if math.isfinite(low) else "—"


def table_title(table: pd.DataFrame, evaluation: str = "best") -> str:
    """What the accuracies are: the split, the epoch, and how many seeds (every table and plot says it)."""
    seeds = sorted(set(int(n) for n in table.loc[table["seeds"] > 0, "seeds"]))
    return (f"Accuracy on {EVALUATIONS[evaluation]}; mean ± sample std and {LEVEL:.0%} t-interval over "
            f"{'/'.join(map(str, seeds)) or 0} completed seed(s) per network")


#: The accuracy columns of the Markdown table per task: (score, header) as mean ± std, then the score whose
#: interval is shown (the task's headline: mIoU, or accuracy as in the multimodal paper's Table I).
MARKDOWN_SCORES = {
    SEGMENTATION.name: ((("pa", "Pixel accuracy (%)"), ("miou", "mIoU (%)")), ("miou", "mIoU")),
    CLASSIFICATION.name: ((("accuracy", "Accuracy (%)"), ("macro_recall", "Macro recall (%)"),
                        ("macro_f1", "Macro F1 (%)")), ("accuracy", "Accuracy")),
}


def _score_columns(table: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """(score, header, interval?) of the tasks in the table: segmentation's, classification's or both."""
    present = set(table["task"]) if "task" in table else {SEGMENTATION.name}
    columns = []
    for task, (scores, (headline, name)) in MARKDOWN_SCORES.items():
        if task in present or (task == SEGMENTATION.name and not present & set(MARKDOWN_SCORES)):
            columns += [(score, header, False) for score, header in scores]
            columns.append((headline, f"{name} {LEVEL:.0%} CI", True))
    return columns


def table_markdown(table: pd.DataFrame, evaluation: str = "best") -> str:
    """The table in the paper's format as Markdown, with a title saying what the accuracies are and notes.
    Its accuracy columns are those of the tasks it holds: pixel accuracy and mIoU, or accuracy, recall and F1."""
    scores = _score_columns(table)
    header = ["Network", *(h for _s, h, _i in scores), "Params (M)", "GMACs", "GFLOPs", "ms/step (p10–p90)", "Status"]
    lines = [f"{table_title(table, evaluation)}.", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 2) + ["---"]) + "|"]
    for row in table.itertuples(index=False):
        ms = "—" if not math.isfinite(row.ms_per_step) else (
            f"{row.ms_per_step:.1f} ({_num(row.ms_p10, 1)}–{_num(row.ms_p90, 1)})")
        values = row._asdict()
        accuracies = [_ci(values[f"{s}_ci_low"], values[f"{s}_ci_high"]) if interval else
                      _pm(values[f"{s}_mean"], values[f"{s}_std"]) for s, _h, interval in scores]
        cells = [row.network, *accuracies, _cost(row.params_m), _cost(row.gmacs), _cost(row.gflops), ms, row.status]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = ["", "No ± or interval with one seed. GMACs and GFLOPs per image at the network's input size, FLOPs = "
                 "2 × MACs. ms/step: one training step, mean of the runs' medians (p10–p90)."]
    failed = table[table["status"] != "completed"]
    if len(failed):
        notes += ["", "Not completed (shown, never dropped):"]
        notes += [f"- {r.network}: {r.status}{f' — {r.fail_reason}' if r.fail_reason else ''}"
                  for r in failed.itertuples(index=False)]
    return "\n".join(lines + notes) + "\n"


def write_table(table: pd.DataFrame, out: str | Path, evaluation: str = "best") -> list[Path]:
    """Write table.csv (numbers) and table.md (formatted) into `out`; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / "table.csv", out / "table.md"
    table.to_csv(csv, index=False, float_format="%.6g")
    md.write_text(table_markdown(table, evaluation))
    return [csv, md]
