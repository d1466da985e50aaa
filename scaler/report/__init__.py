"""Reporting: tidy records from studies and runs, Pareto fronts, paper-style tables with intervals over seeds,
paired comparisons, plots, the paper's reproduction and scaling-curve sweeps.

    from scaler.report import report, reproduce, sweep
    rep = report("sqlite:///studies/camvid.db", "reports/camvid", study_name="camvid_unet")
    rep.table          # one row per network: mean, std and 95% interval over seeds, every status kept
    rep.summary.best   # which method buys the most accuracy per M params / GFLOP / ms (where established)
    rep.table["step_ms"], rep.table["infer_ms"]   # isolated times (scaler bench), never the contended ones
    rep.frames["miou_vs_params"]   # what the plot draws, with `on_front`
"""
from __future__ import annotations

from scaler.report._pareto import HypervolumeRecord, hypervolume, hypervolume_curve, pareto_front, study_hypervolume
from scaler.report._plots import (
    ACCURACY, AXES, CURVE_METRICS, bubble_frame, curves_frame, draw_bubble, draw_curves, draw_sweep, draw_tradeoff,
    plot_all, tradeoff_frame,
)
from scaler.report._records import (
    COLUMNS, MANIFEST, METHOD_ORDER, PAPER_NAMES, SWEEP_MANIFEST, collect, records_from_reproduce,
    records_from_runs, records_from_study,
)
from scaler.report._report import Report, report, write_report
from scaler.report._recipes import Recipe, load_recipe, run_recipe
from scaler.report._resolution import ATTENTION_HOSTS, RESOLUTIONS, draw_resolution, resolution_frame
from scaler.report._reproduce import (
    PAPER_FACTORS, PAPER_NETWORKS, PAPER_REFERENCE, ReproducePlan, ReproNetwork, plan_reproduce, reproduce,
    reproduce_networks, run_reproduce,
)
from scaler.report._summary import Summary, summarize
from scaler.report._sweep import (
    SweepPlan, SweepPoint, SweepResult, fit_sweep, parse_ladder, plan_sweep, run_sweep, sweep, sweep_frame,
    sweep_points,
)
from scaler.report._tables import (
    CONTENDED_LABEL, TABLE_COLUMNS, paper_table, table_markdown, write_benchmark_csvs, write_table,
)
from scaler.report._timing import (
    NOT_TIMED, TIMING_COLUMNS, TIMING_MODES, Timings, apply_timings, time_networks, time_records, timed_records,
)

__all__ = [
    "ATTENTION_HOSTS", "RESOLUTIONS", "draw_resolution", "resolution_frame", "Recipe", "load_recipe", "run_recipe",
    "ACCURACY", "AXES", "COLUMNS", "CURVE_METRICS", "MANIFEST", "PAPER_FACTORS", "PAPER_NAMES", "PAPER_NETWORKS",
    "PAPER_REFERENCE", "METHOD_ORDER", "SWEEP_MANIFEST", "TABLE_COLUMNS", "Report", "ReproducePlan", "ReproNetwork",
    "Summary", "SweepPlan", "SweepPoint", "SweepResult", "bubble_frame", "collect", "curves_frame", "draw_bubble",
    "draw_curves", "draw_sweep", "draw_tradeoff", "fit_sweep", "HypervolumeRecord", "hypervolume",
    "hypervolume_curve", "study_hypervolume", "paper_table", "pareto_front", "parse_ladder",
    "plan_reproduce", "plan_sweep", "plot_all", "records_from_reproduce", "records_from_runs", "records_from_study",
    "report", "reproduce", "reproduce_networks", "run_reproduce", "run_sweep", "summarize", "sweep", "sweep_frame",
    "sweep_points", "table_markdown", "tradeoff_frame", "write_report", "write_table", "CONTENDED_LABEL",
    "write_benchmark_csvs", "NOT_TIMED", "TIMING_COLUMNS", "TIMING_MODES", "Timings", "apply_timings",
    "time_networks", "time_records", "timed_records",
]
