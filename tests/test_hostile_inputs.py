"""Hostile input through the real CLI: each case is a real `scaler` process (tests/cli_fork.py) that must
exit with the right code, print ONE stderr line naming the bad value, and leave every file that was
already in its folder byte-identical."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scaler.families import base_spec
from scaler.scaling import ScalingOptions

from tests.cli_fork import tree_hashes

REPO = Path(__file__).resolve().parents[1]
LONG = "n" * 300
#: A folder no process can create files in: a chmod 555 folder, except for root (which ignores modes): sysfs.
READ_ONLY = "/sys/kernel" if os.geteuid() == 0 else "readonly"
TINY = ("--base-width", "4", "--option", "levels=3", "--input", "32x32", "--data-option", "length=8",
        "--data-option", "source_size=32x32", "--batch-size", "4", "--no-progress", "--epochs", "1")
#: Training flags that keep a wrongly accepted spec to a few steps, so a regression fails fast instead of training.
CHEAP = ("--data-option", "length=8", "--data-option", "source_size=32x32", "--batch-size", "4", "--epochs", "1",
         "--max-steps-per-epoch", "1", "--no-progress")
STUDY = ("studies/q.toml",)
PG = "postgresql://postgres@127.0.0.1:5432/test"

#: (id, argv, exit code, texts the one stderr line must hold: the bad value and, where useful, what is valid)
CASES = [
    # -- output folders: existing file, read-only, /dev/full, over-long name ---------------------------------
    ("scale-save-existing-file", ["scale", "--method", "width", "--budget", "params=2x", "--save", "afile"], 2,
     ["--save", "'afile'", "existing file"]),
    ("scale-save-read-only", ["scale", "--method", "width", "--budget", "params=2x", "--save", f"{READ_ONLY}/x"], 2,
     ["--save", f"{READ_ONLY}/x", "valid:"]),
    ("scale-save-dev-full", ["scale", "--method", "width", "--budget", "params=2x", "--save", "/dev/full"], 2,
     ["'/dev/full'", "existing file"]),
    ("scale-save-under-dev-full", ["scale", "--method", "width", "--budget", "params=2x", "--save", "/dev/full/x"],
     2, ["'/dev/full/x'", "Not a directory"]),
    ("scale-save-name-too-long", ["scale", "--method", "width", "--budget", "params=2x", "--save", LONG], 2,
     ["--save", "(300 characters)", "File name too long"]),
    ("train-out-existing-file", ["train", *TINY, "--out", "afile"], 2, ["--out", "'afile'", "existing file"]),
    ("train-out-read-only", ["train", *TINY, "--out", f"{READ_ONLY}/run"], 2, ["--out", f"{READ_ONLY}/run"]),
    ("train-out-name-too-long", ["train", *TINY, "--out", LONG], 2, ["--out", "(300 characters)"]),
    ("report-out-existing-file", ["report", "run", "--out", "afile"], 2, ["--out", "'afile'", "existing file"]),
    ("report-out-dev-full", ["report", "run", "--out", "/dev/full"], 2, ["'/dev/full'"]),
    ("report-out-read-only", ["report", "run", "--out", f"{READ_ONLY}/rep"], 2, ["--out", f"{READ_ONLY}/rep"]),
    ("reproduce-out-existing-file", ["reproduce", "--data", "shapes", "--out", "afile"], 2, ["--out", "'afile'"]),
    ("sweep-out-existing-file", ["sweep", "--ladder", "params=1.5x,2x", "--target", "params=3x", "--out", "afile"],
     2, ["--out", "'afile'"]),
    # -- checkpoints and specs that cannot be trusted -----------------------------------------------------------
    ("evaluate-garbage-checkpoint", ["evaluate", "garbage_run"], 2, ["garbage_run", "best.pt"]),
    ("evaluate-truncated-checkpoint", ["evaluate", "truncated_run"], 2, ["truncated_run", "best.pt"]),
    ("evaluate-missing-run", ["evaluate", "no_such_run"], 2, ["no_such_run", "does not exist"]),
    ("evaluate-bad-split", ["evaluate", "run", "--split", "holdout"], 2, ["holdout"]),
    ("inspect-tampered-params", ["inspect", "specs/tampered.json"], 2, ["specs/tampered.json", "params=123"]),
    ("train-spec-tampered-params", ["train", "--spec", "specs/tampered.json", *CHEAP, "--out", "r1"], 2,
     ["specs/tampered.json", "params=123"]),
    ("inspect-3-decoder-stages", ["inspect", "specs/decoder3.json"], 2, ["4 decoder stages", "got 3"]),
    ("train-spec-3-decoder-stages", ["train", "--spec", "specs/decoder3.json", *CHEAP, "--out", "r2"], 2, ["got 3"]),
    ("inspect-misspelt-field", ["inspect", "specs/misspelt.json"], 2, ["'encoderr'", "valid:", "'encoder'"]),
    ("inspect-not-json", ["inspect", "specs/garbage.json"], 2, ["specs/garbage.json", "not valid JSON"]),
    ("inspect-binary-file", ["inspect", "specs/binary.json"], 2, ["specs/binary.json"]),
    # -- storages and study names ------------------------------------------------------------------------------
    ("storage-missing-driver", ["study", "status", *STUDY, "--storage", "mysql://u@localhost/db"], 2,
     ["'mysql://u@localhost/db'", "driver", "valid:"]),
    ("storage-unknown-scheme", ["study", "run", *STUDY, "--storage", "foo://bar"], 2,
     ["'foo://bar'", "unknown database scheme 'foo'"]),
    ("study-name-600-chars-postgres", ["study", "run", *STUDY, "--storage", PG, "--name", "s" * 600], 2,
     ["--name", "(600 characters)", "at most 200 bytes"]),
    ("study-file-missing", ["study", "run", "studies/none.toml"], 2, ["studies/none.toml", "no such file"]),
    # -- options, spec fields and budgets --------------------------------------------------------------------
    ("family-option-unknown", ["scale", "--option", "foo=1"], 2, ["['foo']", "valid:", "levels", "width"]),
    ("train-family-option-unknown", ["train", *TINY, "--option", "foo=1", "--out", "r3"], 2, ["['foo']", "levels"]),
    ("family-option-levels-40", ["scale", "--option", "levels=40"], 2, ["levels=40", "[2, 8]"]),
    ("duplicate-budgets", ["scale", "--budget", "params=2x,params=3x"], 2, ["params<=2x", "params<=3x",
                                                                          "one budget per metric"]),
    ("unknown-method", ["scale", "--method", "diagonal"], 2, ["'diagonal'", "valid:"]),
    ("unknown-depth-rounding", ["scale", "--depth-rounding", "sideways"], 2, ["'sideways'", "stagewise"]),
    ("unknown-factor-name", ["scale", "--method", "custom", "--factors", "elbow=2"], 2, ["elbow"]),
    ("budget-unit", ["scale", "--budget", "params=2y"], 2, ["2y"]),
    ("train-unknown-optimizer", ["train", *TINY, "--optimizer", "adam", "--out", "r4"], 2, ["'adam'", "adamw, sgd"]),
    ("report-unknown-accuracy", ["report", "run", "--out", "old_report", "--accuracy", "iou"], 2, ["'iou'", "miou"]),
    ("report-missing-source", ["report", "no_such_source", "--out", "old_report"], 2, ["no_such_source"]),
]


def _write_specs(folder: Path) -> None:
    """A `scaler scale --save` record, and broken versions of it."""
    folder.mkdir()
    solution = ScalingOptions.parse("width", ["params=2x"]).scale(base_spec("unet", width=4, classes=5,
                                                                            input_size=(32, 32)))
    record = solution.as_dict()
    (folder / "width.json").write_text(json.dumps(record))
    (folder / "tampered.json").write_text(json.dumps({**record, "params": 123}))
    (folder / "decoder3.json").write_text(json.dumps({**record["spec"], "decoder": record["spec"]["decoder"][:3]}))
    spec = dict(record["spec"])
    spec["encoderr"] = spec.pop("encoder")
    (folder / "misspelt.json").write_text(json.dumps(spec))
    (folder / "garbage.json").write_text("{not json")
    (folder / "binary.json").write_bytes(bytes(range(256)) * 4)


def _write_runs(sandbox: Path) -> None:
    """A tiny trained run, and copies of it whose best.pt is garbage / truncated."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "scaler", "train", *TINY, "--max-steps-per-epoch", "1", "--out", "run"],
                   cwd=sandbox, env=env, check=True, capture_output=True, timeout=300)
    for name, content in (("garbage_run", b"not a checkpoint\n" * 10),
                          ("truncated_run", (sandbox / "run" / "best.pt").read_bytes()[:1000])):
        shutil.copytree(sandbox / "run", sandbox / name)
        (sandbox / name / "best.pt").write_bytes(content)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A folder of files a user already has: outputs, specs, runs, a study file, an old report."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "afile").write_text("a file the user keeps\n")
    (root / "old_report" / "plots").mkdir(parents=True)
    (root / "old_report" / "table.csv").write_text("network,miou\nBaseline,50\n")
    (root / "old_report" / "plots" / "miou_vs_params.png").write_bytes(b"\x89PNG old plot")
    if READ_ONLY == "readonly":
        (root / "readonly").mkdir(mode=0o555)
    _write_specs(root / "specs")
    (root / "studies").mkdir()
    shutil.copy(REPO / "studies" / "quickstart.toml", root / "studies" / "q.toml")
    shutil.copytree(REPO / "search_spaces", root / "search_spaces")
    _write_runs(root)
    return root


