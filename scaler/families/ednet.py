"""EDNet and its baseline FCN-ResNet50: a ResNet encoder with a spatial information branch (SIM) and a
global pooling module (GPM), and a decoder of feature fusion (FFM) + boundary refinement (BRM) modules.

Each module is a switch (options `sim`, `gpm`, `ffm`, `brm`, booleans), the steps of the paper's
ablation (Table 2: FCN-ResNet50 -> +SIM -> +GPM -> +FFM -> +BRM). Family `ednet` has all four on
(the paper's EDNet, 30.59M params at 21 classes; the paper reports 30.11M: +1.6%); family
`fcn_resnet` is the same builder with all four off (the paper's FCN-ResNet50 baseline, 24.25M; the
paper reports 24.23M: +0.1%), so each ablation row is one switch away from its neighbours.
`fusion_attention` (none, avg, max, avgmax) attends each decoder stage's upsampled previous map.

Where the paper is vague, the choices:
- Encoder (as the paper counts it): the ResNet, the SIM and the GPM, so encoder-only (asymmetric)
  scaling grows all three. The GPM has width G = make_divisible(3/32 x the last stage's width)
  (192 for ResNet-50) and the SIM's four conv widths are G/16, G/8, G/4, G/2 (make_divisible):
  both follow the encoder's width. GPM: global average pool of the last feature, 1x1 conv (bias,
  no BN: BN on a 1x1 map fails at batch size 1), ReLU, broadcast back (scaler's PoolBranch). SIM:
  four modules on the image, each a 3x3 stride-2 conv-BN-ReLU beside a 3x3 stride-2 average pool of
  the same input, concatenated; outputs at strides 2, 4, 8, 16 (the last three are guides).
- Decoder: one stage per encoder stage, deep to shallow (strides 32, 16, 8, 4), each of width D
  (192 in the base; with D = 192 the all-off network lands on the paper's FCN-ResNet50 size).
  A stage: reduce the encoder feature by a 1x1 conv-BN-ReLU to D (the FCN's lateral); with a guide
  (GPM for stage 0, else the SIM output at the same stride) concatenate it and fuse by a 1x1
  conv-BN-ReLU to D; FFM adds a residual unit with SE channel attention (RCAN's RCAB). Then the
  previous stage's output upsampled 2x (bilinear): BRM concatenates it, 1x1 conv-BN-ReLU to D,
  and `depth` residual refinement units (DFN's RRB); without BRM it is added (FCN's skip sum,
  stages then share one width) and `depth` - 1 refinement units follow, so depth scaling has a
  unit to repeat in the baseline too.
- Head: a 1x1 conv (bias) to the classes at stride 4, upsampled bilinearly to the input.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scaler.errors import SpecError
from scaler.families._base import SegmentationNet
from scaler.families._blocks import (
    ATTENTION_MODES, HW, AttentionFusion, ConvBNReLU, PoolBranch, SqueezeExcite, collect, resize,
)
from scaler.families._registry import Family, check_options, check_stages, register
from scaler.families._resnet import RESNETS, ResNetEncoder, check_resnet, resnet_stages
from scaler.rounding import make_divisible
from scaler.spec import NetSpec, StageSpec

__all__ = ["ednet_spec", "fcn_resnet_spec", "check_ednet", "guide_widths", "EDNet", "SWITCHES"]

#: Decoder width of the base: 192 lands EDNet within 1.6% and FCN-ResNet50 within 0.1% of the paper's sizes.
DECODER_WIDTH = 192
#: The ablation's modules, in the paper's order.
SWITCHES = ("sim", "gpm", "ffm", "brm")
FLAGS = (True, False)
OPTIONS = {"encoder": tuple(RESNETS), "fusion_attention": ATTENTION_MODES, **{s: FLAGS for s in SWITCHES}}
#: Options a spec may leave out (from JSON): a family's own switches are its defaults.
DEFAULTS = {"ednet": {"fusion_attention": "none", **{s: True for s in SWITCHES}},
            "fcn_resnet": {"fusion_attention": "none", **{s: False for s in SWITCHES}}}


def ednet_spec(encoder: str = "resnet50", classes: int = 21, in_channels: int = 3,
               input_size: tuple[int, int] = (512, 512), decoder_width: int = DECODER_WIDTH, width: int = 64,
               sim: bool = True, gpm: bool = True, ffm: bool = True, brm: bool = True,
               fusion_attention: str = "none") -> NetSpec:
    """The base EDNet: a ResNet of base `width` (its stem's) with SIM and GPM, four decoder stages of `decoder_width`."""
    stages = resnet_stages(encoder, width)
    decoder = tuple(StageSpec(1, decoder_width, "fusion", 1 if j == 0 else 2) for j in range(len(stages)))
    spec = NetSpec("ednet", in_channels, classes, input_size, stages, decoder,
                   {"encoder": encoder, "fusion_attention": fusion_attention, "sim": sim, "gpm": gpm, "ffm": ffm,
                    "brm": brm})
    check_ednet(spec)
    return spec


def fcn_resnet_spec(**options: Any) -> NetSpec:
    """The base FCN-ResNet50 of the EDNet paper: `ednet_spec`'s network with every module off by default
    (switch one on for an ablation row); same options."""
    spec = replace(ednet_spec(**{**{s: False for s in SWITCHES}, **options}), family="fcn_resnet")
    check_ednet(spec)
    return spec


def check_ednet(spec: NetSpec) -> dict[str, Any]:
    """Validate options and stage records; returns the options with defaults filled in."""
    opts = check_options(spec, OPTIONS, defaults=DEFAULTS.get(spec.family, DEFAULTS["ednet"]))
    check_resnet(spec)
    check_stages(spec, "decoder", (("fusion", 1), *(("fusion", 2),) * (len(spec.encoder) - 1)))
    if not opts["brm"] and len({s.width for s in spec.decoder}) != 1:
        raise SpecError(f"without brm the {spec.family} decoder stages are added, so they need one width; "
                        f"got {[s.width for s in spec.decoder]}")
    return opts


def _options(spec: NetSpec) -> dict[str, Any]:
    """The spec's options with the family's defaults filled in (the spec is validated already)."""
    return {**DEFAULTS.get(spec.family, DEFAULTS["ednet"]), **spec.opts}


def guide_widths(spec: NetSpec) -> tuple[int, tuple[int, ...]]:
    """(GPM width, SIM conv widths): G = make_divisible(3/32 x last encoder width), then G/16, G/8, G/4, G/2."""
    gpm = make_divisible(spec.encoder[-1].width * 3 / 32)
    return gpm, tuple(make_divisible(gpm / 2 ** (4 - k)) for k in range(4))


class SpatialModule(nn.Module):
    """A 3x3 stride-2 conv-BN-ReLU and a 3x3 stride-2 average pool in parallel, concatenated."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, width, 3, stride=2)
        self.pool = nn.AvgPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.pool(x)], dim=1)

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, width: int) -> HW:
        """The conv's cost (the pool beside it has the same output size)."""
        return ConvBNReLU.cost(sheet, key, hw, cin, width, 3, stride=2)


def _spatial_inputs(cin: int, widths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(input channels, conv width) of each spatial module: each module adds its conv's width."""
    plan = []
    for width in widths:
        plan.append((cin, width))
        cin += width
    return plan


class SpatialBranch(nn.Module):
    """The SIM: four spatial modules on the image; returns the outputs at strides 2, 4, 8, 16."""

    def __init__(self, cin: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SpatialModule(c, w) for c, w in _spatial_inputs(cin, widths))
        self.out_channels = tuple(c + w for c, w in _spatial_inputs(cin, widths))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return collect(self.blocks, x)

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, widths: tuple[int, ...]) -> list[tuple[int, HW]]:
        """The modules' costs; returns each output's (channels, (H, W))."""
        outputs = []
        for c, w in _spatial_inputs(cin, widths):
            hw = SpatialModule.cost(sheet, key, hw, c, w)
            outputs.append((c + w, hw))
        return outputs


class EDNetEncoder(ResNetEncoder):
    """The ResNet plus (switches permitting) the GPM and the SIM; returns the four ResNet features, then
    one guide per decoder stage (GPM, SIM at strides 16, 8, 4), None where switched off (width 0)."""

    #: Modules a torchvision ResNet file has no weights for (they stay at init when it is loaded).
    added_modules = ("spatial.", "gpm.")

    def __init__(self, spec: NetSpec) -> None:
        super().__init__(spec)
        opts, (gpm, sim) = _options(spec), guide_widths(spec)
        self.spatial = SpatialBranch(spec.in_channels, sim) if opts["sim"] else None
        self.gpm = PoolBranch(self.out_channels[-1], gpm) if opts["gpm"] else None
        spatial = tuple(reversed(self.spatial.out_channels[1:])) if self.spatial is not None else (0, 0, 0)
        self.out_channels = (*self.out_channels, gpm if self.gpm is not None else 0, *spatial)

    def forward(self, x: torch.Tensor) -> list[Any]:
        features = super().forward(x)
        spatial = self.spatial(x) if self.spatial is not None else [None] * 4
        gpm = self.gpm(features[-1]) if self.gpm is not None else None
        return [*features, gpm, *reversed(spatial[1:])]

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec) -> list[Any]:
        """The ResNet's, the GPM's and the SIM's costs; returns the features then the guides ((0, None): off)."""
        features = super().cost(sheet, spec)
        opts, (gpm, sim) = _options(spec), guide_widths(spec)
        guides: list[Any] = [(0, None)] * 4
        if opts["gpm"]:
            channels, hw = features[-1]
            guides[0] = (gpm, PoolBranch.cost(sheet, "encoder", hw, channels, gpm))
        if opts["sim"]:
            guides[1:] = reversed(SpatialBranch.cost(sheet, "encoder", spec.input_size, spec.in_channels, sim)[1:])
        return [*features, *guides]


