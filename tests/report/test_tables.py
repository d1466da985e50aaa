"""The paper-style table: one row per network, mean +/- std over seeds, non-completed networks kept with status."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from scaler.report import TABLE_COLUMNS, paper_table, table_markdown, write_table


def test_one_row_per_network_with_mean_and_std_over_seeds(records) -> None:
    table = paper_table(records)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == records["network"].nunique() == 11
    base = table[table["network"] == "Baseline"].iloc[0]
    # Seeds 0 and 1 have mIoU 0.50 and 0.51: mean 50.5 %, sample std 0.7071 points.
    assert base["miou_mean"] == pytest.approx(50.5)
    assert base["miou_std"] == pytest.approx(math.sqrt(0.5))
    assert (base["seeds"], base["runs"], base["status"], base["params_ratio"]) == (2, 2, "completed", 1.0)
    assert base["gflops"] == pytest.approx(2 * base["gmacs"])
    assert table["method"].tolist()[0] == "baseline" and table["method"].tolist()[-1] == "asymmetric"


def test_non_completed_networks_stay_with_status_and_reason(records) -> None:
    table = paper_table(records).set_index("network")
    others = table[table["status"] != "completed"]
    assert sorted(others["status"]) == ["failed", "infeasible", "infeasible", "oom", "pruned"]
    assert others["miou_mean"].isna().all()  # a pruned run's partial accuracy is not a result
    assert "CUDA out of memory" in others.loc[others["status"] == "oom", "fail_reason"].item()


def test_mixed_statuses_of_one_network_are_counted(records) -> None:
    df = records.copy()
    df.loc[(df["network"] == "AWDR") & (df["seed"] == 1), ["status", "fail_reason"]] = ["diverged", "nan loss"]
    row = paper_table(df).set_index("network").loc["AWDR"]
    assert row["status"] == "completed 1/2, diverged 1"
    assert row["seeds"] == 1 and math.isnan(row["miou_std"]) and row["miou_mean"] == pytest.approx(59.0)
    assert row["fail_reason"] == "nan loss"


def test_markdown_and_csv(records, tmp_path) -> None:
    table = paper_table(records)
    text = table_markdown(table)
    title, header = text.splitlines()[0], next(line for line in text.splitlines() if line.startswith("| Network"))
    assert "val, best epoch" in title and "2 completed seed(s)" in title  # what the numbers are, said first
    for column in ("Network", "Pixel accuracy (%)", "mIoU (%)", "mIoU 95% CI", "Params (M)", "GMACs", "GFLOPs",
                   "Train ms/step (p10–p90)", "Train img/s", "Infer ms/batch (p10–p90)", "Infer img/s",
                   "ms/step during training (contended)"):
        assert column in header
    # 2 seeds 59.0 and 60.0: t_{0.975,1} 12.706 x 0.707 / sqrt(2) = 6.35 either side
    assert "| AWDR | 84.80 ± 0.00 | 59.50 ± 0.71 | [53.15, 65.85] |" in text
    base = table.set_index("network").loc["Baseline"]
    # The isolated times (fake timer: 5 ms + 2000 ms per GMAC, at the study's training batch 4).
    assert base["step_ms"] == pytest.approx(5 + 2000 * base["gmacs"]) and base["timing_batch"] == 4
    assert base["infer_ms"] == pytest.approx(base["step_ms"] / 4)
    assert base["step_img_s"] == pytest.approx(base["timing_batch"] * 1000 / base["step_ms"])
    assert f"| {base['step_ms']:.1f} ({base['step_ms_p10']:.1f}–{base['step_ms_p90']:.1f}) |" in text
    assert base["best_epochs"] == "2/3, 2/3"  # seeds 0 and 1 peaked at epoch 2 of 3; a pruned run is not counted
    assert table.set_index("network").loc["D #13", "best_epochs"] == ""
    # the trainer's 10.0 ms, under its own header; then where each seed peaked
    assert f"| {base['contended_ms']:.1f} | {base['best_epochs']} | completed |" in text
    assert "contended" in text and "isolated (scaler bench)" in text
    assert "- WDR #12: oom — CUDA out of memory" in text
    csv, md = write_table(table, tmp_path)
    back = pd.read_csv(csv)
    assert back["network"].tolist() == table["network"].tolist()
    assert back["miou_mean"].tolist() == pytest.approx(table["miou_mean"].tolist(), nan_ok=True)
    assert md.read_text() == text
