"""Reporting: tidy records from studies and runs, Pareto fronts, paper-style tables, plots and the reproduction.

    from scaler.report import report, reproduce
    rep = report("sqlite:///studies/camvid.db", "reports/camvid", study_name="camvid_unet")
    rep.table          # one row per network, mean +/- std over seeds, every status kept
    rep.summary.best   # which method buys the most accuracy per M params / GFLOP / ms
    rep.frames["miou_vs_params"]   # what the plot draws, with `on_front`
"""
from __future__ import annotations

from scaler.report._pareto import pareto_front
from scaler.report._plots import (
    ACCURACY, AXES, CURVE_METRICS, bubble_frame, curves_frame, draw_bubble, draw_curves, draw_tradeoff, plot_all,
    tradeoff_frame,
)
from scaler.report._records import (
    COLUMNS, MANIFEST, PAPER_NAMES, METHOD_ORDER, collect, records_from_reproduce, records_from_runs,
    records_from_study,
)
from scaler.report._report import Report, report, write_report
from scaler.report._reproduce import (
    PAPER_FACTORS, PAPER_NETWORKS, PAPER_REFERENCE, ReproNetwork, reproduce, reproduce_networks,
)
from scaler.report._summary import Summary, summarize
from scaler.report._tables import TABLE_COLUMNS, paper_table, table_markdown, write_table

__all__ = [
    "ACCURACY", "AXES", "COLUMNS", "CURVE_METRICS", "MANIFEST", "PAPER_FACTORS", "PAPER_NAMES", "PAPER_NETWORKS",
    "PAPER_REFERENCE", "METHOD_ORDER", "TABLE_COLUMNS", "Report", "ReproNetwork", "Summary", "bubble_frame",
    "collect", "curves_frame", "draw_bubble", "draw_curves", "draw_tradeoff", "paper_table", "pareto_front",
    "plot_all", "records_from_reproduce", "records_from_runs", "records_from_study", "report", "reproduce",
    "reproduce_networks", "summarize", "table_markdown", "tradeoff_frame", "write_report", "write_table",
]