class ResidualUnit(nn.Module):
    """3x3 conv-BN-ReLU, 3x3 conv-BN, optional SE channel attention, plus the input, ReLU."""

    def __init__(self, width: int, attention: bool) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(width, width, 3)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.attention = SqueezeExcite(width) if attention else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.attention(self.bn2(self.conv2(self.conv1(x)))))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, width: int, attention: bool) -> HW:
        """Its two convs, BNs and (with attention) the SE block."""
        ConvBNReLU.cost(sheet, key, hw, width, width, 3)
        sheet.conv(key, hw, width, width, 3)
        sheet.norm(key, width)
        return SqueezeExcite.cost(sheet, key, hw, width) if attention else hw


def _refinements(stage: StageSpec, brm: bool) -> int:
    """Refinement units of a stage: its depth with BRM, one fewer without (the baseline has none)."""
    return stage.depth if brm else stage.depth - 1


class DecoderStage(nn.Module):
    """Reduce the encoder feature; fuse the guide (if any); FFM; merge the upsampled previous stage
    (concat + 1x1 with BRM, a sum without); refinement units."""

    def __init__(self, skip: int, guide: int, previous: int, stage: StageSpec, ffm: bool, brm: bool,
                 attention: str) -> None:
        super().__init__()
        width = stage.width
        self.reduce = ConvBNReLU(skip, width, 1)
        self.fuse = ConvBNReLU(width + guide, width, 1) if guide else None
        self.attend = ResidualUnit(width, attention=True) if ffm else None
        self.attention = AttentionFusion.make(attention if previous else "none")
        self.merge = ConvBNReLU(width + previous, width, 1) if brm else None
        self.refine = nn.Sequential(*(ResidualUnit(width, attention=False) for _ in range(_refinements(stage, brm))))

    def forward(self, skip: torch.Tensor, guide: torch.Tensor | None, previous: torch.Tensor | None) -> torch.Tensor:
        x = self.reduce(skip)
        if self.fuse is not None:
            x = self.fuse(torch.cat([x, guide], dim=1))
        if self.attend is not None:
            x = self.attend(x)
        if previous is not None:
            up = self.attention(resize(previous, x.shape[-2:]))
            x = x + up if self.merge is None else torch.cat([x, up], dim=1)
        if self.merge is not None:
            x = self.merge(x)
        return self.refine(x)

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, skip: int, guide: int, previous: int, stage: StageSpec, ffm: bool,
             brm: bool, attention: str) -> HW:
        """Its modules' costs at the skip's size `hw`."""
        width = stage.width
        ConvBNReLU.cost(sheet, key, hw, skip, width, 1)
        if guide:
            ConvBNReLU.cost(sheet, key, hw, width + guide, width, 1)
        if ffm:
            ResidualUnit.cost(sheet, key, hw, width, True)
        if previous:
            AttentionFusion.cost(sheet, key, hw, previous, attention)
        if brm:
            ConvBNReLU.cost(sheet, key, hw, width + previous, width, 1)
        for _ in range(_refinements(stage, brm)):
            ResidualUnit.cost(sheet, key, hw, width, False)
        return hw


