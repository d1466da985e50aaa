"""Shared fixtures: locating the real CamVid data, and failing instead of skipping where CI requires it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def camvid_root_or_skip() -> Path:
    """The CamVid folder; skips with a reason when absent, fails when SCALER_REQUIRE_CAMVID=1 (CI)."""
    root = Path(os.environ.get("SCALER_CAMVID", REPO.parent / "shared" / "data" / "camvid"))
    if (root / "train.txt").is_file():
        return root
    reason = f"CamVid not found at {root}; set SCALER_CAMVID or place it at ../shared/data/camvid"
    if os.environ.get("SCALER_REQUIRE_CAMVID") == "1":
        pytest.fail(reason + " (SCALER_REQUIRE_CAMVID=1 requires it)")
    pytest.skip(reason)


@pytest.fixture
def camvid_root() -> Path:
    """Fixture form of camvid_root_or_skip."""
    return camvid_root_or_skip()


#: Skip reasons that CI must never accept: (environment variable, text in the skip reason).
_REQUIRED = (("SCALER_REQUIRE_CAMVID", "CamVid"), ("SCALER_REQUIRE_POSTGRES", "PostgreSQL"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI's SCALER_REQUIRE_* variables a skip for missing CamVid or PostgreSQL is a failure."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2])
    for variable, needle in _REQUIRED:
        if os.environ.get(variable) == "1" and needle in reason:
            report.outcome = "failed"
            report.longrepr = f"{reason} (required: {variable}=1)"
