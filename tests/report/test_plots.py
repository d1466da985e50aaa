"""Plot frames (what each plot draws) and that drawing writes PNG + SVG."""
from __future__ import annotations

import math

import pytest

from scaler.report import (
    bubble_frame, curves_frame, draw_bubble, draw_curves, draw_tradeoff, plot_all, tradeoff_frame,
)


def test_tradeoff_frame_aggregates_seeds_and_marks_the_front(records) -> None:
    frame = tradeoff_frame(records, "params").set_index("label")
    done = frame[frame["status"] == "completed"]
    assert sorted(done.index) == ["AWDR", "Baseline", "D", "R", "W", "WDR"]
    assert done["n"].tolist() == [2] * 6
    assert done.loc["AWDR", "y"] == pytest.approx(59.5) and done.loc["AWDR", "x"] == pytest.approx(
        records.loc[records["network"] == "AWDR", "params_m"].iloc[0])
    # R has the baseline's params and more mIoU; AWDR is the most accurate and cheaper than WDR, D, W.
    assert sorted(frame.index[frame["on_front"]]) == ["AWDR", "R"]
    assert frame.attrs["x_label"] == "Params (M)" and frame.attrs["y_label"] == "mIoU (%)"


def test_tradeoff_frame_keeps_every_non_completed_run(records) -> None:
    for axis in ("params", "gflops", "ms_per_step"):
        frame = tradeoff_frame(records, axis).set_index("label")
        others = frame.loc[frame["status"] != "completed", "status"]
        assert sorted(others) == ["failed", "infeasible", "infeasible", "oom", "pruned"]
        assert not frame.loc[frame["status"] != "completed", "on_front"].any()
    frame = tradeoff_frame(records, "ms_per_step").set_index("label")
    assert frame.loc["D #13 seed 7", "y"] == pytest.approx(30.0)  # a pruned run keeps its partial accuracy
    assert math.isnan(frame.loc["WDR #12 seed 0", "y"])  # OOM: no accuracy, no timing, still listed
    assert math.isnan(frame.loc["WDR #12 seed 0", "x"])
    assert frame.loc["WDR #12 seed 0", "reason"] == "CUDA out of memory"


def test_pixel_accuracy_and_gflops_axes(records) -> None:
    frame = tradeoff_frame(records, "gflops", "pa").set_index("label")
    assert frame.loc["Baseline", "y"] == pytest.approx(80.0) and frame.loc["Baseline", "on_front"]
    assert frame.attrs["x_label"].startswith("GFLOPs")
    with pytest.raises(ValueError, match="x='flops'"):
        tradeoff_frame(records, "flops")
    with pytest.raises(ValueError, match="y='acc'"):
        tradeoff_frame(records, "params", "acc")


def test_bubble_frame_sizes_by_params(records) -> None:
    frame = bubble_frame(records).set_index("label")
    assert {"x", "y", "params_m", "method", "status", "on_front"} <= set(frame.columns)
    assert frame.loc["AWDR", "params_m"] == pytest.approx(records.loc[records["network"] == "AWDR", "params_m"].iloc[0])
    assert frame.loc["AWDR", "x"] == pytest.approx(records.loc[records["network"] == "AWDR", "gflops"].iloc[0])


def test_curves_frame_is_long_and_in_percent(records) -> None:
    frame = curves_frame(records)
    assert list(frame.columns) == ["network", "method", "seed", "status", "epoch", "metric", "value"]
    assert set(frame["metric"]) == {"train_loss", "val_loss", "pa", "miou"}
    base = frame[(frame["network"] == "Baseline") & (frame["seed"] == 0)]
    assert base.groupby("metric").size().to_dict() == {"miou": 3, "pa": 3, "train_loss": 3, "val_loss": 3}
    assert base[(base["metric"] == "miou")]["value"].max() == pytest.approx(50.0)
    pruned = frame[frame["status"] == "pruned"]
    assert pruned["epoch"].unique().tolist() == [0]  # stops where the run stopped


def test_drawing_writes_png_and_svg(records, tmp_path) -> None:
    files = draw_tradeoff(tradeoff_frame(records, "params"), tmp_path / "t")
    files += draw_bubble(bubble_frame(records), tmp_path / "b")
    files += draw_curves(curves_frame(records), "val_loss", tmp_path / "c")
    assert [p.suffix for p in files] == [".png", ".svg"] * 3
    assert all(p.stat().st_size > 1000 for p in files)
    assert "WDR #12 seed 0" in (tmp_path / "t.svg").read_text()  # the OOM run is listed on the plot


def test_plot_all_names_its_frames(records, tmp_path) -> None:
    frames, files = plot_all(records.head(6), tmp_path, accuracies=("miou",))
    assert sorted(frames) == ["bubble", "curves", "miou_vs_gflops", "miou_vs_infer_ms", "miou_vs_ms_per_step",
                            "miou_vs_params"]
    assert len(files) == 2 * (4 + 1 + 4) and all(p.is_file() for p in files)
