"""Fixtures of the trainer tests: the tiny network and its data (tests/train/tiny.py), built once per module."""
from __future__ import annotations

import pytest

from scaler.data import make_dataset
from scaler.families import base_spec
from tests.train.tiny import DATA_OPTIONS, SIZE


@pytest.fixture(scope="module")
def spec():
    return base_spec("unet", width=4, levels=3, classes=5, input_size=SIZE)


@pytest.fixture(scope="module")
def data():
    """(train, val) shapes datasets, 16 items each at 32x32 (decoded once for the module); train augments."""
    common = dict(input_size=SIZE, **DATA_OPTIONS)
    return make_dataset("shapes", "train", augment=True, **common), make_dataset("shapes", "val", **common)
