"""FCN on VGG16 with ASPP and SE attention: VGG16 conv blocks with strided 3x3 convs in place of pooling,
an ASPP with an image-level pooling branch at the bottleneck, and five 2x transposed-conv decoder
stages, each fusing one encoder stage's skip and followed by SE attention.

Switches (the paper's ablations): `skips` (fuse the encoder skips), `se` (SE after each fusion
stage), `aspp` (the ASPP at the bottleneck; off: the context stage is its 3x3 units alone), and
`fusion_attention` (none, avg, max, avgmax: the parameter-free attention on every upsampled map).
`skip_fusion` says how a skip joins: "concat" (concatenated before the stage's 3x3 units) or "sum"
(FCN's way: a 1x1 conv (bias) projects the skip to the stage's width and it is added);
`downsample` how the encoder halves the size: "conv" (a strided 3x3 unit) or "pool" (VGG's max pool).

Choices:
- Encoder stage i (2-2-3-3-3 units of 3x3 conv-BN-ReLU at 64-128-256-512-512 channels) is followed
  by a 3x3 stride-2 conv-BN-ReLU of the same width where VGG has its 2x2 max pool; the skip is the
  stage's output before it (as VGG's pool input), so the skips are at strides 1-16 and the ASPP
  works at stride 32. Stage records: StageSpec(units, width, "conv", stride=2), the stride being
  the one at the stage's exit. The encoder convs keep their bias (as torchvision's vgg16_bn) so its
  13 conv weights load; the 5 strided convs have no pretrained counterpart.
- Decoder stage 0 (StageSpec(units, width, "aspp", 1)): the ASPP (a 1x1 branch, one 3x3 branch per
  rate in `aspp_rates`, 6, 12, 18 by default, an image-level pooling branch, a 1x1 projection),
  then `units` 3x3 conv-BN-ReLU (one in the base: the unit depth scaling repeats).
- Decoder stages 1-5 (StageSpec(units, width, "fusion", 2)): a 2x2 stride-2 transposed conv to
  `width`, the skip fused, `units` 3x3 conv-BN-ReLU, SE (reduction 16). Each has the width of the
  skip it fuses (a mirror of the encoder); the head is a 1x1 conv at full resolution.
- The paper preset (`preset="paper"`): the paper gives sizes (1.63M params with skips, 1.58M
  without), not widths. VGG16 at a quarter width (16-32-64-128-128) with its max pools, an ASPP of
  width 48 and FCN's summed skips (1x1 projections) give 1.656M and 1.617M (+1.6%, +2.4%); 21
  classes (PASCAL VOC, FCN's benchmark) are assumed, as the class count changes only the head.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scaler.families._base import SegmentationNet
from scaler.families._blocks import ASPP, ATTENTION_MODES, HW, AttentionFusion, ConvBNReLU, SqueezeExcite, check_rates
from scaler.families._registry import Family, check_options, check_stages, register
from scaler.spec import NetSpec, StageSpec

__all__ = ["fcn_vgg_spec", "check_fcn_vgg", "FCNVGG", "VGG16_UNITS", "PAPER"]

#: Units (3x3 convs) per VGG16 block and the block widths at base width 64 (Simonyan & Zisserman 2015).
VGG16_UNITS = (2, 2, 3, 3, 3)
VGG16_WIDTHS = (64, 128, 256, 512, 512)
#: DeepLabV3's ASPP rates for a stride-16 feature; kept at stride 32 as the issue's design gives no others.
ASPP_RATES = (6, 12, 18)
FLAGS = (True, False)
SKIP_FUSIONS = ("concat", "sum")
DOWNSAMPLES = ("conv", "pool")
OPTIONS = {"skips": FLAGS, "se": FLAGS, "aspp": FLAGS, "skip_fusion": SKIP_FUSIONS, "downsample": DOWNSAMPLES,
           "fusion_attention": ATTENTION_MODES}
DEFAULTS = {"skips": True, "se": True, "aspp": True, "skip_fusion": "concat", "downsample": "conv",
            "fusion_attention": "none", "aspp_rates": ASPP_RATES}
#: The paper's FCN-VGG16 (sizes only in the paper; widths and skip fusion chosen to meet them).
PAPER = {"width": 16, "aspp_width": 48, "skip_fusion": "sum", "downsample": "pool", "classes": 21}


def fcn_vgg_spec(
    classes: int = 21,
    in_channels: int = 3,
    input_size: tuple[int, int] = (512, 512),
    width: int = 64,
    aspp_width: int = 256,
    aspp_rates: tuple[int, ...] = ASPP_RATES,
    skips: bool = True,
    se: bool = True,
    aspp: bool = True,
    skip_fusion: str = "concat",
    downsample: str = "conv",
    fusion_attention: str = "none",
) -> NetSpec:
    """The base FCN-VGG16: VGG16 blocks at widths width * (1, 2, 4, 8, 8), ASPP, mirrored decoder."""
    widths = tuple(width * w // 64 for w in VGG16_WIDTHS)
    encoder = tuple(StageSpec(d, w, "conv", 2) for d, w in zip(VGG16_UNITS, widths))
    decoder = (StageSpec(1, aspp_width, "aspp", 1), *(StageSpec(1, w, "fusion", 2) for w in reversed(widths)))
    options = {"aspp_rates": tuple(aspp_rates), "skips": skips, "se": se, "aspp": aspp, "skip_fusion": skip_fusion,
               "downsample": downsample, "fusion_attention": fusion_attention}
    spec = NetSpec("fcn_vgg", in_channels, classes, input_size, encoder, decoder, options)
    check_fcn_vgg(spec)
    return spec


def check_fcn_vgg(spec: NetSpec) -> dict[str, Any]:
    """Validate options and stage records; returns the options with defaults filled in."""
    opts = check_options(spec, OPTIONS, free=("aspp_rates",), defaults=DEFAULTS)
    check_rates(opts["aspp_rates"])
    check_stages(spec, "encoder", (("conv", 2),) * len(spec.encoder))
    check_stages(spec, "decoder", (("aspp", 1), *(("fusion", 2),) * len(spec.encoder)))
    return opts


def _unit_inputs(cin: int, stage: StageSpec) -> list[int]:
    """Input channels of a stage's `depth` 3x3 units."""
    return [cin if j == 0 else stage.width for j in range(stage.depth)]


