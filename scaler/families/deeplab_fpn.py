"""DeepLabV3 and FPN heads on a ResNet-18/50 encoder, with the optional parameter-free attention fusion.

deeplabv3 (Chen et al. 2017), options `encoder`, `output_stride` (8, 16 or 32; the last stages trade
their stride for dilation), `aspp_rates` (6, 12, 18 at stride 16, doubled at 8, halved at 32),
`decoder`, `fusion_attention`:
- "v3" (default): decoder stage 0 is StageSpec(units, width, "aspp", 1): ASPP (1x1 branch, a 3x3
  branch per rate, an image-pooling branch whose 1x1 conv has a bias and no BN: BN on a 1x1 map
  fails at batch size 1), 1x1 projection, then `units` 3x3 conv-BN-ReLU (one: torchvision's
  DeepLabHead); a 1x1 head, upsampled bilinearly to the input.
- "v3plus" (DeepLabV3+, Chen et al. 2018): adds StageSpec(units, width, "fusion", output_stride/4):
  the ASPP output upsampled to stride 4, concatenated with stage 0's feature reduced by a 1x1
  conv-BN-ReLU to width * 3/16 (48 at 256), then `units` 3x3 conv-BN-ReLU (two, as the paper). The
  ASPP keeps its one 3x3 unit (DeepLabV3+ has none) so depth scaling has a unit to repeat there.
  This is the fusion that `fusion_attention` needs; with "v3" it is refused.

fpn (Lin et al. 2017, as a segmentation head), options `encoder`, `fusion_attention`: one decoder
stage per encoder stage, deep to shallow, StageSpec(units, width, "fpn", 1 then 2), all one width
(their maps are added): a 1x1 lateral conv (bias) of the encoder feature, plus the previous stage's
map upsampled 2x (nearest, as FPN's top-down path), then `units` 3x3 conv-BN-ReLU on the level's
output. The four outputs are upsampled bilinearly to stride 4 and summed (a simplified semantic FPN
merge), a 1x1 head makes the classes, upsampled 4x to the input.

fusion_attention ("none", "avg", "max", "avgmax"): an AttentionFusion (scaler.families._blocks)
after every upsampling that precedes a fusion: deeplabv3+ has one (ASPP output to stride 4); fpn has
six (three top-down, three in the merge). Not on the ASPP's image-pooling branch: its upsampled map is
constant, where the attention is the identity. Exactly 0 params and C*H*W MACs per module.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scaler.errors import SpecError
from scaler.families._registry import Family, register
from scaler.families._blocks import (
    ASPP, ATTENTION_MODES, AttentionFusion, ConvBNReLU, aspp_cost, attention_cost, check_options, conv_bn_cost,
    init_weights,
)
from scaler.families._resnet import RESNETS, ResNetEncoder, resnet_cost, resnet_stages
from scaler.rounding import make_divisible
from scaler.spec import NetSpec, StageSpec

__all__ = ["deeplabv3_spec", "fpn_spec", "DeepLabV3", "FPN", "deeplabv3_cost", "fpn_cost"]

DECODERS = ("v3", "v3plus")
#: DeepLabV3's rates at output stride 16, scaled by 16 / output_stride.
ASPP_RATES_OS16 = (6, 12, 18)
HW = tuple[int, int]


def _attention(mode: str) -> nn.Module:
    """An AttentionFusion, or the identity when `mode` is "none"."""
    return nn.Identity() if mode == "none" else AttentionFusion(mode)


def _upsample(x: torch.Tensor, size: torch.Size, mode: str = "bilinear") -> torch.Tensor:
    """Resize `x` to `size` (bilinear without corner alignment, or nearest)."""
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


# -- deeplabv3 ---------------------------------------------------------------------------------

def deeplabv3_spec(
    encoder: str = "resnet50",
    classes: int = 21,
    in_channels: int = 3,
    input_size: tuple[int, int] = (512, 512),
    output_stride: int = 16,
    aspp_rates: tuple[int, ...] | None = None,
    decoder: str = "v3",
    fusion_attention: str = "none",
    decoder_width: int = 256,
    width: int = 64,
) -> NetSpec:
    """The base DeepLabV3 (or V3+ with decoder="v3plus") on a ResNet of base `width` at `output_stride`."""
    stages = resnet_stages(encoder, width, output_stride)
    rates = tuple(aspp_rates) if aspp_rates is not None else tuple(r * 16 // output_stride for r in ASPP_RATES_OS16)
    head = (StageSpec(1, decoder_width, "aspp", 1),)
    if decoder == "v3plus":
        head += (StageSpec(2, decoder_width, "fusion", output_stride // 4),)
    spec = NetSpec("deeplabv3", in_channels, classes, input_size, stages, head,
                   {"encoder": encoder, "decoder": decoder, "fusion_attention": fusion_attention, "aspp_rates": rates})
    _check_deeplab(spec)
    return spec


def _check_deeplab(spec: NetSpec) -> dict[str, Any]:
    """Validate options and decoder records; returns the options with defaults filled in."""
    opts = {"decoder": "v3", "fusion_attention": "none", "aspp_rates": ASPP_RATES_OS16,
            **check_options(spec, {"encoder": tuple(RESNETS), "decoder": DECODERS,
                                   "fusion_attention": ATTENTION_MODES}, free=("aspp_rates",))}
    rates = opts["aspp_rates"]
    if not isinstance(rates, tuple) or not rates or not all(isinstance(r, int) and r >= 1 for r in rates):
        raise SpecError(f"aspp_rates must be a non-empty list of integers >= 1, got {rates!r}")
    if opts["decoder"] == "v3" and opts["fusion_attention"] != "none":
        raise SpecError(f"fusion_attention {opts['fusion_attention']!r} needs a fusion; valid: decoder='v3plus' "
                        f"(DeepLabV3 has no upsampling before a fusion) or fusion_attention='none'")
    if len(spec.encoder) != 4:
        raise SpecError(f"deeplabv3 needs 4 encoder stages, got {len(spec.encoder)}")
    expected = (("aspp", 1),) + ((("fusion", spec.total_stride // 4),) if opts["decoder"] == "v3plus" else ())
    if tuple((s.block, s.stride) for s in spec.decoder) != expected:
        raise SpecError(f"deeplabv3 decoder {opts['decoder']!r} needs stages {list(expected)} (block, stride), "
                        f"got {[(s.block, s.stride) for s in spec.decoder]}")
    return opts


def low_level_width(stage: StageSpec) -> int:
    """Width of DeepLabV3+'s reduced low-level feature: 3/16 of the fusion width (48 at 256)."""
    return make_divisible(stage.width * 3 / 16)


