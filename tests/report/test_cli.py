"""`scaler report` on a study database, and bad input as one line with exit code 2."""
from __future__ import annotations

from tests.cli_helpers import run_cli


def test_report_a_study(capsys, sqlite_study, tmp_path) -> None:
    url, name = sqlite_study
    done = run_cli(capsys, "report", url, "--study-name", name, "--out", tmp_path / "rep")
    assert done.returncode == 0, done.stderr
    assert "17 runs, 11 networks" in done.stdout
    assert "Most mIoU per extra M params: asymmetric" in done.stdout
    for name in ("table.csv", "table.md", "summary.md", "records.json", "plots/miou_vs_gflops.svg", "plots/bubble.png",
                 "benchmark_train.csv", "benchmark_infer.csv", "timing.json"):
        assert (tmp_path / "rep" / name).is_file(), name
    assert "isolated (scaler bench)" in done.stdout and "at batch 4" in done.stdout  # the study's training batch


def test_report_without_timing_and_with_a_timing_batch(capsys, sqlite_study, tmp_path, fake_timing) -> None:
    url, name = sqlite_study
    done = run_cli(capsys, "report", url, "--study-name", name, "--out", tmp_path / "rep", "--no-time")
    assert done.returncode == 0, done.stderr
    assert fake_timing == [] and "not timed" in done.stdout and "No isolated timing" in done.stdout
    done = run_cli(capsys, "report", url, "--study-name", name, "--out", tmp_path / "rep2", "--time-batch", "2",
                   "--time-threads", "1")
    assert done.returncode == 0, done.stderr
    assert "at batch 2" in done.stdout and "1 thread(s)" in done.stdout


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path) -> None:
    done = run_cli(capsys, "report", tmp_path / "nothing-here", "--out", tmp_path / "rep")
    assert done.returncode == 2
    assert done.stderr.startswith("error: report source") and done.stderr.count("\n") == 1
    done = run_cli(capsys, "report", f"sqlite:///{tmp_path / 'x.db'}", "--out", tmp_path / "rep", "--accuracy", "top1")
    assert done.returncode == 2 and "valid: miou, pa, mpa" in done.stderr
    done = run_cli(capsys, "reproduce", "--data", "shapes", "--out", tmp_path / "r", "--network", "XL")
    assert done.returncode == 2 and "unknown network(s) ['XL']" in done.stderr
    done = run_cli(capsys, "report", tmp_path / "nothing-here", "--out", tmp_path / "rep", "--time-device", "cuda:7")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cuda:7" in done.stderr
    done = run_cli(capsys, "report", tmp_path / "nothing-here", "--out", tmp_path / "rep", "--time-amp", "fp8")
    assert done.returncode == 2 and "fp8" in done.stderr and "valid" in done.stderr
