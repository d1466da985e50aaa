"""Isolated timing in reports: one interleaved phase per mode over the completed networks, stored timings reused,
and "not timed" said where there is none (never a contended number in its place)."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from scaler.bench import TIMM_COLUMNS, BenchSettings
from scaler.report import (
    MANIFEST, NOT_TIMED, Timings, paper_table, records_from_reproduce, summarize, table_markdown, timed_records,
    tradeoff_frame, write_report,
)
from tests.report.synthetic import make_run_dir, tiny_networks


def test_one_phase_per_mode_times_each_completed_network_once(untimed, fake_timing) -> None:
    records = timed_records(untimed)
    completed = set(untimed.loc[untimed["status"] == "completed", "spec_hash"])
    for mode in ("train", "infer"):
        timed = [s.digest() for m, s in fake_timing if m == mode]
        assert sorted(timed) == sorted(completed)  # each distinct network once, the seeds share it
    # OOM, pruned, infeasible and dead-worker networks are not timed: their cells stay empty.
    others = records[~records["spec_hash"].isin(completed)]
    assert len(others) == 5 and others["step_ms"].isna().all() and others["infer_ms"].isna().all()
    done = records[records["status"] == "completed"]
    assert (done["infer_ms"] < done["step_ms"]).all() and (done["timing_batch"] == 4).all()
    # A second report finds every timing in the cache: nothing is timed again.
    fake_timing.clear()
    again = timed_records(untimed)
    assert fake_timing == [] and again["step_ms"].equals(records["step_ms"])
    # --time-batch overrides the training batch (a new measurement, new cache keys).
    assert (timed_records(untimed, batch=2).dropna(subset=["step_ms"])["timing_batch"] == 2).all()


def test_without_isolated_timing_every_ms_column_says_so(untimed, tmp_path, fake_timing) -> None:
    records = timed_records(untimed, time=False)
    assert fake_timing == [] and records["step_ms"].isna().all()
    assert records["contended_ms"].notna().any()  # the trainer's numbers exist, and are not used in their place
    rep = write_report(records, tmp_path / "rep")
    text = (tmp_path / "rep" / "table.md").read_text()
    base = next(line for line in text.splitlines() if line.startswith("| Baseline |"))
    assert base.count(NOT_TIMED) == 4  # train ms, train img/s, infer ms, infer img/s
    assert "| 10.0 | 2/3, 2/3 | completed |" in base  # the contended column, under its own header; then the peaks
    assert "No isolated timing: the report was made with --no-time" in text
    assert rep.table["step_ms"].isna().all()
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "per extra ms/step: n/a (not timed in isolation" in summary
    assert "mIoU vs ms_per_step: none (not timed in isolation)" in summary
    assert rep.summary.gains["per_ms"].isna().all()
    frame = rep.frames["miou_vs_ms_per_step"]
    assert frame.attrs["not_timed"] and frame.loc[frame["status"] == "completed", "x"].isna().all()
    assert pd.read_csv(tmp_path / "rep" / "benchmark_train.csv").empty  # a header, no invented rows


def test_fronts_gains_and_csvs_use_the_isolated_times(records, tmp_path) -> None:
    rep = write_report(records, tmp_path / "rep")
    table = rep.table.set_index("network")
    front = rep.frames["miou_vs_ms_per_step"]
    done = front[front["status"] == "completed"].set_index("label")
    assert done["x"].to_dict() == pytest.approx(table.loc[done.index, "step_ms"].to_dict())
    infer = rep.frames["miou_vs_infer_ms"].query("status == 'completed'").set_index("label")
    assert infer["x"].to_dict() == pytest.approx(table.loc[infer.index, "infer_ms"].to_dict())
    csv = pd.read_csv(tmp_path / "rep" / "benchmark_train.csv")
    assert tuple(csv.columns[:len(TIMM_COLUMNS)]) == TIMM_COLUMNS
    timed = [n for n in rep.table["network"] if math.isfinite(table.loc[n, "step_ms"])]
    assert csv["model"].tolist() == timed and (csv["batch"] == 4).all() and (csv["mode"] == "train").all()
    assert csv.set_index("model")["step_time"].to_dict() == pytest.approx(
        table.loc[timed, "step_ms"].to_dict(), abs=1e-3)
    infer_csv = pd.read_csv(tmp_path / "rep" / "benchmark_infer.csv")
    assert (infer_csv["mode"] == "infer").all() and infer_csv["model"].tolist() == timed
    assert "ms/step during training (contended)" in (tmp_path / "rep" / "table.md").read_text()
    stored = json.loads((tmp_path / "rep" / "timing.json").read_text())
    assert "isolated" in stored["conditions"] and len(stored["results"]) == len(timed)


def _folder(tmp_path, timing=None):
    """A reproduce folder of two finished run dirs, its manifest with `timing` (or none, as before timing)."""
    nets = {n.name: n for n in tiny_networks()}
    runs = []
    for name in ("Baseline", "W"):
        make_run_dir(tmp_path / "runs" / f"{name}-seed0", nets[name])
        runs.append({"network": name, "method": nets[name].method, "seed": 0, "run_dir": f"runs/{name}-seed0",
                     "spec": nets[name].spec.to_dict(), "status": "completed"})
    manifest = {"runs": runs, "train": {"batch_size": 8}, **({"timing": timing} if timing is not None else {})}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    return tmp_path


def test_a_manifest_timing_is_reused_and_an_old_folder_is_not_timed(tmp_path, fake_timing) -> None:
    old = records_from_reproduce(_folder(tmp_path / "old"))
    assert "stored_timings" not in old.attrs
    untimed = timed_records(old, time=False)
    assert untimed["step_ms"].isna().all() and fake_timing == []
    assert NOT_TIMED in table_markdown(paper_table(untimed))
    fresh = timed_records(old)  # timed now, at the runs' training batch (config.json: 8)
    assert (fresh["timing_batch"] == 8).all() and len(fake_timing) == 4
    stored = fresh.attrs["timings"]
    assert Timings.from_dict(json.loads(json.dumps(stored.as_dict()))) == stored
    assert Timings.from_dict({"results": "garbage"}) is None
    fake_timing.clear()
    folder = records_from_reproduce(_folder(tmp_path / "new", stored.as_dict()))
    reused = timed_records(folder, time=False)  # the manifest's timing, even with --no-time
    assert fake_timing == [] and reused["step_ms"].tolist() == fresh["step_ms"].tolist()
    assert timed_records(folder)["step_ms"].tolist() == fresh["step_ms"].tolist() and fake_timing == []
    # Other timing settings asked for: measured again with them (one thread more than the default), not the
    # manifest's.
    other = BenchSettings(threads=torch.get_num_threads() + 1)
    assert (timed_records(folder, settings=other)["step_ms"].notna()).sum() == 2
    assert len(fake_timing) == 4
    summary = summarize(paper_table(reused), reused, timing=reused.attrs["timing"])
    assert "isolated (scaler bench)" in summary.to_markdown()


def test_the_ms_plot_frame_carries_the_conditions(records) -> None:
    frame = tradeoff_frame(records, "ms_per_step")
    assert not frame.attrs["not_timed"] and "isolated" in frame.attrs["timing"]
    assert "isolated" in frame.attrs["x_label"]


def test_a_failed_timing_loses_nothing_and_says_why(untimed, tmp_path) -> None:
    def out_of_memory(steps, threads):
        raise RuntimeError("out of memory: tried to allocate 9 GiB\nmore detail")

    records = timed_records(untimed, measure=out_of_memory)
    assert records["step_ms"].isna().all()
    assert records.attrs["timing"] == ("No isolated timing: timing at batch 4 failed: RuntimeError: out of memory: "
                                       "tried to allocate 9 GiB.")
    rep = write_report(records, tmp_path / "rep")
    assert rep.table["miou_mean"].notna().any()
    assert "timing at batch 4 failed" in (tmp_path / "rep" / "table.md").read_text()
