"""FCN on VGG16 with ASPP and SE attention: VGG16 conv blocks with strided 3x3 convs in place of pooling,
an ASPP with an image-level pooling branch at the bottleneck, and five 2x transposed-conv decoder
stages, each fusing one encoder stage's skip and followed by SE attention.

Choices:
- Encoder stage i (2-2-3-3-3 units of 3x3 conv-BN-ReLU at 64-128-256-512-512 channels) is followed
  by a 3x3 stride-2 conv-BN-ReLU of the same width where VGG has its 2x2 max pool; the skip is the
  stage's output before it (as VGG's pool input), so the skips are at strides 1-16 and the ASPP
  works at stride 32. Stage records: StageSpec(units, width, "conv", stride=2), the stride being
  the one at the stage's exit. The encoder convs keep their bias (as torchvision's vgg16_bn) so its
  13 conv weights load; the 5 strided convs have no pretrained counterpart.
- Decoder stage 0 is the ASPP (StageSpec(units, width, "aspp", 1)): a 1x1 branch, one 3x3 branch per
  rate in the `aspp_rates` option (6, 12, 18 by default), an image-level pooling branch (1x1 conv
  with bias, no BN: BN on a 1x1 map fails at batch size 1), a 1x1 projection, then `units` 3x3
  conv-BN-ReLU (one in the base: the unit depth scaling repeats, as in torchvision's DeepLabHead).
- Decoder stages 1-5 (StageSpec(units, width, "fusion", 2)): a 2x2 stride-2 transposed conv to
  `width`, concatenated with the skip, `units` 3x3 conv-BN-ReLU, SE (reduction 16). Each has the
  width of the skip it fuses (a mirror of the encoder); the head is a 1x1 conv at full resolution.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scaler.errors import SpecError
from scaler.families._registry import Family, register
from scaler.families._blocks import ASPP, SqueezeExcite, aspp_cost, check_options, init_weights, se_cost
from scaler.spec import NetSpec, StageSpec

__all__ = ["fcn_vgg_spec", "FCNVGG", "fcn_vgg_cost", "VGG16_UNITS"]

#: Units (3x3 convs) per VGG16 block and the block widths at base width 64 (Simonyan & Zisserman 2015).
VGG16_UNITS = (2, 2, 3, 3, 3)
VGG16_WIDTHS = (64, 128, 256, 512, 512)
#: DeepLabV3's ASPP rates for a stride-16 feature; kept at stride 32 as the issue's design gives no others.
ASPP_RATES = (6, 12, 18)
HW = tuple[int, int]


def fcn_vgg_spec(
    classes: int = 21,
    in_channels: int = 3,
    input_size: tuple[int, int] = (512, 512),
    width: int = 64,
    aspp_width: int = 256,
    aspp_rates: tuple[int, ...] = ASPP_RATES,
) -> NetSpec:
    """The base FCN-VGG16: VGG16 blocks at widths width * (1, 2, 4, 8, 8), ASPP, mirrored decoder."""
    widths = tuple(width * w // 64 for w in VGG16_WIDTHS)
    encoder = tuple(StageSpec(d, w, "conv", 2) for d, w in zip(VGG16_UNITS, widths))
    decoder = (StageSpec(1, aspp_width, "aspp", 1), *(StageSpec(1, w, "fusion", 2) for w in reversed(widths)))
    spec = NetSpec("fcn_vgg", in_channels, classes, input_size, encoder, decoder, {"aspp_rates": tuple(aspp_rates)})
    _check(spec)
    return spec


def _check(spec: NetSpec) -> tuple[int, ...]:
    """Validate options and records; returns the ASPP rates."""
    check_options(spec, {}, free=("aspp_rates",))
    rates = spec.option("aspp_rates", ASPP_RATES)
    if not isinstance(rates, tuple) or not rates or not all(isinstance(r, int) and r >= 1 for r in rates):
        raise SpecError(f"aspp_rates must be a non-empty list of integers >= 1, got {rates!r}")
    for i, stage in enumerate(spec.encoder):
        if stage.block != "conv" or stage.stride != 2:
            raise SpecError(f"fcn_vgg encoder stage {i} must be a 'conv' stage at stride 2, "
                            f"got block {stage.block!r} stride {stage.stride}")
    expected = (("aspp", 1), *(("fusion", 2),) * len(spec.encoder))
    if tuple((s.block, s.stride) for s in spec.decoder) != expected:
        raise SpecError(f"fcn_vgg decoder must be one 'aspp' stage (stride 1) then {len(spec.encoder)} 'fusion' "
                        f"stages (stride 2), got {[(s.block, s.stride) for s in spec.decoder]}")
    return rates


class VGGUnit(nn.Sequential):
    """3x3 conv (with bias, as torchvision's vgg16_bn) + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _unit_cost(sheet: Any, key: str, hw: HW, cin: int, cout: int, stride: int = 1) -> HW:
    """Cost of a VGGUnit."""
    out = sheet.conv(key, hw, cin, cout, 3, stride, bias=True)
    sheet.norm(key, cout)
    return out


class VGGStage(nn.Module):
    """`depth` VGG units, then the strided unit that replaces the max pool; returns (skip, downsampled)."""

    def __init__(self, cin: int, stage: StageSpec) -> None:
        super().__init__()
        self.units = nn.Sequential(*(VGGUnit(cin if j == 0 else stage.width, stage.width) for j in range(stage.depth)))
        self.down = VGGUnit(stage.width, stage.width, stage.stride)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.units(x)
        return skip, self.down(skip)


class VGGEncoder(nn.Module):
    """VGG16 blocks; features are the five skips then the stride-32 bottleneck (`out_channels` likewise)."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        cins = (spec.in_channels, *(s.width for s in spec.encoder[:-1]))
        self.stages = nn.ModuleList(VGGStage(c, s) for c, s in zip(cins, spec.encoder))
        self.out_channels = (*(s.width for s in spec.encoder), spec.encoder[-1].width)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            skip, x = stage(x)
            features.append(skip)
        return [*features, x]

    def torchvision_key(self, key: str) -> str | None:
        """The name in this encoder of a torchvision vgg16_bn state_dict key (None: not an encoder weight)."""
        names, index = {}, 0
        for i, stage in enumerate(self.stages):
            for j in range(len(stage.units)):
                names[f"features.{index}"] = f"stages.{i}.units.{j}.0"  # conv
                names[f"features.{index + 1}"] = f"stages.{i}.units.{j}.1"  # BN
                index += 3  # conv, BN, ReLU
            index += 1  # the max pool
        module, _, param = key.rpartition(".")
        return f"{names[module]}.{param}" if module in names else None


class ASPPStage(nn.Module):
    """The ASPP, then `depth` 3x3 conv-BN-ReLU units."""

    def __init__(self, cin: int, stage: StageSpec, rates: tuple[int, ...]) -> None:
        super().__init__()
        self.aspp = ASPP(cin, stage.width, rates)
        self.units = nn.Sequential(*(VGGUnit(stage.width, stage.width) for _ in range(stage.depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.aspp(x))


class FusionStage(nn.Module):
    """2x transposed conv, concat the skip, `depth` 3x3 conv-BN-ReLU units, SE attention."""

    def __init__(self, cin: int, skip: int, stage: StageSpec) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, stage.width, stage.stride, stage.stride)
        self.units = nn.Sequential(*(VGGUnit(stage.width + skip if j == 0 else stage.width, stage.width)
                                     for j in range(stage.depth)))
        self.attention = SqueezeExcite(stage.width)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.attention(self.units(torch.cat([skip, self.up(x)], dim=1)))


class Decoder(nn.Module):
    """ASPP then the fusion stages; input widths come from `encoder_channels`, never from the spec's encoder."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...], rates: tuple[int, ...]) -> None:
        super().__init__()
        aspp, *fusions = spec.decoder
        skips = tuple(reversed(encoder_channels[:-1]))
        cins = (aspp.width, *(s.width for s in fusions[:-1]))
        self.stages = nn.ModuleList([ASPPStage(encoder_channels[-1], aspp, rates),
                                     *(FusionStage(c, k, s) for c, k, s in zip(cins, skips, fusions))])
        self.out_channels = fusions[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.stages[0](features[-1])
        for stage, skip in zip(self.stages[1:], reversed(features[:-1])):
            x = stage(x, skip)
        return x


class FCNVGG(nn.Module):
    """VGG16 encoder, ASPP + SE fusion decoder and a 1x1 head joined by the channel contract."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        rates = _check(spec)
        self.encoder = VGGEncoder(spec)
        self.decoder = Decoder(spec, self.encoder.out_channels, rates)
        self.head = nn.Conv2d(self.decoder.out_channels, spec.classes, 1)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.encoder(x)))


def fcn_vgg_cost(spec: NetSpec, sheet: Any) -> None:
    """Analytic cost of an FCN-VGG spec, layer by layer as the builder makes them."""
    rates = _check(spec)
    hw, cin, skips = spec.input_size, spec.in_channels, []
    for i, stage in enumerate(spec.encoder):
        for j in range(stage.depth):
            _unit_cost(sheet, f"encoder.{i}", hw, cin if j == 0 else stage.width, stage.width)
        cin = stage.width
        skips.append((cin, hw))
        hw = _unit_cost(sheet, f"encoder.{i}", hw, cin, cin, stage.stride)
    aspp, *fusions = spec.decoder
    aspp_cost(sheet, "decoder.0", hw, cin, aspp.width, rates)
    for _ in range(aspp.depth):
        _unit_cost(sheet, "decoder.0", hw, aspp.width, aspp.width)
    cin = aspp.width
    for j, (stage, (skip, skip_hw)) in enumerate(zip(fusions, reversed(skips)), start=1):
        key = f"decoder.{j}"
        hw = sheet.conv_transpose(key, hw, cin, stage.width, stage.stride, stage.stride)
        assert hw == skip_hw, f"upsampled {hw} does not meet skip {skip_hw}"
        for unit in range(stage.depth):
            _unit_cost(sheet, key, hw, stage.width + skip if unit == 0 else stage.width, stage.width)
        se_cost(sheet, key, stage.width)
        cin = stage.width
    sheet.conv("head", hw, cin, spec.classes, 1, bias=True)


register(Family("fcn_vgg", fcn_vgg_spec, FCNVGG,
                "FCN on VGG16 (strided convs for pooling) with ASPP and SE attention in a 5-stage decoder",
                cost=fcn_vgg_cost))
