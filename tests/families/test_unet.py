"""The U-Net keeps the family contract."""
from __future__ import annotations

from tests.families.contract import FamilyContract


class TestUNet(FamilyContract):
    family = "unet"
    base_options = {"width": 64, "classes": 2, "input_size": (256, 512)}
    small_width_factor = 1 / 4
    bad_option = ("activation", "gelu", ("elu", "relu"))
    checks_option_names = False  # the U-Net reads only the options it knows
