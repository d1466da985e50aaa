"""Plots, computed first as DataFrames (which tests check), then drawn by functions that only draw.

Frame builders: `tradeoff_frame`, `bubble_frame`, `curves_frame`. Drawers: `draw_tradeoff`,
`draw_bubble`, `draw_curves`, each taking only its frame and a path stem and writing PNG + SVG.
Runs that did not complete stay in every frame with their status; drawers show them with their
own marker (at the bottom of the axes when they have no accuracy) and list them under the plot.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd

from scaler.report._pareto import pareto_front
from scaler.report._records import METHOD_ORDER
from scaler.stats import estimate
from scaler.train import CLASSIFICATION, SEGMENTATION
from scaler.vocabulary import RECORD_STATUSES

__all__ = [
    "AXES", "ACCURACY", "TASK_ACCURACIES", "CURVE_METRICS", "tradeoff_frame", "bubble_frame", "curves_frame",
    "draw_tradeoff", "draw_bubble", "draw_curves", "draw_sweep", "plot_all",
]

#: Cost axes: name -> (record column, axis label). FLOPs and MACs are labelled as such, never mixed.
AXES = {
    "params": ("params_m", "Params (M)"),
    "gmacs": ("gmacs", "GMACs per image"),
    "gflops": ("gflops", "GFLOPs per image (= 2 x MACs)"),
    "ms_per_step": ("ms_per_step", "ms per training step"),
}
#: Accuracy axes: record column (a fraction) -> label of the percent shown.
ACCURACY = {"miou": "mIoU (%)", "pa": "Pixel accuracy (%)", "mpa": "Mean class accuracy (%)",
            "accuracy": "Accuracy (%)", "macro_recall": "Macro recall (%)", "macro_f1": "Macro F1 (%)"}
#: The accuracies a report plots per task (the first ranks the summary): scaler.train.task_of names the task.
TASK_ACCURACIES = {SEGMENTATION.name: ("miou", "pa"), CLASSIFICATION.name: ("accuracy", "macro_f1")}
#: Per-epoch history keys drawn as curves (the paper's figures 4-6: losses and accuracy).
CURVE_METRICS = ("train_loss", "val_loss", "pa", "miou")
#: One colour per method, in METHOD_ORDER (the baseline black, a run that does not say its method grey).
_METHOD_COLORS = dict(zip(METHOD_ORDER, ("black", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
                                         "tab:brown", "tab:olive", "tab:cyan", "tab:pink")))
_METHOD_COLORS["unknown"] = "tab:gray"
#: One marker per status, in RECORD_STATUSES: completed (and reused) runs are filled circles; every other
#: status has a marker of its own so it cannot pass for one.
_MARKERS = ("P", "o", "v", "D", "s", "x", "X", "P", "o", "+", "+")
assert len(_MARKERS) == len(RECORD_STATUSES), "a status was added to the vocabulary: give it a marker here"
_STATUS_MARKERS = dict(zip(RECORD_STATUSES, _MARKERS))


def _check_columns(df: pd.DataFrame, columns: list[str], what: str) -> None:
    """A ValueError naming the missing record columns."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: the record lacks column(s) {missing}; valid: a frame from scaler.report.collect")


