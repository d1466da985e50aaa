"""The summary record: Pareto-optimal networks and per-method gains over baseline, computed from the table."""
from __future__ import annotations

import math

import pytest

from scaler.report import paper_table, summarize


def test_gains_per_unit_of_extra_cost(records) -> None:
    table = paper_table(records)
    summary = summarize(table, records)
    gains = summary.gains.set_index("method")
    assert summary.baseline == "Baseline"
    assert sorted(gains.index) == ["asymmetric", "compound", "depth", "resolution", "width"]
    base = table.set_index("network").loc["Baseline"]
    awdr = table.set_index("network").loc["AWDR"]
    assert gains.loc["asymmetric", "delta"] == pytest.approx(9.0)
    assert gains.loc["asymmetric", "per_m_params"] == pytest.approx(9.0 / (awdr["params_m"] - base["params_m"]))
    assert gains.loc["asymmetric", "per_gflop"] == pytest.approx(9.0 / (awdr["gflops"] - base["gflops"]))
    # per ms: the isolated train step (here the fake timer's 5 ms + 2000 ms/GMAC), never the contended one.
    assert gains.loc["asymmetric", "per_ms"] == pytest.approx(9.0 / (awdr["step_ms"] - base["step_ms"]))
    assert awdr["step_ms"] - base["step_ms"] != pytest.approx(awdr["contended_ms"] - base["contended_ms"])
    # R adds no params: its gain per extra M params is undefined, and a note says it came for free.
    assert math.isnan(gains.loc["resolution", "per_m_params"])
    assert any("resolution" in n and "for free" in n for n in summary.notes)
    assert summary.best == {"params_m": "asymmetric", "gflops": "depth", "step_ms": "depth"}


def test_front_and_not_completed(records, tmp_path) -> None:
    summary = summarize(paper_table(records), records)
    fronts = summary.front.groupby("axis")["network"].apply(sorted).to_dict()
    assert fronts["params"] == ["AWDR", "R"]
    assert "AWDR" in fronts["gflops"] and "WDR" not in fronts["gflops"]
    assert sorted(summary.not_completed["status"]) == ["failed", "infeasible", "infeasible", "oom", "pruned"]
    text = summary.write(tmp_path).read_text()
    assert "Most mIoU per extra M params: **asymmetric**" in text
    assert "WDR #12: oom — CUDA out of memory" in text


def test_without_a_completed_baseline(records) -> None:
    table = paper_table(records[records["method"] != "baseline"])
    summary = summarize(table, records)
    assert summary.baseline is None and summary.gains.empty
    assert summary.best == {"params_m": None, "gflops": None, "step_ms": None}
    assert "No completed baseline" in summary.to_markdown()
    with pytest.raises(ValueError, match="accuracy='top1'"):
        summarize(table, "top1")


def test_a_winner_is_named_only_where_the_paired_interval_excludes_zero(records) -> None:
    # The fixture's seeds move every network together (+1 point on seed 1): the differences are exact.
    summary = summarize(paper_table(records), records)
    cmp = summary.comparisons.set_index(["a", "b"])
    assert cmp.loc[("AWDR", "Baseline"), "established"] and cmp.loc[("AWDR", "Baseline"), "seeds"] == 2
    assert cmp.loc[("AWDR", "Baseline"), "difference"] == pytest.approx(9.0)
    assert "AWDR beats Baseline: AWDR - Baseline = +9.00 points" in cmp.loc[("AWDR", "Baseline"), "verdict"]
    assert summary.gains.set_index("method").loc["asymmetric", "delta_established"]
    # Now AWDR's second seed falls back: its gain over the baseline is 9 then 4 points, an interval over 0.
    noisy = records.copy()
    mask = (noisy["network"] == "AWDR") & (noisy["seed"] == 1)
    noisy.loc[mask, "miou"] = noisy.loc[mask, "miou"] - 0.05
    shaky = summarize(paper_table(noisy), noisy)
    gain = shaky.gains.set_index("method").loc["asymmetric"]
    assert not gain["delta_established"] and gain["delta_low"] < 0 < gain["delta_high"]
    assert shaky.best["params_m"] is None
    assert "not distinguishable with 2 seed(s)" in shaky.verdicts["params_m"]
    assert "**" not in "".join(shaky.headlines(bold=True)[:1])  # no winner to embolden
    assert "AWDR vs Baseline: not distinguishable" in " ".join(shaky.comparisons["verdict"])


def test_one_seed_establishes_nothing(records) -> None:
    one = records[records["seed"] != 1]
    summary = summarize(paper_table(one), one)
    assert summary.best == {"params_m": None, "gflops": None, "step_ms": None}
    assert not summary.comparisons["established"].any() and (summary.comparisons["seeds"] == 1).all()
    assert all("not distinguishable with 1 seed(s)" in v for v in summary.verdicts.values() if "n/a" not in v)
