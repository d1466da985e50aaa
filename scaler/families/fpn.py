"""FPN and UperNet heads on a ResNet encoder, with the optional parameter-free attention fusion.

fpn (Lin et al. 2017, as a segmentation head), options `encoder`, `fusion_attention`: one decoder
stage per encoder stage, deep to shallow, StageSpec(units, width, "fpn", 1 then 2), all one width
(their maps are added): a 1x1 lateral conv (bias) of the encoder feature, plus the previous stage's
map upsampled 2x (nearest, as FPN's top-down path), then `units` 3x3 conv-BN-ReLU on the level's
output. The four outputs are upsampled bilinearly to stride 4 and summed (a simplified semantic FPN
merge), a 1x1 head makes the classes, upsampled 4x to the input.

upernet (Xiao et al. 2018, as mmsegmentation's UPerHead), options `encoder`, `fusion_attention`:
decoder stage 0 is StageSpec(units, width, "ppm", 1), the pyramid pooling module on the last
feature: average pools to 1, 2, 3 and 6 cells, each a 1x1 conv (bias, no BN: BN on a 1x1 map fails
at batch size 1) and ReLU to `width`, upsampled bilinearly and concatenated with the feature, then
`units` 3x3 conv-BN-ReLU (the PPM bottleneck). Stages 1-3 are FPN levels with 1x1 conv-BN-ReLU
laterals and bilinear top-down upsampling; the PPM output is the top level as it is. The four
outputs are upsampled to stride 4, concatenated and fused by a 3x3 conv-BN-ReLU to the last
stage's width; a 1x1 head. All stages share one width (512 in mmsegmentation and here).

fusion_attention ("none", "avg", "max", "avgmax"): an AttentionFusion (scaler.families._blocks)
after every upsampling of a learned map that precedes a fusion: fpn has six (three top-down, three
in the merge); upernet nine (the PPM's 2, 3 and 6 cell maps, three top-down, three in the merge).
Not on a broadcast (a 1-cell pool upsampled): its map is constant, where the attention is the
identity. Exactly 0 params and C*H*W MACs per module.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scaler.errors import SpecError
from scaler.families._base import SegmentationNet
from scaler.families._blocks import ATTENTION_MODES, HW, AttentionFusion, ConvBNReLU, PoolBranch, resize
from scaler.families._registry import Family, check_options, check_stages, register
from scaler.families._resnet import RESNETS, ResNetEncoder, check_resnet, resnet_stages
from scaler.spec import NetSpec, StageSpec

__all__ = ["fpn_spec", "upernet_spec", "check_fpn", "FPN", "UperNet", "PPM_SCALES"]

OPTIONS = {"encoder": tuple(RESNETS), "fusion_attention": ATTENTION_MODES}
#: Cells per side of the PPM's pools (PSPNet's, as UperNet's).
PPM_SCALES = (1, 2, 3, 6)


def _pyramid_spec(family: str, first: str, encoder: str, classes: int, in_channels: int,
                  input_size: tuple[int, int], decoder_width: int, fusion_attention: str, width: int) -> NetSpec:
    """A pyramid head's spec: stage 0 of block `first`, then three "fpn" stages, all `decoder_width` wide."""
    stages = resnet_stages(encoder, width)
    decoder = tuple(StageSpec(1, decoder_width, first if j == 0 else "fpn", 1 if j == 0 else 2)
                    for j in range(len(stages)))
    spec = NetSpec(family, in_channels, classes, input_size, stages, decoder,
                   {"encoder": encoder, "fusion_attention": fusion_attention})
    check_fpn(spec)
    return spec


def fpn_spec(encoder: str = "resnet50", classes: int = 21, in_channels: int = 3,
             input_size: tuple[int, int] = (512, 512), decoder_width: int = 256, fusion_attention: str = "none",
             width: int = 64) -> NetSpec:
    """The base FPN: a ResNet of base `width` and four pyramid levels of `decoder_width` channels (256, as FPN)."""
    return _pyramid_spec("fpn", "fpn", encoder, classes, in_channels, input_size, decoder_width, fusion_attention,
                         width)


