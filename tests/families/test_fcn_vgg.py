"""FCN-VGG16 with ASPP and SE keeps the family contract with every switch; the paper preset lands near the
paper's sizes; torchvision vgg16_bn weights load into its encoder."""
from __future__ import annotations

import pytest
import torch

from scaler import base_spec, build, complexity
from scaler.families._pretrained import load_encoder_weights
from tests.families.contract import FamilyContract, numel

#: Conv indices of torchvision's vgg16_bn `features` (conv, BN, ReLU per unit; a max pool per block).
VGG16_BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)
#: The FCN-VGG16 paper's sizes: with skips and without.
PAPER_PARAMS, PAPER_NO_SKIPS = 1.63e6, 1.58e6


class TestFCNVGG(FamilyContract):
    family = "fcn_vgg"
    variants = {"base": {"classes": 21}, "paper": {"preset": "paper"},
                "paper-no-skips": {"preset": "paper", "skips": False},
                "no-se+concat": {"se": False}, "no-aspp+avg": {"aspp": False, "fusion_attention": "avg"}}
    bad_option = ("aspp_rates", (6, 0), ("integers >= 1",))


@pytest.mark.parametrize("options, paper", [({}, PAPER_PARAMS), ({"skips": False}, PAPER_NO_SKIPS)],
                         ids=["with skips", "without skips"])
def test_paper_preset_within_5_percent_of_the_paper(options, paper):
    params = complexity(base_spec("fcn_vgg", preset="paper", **options)).params
    assert abs(params - paper) <= 0.05 * paper, params


def test_switches_remove_exactly_their_modules():
    model = build(base_spec("fcn_vgg", preset="paper"), "meta")
    full = numel(model)
    fusions = list(model.decoder.stages)[1:]
    switched = {"skips": sum(numel(f.project) for f in fusions),
                "se": sum(numel(f.attention) for f in fusions),
                "aspp": numel(model.decoder.stages[0].aspp)}
    for switch, removed in switched.items():
        without = base_spec("fcn_vgg", preset="paper", **{switch: False})
        if switch == "aspp":  # the context unit then reads the encoder's 128 channels instead of the ASPP's 48
            removed -= 9 * (128 - 48) * 48
        assert complexity(without).params == full - removed, switch


def test_vgg16_layout_and_strided_convs():
    spec = base_spec("fcn_vgg")
    assert [(s.depth, s.width) for s in spec.encoder] == [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]
    assert spec.total_stride == 32
    model = build(spec, "meta")
    convs = [m for m in model.encoder.modules() if m.__class__.__name__ == "Conv2d"]
    assert len(convs) == 13 + 5 and sum(c.stride == (2, 2) for c in convs) == 5
    # the 13 VGG convs (with their BN) are torchvision vgg16_bn's features: 14,723,136 params
    strided = sum(p.numel() for s in model.encoder.stages for p in s.down.parameters())
    assert sum(p.numel() for p in model.encoder.parameters()) - strided == 14_723_136


def test_decoder_has_five_transposed_convs_and_se_after_each_fusion():
    model = build(base_spec("fcn_vgg"), "meta")
    fusions = list(model.decoder.stages)[1:]
    assert len(fusions) == 5
    assert all(f.up.stride == (2, 2) and f.attention.down.out_channels == f.up.out_channels // 16 for f in fusions)


def test_torchvision_vgg16_bn_names_map_onto_the_13_convs():
    encoder = build(base_spec("fcn_vgg"), "meta").encoder
    own = encoder.state_dict()
    mapped = {encoder.torchvision_key(f"features.{i}.weight") for i in VGG16_BN_CONVS}
    assert None not in mapped and mapped <= own.keys() and len(mapped) == 13
    assert own[encoder.torchvision_key("features.0.weight")].shape == (64, 3, 3, 3)
    assert own[encoder.torchvision_key("features.41.running_var")].shape == (512,)
    assert encoder.torchvision_key("features.6.weight") is None  # the first max pool has no weight
    assert encoder.torchvision_key("classifier.0.weight") is None


def _vgg16_bn_state_dict() -> dict[str, torch.Tensor]:
    """A state_dict with torchvision vgg16_bn's exact key names and shapes (random values, nothing downloaded)."""
    state, cin, index = {}, 3, 0
    for block, (units, width) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512))):
        for _ in range(units):
            state[f"features.{index}.weight"] = torch.randn(width, cin, 3, 3)
            state[f"features.{index}.bias"] = torch.randn(width)
            for name in ("weight", "bias", "running_mean"):
                state[f"features.{index + 1}.{name}"] = torch.randn(width)
            state[f"features.{index + 1}.running_var"] = torch.rand(width) + 0.5
            state[f"features.{index + 1}.num_batches_tracked"] = torch.tensor(7)
            cin, index = width, index + 3
        index += 1  # the max pool
    for i, (fin, fout) in enumerate(((512 * 7 * 7, 4096), (4096, 4096), (4096, 1000))):
        # full-shaped but one stored number each: an expanded view saves only its 1-element storage
        state[f"classifier.{3 * i}.weight"] = torch.zeros(1).expand(fout, fin)
        state[f"classifier.{3 * i}.bias"] = torch.randn(fout)
    return state


def test_a_real_shaped_torchvision_vgg16_bn_state_dict_loads_into_the_encoder(tmp_path):
    state = _vgg16_bn_state_dict()
    assert len(state) == 13 * 7 + 6 and state["features.40.weight"].shape == (512, 512, 3, 3)
    path = tmp_path / "vgg16_bn.pth"
    torch.save(state, path)
    model = build(base_spec("fcn_vgg", input_size=(64, 64)))
    strided_before = {k: v.clone() for k, v in model.encoder.state_dict().items() if ".down." in k}
    for strict in (False, True):  # the strided convs have no counterpart, yet nothing is missing: strict works too
        report = load_encoder_weights(model, path, strict=strict)
        assert report.naming == "torchvision" and not (report.missing or report.unexpected or report.mismatched)
        assert len(report.loaded) == 13 * 7 and set(report.ignored) == {k for k in state if k.startswith("classifier")}
        assert set(report.added) == set(strided_before)  # the strided convs replacing pooling stay at their init
    encoder = model.encoder.state_dict()
    for i in VGG16_BN_CONVS:
        for suffix in ("weight", "bias"):
            assert torch.equal(encoder[model.encoder.torchvision_key(f"features.{i}.{suffix}")],
                               state[f"features.{i}.{suffix}"])
        assert torch.equal(encoder[model.encoder.torchvision_key(f"features.{i + 1}.running_var")],
                           state[f"features.{i + 1}.running_var"])
    assert all(torch.equal(encoder[k], v) for k, v in strided_before.items())


def test_aspp_rates_option_round_trips():
    spec = base_spec("fcn_vgg", aspp_rates=(2, 4))
    assert spec.option("aspp_rates") == (2, 4)
    assert complexity(spec).params < complexity(base_spec("fcn_vgg")).params
