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
