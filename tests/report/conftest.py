"""Fixtures of the report tests: a filled SQLite study and its tidy record."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.fakes import FakeTimer, linear_ms
from tests.report.synthetic import new_study


class ModeTimer(FakeTimer):
    """FakeTimer whose inference step costs a quarter of its training step (the mode is in the cache key)."""

    def __call__(self, steps, threads):
        out = super().__call__(steps, threads)
        return {k: [v * (1.0 if json.loads(k)["mode"] == "train" else 0.25) for v in values]
                for k, values in out.items()}


@pytest.fixture
def sqlite_study(tmp_path: Path) -> tuple[str, str]:
    """(storage URL, study name) of a filled SQLite study with 2 seeds."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    new_study(url, "tiny", seeds=2)
    return url, "tiny"


@pytest.fixture
def untimed(sqlite_study):
    """The tidy record of the SQLite study, before any isolated timing."""
    from scaler.report import collect

    return collect(sqlite_study[0], sqlite_study[1])


@pytest.fixture
def records(untimed, fake_timing):
    """The tidy record of the SQLite study, its completed networks timed in isolation by the fake timer."""
    from scaler.report import timed_records

    return timed_records(untimed)


@pytest.fixture(autouse=True)
def fake_timing(tmp_path: Path, monkeypatch):
    """Every report test times networks with a fake timer (a step costs 5 ms + 2000 ms per GMAC in train mode, a
    quarter of that in inference), in a cache of its own; returns the list of (mode, spec) timed."""
    import scaler.report._timing as timing
    from scaler.bench import bench

    monkeypatch.setenv("SCALER_CACHE_DIR", str(tmp_path / "cache"))
    timed: list = []

    def fake_bench(specs, settings, use_cache=True, measure=None):
        timer = ModeTimer(list(specs), linear_ms())
        results = bench(specs, settings, use_cache=use_cache, measure=measure or timer)
        timed.extend((settings.mode, s) for s in timer.timed)
        return results

    monkeypatch.setattr(timing, "bench", fake_bench)
    return timed
