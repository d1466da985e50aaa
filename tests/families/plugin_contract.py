"""The example plug-in family keeps the shared contract. Not collected on its own (no test_ prefix):
tests/families/test_plugin.py runs it in a process where examples/my_family is installed."""
from __future__ import annotations

from tests.families.contract import FamilyContract


class TestMyFamily(FamilyContract):
    family = "my_family"
    variants = {"base": {}, "paper": {"preset": "paper", "width": 24, "in_channels": 1}}
    small_width_factor = 1 / 2
    bad_option = ("width", "wide", ("width",))