class VGGStage(nn.Module):
    """`depth` VGG units (3x3 conv with bias, BN, ReLU), then the downsampling: a strided unit in place of
    VGG's max pool ("conv") or the max pool itself ("pool"); returns (skip, downsampled)."""

    def __init__(self, cin: int, stage: StageSpec, downsample: str) -> None:
        super().__init__()
        self.units = nn.Sequential(*(ConvBNReLU(c, stage.width, bias=True) for c in _unit_inputs(cin, stage)))
        self.down = (ConvBNReLU(stage.width, stage.width, 3, stage.stride, bias=True) if downsample == "conv"
                     else nn.MaxPool2d(stage.stride))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.units(x)
        return skip, self.down(skip)

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, stage: StageSpec, downsample: str) -> HW:
        """Its units and the downsampling; returns the downsampled (H, W)."""
        for c in _unit_inputs(cin, stage):
            ConvBNReLU.cost(sheet, key, hw, c, stage.width, bias=True)
        if downsample == "conv":
            return ConvBNReLU.cost(sheet, key, hw, stage.width, stage.width, 3, stage.stride, bias=True)
        return (hw[0] // stage.stride, hw[1] // stage.stride)


class VGGEncoder(nn.Module):
    """VGG16 blocks; features are the five skips then the stride-32 bottleneck (`out_channels` likewise)."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        cins = (spec.in_channels, *(s.width for s in spec.encoder[:-1]))
        downsample = spec.option("downsample", DEFAULTS["downsample"])
        self.stages = nn.ModuleList(VGGStage(c, s, downsample) for c, s in zip(cins, spec.encoder))
        self.out_channels = (*(s.width for s in spec.encoder), spec.encoder[-1].width)
        #: The strided convs replacing VGG's pooling: a torchvision vgg16_bn file has no weights for them.
        self.added_modules = tuple(f"stages.{i}.down." for i in range(len(self.stages)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            skip, x = stage(x)
            features.append(skip)
        return [*features, x]

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec) -> list[tuple[int, HW]]:
        """The stages' costs; returns the skips' and the bottleneck's (channels, (H, W))."""
        hw, cin, features = spec.input_size, spec.in_channels, []
        downsample = spec.option("downsample", DEFAULTS["downsample"])
        for i, stage in enumerate(spec.encoder):
            features.append((stage.width, hw))
            hw, cin = VGGStage.cost(sheet, f"encoder.{i}", hw, cin, stage, downsample), stage.width
        return [*features, (cin, hw)]

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


class ContextStage(nn.Module):
    """The ASPP (if on), then `depth` 3x3 conv-BN-ReLU units (the first reads the encoder without the ASPP)."""

    def __init__(self, cin: int, stage: StageSpec, rates: tuple[int, ...], aspp: bool) -> None:
        super().__init__()
        self.aspp = ASPP(cin, stage.width, rates) if aspp else nn.Identity()
        self.units = nn.Sequential(*(ConvBNReLU(c, stage.width, bias=True)
                                     for c in _unit_inputs(stage.width if aspp else cin, stage)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.aspp(x))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, stage: StageSpec, rates: tuple[int, ...], aspp: bool) -> HW:
        """The ASPP's and the units' costs."""
        if aspp:
            ASPP.cost(sheet, key, hw, cin, stage.width, rates)
        for c in _unit_inputs(stage.width if aspp else cin, stage):
            ConvBNReLU.cost(sheet, key, hw, c, stage.width, bias=True)
        return hw


class FusionStage(nn.Module):
    """2x transposed conv (then the attention), the skip fused (concat, or 1x1 projection and sum),
    `depth` 3x3 conv-BN-ReLU units, SE attention."""

    def __init__(self, cin: int, skip: int, stage: StageSpec, fusion: str, se: bool, attention: str) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, stage.width, stage.stride, stage.stride)
        self.fusion_attention = AttentionFusion.make(attention)
        self.project = nn.Conv2d(skip, stage.width, 1) if skip and fusion == "sum" else None
        concat = skip if fusion == "concat" else 0
        self.units = nn.Sequential(*(ConvBNReLU(c, stage.width, bias=True)
                                     for c in _unit_inputs(stage.width + concat, stage)))
        self.attention = SqueezeExcite(stage.width) if se else nn.Identity()  # the paper's "attention" is SE

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = self.fusion_attention(self.up(x))
        if self.project is not None:
            x = x + self.project(skip)
        elif skip is not None:
            x = torch.cat([skip, x], dim=1)
        return self.attention(self.units(x))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, skip: int, stage: StageSpec, fusion: str, se: bool,
             attention: str) -> HW:
        """Its layers' costs; returns the upsampled (H, W)."""
        hw = sheet.conv_transpose(key, hw, cin, stage.width, stage.stride, stage.stride)
        AttentionFusion.cost(sheet, key, hw, stage.width, attention)
        if skip and fusion == "sum":
            sheet.conv(key, hw, skip, stage.width, 1, bias=True)
        for c in _unit_inputs(stage.width + (skip if fusion == "concat" else 0), stage):
            ConvBNReLU.cost(sheet, key, hw, c, stage.width, bias=True)
        return SqueezeExcite.cost(sheet, key, hw, stage.width) if se else hw


