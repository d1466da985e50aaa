"""The papers' training recipes: per-group learning rates, pretrained encoders, crops off the stride, test splits, TTA."""
from __future__ import annotations

import json

import pytest
import torch

from scaler.data import make_dataset
from scaler.errors import ConfigError, DataError, ScalerError
from scaler.families import base_spec, build
from scaler.inference import parse_tta, predict
from scaler.metrics import ConfusionMatrix
from scaler.report import records_from_runs
from scaler.train import TrainConfig, evaluate_run, load_run, train
from scaler.train._checkpoint import load_checkpoint
from tests.cli_helpers import run_cli
from tests.data.fakes import make_folder

SIZE = (32, 32)
DATA_OPTIONS = {"length": 8, "source_size": list(SIZE)}


@pytest.fixture(scope="module")
def spec():
    return base_spec("unet", width=4, levels=3, classes=5, input_size=SIZE)


def config(**changes) -> TrainConfig:
    """Two SGD steps of batch 4 (SGD: a parameter with lr 0 does not move, weight decay included)."""
    base = dict(data="shapes", data_options=DATA_OPTIONS, epochs=1, batch_size=4, optimizer="sgd", lr=0.05,
                warmup_epochs=0.0, timing_warmup_steps=0, device="cpu", amp="off")
    return TrainConfig(**{**base, **changes})


def encoder_and_rest(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The model's parameters split into the encoder's and the rest, as copies."""
    encoder = {"encoder." + k for k, _ in model.encoder.named_parameters()}
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    return ({k: v for k, v in params.items() if k in encoder}, {k: v for k, v in params.items() if k not in encoder})


def trained_model(spec, run_dir) -> torch.nn.Module:
    """The model of a run's last checkpoint."""
    model = build(spec)
    model.load_state_dict(load_checkpoint(run_dir / "last.pt")["model"])
    return model


def initial_model(spec, seed: int = 0) -> torch.nn.Module:
    """The model `train` starts from with this seed (it seeds torch, then builds)."""
    torch.manual_seed(seed)
    return build(spec)


def test_encoder_lr_mult_makes_two_groups_scaled_by_the_schedule(spec, tmp_path):
    """The encoder's group runs at lr x mult at every step; the history's lr is the rest's."""
    train(spec, config(encoder_lr_mult=0.1, epochs=2, warmup_epochs=1.0), tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "last.pt")
    groups = state["optimizer"]["param_groups"]
    assert [g["lr_mult"] for g in groups] == [0.1, 1.0]
    assert groups[0]["lr"] == pytest.approx(0.1 * groups[1]["lr"]) and groups[1]["lr"] > 0
    assert state["history"][-1]["lr"] == pytest.approx(groups[1]["lr"])
    model = build(spec)
    assert len(groups[0]["params"]) == len(list(model.encoder.parameters()))
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))


def test_a_zero_encoder_lr_freezes_the_encoder_and_trains_the_rest(spec, tmp_path):
    start_encoder, start_rest = encoder_and_rest(initial_model(spec))
    train(spec, config(encoder_lr_mult=0.0), tmp_path / "frozen", progress=False)
    encoder, rest = encoder_and_rest(trained_model(spec, tmp_path / "frozen"))
    assert all(torch.equal(encoder[k], start_encoder[k]) for k in encoder)
    assert any(not torch.equal(rest[k], start_rest[k]) for k in rest)
    train(spec, config(), tmp_path / "plain", progress=False)  # the default: one group, the encoder trains
    encoder, _ = encoder_and_rest(trained_model(spec, tmp_path / "plain"))
    assert any(not torch.equal(encoder[k], start_encoder[k]) for k in encoder)


def test_pretrained_weights_are_loaded_into_the_encoder_before_training(spec, tmp_path):
    """A frozen encoder ends exactly as the file has it (not the seeded init); a relative path is stored absolute."""
    donor = initial_model(spec, seed=123)
    torch.save(donor.encoder.state_dict(), tmp_path / "encoder.pt")
    file_encoder, _ = encoder_and_rest(donor)
    init_encoder, _ = encoder_and_rest(initial_model(spec))
    assert any(not torch.equal(file_encoder[k], init_encoder[k]) for k in file_encoder)
    cfg = config(encoder_lr_mult=0.0, pretrained=str(tmp_path / "encoder.pt"))
    train(spec, cfg, tmp_path / "run", progress=False)
    encoder, _ = encoder_and_rest(trained_model(spec, tmp_path / "run"))
    assert all(torch.equal(encoder[k], file_encoder[k]) for k in encoder)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["pretrained"] == str(tmp_path / "encoder.pt") and saved["encoder_lr_mult"] == 0.0