def _points(df: pd.DataFrame, x_column: str, y: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """One point per network (mean over its completed seeds) plus one per run that did not complete."""
    rows = []
    for network, group in df.groupby("network", sort=False):
        done = group[group["status"] == "completed"]
        if len(done):
            est = estimate(list(pd.to_numeric(done[y], errors="coerce").dropna() * 100))
            rows.append({"label": network, "method": done["method"].iloc[0], "status": "completed",
                         "x": pd.to_numeric(done[x_column], errors="coerce").mean(), "y": est.mean,
                         "y_std": est.std, "y_ci": est.half_width, "n": est.n,
                         **{k: pd.to_numeric(done[k], errors="coerce").mean() for k in extra}, "reason": ""})
        for row in group[group["status"] != "completed"].itertuples(index=False):
            seed = "" if pd.isna(row.seed) else f" seed {int(row.seed)}"
            rows.append({"label": f"{network}{seed}", "method": row.method, "status": row.status,
                         "x": getattr(row, x_column), "y": getattr(row, y) * 100, "y_std": math.nan,
                         "y_ci": math.nan, "n": 1,
                         **{k: getattr(row, k) for k in extra}, "reason": row.fail_reason})
    frame = pd.DataFrame(rows, columns=["label", "method", "status", "x", "y", "y_std", "y_ci", "n", *extra,
                                        "reason"])
    frame[["x", "y"]] = frame[["x", "y"]].apply(pd.to_numeric, errors="coerce")
    frame["on_front"] = pareto_front(frame, "x", "y") if len(frame) else pd.Series(dtype=bool)
    return frame


def tradeoff_frame(df: pd.DataFrame, x: str, y: str = "miou") -> pd.DataFrame:
    """Accuracy vs one cost: columns label, method, status, x, y (%), y_std, n (seeds), reason, on_front.

    Args:
        df: the tidy record from `collect`.
        x: a cost axis, one of AXES (params, gmacs, gflops, ms_per_step).
        y: an accuracy, one of ACCURACY (miou, pa, mpa).
    """
    if x not in AXES:
        raise ValueError(f"unknown cost axis {x=}; valid: {', '.join(AXES)}")
    if y not in ACCURACY:
        raise ValueError(f"unknown accuracy {y=}; valid: {', '.join(ACCURACY)}")
    _check_columns(df, ["network", "method", "status", "seed", "fail_reason", AXES[x][0], y], "tradeoff_frame")
    frame = _points(df, AXES[x][0], y)
    frame.attrs.update(x=x, y=y, x_label=AXES[x][1], y_label=ACCURACY[y])
    return frame


def bubble_frame(df: pd.DataFrame, y: str = "miou") -> pd.DataFrame:
    """x GFLOPs, y accuracy (%), size params (M): a tradeoff frame plus a `params_m` column."""
    if y not in ACCURACY:
        raise ValueError(f"unknown accuracy {y=}; valid: {', '.join(ACCURACY)}")
    _check_columns(df, ["network", "method", "status", "seed", "fail_reason", "gflops", "params_m", y], "bubble_frame")
    frame = _points(df, "gflops", y, extra=("params_m",))
    frame.attrs.update(x="gflops", y=y, x_label=AXES["gflops"][1], y_label=ACCURACY[y], size_label="Params (M)")
    return frame


def curves_frame(df: pd.DataFrame, metrics: tuple[str, ...] = CURVE_METRICS) -> pd.DataFrame:
    """Per-epoch history in long format: network, method, seed, status, epoch, metric, value.

    Accuracy metrics (pa, mpa, miou) are in percent. Runs of every status contribute what they
    logged, so a pruned or diverged run's curve stops where it stopped.
    """
    _check_columns(df, ["network", "method", "seed", "status", "history"], "curves_frame")
    rows = []
    for row in df.itertuples(index=False):
        for entry in row.history if isinstance(row.history, list) else []:
            for metric in metrics:
                value = entry.get(metric) if isinstance(entry, dict) else None
                if value is None or entry.get("epoch") is None:
                    continue
                value = float(value) * (100 if metric in ACCURACY else 1)
                rows.append({"network": row.network, "method": row.method, "seed": row.seed, "status": row.status,
                             "epoch": int(entry["epoch"]), "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=["network", "method", "seed", "status", "epoch", "metric", "value"])


# -- drawing ------------------------------------------------------------------------------------

def _pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed).

    Imported here, not at the top: the backend must be chosen before pyplot is first imported, and
    only drawing needs matplotlib at all (building every frame does not).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, stem: str | Path) -> list[Path]:
    """Save a figure as STEM.png and STEM.svg; close it."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    _pyplot().close(fig)
    return paths


def _methods_in(frame: pd.DataFrame) -> list[str]:
    """The frame's methods in the canonical order."""
    return [r for r in METHOD_ORDER if r in set(frame["method"])]


def _draw_points(ax, frame: pd.DataFrame, sizes: pd.Series | None = None) -> list[str]:
    """Scatter every point by method colour and status marker, draw the front; return the unplaceable ones."""
    from matplotlib.lines import Line2D

    done = frame[frame["status"] == "completed"]
    for method in _methods_in(frame):
        pts = done[done["method"] == method]
        if len(pts):
            size = 40 if sizes is None else sizes[pts.index]
            ax.scatter(pts["x"], pts["y"], s=size, color=_METHOD_COLORS[method], alpha=0.85 if sizes is None else 0.5,
                       edgecolors="black", linewidths=0.5, zorder=3)
            if pts["y_ci"].notna().any():  # the 95% interval of the mean over seeds
                ax.errorbar(pts["x"], pts["y"], yerr=pts["y_ci"], fmt="none", ecolor=_METHOD_COLORS[method],
                            capsize=3, zorder=2)
    front = frame[frame["on_front"]].sort_values("x")
    if len(front):
        ax.step(front["x"], front["y"], where="post", color="0.3", linestyle="--", linewidth=1, zorder=1)
    other = frame[frame["status"] != "completed"]
    # A completed network without a value on this axis (e.g. no timed step) cannot be drawn: say so.
    unplaced = [f"{r.label} (completed)" for r in done.itertuples(index=False)
                if not (math.isfinite(r.x) and math.isfinite(r.y))]
    # Not completed: at their accuracy if they logged one, else on the bottom edge of the axes.
    bottom = ax.get_xaxis_transform()
    for row in other.itertuples(index=False):
        if not math.isfinite(row.x):
            unplaced.append(f"{row.label} ({row.status})")
            continue
        at_bottom = not math.isfinite(row.y)
        ax.scatter([row.x], [0.03 if at_bottom else row.y], marker=_STATUS_MARKERS.get(row.status, "X"), s=45,
                   color=_METHOD_COLORS.get(row.method, "gray"), transform=bottom if at_bottom else ax.transData,
                   zorder=3, clip_on=False)
        if at_bottom and len(frame) <= 30:
            ax.annotate(row.label, (row.x, 0.03), xycoords=bottom, textcoords="offset points", xytext=(4, 4),
                        fontsize=6, color="0.35")
    labelled = frame if len(frame) <= 30 else frame[frame["on_front"]]
    for row in labelled.itertuples(index=False):
        if math.isfinite(row.x) and math.isfinite(row.y):
            ax.annotate(row.label, (row.x, row.y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    handles = [Line2D([], [], marker="o", linestyle="", color=_METHOD_COLORS[r], label=r) for r in _methods_in(frame)]
    handles += [Line2D([], [], marker=_STATUS_MARKERS.get(s, "X"), linestyle="", color="0.4", label=s)
                for s in sorted(set(other["status"]))]
    if len(front):
        handles.append(Line2D([], [], color="0.3", linestyle="--", label="Pareto front"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    return unplaced


def _footnote(fig, frame: pd.DataFrame, unplaced: list[str]) -> None:
    """List every run that did not complete (and any point without an x) under the axes."""
    other = frame[frame["status"] != "completed"]
    lines = [f"not completed: " + ", ".join(f"{r.label} ({r.status}{': ' + r.reason if r.reason else ''})"
                                           for r in other.itertuples(index=False))] if len(other) else []
    if unplaced:
        lines.append("no value on this axis, not drawn: " + ", ".join(unplaced))
    if lines:
        text = "\n".join(textwrap.fill(line, 120) for line in lines)
        fig.text(0.01, -0.02, text, fontsize=6, va="top", ha="left")


def draw_tradeoff(frame: pd.DataFrame, stem: str | Path, title: str = "", subtitle: str = "") -> list[Path]:
    """Draw a `tradeoff_frame`: accuracy vs cost, coloured by method, with its Pareto front; PNG + SVG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    unplaced = _draw_points(ax, frame)
    ax.set_xlabel(frame.attrs.get("x_label", "cost"))
    ax.set_ylabel(frame.attrs.get("y_label", "accuracy (%)"))
    ax.set_title(_with_subtitle(title or f"{frame.attrs.get('y_label', 'accuracy')} vs "
                                         f"{frame.attrs.get('x_label', 'cost')}", subtitle))
    ax.grid(alpha=0.3)
    _footnote(fig, frame, unplaced)
    return _save(fig, stem)


def draw_bubble(frame: pd.DataFrame, stem: str | Path, title: str = "", subtitle: str = "") -> list[Path]:
    """Draw a `bubble_frame`: x GFLOPs, y accuracy, bubble area proportional to params; PNG + SVG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    params = pd.to_numeric(frame["params_m"], errors="coerce")
    largest = params.max() if params.notna().any() else 1.0
    sizes = (params / largest * 900).fillna(40).clip(lower=20)
    unplaced = _draw_points(ax, frame, sizes=sizes)
    ax.set_xlabel(frame.attrs.get("x_label", "GFLOPs"))
    ax.set_ylabel(frame.attrs.get("y_label", "accuracy (%)"))
    ax.set_title(_with_subtitle(title or f"{frame.attrs.get('y_label', 'accuracy')} vs GFLOPs (bubble area: "
                                         f"params, largest {largest:.2f}M)", subtitle))
    ax.grid(alpha=0.3)
    _footnote(fig, frame, unplaced)
    return _save(fig, stem)


_CURVE_LABELS = {"train_loss": "training loss", "val_loss": "validation loss", "pa": "pixel accuracy (%)",
                 "mpa": "mean class accuracy (%)", "miou": "mIoU (%)", "accuracy": "accuracy (%)",
                 "macro_recall": "macro recall (%)", "macro_f1": "macro F1 (%)"}


def _with_subtitle(title: str, subtitle: str) -> str:
    """A plot title with a second line saying what the accuracies are (split, epoch, seeds)."""
    return title + ("\n" + textwrap.fill(subtitle, 90) if subtitle else "")


def draw_curves(frame: pd.DataFrame, metric: str, stem: str | Path, title: str = "") -> list[Path]:
    """Draw one metric of a `curves_frame` per epoch, one line per network (mean over seeds); PNG + SVG.

    A network whose runs did not all complete is drawn dashed, its status in the legend.
    """
    plt = _pyplot()
    data = frame[frame["metric"] == metric]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for number, (network, group) in enumerate(data.groupby("network", sort=False)):
        method = group["method"].iloc[0]
        # runs that do not say their method (an ablation's rows) would all be grey: one colour per network
        color = f"C{number % 10}" if method == "unknown" else _METHOD_COLORS.get(method, "gray")
        mean = group.groupby("epoch")["value"].mean()
        statuses = sorted(set(group["status"]))
        dashed = statuses != ["completed"]
        label = network + (f" ({', '.join(s for s in statuses if s != 'completed')})" if dashed else "")
        ax.plot(mean.index, mean.values, color=color, linestyle="--" if dashed else "-",
                marker="." if len(mean) < 30 else None, label=label)
        if group["seed"].nunique() > 1:
            spread = group.groupby("epoch")["value"].agg(["min", "max"])
            ax.fill_between(spread.index, spread["min"], spread["max"], color=color, alpha=0.15, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(_CURVE_LABELS.get(metric, metric))
    ax.set_title(title or f"{_CURVE_LABELS.get(metric, metric)} per epoch")
    ax.grid(alpha=0.3)
    if len(data):
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.text(0.5, 0.5, f"no run logged {metric}", transform=ax.transAxes, ha="center")
    return _save(fig, stem)


def draw_sweep(frame: pd.DataFrame, stem: str | Path, title: str = "") -> list[Path]:
    """Draw a sweep frame: measured mIoU vs relative cost per method with intervals, fitted curves (dashed
    beyond the ladder), each method's prediction at the target (open marker) and its measurement (filled)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    for method, group in frame.groupby("method", sort=False):
        color = _METHOD_COLORS.get(method, "gray")
        measured = group[group["kind"] == "measured"]
        ax.errorbar(measured["x"], measured["y"], yerr=[measured["y"] - measured["low"], measured["high"]
                    - measured["y"]], fmt="o", color=color, capsize=3, label=method, ms=5)
        for kind, style in (("fit", "-"), ("extrapolation", "--")):
            curve = group[group["kind"] == kind]
            ax.plot(curve["x"], curve["y"], style, color=color, linewidth=1)
        for kind, face in (("prediction", "none"), ("check", color)):
            pts = group[group["kind"] == kind]
            if len(pts):
                ax.errorbar(pts["x"], pts["y"], yerr=[pts["y"] - pts["low"], pts["high"] - pts["y"]], fmt="D",
                            mfc=face, color=color, capsize=4, ms=7)
    ax.set_xscale("log")
    ax.set_xlabel(f"{frame.attrs.get('metric', 'cost')} relative to the base network (log scale)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title(title or f"Scaling curves per method; target {frame.attrs.get('target', '?'):g}x: "
                          f"open = predicted, filled = measured")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_all(df: pd.DataFrame, out: str | Path, accuracies: tuple[str, ...] = ("miou", "pa"), subtitle: str = "",
             ) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Build every plot's frame from the record and draw it under OUT/plots/; returns (frames, files).

    Frames (and file stems) are named "{accuracy}_vs_{axis}" for params, gflops and ms_per_step,
    "bubble" (the first accuracy vs GFLOPs, size params) and "curves".
    """
    plots = Path(out) / "plots"
    frames: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    for y in accuracies:
        for axis in ("params", "gflops", "ms_per_step"):
            frames[f"{y}_vs_{axis}"] = frame = tradeoff_frame(df, axis, y)
            files += draw_tradeoff(frame, plots / f"{y}_vs_{axis}", subtitle=subtitle)
    frames["bubble"] = frame = bubble_frame(df, accuracies[0])
    files += draw_bubble(frame, plots / "bubble", subtitle=subtitle)
    frames["curves"] = curves = curves_frame(df, tuple(dict.fromkeys((*CURVE_METRICS, *accuracies))))
    logged = set(curves["metric"])  # classification runs log no pa/miou: no empty plots of those
    for metric in dict.fromkeys((*CURVE_METRICS, *accuracies)):
        if metric in ACCURACY and metric not in accuracies and metric not in logged:
            continue
        files += draw_curves(curves, metric, plots / f"curve_{metric}")
    return frames, files
