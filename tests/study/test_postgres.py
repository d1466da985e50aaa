"""Many workers on one study in the real PostgreSQL: a global n_trials; a killed or broken worker costs nothing."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.cli_helpers import run_cli
from tests.study.fakes import (
    check_broken_worker_costs_nothing, check_exact_total, check_kill_and_resume, check_one_network_one_training,
    check_pareto_workers,
    check_separate_run_folders,
    write_study,
)

URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.postgres


def _reachable() -> str | None:
    """None when the server answers, else why not."""
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(URL, connect_args={"connect_timeout": 3}, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return None
    except Exception as exc:  # no driver, no server, no database: all mean "cannot test here"
        return f"PostgreSQL not reachable at {URL}: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"


@pytest.fixture
def study_name() -> Iterator[str]:
    """A unique study name, deleted from the server afterwards."""
    reason = _reachable()
    if reason:
        pytest.skip(reason)
    import optuna

    name = f"scaler_test_{uuid.uuid4().hex[:10]}"
    yield name
    if name in optuna.get_all_study_names(URL):
        optuna.delete_study(study_name=name, storage=URL)


@pytest.mark.parametrize("sampler", ["grid", "tpe"])
def test_three_workers_finish_exactly_n_trials(tmp_path: Path, study_name: str, sampler: str) -> None:
    check_exact_total(tmp_path, URL, study_name, sampler)


def test_sigkilled_worker_leaves_finished_trials_intact_and_is_retried(tmp_path: Path, study_name: str) -> None:
    check_kill_and_resume(tmp_path, URL, study_name)


def test_a_broken_worker_beside_two_good_ones_leaves_exactly_n_trials(tmp_path: Path, study_name: str) -> None:
    check_broken_worker_costs_nothing(tmp_path, URL, study_name)


def test_same_study_name_in_sqlite_and_postgresql_never_shares_run_folders(tmp_path: Path, study_name: str) -> None:
    check_separate_run_folders(tmp_path, (f"sqlite:///{tmp_path / 'study.db'}", URL), study_name)


def test_a_600_character_study_name_is_one_line_and_exit_2(tmp_path: Path, study_name: str, capsys) -> None:
    import optuna

    before = sorted(optuna.get_all_study_names(URL))
    result = run_cli(capsys, "study", "run", str(write_study(tmp_path)), "--storage", URL, "--name", "n" * 600)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "600 characters" in result.stderr and "at most 200 bytes" in result.stderr
    assert sorted(optuna.get_all_study_names(URL)) == before


def test_three_workers_train_one_network_once(tmp_path: Path, study_name: str) -> None:
    check_one_network_one_training(tmp_path, URL, study_name)


def test_three_workers_prune_a_multi_objective_study(tmp_path: Path, study_name: str) -> None:
    check_pareto_workers(tmp_path, URL, study_name)
