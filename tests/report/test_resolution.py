"""The attention fusion's extra MACs vs input resolution: computed as a frame (checked here), then drawn."""
from __future__ import annotations

import pytest

from scaler.report import draw_resolution, resolution_frame


@pytest.fixture(scope="module")
def frame():
    return resolution_frame(resolutions=(512, 1024))


def test_the_attention_adds_no_params_and_its_macs_grow_with_the_pixels(frame):
    assert set(frame["extra_params"]) == {0}
    assert (frame["extra_gmacs"] > 0).all()
    assert (frame["gmacs_with"] - frame["gmacs_without"]).round(9).equals(frame["extra_gmacs"].round(9))
    fpn = frame[frame["host"] == "FPN"].set_index("side")["extra_gmacs"]
    assert fpn[1024] == pytest.approx(4 * fpn[512], rel=1e-12)  # every attended map is 4x the pixels


def test_deeplabv3_attends_the_concatenated_aspp_map_at_stride_16(frame):
    """Five ASPP branches of 256 channels at 512 / 16 = 32: one multiply per element, C x H x W MACs."""
    row = frame[(frame["host"] == "DeepLabV3") & (frame["side"] == 512)].iloc[0]
    assert row["extra_gmacs"] * 1e9 == pytest.approx(5 * 256 * 32 * 32)


def test_draw_writes_png_and_svg(frame, tmp_path):
    paths = draw_resolution(frame, tmp_path / "resolution")
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size > 0 for p in paths)