def upernet_spec(encoder: str = "resnet50", classes: int = 21, in_channels: int = 3,
                 input_size: tuple[int, int] = (512, 512), decoder_width: int = 512, fusion_attention: str = "none",
                 width: int = 64) -> NetSpec:
    """The base UperNet: a ResNet of base `width`, a PPM and three FPN levels of `decoder_width` (512, as mmseg)."""
    return _pyramid_spec("upernet", "ppm", encoder, classes, in_channels, input_size, decoder_width,
                         fusion_attention, width)


def check_fpn(spec: NetSpec) -> dict[str, Any]:
    """Validate an fpn or upernet spec's options and stage records; returns the options with defaults."""
    opts = check_options(spec, OPTIONS, defaults={"fusion_attention": "none"})
    check_resnet(spec)
    first = "ppm" if spec.family == "upernet" else "fpn"
    check_stages(spec, "decoder", ((first, 1), *(("fpn", 2),) * (len(spec.encoder) - 1)))
    if len({s.width for s in spec.decoder}) != 1:
        raise SpecError(f"{spec.family} decoder stages are added, so they need one width; "
                        f"got {[s.width for s in spec.decoder]}")
    return opts


class PyramidLevel(nn.Module):
    """Lateral 1x1 conv (plain with bias, or conv-BN-ReLU) plus the upsampled (then attended) previous
    level, then `depth` 3x3 units. `merge_attention` attends this level's output once it is upsampled
    to stride 4 for the merge (absent on the last, stride-4 level)."""

    def __init__(self, cin: int, stage: StageSpec, attention: str, first: bool, last: bool,
                 lateral: str = "conv", mode: str = "nearest") -> None:
        super().__init__()
        self.mode = mode
        self.lateral = nn.Conv2d(cin, stage.width, 1) if lateral == "conv" else ConvBNReLU(cin, stage.width, 1)
        self.attention = AttentionFusion.make("none" if first else attention)
        self.units = nn.Sequential(*(ConvBNReLU(stage.width, stage.width) for _ in range(stage.depth)))
        self.merge_attention = AttentionFusion.make("none" if last else attention)

    def forward(self, skip: torch.Tensor, previous: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.lateral(skip)
        if previous is not None:
            x = x + self.attention(resize(previous, x.shape[-2:], self.mode))
        return x, self.units(x)

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, stage: StageSpec, attention: str, first: bool, last: bool,
             lateral: str = "conv", mode: str = "nearest", merge_hw: HW = (0, 0)) -> HW:
        """Its layers' costs at the encoder feature's size `hw`; `merge_hw` is the merge's (stride-4) size."""
        if lateral == "conv":
            sheet.conv(key, hw, cin, stage.width, 1, bias=True)
        else:
            ConvBNReLU.cost(sheet, key, hw, cin, stage.width, 1)
        AttentionFusion.cost(sheet, key, hw, stage.width, "none" if first else attention)
        for _ in range(stage.depth):
            ConvBNReLU.cost(sheet, key, hw, stage.width, stage.width)
        AttentionFusion.cost(sheet, key, merge_hw, stage.width, "none" if last else attention)
        return hw


class PPM(nn.Module):
    """Pyramid pooling: pooled branches (upsampled, then attended unless a broadcast), concatenated with
    the input, then `depth` 3x3 conv-BN-ReLU units; the top level of UperNet's pyramid."""

    def __init__(self, cin: int, stage: StageSpec, attention: str) -> None:
        super().__init__()
        self.branches = nn.ModuleList(PoolBranch(cin, stage.width, s) for s in PPM_SCALES)
        self.attentions = nn.ModuleList(AttentionFusion.make("none" if s == 1 else attention) for s in PPM_SCALES)
        concat = cin + len(PPM_SCALES) * stage.width
        self.units = nn.Sequential(*(ConvBNReLU(concat if j == 0 else stage.width, stage.width)
                                     for j in range(stage.depth)))
        self.merge_attention = AttentionFusion.make(attention)

    def forward(self, skip: torch.Tensor, previous: None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = [a(b(skip)) for b, a in zip(self.branches, self.attentions)]
        x = self.units(torch.cat([skip, *pooled], dim=1))
        return x, x

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, stage: StageSpec, attention: str, merge_hw: HW) -> HW:
        """Its layers' costs at the feature's size `hw`; `merge_hw` is the merge's (stride-4) size."""
        for scale in PPM_SCALES:
            PoolBranch.cost(sheet, key, hw, cin, stage.width, scale)
            AttentionFusion.cost(sheet, key, hw, stage.width, "none" if scale == 1 else attention)
        concat = cin + len(PPM_SCALES) * stage.width
        for j in range(stage.depth):
            ConvBNReLU.cost(sheet, key, hw, concat if j == 0 else stage.width, stage.width)
        AttentionFusion.cost(sheet, key, merge_hw, stage.width, attention)
        return hw


