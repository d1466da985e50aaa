"""The trainer on the multimodal family and paired shape_reports data: both heads end to end, their scores,
the best-epoch key, data checks against the text branch, and `scaler train` / `scaler evaluate` on them."""
from __future__ import annotations

import json
import math

import pytest
import torch

from scaler.data import make_dataset
from scaler.errors import ConfigError, ScalerError
from scaler.families import base_spec
from scaler.report import paper_table, records_from_runs, table_markdown, write_report
from scaler.train import CLASSIFICATION, SEGMENTATION, TrainConfig, evaluate_run, plan_run, task_of, train
from scaler.train import _loop
from scaler.train._data import check_data, class_weights

from tests.cli_helpers import run_cli

DATA_OPTIONS = {"length": 16, "source_size": 32}
#: A tiny multimodal network: an 8-wide 3-level U-Net image encoder and a 16-wide text branch.
TINY = {"image_encoder": "unet", "levels": 3, "width": 8, "embed_dim": 16, "hidden_size": 16}
CLASSIFICATION_KEYS = {"accuracy", "macro_recall", "macro_precision", "macro_f1", "recall_per_class",
                       "precision_per_class", "f1_per_class"}


def config(**changes) -> TrainConfig:
    """A tiny run: 4 steps of batch 4 per epoch, no augmentation (paired data refuses it)."""
    base = dict(data="shape_reports", data_options=DATA_OPTIONS, epochs=2, batch_size=4, augment=False,
                timing_warmup_steps=1)
    return TrainConfig(**{**base, **changes})


def plan(head: str, cfg: TrainConfig | None = None, **options):
    """The planned run of a tiny network with `head` on the config's data (classes, vocabulary from the data)."""
    return plan_run(cfg or config(), family="multimodal", base_options={**TINY, "head": head, **options})


def test_plan_sizes_the_network_from_the_paired_data():
    """Classes follow the head (4 labels; 5 mask classes with background), the text branch the vocabulary."""
    cls, seg = plan("classification"), plan("segmentation")
    assert (cls.spec.classes, seg.spec.classes) == (4, 5)
    assert task_of(cls.spec) is CLASSIFICATION and task_of(seg.spec) is SEGMENTATION
    vocabulary = cls.train_ds.vocab_size
    assert cls.spec.option("vocab_size") == vocabulary == seg.spec.option("vocab_size") < 100
    assert cls.spec.option("max_tokens") == cls.train_ds.max_tokens == 16


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory):
    """(planned run, result) of a tiny classification run of 2 epochs."""
    planned = plan("classification", fusion_width=16)
    out = tmp_path_factory.mktemp("classification") / "fused-seed0"
    return planned, train(planned.spec, config(), out, progress=False, train_ds=planned.train_ds,
                          val_ds=planned.val_ds)


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory):
    """(planned run, result) of a tiny segmentation run of 1 epoch under the default loss and class weights."""
    planned = plan("segmentation")
    out = tmp_path_factory.mktemp("segmentation") / "seg-seed0"
    return planned, train(planned.spec, config(epochs=1), out, progress=False, train_ds=planned.train_ds,
                          val_ds=planned.val_ds)


def test_classification_head_trains_and_selects_by_accuracy(classification_run):
    planned, result = classification_run
    assert result.status == "completed" and result.epochs_run == 2
    for record in result.history:
        assert CLASSIFICATION_KEYS <= set(record) and "miou" not in record
        assert 0.0 <= record["accuracy"] <= 1.0 and len(record["f1_per_class"]) == 4
    assert set(result.best) == {"epoch", *CLASSIFICATION_KEYS}
    assert result.best["accuracy"] == max(r["accuracy"] for r in result.history)
    evaluated = evaluate_run(result.run_dir)
    assert evaluated["task"] == "classification" and evaluated["epoch"] == result.best["epoch"]
    assert evaluated["accuracy"] == pytest.approx(result.best["accuracy"])
    assert evaluated["class_names"] == list(planned.train_ds.class_names)


def test_segmentation_head_trains_on_the_masks(segmentation_run):
    planned, result = segmentation_run
    # the default loss and class weights: focal with inverse-frequency alpha of the mask pixels
    weights = class_weights(config(), planned.train_ds, SEGMENTATION)
    assert weights is not None and weights.shape == (5,) and weights[0] < weights[1:].min()  # background is common
    assert result.status == "completed"
    assert {"pa", "mpa", "miou"} <= set(result.best) and len(result.best["iou_per_class"]) == 5
    evaluated = evaluate_run(result.run_dir)
    assert evaluated["task"] == "segmentation" and evaluated["miou"] == pytest.approx(result.best["miou"])
    assert evaluated["class_names"][0] == "background" and len(evaluated["class_names"]) == 5


def test_early_stopping_follows_accuracy(tmp_path, monkeypatch):
    """The best epoch and patience read accuracy for a classification run (scripted scores)."""
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    evaluate = _loop.evaluate
    monkeypatch.setattr(_loop, "evaluate", lambda *a, **k: {**evaluate(*a, **k), "accuracy": next(scores)})
    planned = plan("classification", fusion_width=16)
    result = train(planned.spec, config(epochs=5, early_stop_patience=2, max_steps_per_epoch=1), tmp_path / "run",
                   progress=False, train_ds=planned.train_ds, val_ds=planned.val_ds)
    assert result.status == "early_stopped" and result.epochs_run == 4 and result.best["epoch"] == 2
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["epoch"] == 2


