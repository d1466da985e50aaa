"""The tidy record: from SQLite and PostgreSQL studies and from run dirs, every trial state kept."""
from __future__ import annotations

import math
from pathlib import Path
import uuid

import optuna
import pytest
from tests.report.synthetic import RESULTS, make_run_dir, new_study, tiny_networks

from scaler.errors import ScalerError
from scaler.report import COLUMNS, collect, records_from_runs, records_from_study

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def check_study_record(df, seeds: int) -> None:
    """Every trial is a row with the right status; nothing was dropped."""
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 6 * seeds + 5
    counts = df["status"].value_counts().to_dict()
    assert counts == {"completed": 6 * seeds, "oom": 1, "pruned": 1, "infeasible": 2, "failed": 1}
    oom = df[df["status"] == "oom"].iloc[0]
    assert oom["fail_reason"] == "CUDA out of memory" and oom["method"] == "compound"
    infeasible = df[df["status"] == "infeasible"].iloc[0]  # only its `infeasible` flag said so
    assert "budget" in infeasible["fail_reason"] and infeasible["params"] > 0
    recorded = df[(df["status"] == "infeasible") & (df["method"] == "asymmetric")].iloc[0]
    assert math.isnan(recorded["miou"])  # its objective value 0 is no accuracy
    dead = df[df["status"] == "failed"].iloc[0]  # FAIL although its attr still says "running"
    assert dead["method"] == "resolution" and "worker died" in dead["fail_reason"]
    pruned = df[df["status"] == "pruned"].iloc[0]
    assert pruned["miou"] == pytest.approx(0.3) and pruned["epochs_run"] == 1
    baseline = df[(df["method"] == "baseline") & (df["seed"] == 0)].iloc[0]
    assert baseline["miou"] == pytest.approx(RESULTS["Baseline"][1])
    assert baseline["gflops"] == pytest.approx(2 * baseline["gmacs"])
    # Seeds of one network share its label; distinct networks of a method get distinct labels.
    assert df.groupby("network")["method"].nunique().max() == 1
    assert df[df["status"] == "completed"].groupby("network").size().tolist() == [seeds] * 6


def test_sqlite_study_keeps_every_trial(sqlite_study) -> None:
    url, name = sqlite_study
    df = records_from_study(url, name)
    check_study_record(df, seeds=2)
    assert df.attrs["objectives"] == ["miou", "params"]
    assert collect(url).shape == df.shape  # one study in the storage: the name may be omitted