def _levels(spec: NetSpec, encoder_channels: tuple[int, ...]) -> list[tuple[Any, ...]]:
    """PyramidLevel's args per stage, deep to shallow (stage 0 of upernet is its PPM, args (cin, stage, attention))."""
    attention = spec.option("fusion_attention", "none")
    uper, last = spec.family == "upernet", len(spec.decoder) - 1
    style = ("conv_bn_relu", "bilinear") if uper else ("conv", "nearest")
    return [(cin, stage, attention) if uper and j == 0 else (cin, stage, attention, j == 0, j == last, *style)
            for j, (cin, stage) in enumerate(zip(reversed(encoder_channels), spec.decoder))]


class PyramidDecoder(nn.Module):
    """Top-down pyramid and the stride-4 merge: a sum (fpn) or a concatenation fused by a 3x3 unit
    (upernet); input widths come from `encoder_channels`."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        levels = _levels(spec, encoder_channels)
        self.stages = nn.ModuleList(PPM(*args) if len(args) == 3 else PyramidLevel(*args) for args in levels)
        width = spec.decoder[-1].width
        self.fuse = ConvBNReLU(len(levels) * width, width) if spec.family == "upernet" else None
        self.out_channels = width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x, outputs = None, []
        for level, skip in zip(self.stages, reversed(features)):
            x, out = level(skip, x)
            outputs.append(out)
        size = outputs[-1].shape[-2:]
        merged = [outputs[-1], *(level.merge_attention(resize(out, size))
                                 for level, out in zip(self.stages[:-1], outputs[:-1]))]
        if self.fuse is not None:
            return self.fuse(torch.cat(merged, dim=1))
        total = merged[0]
        for out in merged[1:]:
            total = total + out
        return total

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec, features: list[tuple[int, HW]]) -> tuple[int, HW]:
        """The levels' and the merge's costs; returns the output's (channels, (H, W))."""
        levels, merge_hw = _levels(spec, tuple(c for c, _ in features)), features[0][1]
        for j, (args, (_, hw)) in enumerate(zip(levels, reversed(features))):
            key = f"decoder.{j}"
            if len(args) == 3:
                PPM.cost(sheet, key, hw, *args, merge_hw)
            else:
                PyramidLevel.cost(sheet, key, hw, *args, merge_hw=merge_hw)
        width = spec.decoder[-1].width
        if spec.family == "upernet":
            ConvBNReLU.cost(sheet, "decoder", merge_hw, len(levels) * width, width)
        return width, merge_hw


class FPN(SegmentationNet):
    """ResNet encoder, FPN decoder and a 1x1 head, upsampled to the input."""

    Encoder = ResNetEncoder
    Decoder = PyramidDecoder


class UperNet(SegmentationNet):
    """ResNet encoder, UperNet decoder (PPM + FPN, concatenated merge) and a 1x1 head, upsampled to the input."""

    Encoder = ResNetEncoder
    Decoder = PyramidDecoder


register(Family("fpn", fpn_spec, FPN, check_fpn, "FPN segmentation head on a ResNet with optional attention fusion",
                presets={"paper": {"fusion_attention": "avg"}}))
register(Family("upernet", upernet_spec, UperNet, check_fpn,
                "UperNet (PPM + FPN, mmseg's UPerHead) on a ResNet with optional attention fusion",
                presets={"paper": {"fusion_attention": "avg"}}))