def _decoder_plan(spec: NetSpec, encoder_channels: tuple[int, ...]) -> list[tuple[Any, ...]]:
    """DecoderStage's args per stage, deep to shallow; skip and guide widths come from the encoder's contract."""
    opts = _options(spec)
    previous = (0, *(s.width for s in spec.decoder[:-1]))
    return [(skip, guide, prev, stage, opts["ffm"], opts["brm"], opts["fusion_attention"]) for skip, guide, prev, stage
            in zip(reversed(encoder_channels[:4]), encoder_channels[4:], previous, spec.decoder)]


class Decoder(nn.Module):
    """Four stages, deep to shallow; every input width comes from `encoder_channels`."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(DecoderStage(*args) for args in _decoder_plan(spec, encoder_channels))
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[Any]) -> torch.Tensor:
        x = None
        for stage, skip, guide in zip(self.stages, reversed(features[:4]), features[4:]):
            x = stage(skip, guide, x)
        return x

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec, features: list[Any]) -> tuple[int, HW]:
        """The stages' costs; returns the output's (channels, (H, W))."""
        channels = tuple(c for c, _ in features)
        for j, (args, (_, hw)) in enumerate(zip(_decoder_plan(spec, channels), reversed(features[:4]))):
            hw = DecoderStage.cost(sheet, f"decoder.{j}", hw, *args)
        return spec.decoder[-1].width, hw


class EDNet(SegmentationNet):
    """ResNet + SIM + GPM encoder, fusion/refinement decoder and a 1x1 head, upsampled to the input."""

    Encoder = EDNetEncoder
    Decoder = Decoder


register(Family("ednet", ednet_spec, EDNet, check_ednet,
                "EDNet: ResNet-50 + spatial branch + global pooling, fusion + boundary refinement (switchable)",
                presets={"paper": {}}))
register(Family("fcn_resnet", fcn_resnet_spec, EDNet, check_ednet,
                "FCN-ResNet50, EDNet's baseline: 1x1 laterals, upsample-and-add skips (EDNet with modules off)",
                presets={"paper": {}}))