class ASPPStage(nn.Module):
    """The ASPP, then `depth` 3x3 conv-BN-ReLU units."""

    def __init__(self, cin: int, stage: StageSpec, rates: tuple[int, ...]) -> None:
        super().__init__()
        self.aspp = ASPP(cin, stage.width, rates)
        self.units = nn.Sequential(*(ConvBNReLU(stage.width, stage.width) for _ in range(stage.depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.aspp(x))


class LowLevelFusion(nn.Module):
    """DeepLabV3+'s decoder: upsample (then attention), concat the reduced low-level feature, 3x3 units."""

    def __init__(self, cin: int, low_level: int, stage: StageSpec, attention: str) -> None:
        super().__init__()
        reduced = low_level_width(stage)
        self.reduce = ConvBNReLU(low_level, reduced, 1)
        self.attention = _attention(attention)
        self.units = nn.Sequential(*(ConvBNReLU(cin + reduced if j == 0 else stage.width, stage.width)
                                     for j in range(stage.depth)))

    def forward(self, x: torch.Tensor, low_level: torch.Tensor) -> torch.Tensor:
        up = self.attention(_upsample(x, low_level.shape[-2:]))
        return self.units(torch.cat([up, self.reduce(low_level)], dim=1))


class DeepLabDecoder(nn.Module):
    """ASPP stage and (v3plus) the low-level fusion; encoder widths come from `encoder_channels`."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...], opts: dict[str, Any]) -> None:
        super().__init__()
        aspp, *fusion = spec.decoder
        stages = [ASPPStage(encoder_channels[-1], aspp, opts["aspp_rates"])]
        if fusion:
            stages.append(LowLevelFusion(aspp.width, encoder_channels[0], fusion[0], opts["fusion_attention"]))
        self.stages = nn.ModuleList(stages)
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.stages[0](features[-1])
        return self.stages[1](x, features[0]) if len(self.stages) > 1 else x


class DeepLabV3(nn.Module):
    """ResNet encoder, DeepLab decoder and a 1x1 head, upsampled to the input."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        opts = _check_deeplab(spec)
        self.encoder = ResNetEncoder(spec)
        self.decoder = DeepLabDecoder(spec, self.encoder.out_channels, opts)
        self.head = nn.Conv2d(self.decoder.out_channels, spec.classes, 1)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _upsample(self.head(self.decoder(self.encoder(x))), x.shape[-2:])


def deeplabv3_cost(spec: NetSpec, sheet: Any) -> None:
    """Analytic cost of a deeplabv3 spec, layer by layer as the builder makes them."""
    opts = _check_deeplab(spec)
    features = resnet_cost(spec, sheet)
    (cin, hw), aspp = features[-1], spec.decoder[0]
    aspp_cost(sheet, "decoder.0", hw, cin, aspp.width, opts["aspp_rates"])
    for _ in range(aspp.depth):
        conv_bn_cost(sheet, "decoder.0", hw, aspp.width, aspp.width)
    if len(spec.decoder) > 1:
        stage, (low, hw) = spec.decoder[1], features[0]
        reduced = low_level_width(stage)
        conv_bn_cost(sheet, "decoder.1", hw, low, reduced, 1)
        if opts["fusion_attention"] != "none":
            attention_cost(sheet, "decoder.1", aspp.width, hw)
        for j in range(stage.depth):
            conv_bn_cost(sheet, "decoder.1", hw, aspp.width + reduced if j == 0 else stage.width, stage.width)
    sheet.conv("head", hw, spec.decoder[-1].width, spec.classes, 1, bias=True)


# -- fpn ---------------------------------------------------------------------------------------

def fpn_spec(
    encoder: str = "resnet50",
    classes: int = 21,
    in_channels: int = 3,
    input_size: tuple[int, int] = (512, 512),
    decoder_width: int = 256,
    fusion_attention: str = "none",
    width: int = 64,
) -> NetSpec:
    """The base FPN: a ResNet of base `width` and four pyramid levels of `decoder_width` channels (256, as FPN)."""
    stages = resnet_stages(encoder, width)
    decoder = tuple(StageSpec(1, decoder_width, "fpn", 1 if j == 0 else 2) for j in range(len(stages)))
    spec = NetSpec("fpn", in_channels, classes, input_size, stages, decoder,
                   {"encoder": encoder, "fusion_attention": fusion_attention})
    _check_fpn(spec)
    return spec


def _check_fpn(spec: NetSpec) -> str:
    """Validate options and decoder records; returns the fusion_attention mode."""
    opts = check_options(spec, {"encoder": tuple(RESNETS), "fusion_attention": ATTENTION_MODES})
    if len(spec.encoder) != 4 or len(spec.decoder) != 4:
        raise SpecError(f"fpn needs 4 encoder and 4 decoder stages, got {len(spec.encoder)} and {len(spec.decoder)}")
    for j, stage in enumerate(spec.decoder):
        if stage.block != "fpn" or stage.stride != (1 if j == 0 else 2):
            raise SpecError(f"fpn decoder stage {j} must be an 'fpn' stage at stride {1 if j == 0 else 2}, "
                            f"got block {stage.block!r} stride {stage.stride}")
    if len({s.width for s in spec.decoder}) != 1:
        raise SpecError(f"fpn decoder stages are added, so they need one width; got {[s.width for s in spec.decoder]}")
    return opts.get("fusion_attention", "none")


class PyramidLevel(nn.Module):
    """Lateral 1x1 conv plus the upsampled (then attended) previous level, then `depth` 3x3 units.

    `merge_attention` attends this level's output after it is upsampled to stride 4 for the merge
    (absent on the last, stride-4 level).
    """

    def __init__(self, cin: int, stage: StageSpec, attention: str, first: bool, last: bool) -> None:
        super().__init__()
        self.lateral = nn.Conv2d(cin, stage.width, 1)
        self.attention = nn.Identity() if first else _attention(attention)
        self.units = nn.Sequential(*(ConvBNReLU(stage.width, stage.width) for _ in range(stage.depth)))
        self.merge_attention = nn.Identity() if last else _attention(attention)

    def forward(self, skip: torch.Tensor, previous: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.lateral(skip)
        if previous is not None:
            x = x + self.attention(_upsample(previous, x.shape[-2:], "nearest"))
        return x, self.units(x)


class FPNDecoder(nn.Module):
    """Top-down pyramid and the stride-4 merge; input widths come from `encoder_channels`."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...], attention: str) -> None:
        super().__init__()
        last = len(spec.decoder) - 1
        self.stages = nn.ModuleList(PyramidLevel(c, s, attention, j == 0, j == last) for j, (c, s) in
                                    enumerate(zip(reversed(encoder_channels), spec.decoder)))
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x, outputs = None, []
        for level, skip in zip(self.stages, reversed(features)):
            x, out = level(skip, x)
            outputs.append(out)
        size = outputs[-1].shape[-2:]
        merged = outputs[-1]
        for level, out in zip(self.stages[:-1], outputs[:-1]):
            merged = merged + level.merge_attention(_upsample(out, size))
        return merged


class FPN(nn.Module):
    """ResNet encoder, FPN decoder and a 1x1 head, upsampled to the input."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        attention = _check_fpn(spec)
        self.encoder = ResNetEncoder(spec)
        self.decoder = FPNDecoder(spec, self.encoder.out_channels, attention)
        self.head = nn.Conv2d(self.decoder.out_channels, spec.classes, 1)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _upsample(self.head(self.decoder(self.encoder(x))), x.shape[-2:])


def fpn_cost(spec: NetSpec, sheet: Any) -> None:
    """Analytic cost of an fpn spec, layer by layer as the builder makes them."""
    attention = _check_fpn(spec)
    features = list(reversed(resnet_cost(spec, sheet)))
    merge_hw = features[-1][1]
    for j, (stage, (cin, hw)) in enumerate(zip(spec.decoder, features)):
        key = f"decoder.{j}"
        sheet.conv(key, hw, cin, stage.width, 1, bias=True)
        if attention != "none" and j > 0:
            attention_cost(sheet, key, stage.width, hw)
        for _ in range(stage.depth):
            conv_bn_cost(sheet, key, hw, stage.width, stage.width)
        if attention != "none" and j < len(spec.decoder) - 1:
            attention_cost(sheet, key, stage.width, merge_hw)
    sheet.conv("head", merge_hw, spec.decoder[-1].width, spec.classes, 1, bias=True)


register(Family("deeplabv3", deeplabv3_spec, DeepLabV3,
                "DeepLabV3 (or V3+) on ResNet-18/50 with optional parameter-free attention fusion",
                cost=deeplabv3_cost))
register(Family("fpn", fpn_spec, FPN, "FPN segmentation head on ResNet-18/50 with optional attention fusion",
                cost=fpn_cost))
