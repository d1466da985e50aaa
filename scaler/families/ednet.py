"""EDNet: a ResNet-50 encoder, a spatial information branch, a global pooling module, and a decoder of
feature fusion + boundary refinement modules joined by 2x bilinear upsampling.

Where the paper is vague, the choices (the base has 30,587,293 params at 21 classes; the paper
reports 30.11M: +1.6%):
- The decoder has one stage per encoder stage, deep to shallow (strides 32, 16, 8, 4), each of width
  D = 192. A stage is a feature fusion module (FFM) then a boundary refinement module (BRM):
  FFM: 1x1 conv reducing the encoder feature to D, concatenated with a guide feature, 1x1 conv to D,
  then a residual unit with channel attention (3x3 conv-BN-ReLU, 3x3 conv-BN, SE with reduction 16,
  plus the input, ReLU; RCAN's RCAB). The guide of stage 0 is the global pooling module's output,
  the guide of the others the spatial branch's output at the same stride.
  BRM: the FFM output concatenated with the previous stage's output upsampled 2x (bilinear; stage 0
  has no previous stage), 1x1 conv to D, then `depth` residual refinement units (3x3 conv-BN-ReLU,
  3x3 conv-BN, plus the input, ReLU; DFN's RRB). Depth scaling repeats the refinement unit.
- The global pooling module: global average pool of the last encoder feature, 1x1 conv (bias, no BN:
  BN on a 1x1 map fails at batch size 1) to D, ReLU, broadcast back to the stride-32 map.
- The spatial information branch works on the input image: four modules, each a 3x3 stride-2
  conv-BN-ReLU and a 3x3 stride-2 average pool of the same input in parallel, concatenated (so the
  channels grow by the conv's width). Outputs at strides 2, 4, 8, 16; the last three guide decoder
  stages 1-3. The conv widths are D0/16, D0/8, D0/4, D0/2 (D0 = decoder stage 0's width, rounded by
  make_divisible), so decoder width scaling scales the branch and encoder-only scaling leaves it.
- The head is a 1x1 conv (bias) to the classes at stride 4, upsampled 4x (bilinear) to the input.
Only layers that read encoder features (the FFM reducing convs and the global pooling conv) see the
encoder's widths, read from `encoder.out_channels`.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scaler.errors import SpecError
from scaler.families._registry import Family, register
from scaler.families._blocks import (
    ConvBNReLU, SqueezeExcite, check_options, conv_bn_cost, init_weights, se_cost,
)
from scaler.families._resnet import RESNETS, ResNetEncoder, resnet_cost, resnet_stages
from scaler.rounding import make_divisible
from scaler.spec import NetSpec, StageSpec

__all__ = ["ednet_spec", "EDNet", "ednet_cost"]

#: Decoder width of the base: 192 lands the ResNet-50 base within 1.6% of the paper's 30.11M params.
DECODER_WIDTH = 192
OPTIONS = {"encoder": tuple(RESNETS)}
HW = tuple[int, int]


def ednet_spec(
    encoder: str = "resnet50",
    classes: int = 21,
    in_channels: int = 3,
    input_size: tuple[int, int] = (512, 512),
    decoder_width: int = DECODER_WIDTH,
    width: int = 64,
) -> NetSpec:
    """The base EDNet: a ResNet of base `width` (its stem's) and four fusion+refinement stages of `decoder_width`."""
    encoder_stages = resnet_stages(encoder, width)
    decoder = tuple(StageSpec(1, decoder_width, "fusion", 1 if j == 0 else 2) for j in range(len(encoder_stages)))
    return NetSpec("ednet", in_channels, classes, input_size, encoder_stages, decoder, {"encoder": encoder})


def _check(spec: NetSpec) -> None:
    """Validate options and the decoder records."""
    check_options(spec, OPTIONS)
    if len(spec.decoder) != len(spec.encoder) or len(spec.encoder) != 4:
        raise SpecError(f"ednet needs 4 encoder and 4 decoder stages, got {len(spec.encoder)} and {len(spec.decoder)}")
    for j, stage in enumerate(spec.decoder):
        if stage.block != "fusion" or stage.stride != (1 if j == 0 else 2):
            raise SpecError(f"ednet decoder stage {j} must be a 'fusion' stage at stride {1 if j == 0 else 2}, "
                            f"got block {stage.block!r} stride {stage.stride}")


def spatial_widths(spec: NetSpec) -> tuple[int, ...]:
    """Conv widths of the four spatial-branch modules: D0/16, D0/8, D0/4, D0/2 (make_divisible)."""
    return tuple(make_divisible(spec.decoder[0].width / 2 ** (4 - k)) for k in range(4))


class SpatialModule(nn.Module):
    """A 3x3 stride-2 conv-BN-ReLU and a 3x3 stride-2 average pool in parallel, concatenated."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, width, 3, stride=2)
        self.pool = nn.AvgPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.pool(x)], dim=1)


class SpatialBranch(nn.Module):
    """Four spatial modules on the image; returns the outputs at strides 2, 4, 8, 16."""

    def __init__(self, cin: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        blocks, channels = [], []
        for width in widths:
            blocks.append(SpatialModule(cin, width))
            cin += width
            channels.append(cin)
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs


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


def _residual_cost(sheet: Any, key: str, hw: HW, width: int, attention: bool) -> None:
    """Cost of a ResidualUnit."""
    conv_bn_cost(sheet, key, hw, width, width, 3)
    conv_bn_cost(sheet, key, hw, width, width, 3)
    if attention:
        se_cost(sheet, key, width)


class GlobalPool(nn.Module):
    """Global average pool, 1x1 conv (bias, no BN), ReLU, broadcast back to the map size."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(F.adaptive_avg_pool2d(x, 1))).expand(-1, -1, *x.shape[-2:])


class DecoderStage(nn.Module):
    """FFM (reduce the encoder feature, concat the guide, 1x1, residual unit with channel attention),
    then BRM (concat the upsampled previous stage, 1x1, `depth` residual refinement units)."""

    def __init__(self, skip: int, guide: int, previous: int, stage: StageSpec) -> None:
        super().__init__()
        width = stage.width
        self.reduce = ConvBNReLU(skip, width, 1)
        self.fuse = ConvBNReLU(width + guide, width, 1)
        self.attend = ResidualUnit(width, attention=True)
        self.merge = ConvBNReLU(width + previous, width, 1)
        self.refine = nn.Sequential(*(ResidualUnit(width, attention=False) for _ in range(stage.depth)))

    def forward(self, skip: torch.Tensor, guide: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        x = self.attend(self.fuse(torch.cat([self.reduce(skip), guide], dim=1)))
        if previous is not None:
            previous = F.interpolate(previous, size=x.shape[-2:], mode="bilinear", align_corners=False)
            x = torch.cat([x, previous], dim=1)
        return self.refine(self.merge(x))


class Decoder(nn.Module):
    """Spatial branch, global pooling module and four stages; encoder widths come from `encoder_channels`."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.spatial = SpatialBranch(spec.in_channels, spatial_widths(spec))
        self.gpm = GlobalPool(encoder_channels[-1], spec.decoder[0].width)
        guides = (spec.decoder[0].width, *reversed(self.spatial.out_channels[1:]))
        previous = (0, *(s.width for s in spec.decoder[:-1]))
        self.stages = nn.ModuleList(DecoderStage(c, g, p, s) for c, g, p, s in
                                    zip(reversed(encoder_channels), guides, previous, spec.decoder))
        self.out_channels = spec.decoder[-1].width

    def forward(self, image: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        spatial = self.spatial(image)
        guides = [self.gpm(features[-1]), *reversed(spatial[1:])]
        x = None
        for stage, skip, guide in zip(self.stages, reversed(features), guides):
            x = stage(skip, guide, x)
        return x


class EDNet(nn.Module):
    """ResNet encoder, EDNet decoder and a 1x1 head joined by the channel contract."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        _check(spec)
        self.encoder = ResNetEncoder(spec)
        self.decoder = Decoder(spec, self.encoder.out_channels)
        self.head = nn.Conv2d(self.decoder.out_channels, spec.classes, 1)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.decoder(x, self.encoder(x)))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def ednet_cost(spec: NetSpec, sheet: Any) -> None:
    """Analytic cost of an EDNet spec, layer by layer as the builder makes them."""
    _check(spec)
    features = resnet_cost(spec, sheet)
    hw, cin, spatial = spec.input_size, spec.in_channels, []
    for width in spatial_widths(spec):
        hw = conv_bn_cost(sheet, "decoder", hw, cin, width, 3, stride=2)  # the pool beside it: same size
        cin += width
        spatial.append((cin, hw))
    d0 = spec.decoder[0].width
    sheet.conv("decoder", (1, 1), features[-1][0], d0, 1, bias=True)
    guides = [d0, *(c for c, _ in reversed(spatial[1:]))]
    previous = 0
    for j, (stage, (skip, hw), guide) in enumerate(zip(spec.decoder, reversed(features), guides)):
        key, width = f"decoder.{j}", stage.width
        conv_bn_cost(sheet, key, hw, skip, width, 1)
        conv_bn_cost(sheet, key, hw, width + guide, width, 1)
        _residual_cost(sheet, key, hw, width, attention=True)
        conv_bn_cost(sheet, key, hw, width + previous, width, 1)
        for _ in range(stage.depth):
            _residual_cost(sheet, key, hw, width, attention=False)
        previous = width
    sheet.conv("head", hw, spec.decoder[-1].width, spec.classes, 1, bias=True)


register(Family("ednet", ednet_spec, EDNet,
                "EDNet: ResNet-50 encoder, spatial branch, global pooling, feature fusion + boundary refinement",
                cost=ednet_cost))