def test_classification_weights_count_labels():
    planned = plan("classification")
    weights = class_weights(config(), planned.train_ds, CLASSIFICATION)
    counts = torch.bincount(planned.train_ds.labels, minlength=4).float()
    expected = 1.0 / torch.log(1.02 + counts / counts.sum())  # the modified inverse frequency (ENet)
    assert torch.allclose(weights, expected)


def test_dice_is_refused_for_classification(tmp_path):
    planned = plan("classification")
    with pytest.raises(ConfigError, match=r"loss .dice. does not apply to classification .*; valid: ce, focal"):
        train(planned.spec, config(loss="dice"), tmp_path / "run", progress=False, train_ds=planned.train_ds,
              val_ds=planned.val_ds)
    assert not (tmp_path / "run" / "spec.json").exists()


@pytest.mark.parametrize("option, value, message", [
    ("vocab_size", 5, "has vocab_size .* but the network takes 5"),
    ("max_tokens", 8, "has max_tokens 16 but the network takes 8"),
    ("classes", 3, "the classification network has 3 classes but the train data has 4"),
])
def test_check_data_refuses_a_network_the_data_does_not_fit(option, value, message):
    ds = make_dataset("shape_reports", "train", **DATA_OPTIONS)
    options = {**TINY, "classes": 4, "input_size": (32, 32), "vocab_size": ds.vocab_size, "max_tokens": 16}
    spec = base_spec("multimodal", **{**options, option: value})
    with pytest.raises(ScalerError, match=message):
        check_data(spec, ds, "train")


def test_check_data_refuses_paired_data_for_an_image_only_network():
    ds = make_dataset("shape_reports", "train", **DATA_OPTIONS)
    with pytest.raises(ScalerError, match="reads no reports; valid: a family with a text branch"):
        check_data(base_spec("unet", width=4, levels=3, classes=4, input_size=(32, 32)), ds, "train")


def test_cli_trains_and_evaluates_both_heads(capsys, tmp_path):
    common = ("--model", "multimodal", "--data", "shape_reports", "--base-width", "8", "--option", "image_encoder=unet",
              "--option", "levels=3", "--option", "embed_dim=16", "--option", "hidden_size=16", "--data-option",
              "length=16", "--batch-size", "4", "--epochs", "1", "--no-augment", "--no-progress")
    cls = run_cli(capsys, "train", *common, "--class-weights", "none", "--out", tmp_path / "cls")
    assert cls.returncode == 0, cls.stderr
    assert "best val accuracy" in cls.stdout and "macro F1" in cls.stdout and "mIoU" not in cls.stdout
    seg = run_cli(capsys, "train", *common, "--option", "head=segmentation", "--out", tmp_path / "seg")
    assert seg.returncode == 0, seg.stderr
    assert "best val mIoU" in seg.stdout
    shown = run_cli(capsys, "evaluate", tmp_path / "cls")
    assert shown.returncode == 0 and "accuracy" in shown.stdout and "precision" in shown.stdout
    assert "blue_large" in shown.stdout
    as_json = json.loads(run_cli(capsys, "evaluate", tmp_path / "seg", "--json").stdout)
    assert as_json["task"] == "segmentation" and len(as_json["iou_per_class"]) == 5
    refused = run_cli(capsys, "train", *common[:-2], "--no-progress", "--out", tmp_path / "aug")
    assert refused.returncode == 2 and "augmentation is not offered" in refused.stderr
    image_only = run_cli(capsys, "train", "--data", "shape_reports", "--no-augment", "--out", tmp_path / "unet")
    assert image_only.returncode == 2 and "the unet network reads no reports" in image_only.stderr
    assert not (tmp_path / "unet").exists()


def test_report_picks_the_metric_by_task(classification_run, segmentation_run, tmp_path):
    """Records carry the task and its scores; tables label accuracy/recall/F1 or PA/mIoU; the summary ranks by
    the task's headline (accuracy when every run classifies)."""
    (_, cls), (_, seg) = classification_run, segmentation_run
    records = records_from_runs([cls.run_dir, seg.run_dir])
    by_task = records.set_index("task")
    assert by_task.loc["classification", "accuracy"] == pytest.approx(cls.best["accuracy"])
    assert by_task.loc["classification", "macro_f1"] == pytest.approx(cls.best["macro_f1"])
    assert math.isnan(by_task.loc["classification", "miou"]) and math.isnan(by_task.loc["segmentation", "accuracy"])
    assert by_task.loc["segmentation", "miou"] == pytest.approx(seg.best["miou"])
    mixed = table_markdown(paper_table(records))
    assert "| Accuracy (%) | Macro recall (%) | Macro F1 (%) | Accuracy 95% CI |" in mixed and "mIoU (%)" in mixed
    only = records_from_runs([cls.run_dir])
    table = table_markdown(paper_table(only))
    assert "Accuracy (%)" in table and "mIoU" not in table and "Pixel accuracy" not in table
    assert f"{100 * cls.best['accuracy']:.2f}" in table
    rep = write_report(only, tmp_path / "report")
    assert rep.summary.accuracy == "accuracy" and "accuracy_vs_params" in rep.frames
    assert (tmp_path / "report" / "plots" / "curve_accuracy.png").is_file()
    assert write_report(records, tmp_path / "mixed").summary.accuracy == "miou"  # mixed tasks: mIoU, as before
