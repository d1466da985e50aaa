"""Loading a local state_dict into a model's encoder: own names, torchvision names, and clear refusals."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from scaler import ScalerError, base_spec, build
from scaler.families._pretrained import load_encoder_weights
from scaler.rules import scale_depth, scale_width


def _small(family: str, **options):
    spec = base_spec(family, **options)
    return replace(scale_width(spec, 1 / 8), input_size=(64, 64))


def test_own_encoder_state_dict_round_trips(tmp_path):
    spec = _small("fpn", encoder="resnet18")
    source, target = build(spec), build(spec)
    path = tmp_path / "encoder.pt"
    torch.save(source.encoder.state_dict(), path)
    report = load_encoder_weights(target, path)
    assert report.naming == "scaler" and not (report.missing or report.unexpected or report.mismatched)
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(value, target.encoder.state_dict()[key]), key


def test_whole_model_file_loads_only_the_encoder(tmp_path):
    spec = _small("ednet")
    source, target = build(spec), build(spec)
    path = tmp_path / "model.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    report = load_encoder_weights(target, path, strict=False)
    assert report.unexpected and not report.missing  # the decoder's tensors have no place in the encoder
    assert torch.equal(source.encoder.stages[0].stem[0].weight, target.encoder.stages[0].stem[0].weight)
    with pytest.raises(ScalerError, match="unexpected"):
        load_encoder_weights(target, path)


def _torchvision_resnet18_names() -> list[str]:
    """torchvision resnet18's state_dict names, written out from its architecture."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    names = ["conv1.weight", *(f"bn1.{p}" for p in bn)]
    for layer in range(1, 5):
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            names += [f"{prefix}.conv1.weight", *(f"{prefix}.bn1.{p}" for p in bn),
                      f"{prefix}.conv2.weight", *(f"{prefix}.bn2.{p}" for p in bn)]
            if layer > 1 and block == 0:
                names += [f"{prefix}.downsample.0.weight", *(f"{prefix}.downsample.1.{p}" for p in bn)]
    return names + ["fc.weight", "fc.bias"]


def test_torchvision_resnet_names_load_strictly(tmp_path):
    model = build(base_spec("deeplabv3", encoder="resnet18", input_size=(64, 64)))
    own = model.encoder.state_dict()
    names = _torchvision_resnet18_names()
    mapped = {n: model.encoder.torchvision_key(n) for n in names}
    assert {v for v in mapped.values() if v is not None} == set(own)  # a one-to-one renaming
    assert mapped["fc.weight"] is None
    state = {n: torch.randn(own[m].shape) if own[m].is_floating_point() else own[m].clone()
             for n, m in mapped.items() if m is not None}
    state |= {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    report = load_encoder_weights(model, path)
    assert report.naming == "torchvision" and report.ignored == ("fc.weight", "fc.bias")
    assert torch.equal(model.encoder.stages[3].blocks[0].downsample[0].weight, state["layer4.0.downsample.0.weight"])


def test_scaled_encoders_take_what_fits_only_when_asked(tmp_path):
    spec = _small("deeplabv3", encoder="resnet18")
    path = tmp_path / "base.pt"
    torch.save(build(spec).encoder.state_dict(), path)
    deeper = build(scale_depth(spec, 2.0, "encoder"))
    with pytest.raises(ScalerError, match=r"base\.pt.*missing.*strict=False"):
        load_encoder_weights(deeper, path)
    report = load_encoder_weights(deeper, path, strict=False)  # the base blocks load, the added ones stay at init
    assert report.loaded and all(".blocks.2." in k or ".blocks.3." in k for k in report.missing)
    with pytest.raises(ScalerError, match="mismatched"):  # no weight tensor of a wider encoder fits
        load_encoder_weights(build(scale_width(spec, 1.5)), path, strict=False)


def test_missing_and_unreadable_files_are_named(tmp_path):
    model = build(_small("fpn", encoder="resnet18"))
    with pytest.raises(ScalerError, match="nope.pt.*does not exist"):
        load_encoder_weights(model, tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ScalerError, match="junk.pt"):
        load_encoder_weights(model, junk)


def test_ednet_takes_a_torchvision_resnet_strictly_and_leaves_its_added_modules_at_init(tmp_path):
    model = build(base_spec("ednet", encoder="resnet18", input_size=(64, 64)))
    own = model.encoder.state_dict()
    state = {n: torch.randn(own[m].shape) if own[m].is_floating_point() else own[m].clone()
             for n in _torchvision_resnet18_names() if (m := model.encoder.torchvision_key(n)) is not None}
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    spatial = model.encoder.spatial.blocks[0].conv[0].weight.clone()
    report = load_encoder_weights(model, path)  # strict: the SIM and GPM are EDNet's own, not missing
    assert report.added and all(k.startswith(("spatial.", "gpm.")) for k in report.added)
    assert {k.split(".")[0] for k in report.added} == {"spatial", "gpm"} and not report.missing
    assert torch.equal(model.encoder.spatial.blocks[0].conv[0].weight, spatial)
    assert torch.equal(model.encoder.stages[0].stem[0].weight, state["conv1.weight"])
