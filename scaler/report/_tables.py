"""The paper-style table: one row per network, accuracies as mean +/- std over seeds, every status kept."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from scaler.bench import write_timm_csv
from scaler.report._records import METHOD_ORDER, SCORES
from scaler.report._timing import NOT_TIMED, TIMING_COLUMNS, TIMING_MODES
from scaler.rules import factors_text
from scaler.stats import LEVEL, estimate
from scaler.train import CLASSIFICATION, SEGMENTATION
from scaler.vocabulary import EVALUATIONS

__all__ = ["TABLE_COLUMNS", "ISOLATED_COLUMNS", "CONTENDED_LABEL", "paper_table", "table_markdown", "write_table",
           "write_benchmark_csvs"]

#: The isolated timing columns (scaler.report._timing), train step then inference.
ISOLATED_COLUMNS = tuple(c for columns in TIMING_COLUMNS.values() for c in columns)
#: The table's columns. Accuracies in percent; std is the sample std (n - 1), NaN with one seed. A
#: segmentation network has pa/mpa/miou, a classification one accuracy/macro_recall/macro_f1 (the others NaN).
#: Isolated times are one measurement per network (every seed trains the same spec); contended_* average the
#: runs' medians.
TABLE_COLUMNS = (
    "network", "method", "task", "status", "seeds", "runs",
    *(f"{m}_{s}" for m in SCORES for s in ("mean", "std", "ci_low", "ci_high")), "params_m", "params_ratio",
    "gmacs", "gflops", *ISOLATED_COLUMNS, "timing_batch", "contended_ms", "contended_p10", "contended_p90",
    "input_size", "factors", "best_epochs", "fail_reason",
)
#: The header of the contended step time wherever it is shown.
CONTENDED_LABEL = "ms/step during training (contended)"


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
        for key in ("params_m", "gmacs", "gflops", *ISOLATED_COLUMNS):
            row[key] = _first_finite(group[key])
        row["timing_batch"] = _first_finite(group["timing_batch"])
        for key in ("contended_ms", "contended_p10", "contended_p90"):
            row[key] = float(pd.to_numeric(group[key], errors="coerce").mean())
        sizes = [s for s in group["input_size"] if isinstance(s, (list, tuple)) and len(s) == 2]
        row["input_size"] = "x".join(map(str, sizes[0])) if sizes else ""
        row["factors"] = next((factors_text(f) for f in group["factors"] if isinstance(f, dict) and f), "")
        row["best_epochs"] = _best_epochs(done)
        reasons = [r for r, s in zip(group["fail_reason"], group["status"]) if s != "completed" and r]
        row["fail_reason"] = "; ".join(dict.fromkeys(reasons))
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    base = table.loc[table["method"] == "baseline", "params_m"].dropna()
    table["params_ratio"] = table["params_m"] / base.min() if len(base) else math.nan
    table["_order"] = table["method"].map({r: i for i, r in enumerate(METHOD_ORDER)})
    table = table.sort_values(["_order", "params_m", "network"], kind="stable").drop(columns="_order")
    table = table.reset_index(drop=True)
    table.attrs["timing"] = df.attrs.get("timing", "")  # the conditions of the isolated times, said with them
    return table


def _best_epochs(done: pd.DataFrame) -> str:
    """Where each completed run peaked, by seed: "27/30, 30/30" (best epoch / epochs run); "" when unknown."""
    if "best_epoch" not in done or "epochs_run" not in done:
        return ""
    order = done.sort_values("seed") if "seed" in done else done
    peaks = [(pd.to_numeric(b, errors="coerce"), pd.to_numeric(r, errors="coerce"))
             for b, r in zip(order["best_epoch"], order["epochs_run"])]
    return ", ".join(f"{int(b)}/{int(r)}" for b, r in peaks if math.isfinite(b) and math.isfinite(r))


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


def _timed(row, column: str, digits: int = 1) -> str:
    """An isolated time with its p10–p90, "not timed" for a completed network without one, "—" otherwise."""
    value = getattr(row, column)
    if not math.isfinite(value):
        return NOT_TIMED if row.seeds > 0 else "—"
    low, high = _num(getattr(row, f"{column}_p10"), digits), _num(getattr(row, f"{column}_p90"), digits)
    return f"{value:.{digits}f} ({low}–{high})"


def _rate(row, column: str) -> str:
    """Images per second, "not timed" / "—" as `_timed`."""
    value = getattr(row, column)
    if not math.isfinite(value):
        return NOT_TIMED if row.seeds > 0 else "—"
    return f"{value:.1f}"


def table_markdown(table: pd.DataFrame, evaluation: str = "best", timing: str = "") -> str:
    """The table in the paper's format as Markdown, with a title saying what the accuracies are and notes.

    Its accuracy columns are those of the tasks it holds: pixel accuracy and mIoU, or accuracy, recall and F1.
    `timing` states the conditions of the isolated times (Timings.conditions; default: the table's own).
    """
    timing = timing or table.attrs.get("timing", "")
    scores = _score_columns(table)
    header = ["Network", *(h for _s, h, _i in scores), "Params (M)", "GMACs", "GFLOPs", "Train ms/step (p10–p90)",
              "Train img/s", "Infer ms/batch (p10–p90)", "Infer img/s", CONTENDED_LABEL, "Best epoch / run", "Status"]
    lines = [f"{table_title(table, evaluation)}.", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 2) + ["---"]) + "|"]
    for row in table.itertuples(index=False):
        contended = "—" if not math.isfinite(row.contended_ms) else f"{row.contended_ms:.1f}"
        values = row._asdict()
        accuracies = [_ci(values[f"{s}_ci_low"], values[f"{s}_ci_high"]) if interval else
                      _pm(values[f"{s}_mean"], values[f"{s}_std"]) for s, _h, interval in scores]
        cells = [row.network, *accuracies, _cost(row.params_m), _cost(row.gmacs), _cost(row.gflops),
                 _timed(row, "step_ms"), _rate(row, "step_img_s"), _timed(row, "infer_ms"), _rate(row, "infer_img_s"),
                 contended, row.best_epochs or "—", row.status]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = ["", "No ± or interval with one seed. GMACs and GFLOPs per image at the network's input size, FLOPs = "
                 "2 × MACs. Best epoch / run: where each completed run peaked on the selection split, by seed.", "",
             timing or "No isolated timing: not timed in isolation.", "",
             f"{CONTENDED_LABEL}: the trainer's median step while training, mean over runs; whatever else ran on "
             f"the machine is in it, so it is not comparable between networks and no front or gain uses it."]
    failed = table[table["status"] != "completed"]
    if len(failed):
        notes += ["", "Not completed (shown, never dropped):"]
        notes += [f"- {r.network}: {r.status}{f' — {r.fail_reason}' if r.fail_reason else ''}"
                  for r in failed.itertuples(index=False)]
    return "\n".join(lines + notes) + "\n"


def write_table(table: pd.DataFrame, out: str | Path, evaluation: str = "best", timing: str = "") -> list[Path]:
    """Write table.csv (numbers) and table.md (formatted) into `out`; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / "table.csv", out / "table.md"
    table.to_csv(csv, index=False, float_format="%.6g")
    md.write_text(table_markdown(table, evaluation, timing))
    return [csv, md]


def write_benchmark_csvs(records: pd.DataFrame, table: pd.DataFrame, out: str | Path) -> list[Path]:
    """benchmark_train.csv and benchmark_infer.csv beside the table: every timed network in the column style of
    timm's benchmark files (scaler.bench.write_timm_csv), in the table's order; a header only when none was timed."""
    timings = records.attrs.get("timings")
    digests = records.dropna(subset=["spec_hash"]).groupby("network", sort=False)["spec_hash"].first()
    paths = []
    for mode in TIMING_MODES:
        named = [(n, timings.get(digests[n], mode)) for n in table["network"] if n in digests.index and timings]
        named = [(n, r) for n, r in named if r is not None]
        paths.append(write_timm_csv(Path(out) / f"benchmark_{mode}.csv", [r for _, r in named], [n for n, _ in named]))
    return paths
