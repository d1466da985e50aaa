"""FCN-VGG16 with ASPP and SE keeps the family contract."""
from __future__ import annotations

from scaler import base_spec, build, complexity
from tests.families.contract import FamilyContract

#: Conv indices of torchvision's vgg16_bn `features` (conv, BN, ReLU per unit; a max pool per block).
VGG16_BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)


class TestFCNVGG(FamilyContract):
    family = "fcn_vgg"
    base_options = {"classes": 21}
    bad_option = ("aspp_rates", (6, 0), ("integers >= 1",))


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


def test_aspp_rates_option_round_trips():
    spec = base_spec("fcn_vgg", aspp_rates=(2, 4))
    assert spec.option("aspp_rates") == (2, 4)
    assert complexity(spec).params < complexity(base_spec("fcn_vgg")).params
