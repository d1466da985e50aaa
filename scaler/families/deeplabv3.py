"""DeepLabV3 and DeepLabV3+ on a ResNet encoder, with the optional parameter-free attention fusion.

Options: `encoder`, `output_stride` (8, 16 or 32; the last stages trade their stride for dilation),
`aspp_rates` (6, 12, 18 at stride 16, doubled at 8, halved at 32), `decoder`, `fusion_attention`.
- "v3" (default, Chen et al. 2017): decoder stage 0 is StageSpec(units, width, "aspp", 1): ASPP (1x1
  branch, a 3x3 branch per rate, an image-pooling branch whose 1x1 conv has a bias and no BN: BN on
  a 1x1 map fails at batch size 1), 1x1 projection, then `units` 3x3 conv-BN-ReLU (one:
  torchvision's DeepLabHead); a 1x1 head, upsampled bilinearly to the input.
- "v3plus" (DeepLabV3+, Chen et al. 2018): adds StageSpec(units, width, "fusion", output_stride/4):
  the ASPP output upsampled to stride 4, concatenated with stage 0's feature reduced by a 1x1
  conv-BN-ReLU to width * 3/16 (48 at 256), then `units` 3x3 conv-BN-ReLU (two, as the paper). The
  ASPP keeps its one 3x3 unit (DeepLabV3+ has none) so depth scaling has a unit to repeat there.

Where the attention fusion goes (`fusion_attention` none, avg, max, avgmax; 0 params, C*H*W MACs):
- v3plus: on the ASPP output upsampled to stride 4, before it is concatenated with the low-level
  feature: the one upsampling of a learned map that precedes a fusion.
- v3: DeepLabV3's only upsampling before a fusion is the image-pooling branch's broadcast to the
  ASPP map, joined to the other branches by concatenation. The broadcast map is constant, where
  the attention is the identity, so the attention attends that fusion itself: the concatenated
  ASPP map (5 x width channels at the output stride) before the 1x1 projection.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scaler.families._base import SegmentationNet
from scaler.families._blocks import ASPP, ATTENTION_MODES, HW, AttentionFusion, ConvBNReLU, check_rates, resize
from scaler.families._registry import Family, check_options, check_stages, register
from scaler.families._resnet import RESNETS, ResNetEncoder, check_resnet, resnet_stages
from scaler.rounding import make_divisible
from scaler.spec import NetSpec, StageSpec

__all__ = ["deeplabv3_spec", "check_deeplabv3", "DeepLabV3"]

DECODERS = ("v3", "v3plus")
#: DeepLabV3's rates at output stride 16, scaled by 16 / output_stride.
ASPP_RATES_OS16 = (6, 12, 18)
OPTIONS = {"encoder": tuple(RESNETS), "decoder": DECODERS, "fusion_attention": ATTENTION_MODES}
DEFAULTS = {"decoder": "v3", "fusion_attention": "none", "aspp_rates": ASPP_RATES_OS16}


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
    check_deeplabv3(spec)
    return spec


def check_deeplabv3(spec: NetSpec) -> dict[str, Any]:
    """Validate options and stage records; returns the options with defaults filled in."""
    opts = check_options(spec, OPTIONS, free=("aspp_rates",), defaults=DEFAULTS)
    check_rates(opts["aspp_rates"])
    check_resnet(spec)
    fusion = (("fusion", spec.total_stride // 4),) if opts["decoder"] == "v3plus" else ()
    check_stages(spec, "decoder", (("aspp", 1), *fusion))
    return opts


def low_level_width(stage: StageSpec) -> int:
    """Width of DeepLabV3+'s reduced low-level feature: 3/16 of the fusion width (48 at 256)."""
    return make_divisible(stage.width * 3 / 16)