@pytest.fixture(scope="module")
def results(sandbox) -> dict[str, dict]:
    """Every case, each in its own process (forked from one that imported scaler once), with hashes before/after."""
    before = tree_hashes(sandbox)
    cases = [{"args": args, "cwd": str(sandbox)} for _, args, _, _ in CASES]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "tests.cli_fork"], input=json.dumps(cases), cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return {"before": before, **{case[0]: r for case, r in zip(CASES, json.loads(out.stdout))}}


def test_enough_cases():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, args, code, needles", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_and_loses_nothing(results, name, args, code, needles):
    result = results[name]
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == code, result["stderr"][-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result["stderr"][-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    before = results["before"]
    assert {path: result["hashes"].get(path) for path in before} == before, "a file that was already there changed"


def test_the_console_script_itself_gives_the_same_line(sandbox, results):
    """One case through `python -m scaler` proper (not forked): same code, same line."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "scaler", "scale", "--option", "foo=1"], cwd=sandbox, env=env,
                         capture_output=True, text=True, timeout=300)
    assert (out.returncode, out.stderr) == (2, results["family-option-unknown"]["stderr"])


@pytest.fixture
def records(tmp_path):
    """The tidy record of a small synthetic study (tests/report/synthetic.py)."""
    from scaler.report import collect

    from tests.report.synthetic import new_study

    url = f"sqlite:///{tmp_path / 'study.db'}"
    new_study(url, "tiny")
    return collect(url, "tiny")


def test_a_full_disk_mid_report_leaves_the_old_report_intact(tmp_path, monkeypatch, records):
    """ENOSPC while the plots are written: the previous report is untouched (a stale plot included) and no staging
    folder is left; said in one line as an I/O failure. A complete rewrite then replaces the old report whole."""
    from scaler.errors import os_error_text
    from scaler.report import _report, write_report

    out = tmp_path / "out" / "report"
    write_report(records, out)
    (out / "plots" / "stale.png").write_bytes(b"a plot the next report does not draw")
    (out / "keep.txt").write_text("not the report's")
    before = tree_hashes(out)
    plot_all = _report.plot_all

    def full_disk(records, folder, *args, **kwargs):
        (folder / "plots").mkdir(exist_ok=True)
        (folder / "plots" / "pareto.png").write_bytes(b"half a plot")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "plots" / "pareto.svg"))

    monkeypatch.setattr(_report, "plot_all", full_disk)
    with pytest.raises(OSError) as info:
        write_report(records.iloc[:3], out)
    assert tree_hashes(out) == before
    assert [p.name for p in out.parent.iterdir()] == ["report"]  # the staging sibling is gone
    assert os_error_text(info.value).startswith("I/O failure on ") and "No space left" in os_error_text(info.value)

    monkeypatch.setattr(_report, "plot_all", plot_all)
    rep = write_report(records, out)
    assert not (out / "plots" / "stale.png").exists() and (out / "keep.txt").read_text() == "not the report's"
    assert all(path.is_file() and path.parent in (out, out / "plots") for path in rep.files)
    assert [p.name for p in out.parent.iterdir()] == ["report"]


def test_an_atomic_write_that_fails_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    """`scale --save` rewrites records through write_text_atomic: a failed write changes nothing, a good one gets
    the mode a plain write would (not mkstemp's private 0600)."""
    from scaler import io

    path = tmp_path / "width.json"
    path.write_text("the old record")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(io.os, "replace", no_space)
    with pytest.raises(OSError):
        io.write_text_atomic(path, "the new record")
    assert path.read_text() == "the old record" and [p.name for p in tmp_path.iterdir()] == ["width.json"]
    monkeypatch.undo()
    old_umask = os.umask(0o022)
    try:
        io.write_text_atomic(path, "the new record")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "the new record" and path.stat().st_mode & 0o777 == 0o644
