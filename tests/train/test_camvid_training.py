"""A short CamVid run learns something real (the 20-epoch >= 0.35 mIoU target is benchmarks/camvid_baseline.py)."""
from __future__ import annotations

import pytest

from scaler.families import base_spec
from scaler.train import TrainConfig, evaluate_run, train

from tests.conftest import camvid_root_or_skip

#: Predicting the most frequent class (road, ~30% of CamVid pixels) everywhere scores about 0.3 / 11 = 0.03 mIoU.
CHANCE_MIOU = 0.03


@pytest.mark.camvid
def test_short_camvid_run_is_well_above_chance(tmp_path):
    """3 epochs of 15 steps (a random 120-image subset each epoch) of the base U-Net at 96x128."""
    root = camvid_root_or_skip()
    spec = base_spec("unet", width=16, classes=11, input_size=(96, 128))
    cfg = TrainConfig(data="camvid", data_root=str(root), epochs=3, max_steps_per_epoch=15)
    result = train(spec, cfg, tmp_path / "run", progress=False)
    assert result.status == "completed"
    assert result.best["miou"] > 4 * CHANCE_MIOU, result.best
    assert result.best["pa"] > 0.45, result.best  # all-road scores ~0.3
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # The best checkpoint scores what its epoch recorded.
    assert evaluate_run(tmp_path / "run")["miou"] == pytest.approx(result.best["miou"], abs=1e-6)