class ASPPStage(nn.Module):
    """The ASPP (attending its concatenation when asked), then `depth` 3x3 conv-BN-ReLU units."""

    def __init__(self, cin: int, stage: StageSpec, rates: tuple[int, ...], attention: str) -> None:
        super().__init__()
        self.aspp = ASPP(cin, stage.width, rates, attention)
        self.units = nn.Sequential(*(ConvBNReLU(stage.width, stage.width) for _ in range(stage.depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.aspp(x))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, stage: StageSpec, rates: tuple[int, ...], attention: str) -> HW:
        """The ASPP's and the units' costs."""
        ASPP.cost(sheet, key, hw, cin, stage.width, rates, attention)
        for _ in range(stage.depth):
            ConvBNReLU.cost(sheet, key, hw, stage.width, stage.width)
        return hw


def _unit_inputs(cin: int, stage: StageSpec) -> list[int]:
    """Input channels of a stage's `depth` 3x3 units."""
    return [cin if j == 0 else stage.width for j in range(stage.depth)]


class LowLevelFusion(nn.Module):
    """DeepLabV3+'s decoder: upsample (then attention), concat the reduced low-level feature, 3x3 units."""

    def __init__(self, cin: int, low_level: int, stage: StageSpec, attention: str) -> None:
        super().__init__()
        reduced = low_level_width(stage)
        self.reduce = ConvBNReLU(low_level, reduced, 1)
        self.attention = AttentionFusion.make(attention)
        self.units = nn.Sequential(*(ConvBNReLU(c, stage.width) for c in _unit_inputs(cin + reduced, stage)))

    def forward(self, x: torch.Tensor, low_level: torch.Tensor) -> torch.Tensor:
        up = self.attention(resize(x, low_level.shape[-2:]))
        return self.units(torch.cat([up, self.reduce(low_level)], dim=1))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, low_level: int, stage: StageSpec, attention: str) -> HW:
        """Its layers' costs at the low-level feature's size `hw`."""
        reduced = low_level_width(stage)
        ConvBNReLU.cost(sheet, key, hw, low_level, reduced, 1)
        AttentionFusion.cost(sheet, key, hw, cin, attention)
        for c in _unit_inputs(cin + reduced, stage):
            ConvBNReLU.cost(sheet, key, hw, c, stage.width)
        return hw


def _plan(spec: NetSpec, encoder_channels: tuple[int, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """(ASPPStage's args, LowLevelFusion's args or None); input widths come from the encoder's contract."""
    opts = {**DEFAULTS, **spec.opts}
    aspp, *fusion = spec.decoder
    plus = opts["decoder"] == "v3plus"
    first = (encoder_channels[-1], aspp, opts["aspp_rates"], "none" if plus else opts["fusion_attention"])
    second = (aspp.width, encoder_channels[0], fusion[0], opts["fusion_attention"]) if plus else None
    return first, second


class DeepLabDecoder(nn.Module):
    """ASPP stage and (v3plus) the low-level fusion; encoder widths come from `encoder_channels`."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        first, second = _plan(spec, encoder_channels)
        self.stages = nn.ModuleList([ASPPStage(*first), *([LowLevelFusion(*second)] if second else [])])
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.stages[0](features[-1])
        return self.stages[1](x, features[0]) if len(self.stages) > 1 else x

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec, features: list[tuple[int, HW]]) -> tuple[int, HW]:
        """The stages' costs; returns the output's (channels, (H, W))."""
        first, second = _plan(spec, tuple(c for c, _ in features))
        hw = ASPPStage.cost(sheet, "decoder.0", features[-1][1], *first)
        if second:
            hw = LowLevelFusion.cost(sheet, "decoder.1", features[0][1], *second)
        return spec.decoder[-1].width, hw


class DeepLabV3(SegmentationNet):
    """ResNet encoder, DeepLab decoder and a 1x1 head, upsampled to the input."""

    Encoder = ResNetEncoder
    Decoder = DeepLabDecoder


register(Family("deeplabv3", deeplabv3_spec, DeepLabV3, check_deeplabv3,
                "DeepLabV3 (or V3+) on a ResNet with optional parameter-free attention fusion",
                presets={"paper": {"fusion_attention": "avg"}}))
