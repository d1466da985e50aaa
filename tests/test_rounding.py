"""The one rounding module: channels, depths, input sides."""
from __future__ import annotations

import pytest

from scaler.errors import SpecError
from scaler.rounding import make_divisible, round_depth, round_depths, snap_size


@pytest.mark.parametrize("value, expected", [(64, 64), (89.6, 88), (90.5, 88), (92.1, 96), (7, 8), (1448.1, 1448)])
def test_make_divisible(value, expected):
    assert make_divisible(value) == expected


def test_make_divisible_never_loses_more_than_ten_percent():
    for tenth in range(80, 4000):
        value = tenth / 10
        assert make_divisible(value) >= 0.9 * value
        assert make_divisible(value) % 8 == 0


def test_round_depth_ceil_and_float_noise():
    assert round_depth(2, 1.5) == 3
    assert round_depth(2, 1.5000001) == 4
    assert round_depth(3, 0.1) == 1


def test_policies_agree_on_whole_numbers_and_stagewise_is_finer():
    depths = (2, 2, 2, 2, 2)
    for factor in (1.0, 1.5, 2.0, 3.0):
        assert round_depths(depths, factor, "uniform") == round_depths(depths, factor, "stagewise")
    assert round_depths(depths, 1.6, "uniform") == (4, 4, 4, 4, 4)
    assert round_depths(depths, 1.6, "stagewise") == (4, 3, 3, 3, 3)


def test_stagewise_is_monotone_and_never_below_base():
    depths = (3, 4, 6, 3)
    previous = depths
    for step in range(100, 400):
        current = round_depths(depths, step / 100, "stagewise")
        assert all(c >= p for c, p in zip(current, previous))
        assert all(c >= d for c, d in zip(current, depths))
        previous = current


def test_floor_is_the_papers_wdr():
    from scaler import Factors, apply_factors, base_spec, complexity

    assert round_depths((2, 2), 1.8, "floor") == (3, 3)
    assert round_depths((2, 2), 2.0, "floor") == (4, 4)
    base = base_spec("unet", classes=19)
    wdr = apply_factors(base, Factors.uniform(1.8, 1.16, 1.4), "floor")
    awdr = apply_factors(base, Factors(encoder_depth=1.8, encoder_width=1.16, resolution=1.4), "floor")
    assert complexity(wdr).params / 1e6 == pytest.approx(62.8, rel=0.01)   # the paper's WDR
    assert complexity(awdr).params / 1e6 == pytest.approx(55.2, rel=0.01)  # the paper's AWDR


def test_unknown_policy():
    with pytest.raises(SpecError, match="valid: stagewise, uniform, floor"):
        round_depths((2,), 1.5, "greedy")


def test_snap_size():
    assert snap_size((512, 1024), 1.4, 16) == (720, 1440)
    assert snap_size((96, 128), 1.0, 16) == (96, 128)
    assert snap_size((16, 16), 0.1, 16) == (16, 16)