def _fusion_plan(spec: NetSpec, encoder_channels: tuple[int, ...]) -> list[tuple[Any, ...]]:
    """FusionStage's args per stage; skip widths come from the encoder's contract (0 without skips)."""
    opts = {**DEFAULTS, **spec.opts}
    context, *fusions = spec.decoder
    skips = tuple(reversed(encoder_channels[:-1])) if opts["skips"] else (0,) * len(fusions)
    cins = (context.width, *(s.width for s in fusions[:-1]))
    return [(c, k, s, opts["skip_fusion"], opts["se"], opts["fusion_attention"])
            for c, k, s in zip(cins, skips, fusions)]


class Decoder(nn.Module):
    """The context stage then the fusion stages; input widths come from `encoder_channels`."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        opts = {**DEFAULTS, **spec.opts}
        self.skips = opts["skips"]
        self.stages = nn.ModuleList([ContextStage(encoder_channels[-1], spec.decoder[0], opts["aspp_rates"],
                                                  opts["aspp"]),
                                     *(FusionStage(*args) for args in _fusion_plan(spec, encoder_channels))])
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.stages[0](features[-1])
        for stage, skip in zip(self.stages[1:], reversed(features[:-1])):
            x = stage(x, skip if self.skips else None)
        return x

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec, features: list[tuple[int, HW]]) -> tuple[int, HW]:
        """The stages' costs; returns the output's (channels, (H, W))."""
        opts = {**DEFAULTS, **spec.opts}
        cin, hw = features[-1]
        ContextStage.cost(sheet, "decoder.0", hw, cin, spec.decoder[0], opts["aspp_rates"], opts["aspp"])
        for j, args in enumerate(_fusion_plan(spec, tuple(c for c, _ in features)), start=1):
            hw = FusionStage.cost(sheet, f"decoder.{j}", hw, *args)
        return spec.decoder[-1].width, hw


class FCNVGG(SegmentationNet):
    """VGG16 encoder, ASPP + SE fusion decoder and a 1x1 head joined by the channel contract."""

    Encoder = VGGEncoder
    Decoder = Decoder


register(Family("fcn_vgg", fcn_vgg_spec, FCNVGG, check_fcn_vgg,
                "FCN on VGG16 (strided convs for pooling) with ASPP and SE attention in a 5-stage decoder",
                presets={"paper": PAPER}))