def _postgres_or_skip() -> None:
    """Skip (with the reason) when the PostgreSQL server is unreachable."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(POSTGRES, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # driver missing, server down, auth refused
        pytest.skip(f"PostgreSQL at {POSTGRES} unreachable: {type(exc).__name__}: {str(exc).splitlines()[0]}")


@pytest.mark.postgres
def test_postgres_study_keeps_every_trial() -> None:
    _postgres_or_skip()
    name = f"scaler-report-test-{uuid.uuid4().hex[:12]}"
    new_study(POSTGRES, name, seeds=1)
    try:
        df = collect(POSTGRES, name)
        check_study_record(df, seeds=1)
        with pytest.raises(ScalerError, match="holds .* studies; pass --study-name|no study"):
            collect(POSTGRES, "no-such-study-" + name)
    finally:
        optuna.delete_study(study_name=name, storage=POSTGRES)


def test_study_errors_are_one_line(tmp_path, sqlite_study) -> None:
    with pytest.raises(ScalerError, match="does not exist"):
        collect(f"sqlite:///{tmp_path / 'missing.db'}", "x")
    assert not (tmp_path / "missing.db").exists()  # reading never creates a database
    with pytest.raises(ScalerError, match="no study 'nope'.*valid: tiny"):
        collect(sqlite_study[0], "nope")


def test_run_dirs_keep_every_status(tmp_path) -> None:
    nets = {n.name: n for n in tiny_networks()}
    dirs = [
        make_run_dir(tmp_path / "Baseline-seed0", nets["Baseline"], 0, "completed", 0.5),
        make_run_dir(tmp_path / "W-seed0", nets["W"], 0, "early_stopped", 0.55),
        make_run_dir(tmp_path / "D-seed0", nets["D"], 0, "diverged", 0.1, message="diverged at epoch 2 step 3"),
        make_run_dir(tmp_path / "R-seed1", nets["R"], 1, "interrupted", 0.4, message="KeyboardInterrupt"),
        make_run_dir(tmp_path / "WDR-seed0", nets["WDR"], 0, None),
        make_run_dir(tmp_path / "custom-run", nets["AWDR"], 3, "running", 0.4, epochs=1),
    ]
    df = records_from_runs(dirs)
    got = dict(zip(df["network"], zip(df["method"], df["seed"], df["status"])))
    assert got == {"Baseline": ("baseline", 0, "completed"), "W": ("width", 0, "completed"),
                   "D": ("depth", 0, "diverged"), "R": ("resolution", 1, "interrupted"),
                   "WDR": ("compound", 0, "running"), "run": ("unknown", 3, "running")}
    assert df.loc[df["network"] == "D", "fail_reason"].item() == "diverged at epoch 2 step 3"
    assert (df["params"] > 0).all()  # costs come from each spec.json
    assert df.loc[df["network"] == "W", "contended_ms"].item() == 12.0  # the trainer's, measured during training
    assert df["step_ms"].isna().all()  # no isolated timing until a report (or reproduce) times them
    assert len(df.loc[df["network"] == "Baseline", "history"].item()) == 2
    # A folder of run dirs is a source too.
    assert len(collect(tmp_path)) == 6


def test_bad_sources_name_what_is_valid(tmp_path) -> None:
    with pytest.raises(ScalerError, match="not a study TOML, storage URL, run dir"):
        collect(tmp_path / "nowhere")
    with pytest.raises(ScalerError, match="does not exist"):
        collect(tmp_path / "study.toml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScalerError, match="is not a run dir"):
        collect(tmp_path / "empty")


def test_study_toml_names_storage_and_study(tmp_path) -> None:
    space = Path(__file__).resolve().parents[2] / "search_spaces" / "methods.toml"
    toml = tmp_path / "tiny.toml"
    toml.write_text(f'[study]\nname = "tiny_toml"\nsampler = "grid"\nsearch_space = "{space}"\n\n'
                    '[storage]\nurl = "sqlite:///tiny.db"\n\n'
                    '[network]\nfamily = "unet"\nwidth = 8\ninput_size = [32, 32]\nclasses = 3\n\n'
                    '[scaling]\nbudget = ["params=2x"]\n\n[data]\nname = "shapes"\n')
    new_study(f"sqlite:///{tmp_path / 'tiny.db'}", "tiny_toml")
    df = collect(toml)
    check_study_record(df, seeds=1)
    assert "tiny_toml" in df.attrs["source"]


def test_evaluation_chooses_which_accuracy_each_row_reports(sqlite_study) -> None:
    url, name = sqlite_study
    best, final = collect(url, name), collect(url, name, evaluation="final")
    row = lambda df: df[(df["network"] == "WDR") & (df["seed"] == 0)].iloc[0]  # noqa: E731
    # the synthetic history peaks at its last epoch for mIoU but pixel accuracy is lower there than "best" says
    assert row(final)["miou"] == pytest.approx(row(best)["miou"])
    assert row(final)["pa"] != pytest.approx(row(best)["pa"])
    assert final.attrs["evaluation"] == "final" and best.attrs["evaluation"] == "best"
    test = collect(url, name, evaluation="test")  # no trial was evaluated on a test split: no accuracy, rows kept
    assert len(test) == len(best) and test["miou"].isna().all()
    with pytest.raises(ScalerError, match="unknown evaluation 'latest'; valid: best, final, test"):
        collect(url, name, evaluation="latest")


def test_a_killed_trial_and_its_retry_are_one_network_completed(tmp_path) -> None:
    from tests.report.synthetic import _attrs

    url = f"sqlite:///{tmp_path / 'retry.db'}"
    study = optuna.create_study(storage=url, study_name="retry", directions=["maximize"])
    net = tiny_networks()[2]  # W
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    killed = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={"x": 0.5}, distributions=dist,
                                       user_attrs=_attrs(net, 0, "running"))
    study.add_trial(killed)
    retry = optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, values=[0.5], params={"x": 0.5},
                                      distributions=dist, user_attrs=_attrs(net, 0, "completed", 0.8, 0.5, 10.0),
                                      system_attrs={"failed_trial": 0})
    study.add_trial(retry)
    df = collect(url, "retry")
    assert len(df) == 1 and df.iloc[0]["status"] == "completed" and df.iloc[0]["trial"] == 1
    from scaler.report import paper_table

    row = paper_table(df).iloc[0]
    assert (row["status"], row["runs"], row["seeds"]) == ("completed", 1, 1)
