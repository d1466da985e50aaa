"""`scaler train`'s flags: every TrainConfig field reachable, the TOML path's error text, ScalingOptions applied."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scaler.commands import train as train_command
from scaler.commands._train_options import flag_name
from scaler.errors import ScalerError
from scaler.families import base_spec
from scaler.io import load_spec
from scaler.scaling import ScalingOptions
from scaler.study import load_study_config
from scaler.train import TrainConfig

from tests.cli_helpers import run_cli

TINY = ("--base-width", "4", "--option", "levels=3", "--input", "32x32", "--data-option", "length=8",
        "--data-option", "source_size=32x32", "--batch-size", "4", "--no-progress", "--epochs", "1",
        "--max-steps-per-epoch", "1")
BASE = base_spec("unet", width=4, levels=3, classes=5, input_size=(32, 32))
#: A valid non-default value for each string field (a new string field must be added here to be tested).
STRING_VALUES = {"data": "camvid", "data_root": "/data/x", "optimizer": "sgd", "loss": "ce", "class_weights": "none",
                 "device": "cpu", "amp": "off", "pretrained": "/weights/resnet50.pth", "eval_split": "test"}


def _cli_value(field: dataclasses.Field) -> tuple[list[str], object]:
    """(command-line words, the value TrainConfig must then hold) for a non-default value of `field`."""
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    kind = str(field.type).split("|")[0].split("[")[0].strip()
    flag = flag_name(field.name)
    if kind == "bool":
        value = not default if default is not None else True
        return [flag if value else f"--no-{flag[2:]}"], value
    if kind == "dict":
        return [flag, "length=5"], {"length": 5}
    if kind == "int":
        return [flag, "3"], 3
    if kind == "float":
        return [flag, "0.5"], 0.5
    assert field.name in STRING_VALUES, f"no CLI test value for the string field {field.name!r}"
    return [flag, STRING_VALUES[field.name]], STRING_VALUES[field.name]


@pytest.mark.parametrize("field", dataclasses.fields(TrainConfig), ids=lambda f: f.name)
def test_every_train_config_field_is_a_flag(capsys, monkeypatch, field):
    seen = {}

    def stop(cfg, scaling, flags):
        seen["cfg"] = cfg
        raise ScalerError("stopped before loading data")

    monkeypatch.setattr(train_command, "_plan", stop)
    words, expected = _cli_value(field)
    assert getattr(TrainConfig(), field.name) != expected
    out = run_cli(capsys, "train", *words)
    assert "stopped before loading data" in out.stderr, out.stderr
    assert getattr(seen["cfg"], field.name) == expected


def _toml_error(tmp_path: Path, key: str, value: str) -> str:
    study = tmp_path / "s.toml"
    study.write_text(f"[study]\nname = \"s\"\n[train]\n{key} = {value}\n")
    with pytest.raises(ScalerError) as info:
        load_study_config(study)
    return str(info.value)


@pytest.mark.parametrize("key, cli_value, toml_value, text", [
    ("epochs", "0", "0", "epochs must be an integer >= 1, got epochs=0"),
    ("lr", "abc", '"abc"', "lr must be a finite number > 0 or null, got lr='abc'"),
    ("momentum", "1.5", "1.5", "momentum must be in [0, 1), got momentum=1.5"),
    ("optimizer", "adam", '"adam"', "unknown optimizer 'adam'; valid: adamw, sgd"),
])
def test_a_bad_value_reads_as_in_a_study_file(capsys, tmp_path, key, cli_value, toml_value, text):
    out = run_cli(capsys, "train", flag_name(key), cli_value)
    assert out.returncode == 2 and out.stderr == f"error: {text}\n"
    assert _toml_error(tmp_path, key, toml_value).endswith(text)


@pytest.mark.parametrize("args, options, default", [
    (("--method", "compound", "--budget", "params=2x", "--ratio", "1,2,1"),
     ScalingOptions.parse("compound", ["params=2x"], ratio="1,2,1"), ScalingOptions.parse("compound", ["params=2x"])),
    (("--method", "depth", "--budget", "params=2x", "--depth-rounding", "uniform"),
     ScalingOptions.parse("depth", ["params=2x"], depth_rounding="uniform"), ScalingOptions.parse("depth", ["params=2x"])),
    (("--method", "depth", "--budget", "params=1.5x", "--tolerance", "0.1"),
     ScalingOptions.parse("depth", ["params=1.5x"], tolerance=0.1), ScalingOptions.parse("depth", ["params=1.5x"])),
])
def test_train_solves_with_the_scaling_options(capsys, tmp_path, args, options, default):
    """The trained network is the one ScalingOptions solves, and the option changed it from the default's."""
    out = run_cli(capsys, "train", *TINY, *args, "--out", tmp_path / "run")
    assert out.returncode == 0, out.stderr
    expected = options.scale(BASE).spec
    assert load_spec(tmp_path / "run" / "spec.json") == expected
    assert expected != default.scale(BASE).spec
