"""The summary record: Pareto-optimal networks and per-rule gains over baseline, computed from the table."""
from __future__ import annotations

import math

import pytest

from scaler.report import paper_table, summarize


def test_gains_per_unit_of_extra_cost(records) -> None:
    table = paper_table(records)
    summary = summarize(table)
    gains = summary.gains.set_index("rule")
    assert summary.baseline == "Baseline"
    assert sorted(gains.index) == ["asymmetric", "compound", "depth", "resolution", "width"]
    base = table.set_index("network").loc["Baseline"]
    awdr = table.set_index("network").loc["AWDR"]
    assert gains.loc["asymmetric", "delta"] == pytest.approx(9.0)
    assert gains.loc["asymmetric", "per_m_params"] == pytest.approx(9.0 / (awdr["params_m"] - base["params_m"]))
    assert gains.loc["asymmetric", "per_gflop"] == pytest.approx(9.0 / (awdr["gflops"] - base["gflops"]))
    assert gains.loc["asymmetric", "per_ms"] == pytest.approx(9.0 / 20.0)
    # R adds no params: its gain per extra M params is undefined, and a note says it came for free.
    assert math.isnan(gains.loc["resolution", "per_m_params"])
    assert any("resolution" in n and "for free" in n for n in summary.notes)
    assert summary.best == {"params_m": "asymmetric", "gflops": "depth", "ms_per_step": "depth"}


def test_front_and_not_completed(records, tmp_path) -> None:
    summary = summarize(paper_table(records))
    fronts = summary.front.groupby("axis")["network"].apply(sorted).to_dict()
    assert fronts["params"] == ["AWDR", "R"]
    assert "AWDR" in fronts["gflops"] and "WDR" not in fronts["gflops"]
    assert sorted(summary.not_completed["status"]) == ["failed", "infeasible", "infeasible", "oom", "pruned"]
    text = summary.write(tmp_path).read_text()
    assert "Most mIoU per extra M params: **asymmetric**" in text
    assert "WDR #12: oom — CUDA out of memory" in text


def test_without_a_completed_baseline(records) -> None:
    table = paper_table(records[records["rule"] != "baseline"])
    summary = summarize(table)
    assert summary.baseline is None and summary.gains.empty
    assert summary.best == {"params_m": None, "gflops": None, "ms_per_step": None}
    assert "No completed baseline" in summary.to_markdown()
    with pytest.raises(ValueError, match="accuracy='top1'"):
        summarize(table, "top1")