def test_a_pretrained_file_that_does_not_fit_fails_before_any_run_file(spec, tmp_path):
    other = base_spec("unet", width=8, levels=3, classes=5, input_size=SIZE)
    torch.save(build(other).encoder.state_dict(), tmp_path / "wide.pt")
    with pytest.raises(ScalerError, match="wide.pt.*do not fit"):
        train(spec, config(pretrained=str(tmp_path / "wide.pt")), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.parametrize("changes, named", [
    ({"encoder_lr_mult": -0.1}, "encoder_lr_mult"), ({"eval_split": "val"}, "eval_split"),
    ({"pretrained": ""}, "pretrained"),
])
def test_bad_recipe_values_name_the_key(changes, named):
    with pytest.raises(ConfigError, match=named):
        config(**changes)


def test_cli_pretrained_and_encoder_lr_flags(spec, tmp_path, capsys):
    donor = initial_model(spec, seed=7)
    torch.save({"state_dict": donor.encoder.state_dict()}, tmp_path / "whole.pt")  # wrapped, as checkpoints are
    result = run_cli(capsys, "train", "--model", "unet", "--base-width", "4", "--option", "levels=3",
                     "--classes", "5", "--input", "32x32", "--data", "shapes", "--data-option", "length=8",
                     "--data-option", "source_size=32x32", "--epochs", "1", "--batch-size", "4",
                     "--optimizer", "sgd", "--encoder-lr-mult", "0", "--pretrained", str(tmp_path / "whole.pt"),
                     "--device", "cpu", "--amp", "off", "--no-progress", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    encoder, _ = encoder_and_rest(trained_model(spec, tmp_path / "run"))
    file_encoder, _ = encoder_and_rest(donor)
    assert all(torch.equal(encoder[k], file_encoder[k]) for k in encoder)


def test_study_file_pretrained_is_relative_to_the_file(tmp_path):
    from scaler.study import load_study_config

    (tmp_path / "weights").mkdir()
    (tmp_path / "s.toml").write_text('[study]\nname = "s"\nsearch_space = "space.toml"\nn_trials = 1\n'
                                     '[train]\npretrained = "weights/r50.pt"\nencoder_lr_mult = 0.1\n')
    (tmp_path / "space.toml").write_text('method = {choices = ["baseline"]}\n')
    cfg = load_study_config(tmp_path / "s.toml").train
    assert cfg.pretrained == str(tmp_path / "weights" / "r50.pt") and cfg.encoder_lr_mult == 0.1


def test_random_scale_and_a_crop_off_the_stride_train_a_stride_32_net(tmp_path):
    """A 38x38 crop (not a multiple of 32) of a 64x64 input: the model pads to 64 and crops its logits back."""
    spec = base_spec("fcn_resnet", encoder="resnet18", width=8, classes=4, input_size=(64, 64))
    assert spec.total_stride == 32
    options = {"length": 8, "source_size": [64, 64], "num_classes": 4, "crop_size": [38, 38],
               "scale_range": [0.5, 2.0]}
    ds = make_dataset("shapes", "train", input_size=(64, 64), augment=True, **options)
    assert ds[0][0].shape == (3, 38, 38) and ds[0][1].shape == (38, 38)
    assert build(spec)(ds[0][0][None]).shape == (1, 4, 38, 38)
    result = train(spec, config(data_options=options, epochs=2), tmp_path, progress=False)
    assert result.status == "completed" and result.epochs_run == 2
    assert all(r["train_loss"] == r["train_loss"] for r in result.history)  # finite, not NaN
    val = make_dataset("shapes", "val", input_size=(64, 64), **options)
    assert val[0][0].shape == (3, 64, 64)  # val items stay at the input size


# -- test split: selected on val, reported on test ---------------------------------------------------------------


def folder_config(root, **changes) -> TrainConfig:
    """A folder dataset (fakes: 16x32 RGB, 3 classes) with train, val and test splits."""
    base = dict(data="folder", data_root=str(root), data_options={"num_classes": 3}, epochs=2, batch_size=2,
                timing_warmup_steps=0, device="cpu", amp="off")
    return TrainConfig(**{**base, **changes})


@pytest.fixture
def folder_root(tmp_path):
    for split, count in (("train", 4), ("val", 3), ("test", 5)):
        make_folder(tmp_path / "data", split, count=count)
    return tmp_path / "data"


@pytest.fixture(scope="module")
def folder_spec():
    return base_spec("unet", width=4, levels=3, classes=3, input_size=(16, 32))


def test_eval_split_scores_the_val_selected_checkpoint_on_test(folder_spec, folder_root, tmp_path):
    result = train(folder_spec, folder_config(folder_root, eval_split="test"), tmp_path / "run", progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"] == result.test and result.test["split"] == "test"
    assert result.test["epoch"] == result.best["epoch"]
    expected = evaluate_run(tmp_path / "run", split="test", checkpoint="best")
    assert result.test["miou"] == pytest.approx(expected["miou"]) and result.test["pa"] == pytest.approx(expected["pa"])
    val = evaluate_run(tmp_path / "run", split="val", checkpoint="best")
    assert val["miou"] == pytest.approx(result.best["miou"]) and val["pa"] != pytest.approx(expected["pa"])
    assert load_run(tmp_path / "run").test == result.test
    row = records_from_runs([tmp_path / "run"], evaluation="test").iloc[0]
    assert row["miou"] == pytest.approx(result.test["miou"])


def test_without_eval_split_no_test_score_and_a_finished_run_gains_one_on_rerun(folder_spec, folder_root, tmp_path):
    result = train(folder_spec, folder_config(folder_root), tmp_path / "run", progress=False)
    assert result.test is None and json.loads((tmp_path / "run" / "metrics.json").read_text())["test"] is None
    again = train(folder_spec, folder_config(folder_root, eval_split="test"), tmp_path / "run", progress=False)
    assert again.history == result.history and again.test["split"] == "test"  # not retrained, only scored


def test_eval_split_missing_from_the_data_fails_before_training(folder_spec, folder_root, tmp_path):
    import shutil

    shutil.rmtree(folder_root / "test")
    with pytest.raises(DataError, match="no 'test' split"):
        train(folder_spec, folder_config(folder_root, eval_split="test"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "config.json").exists()


def test_cli_train_eval_split_and_evaluate_test(folder_root, tmp_path, capsys):
    result = run_cli(capsys, "train", "--model", "unet", "--base-width", "4", "--option", "levels=3",
                     "--input", "16x32", "--data", "folder", "--data-root", str(folder_root), "--data-option",
                     "num_classes=3", "--epochs", "1", "--batch-size", "2", "--eval-split", "test",
                     "--device", "cpu", "--amp", "off", "--no-progress", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "test split, best val checkpoint (epoch 1): mIoU" in result.stdout
    result = run_cli(capsys, "evaluate", str(tmp_path / "run"), "--split", "test", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["miou"] == pytest.approx(load_run(tmp_path / "run").test["miou"])


# -- test-time augmentation ---------------------------------------------------------------------------------------


def test_evaluate_with_tta_matches_predict_by_hand_and_is_labelled(folder_spec, folder_root, tmp_path, capsys):
    train(folder_spec, folder_config(folder_root, epochs=1), tmp_path / "run", progress=False)
    tta = parse_tta("scales=0.5,1,1.5", flip=True)
    scored = evaluate_run(tmp_path / "run", split="val", tta=tta)
    assert scored["tta"] == "ms 0.5,1,1.5 + flip"
    model = build(folder_spec)
    model.load_state_dict(load_checkpoint(tmp_path / "run" / "best.pt")["model"])
    model.eval()
    ds = make_dataset("folder", "val", root=folder_root, input_size=(16, 32), num_classes=3)
    matrix = ConfusionMatrix(3, ds.ignore_index, torch.device("cpu"))
    with torch.inference_mode():
        for image, mask in ds:
            matrix.update(predict(model, image[None], tta), mask[None])
    assert scored["miou"] == pytest.approx(matrix.compute()["miou"], abs=1e-6)
    single = evaluate_run(tmp_path / "run", split="val")
    assert single["tta"] == "single-scale"
    result = run_cli(capsys, "evaluate", str(tmp_path / "run"), "--tta", "paper", "--flip")
    assert result.returncode == 0, result.stderr
    assert "ms 0.5,0.75,1,1.25,1.5,1.75,2 + flip: mIoU" in result.stdout
    result = run_cli(capsys, "evaluate", str(tmp_path / "run"), "--tta", "sizes=1,2")
    assert result.returncode == 2 and "unknown test-time option 'sizes'" in result.stderr


# -- paper recipe files: a fixed list of networks under one recipe ------------------------------------------------

RECIPE = """
[recipe]
name = "tiny"
input_size = [32, 32]
classes = 5
seeds = 1

[data]
name = "shapes"
options = {length = 8, source_size = [32, 32], crop_size = [20, 20]}

[train]
epochs = 1
batch_size = 4
optimizer = "sgd"
encoder_lr_mult = 0.1
device = "cpu"
amp = "off"

[[network]]
name = "plain"
family = "unet"
options = {width = 4, levels = 3}

[[network]]
name = "+ avg"
family = "unet"
options = {width = 4, levels = 3, fusion_attention = "avg"}
"""


def test_a_recipe_trains_each_named_network_and_reports_them(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(RECIPE)
    result = run_cli(capsys, "recipe", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "reproduce.json").read_text())
    assert [r["network"] for r in manifest["runs"]] == ["plain", "+ avg"]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| plain |" in table and "| + avg |" in table
    config = json.loads((tmp_path / "out" / "runs" / "01_avg-seed0" / "config.json").read_text())
    assert config["encoder_lr_mult"] == 0.1 and config["data_options"]["crop_size"] == [20, 20]
    again = run_cli(capsys, "recipe", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"))
    assert again.returncode == 0 and again.stdout.count("skipped") == 2  # finished runs are not retrained


@pytest.mark.parametrize("edit, named", [
    (("[recipe]", "[recipes]"), "unknown table"),
    (('family = "unet"\noptions = {width = 4, levels = 3}\n', 'family = "unet"\noptions = {levels = 99}\n'), "levels"),
    (('name = "+ avg"', 'name = "plain"'), "repeat"),
    (("seeds = 1", "seeds = 0"), "seeds"),
])
def test_bad_recipe_files_name_the_problem(tmp_path, capsys, edit, named):
    (tmp_path / "r.toml").write_text(RECIPE.replace(*edit))
    result = run_cli(capsys, "recipe", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and named in result.stderr and str(tmp_path / "r.toml") in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["ednet_ablation", "attention_hosts", "fcn_vgg_ablation"])
def test_the_committed_paper_recipes_load(name):
    from pathlib import Path

    from scaler.report import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "studies" / f"{name}.toml")
    assert len(recipe.networks) >= 5 and recipe.config.data == "camvid"


def test_a_recipe_with_a_missing_data_root_fails_once_before_writing(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(RECIPE.replace('name = "shapes"', 'name = "camvid"\nroot = "nowhere"')
                                     .replace(", crop_size = [20, 20]", "").replace("length = 8, source_size = [32, 32]", ""))
    result = run_cli(capsys, "recipe", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and str(tmp_path / "nowhere") in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # no run, no manifest
    result = run_cli(capsys, "recipe", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"), "--data-root",
                     str(tmp_path / "elsewhere"))
    assert result.returncode == 2 and str(tmp_path / "elsewhere") in result.stderr  # --data-root wins


def test_a_study_with_eval_split_test_reports_its_trials_on_test(folder_root, tmp_path, capsys):
    from scaler.report import records_from_study
    from scaler.study import load_study_config
    from tests.study.fakes import write_study

    path = write_study(tmp_path / "s", {"method": {"choices": ["baseline"]}},
                       network={"width": 4, "levels": 3, "input_size": [16, 32], "classes": 3},
                       data={"name": "folder", "root": str(folder_root), "options": {"num_classes": 3}},
                       train={"epochs": 1, "batch_size": 2, "timing_warmup_steps": 0, "eval_split": "test"})
    result = run_cli(capsys, "study", "run", str(path), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    config = load_study_config(path)
    frame = records_from_study(config.storage, config.name, evaluation="test")
    run_dir = frame.iloc[0]["run_dir"]
    assert frame.iloc[0]["miou"] == pytest.approx(load_run(run_dir).test["miou"])
