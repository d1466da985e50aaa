"""Fixtures of the report tests: a filled SQLite study and its tidy record."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.synthetic import new_study


@pytest.fixture
def sqlite_study(tmp_path: Path) -> tuple[str, str]:
    """(storage URL, study name) of a filled SQLite study with 2 seeds."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    new_study(url, "tiny", seeds=2)
    return url, "tiny"


@pytest.fixture
def records(sqlite_study):
    """The tidy record of the SQLite study."""
    from scaler.report import collect

    return collect(sqlite_study[0], sqlite_study[1])
