"""The ResNet encoder shared by ednet, deeplabv3 and fpn, as per-stage records plus its analytic cost.

A ResNet stage is StageSpec(depth=blocks, width=output channels, block="basic"|"bottleneck", stride).
Choices that make "encoder width x1.4" mean something:
- a bottleneck's inner width is make_divisible(width / 4) (torchvision: planes = width / expansion);
- the stem (7x7 stride-2 conv + 3x3 stride-2 max pool) lives in stage 0, whose entry stride is 4,
  so `spec.total_stride` is the network's (32); its width is stage 0's inner width (64 in the base
  ResNet-18 and ResNet-50, as torchvision's) and scales with it;
- a later stage at stride 1 keeps the resolution and doubles the dilation instead (DeepLab's atrous
  ResNet, torchvision's replace_stride_with_dilation; the first block of such a stage keeps the
  previous dilation, as torchvision's). Dilation changes neither params nor MACs.
Module names follow torchvision inside each block (conv1, bn1, ..., downsample.0/.1) so that
`scaler.families._pretrained` maps torchvision ResNet state_dicts with a fixed renaming.
"""
from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from scaler.errors import SpecError
from scaler.families._registry import check_choice
from scaler.families._blocks import pool_out
from scaler.rounding import make_divisible
from scaler.spec import NetSpec, StageSpec

__all__ = ["RESNETS", "EXPANSION", "resnet_stages", "ResNetEncoder", "resnet_cost", "inner_width"]

#: name -> (block, blocks per stage), He et al. 2016.
RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}
EXPANSION = {"basic": 1, "bottleneck": 4}
OUTPUT_STRIDES = (8, 16, 32)
HW = tuple[int, int]


def resnet_stages(encoder: str = "resnet50", base_width: int = 64, output_stride: int = 32) -> tuple[StageSpec, ...]:
    """The four stages of a named ResNet; output stride 16 or 8 trades the last strides for dilation."""
    block, depths = RESNETS[check_choice("encoder", encoder, tuple(RESNETS))]
    check_choice("output_stride", output_stride, OUTPUT_STRIDES)
    strides = [4, 2, 2, 2]
    for i in range({32: 0, 16: 1, 8: 2}[output_stride]):
        strides[3 - i] = 1
    return tuple(StageSpec(d, base_width * 2**i * EXPANSION[block], block, s)
                 for i, (d, s) in enumerate(zip(depths, strides)))


def inner_width(stage: StageSpec) -> int:
    """Width of a block's 3x3 conv: the stage width for a basic block, make_divisible(width / 4) for a bottleneck."""
    return stage.width if stage.block == "basic" else make_divisible(stage.width / EXPANSION[stage.block])


def _check(stages: tuple[StageSpec, ...]) -> list[int]:
    """Validate ResNet stage records; returns each stage's dilation."""
    dilations, dilation = [], 1
    for i, stage in enumerate(stages):
        check_choice("resnet block", stage.block, tuple(EXPANSION))
        valid = (4,) if i == 0 else (1, 2)
        if stage.stride not in valid:
            raise SpecError(f"resnet stage {i} stride {stage.stride} is not supported; valid: "
                            f"{', '.join(map(str, valid))} (stage 0 holds the stride-4 stem)")
        if i > 0 and stage.stride == 1:
            dilation *= 2
        dilations.append(dilation)
    return dilations


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, width: int, inner: int, stride: int, dilation: tuple[int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, inner, 3, stride, dilation[0], dilation[0], bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, width, 3, 1, dilation[1], dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 down to `inner`, 3x3 (stride, dilation), 1x1 up to `width`, BN after each (ResNet v1.5)."""

    def __init__(self, cin: int, width: int, inner: int, stride: int, dilation: tuple[int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, dilation[0], dilation[0], bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(y)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


def _shortcut(cin: int, width: int, stride: int) -> nn.Module | None:
    """A 1x1 conv + BN projection where the block changes size or channels, else None (identity)."""
    if stride == 1 and cin == width:
        return None
    return nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNetStage(nn.Module):
    """One stage: (stage 0 only) the stem, then `depth` blocks; the first may downsample."""

    def __init__(self, cin: int, stage: StageSpec, stem: int | None, dilation: tuple[int, int]) -> None:
        super().__init__()
        self.stem = None
        if stem is not None:
            self.stem = nn.Sequential(nn.Conv2d(cin, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
            cin = stem
        block, inner, stride = BLOCKS[stage.block], inner_width(stage), 1 if stem is not None else stage.stride
        self.blocks = nn.Sequential(*(
            block(cin if j == 0 else stage.width, stage.width, inner, stride if j == 0 else 1,
                  (dilation[0], dilation[1]) if j == 0 else (dilation[1], dilation[1]))
            for j in range(stage.depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x if self.stem is None else self.stem(x))


class ResNetEncoder(nn.Module):
    """A ResNet from the spec's encoder records; `out_channels` (one per stage) is the decoder's contract."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        dilations = _check(spec.encoder)
        cin, stages = spec.in_channels, []
        for i, stage in enumerate(spec.encoder):
            previous = dilations[i - 1] if i else 1
            stages.append(ResNetStage(cin, stage, inner_width(stage) if i == 0 else None, (previous, dilations[i])))
            cin = stage.width
        self.stages = nn.ModuleList(stages)
        self.out_channels = tuple(s.width for s in spec.encoder)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    @staticmethod
    def torchvision_key(key: str) -> str | None:
        """The name in this encoder of a torchvision ResNet state_dict key (None: not an encoder weight)."""
        stem = {"conv1": "stages.0.stem.0", "bn1": "stages.0.stem.1"}
        head, _, rest = key.partition(".")
        if head in stem:
            return f"{stem[head]}.{rest}"
        match = re.fullmatch(r"layer(\d+)\.(\d+)\.(.+)", key)
        if match:
            return f"stages.{int(match.group(1)) - 1}.blocks.{match.group(2)}.{match.group(3)}"
        return None  # fc.*: the classifier has no place in a segmentation encoder


def resnet_cost(spec: NetSpec, sheet: Any) -> list[tuple[int, HW]]:
    """Cost of the spec's ResNet encoder; returns (channels, (H, W)) of each stage's output."""
    _check(spec.encoder)
    hw, cin, outputs = spec.input_size, spec.in_channels, []
    for i, stage in enumerate(spec.encoder):
        key, inner, stride = f"encoder.{i}", inner_width(stage), stage.stride
        if i == 0:
            hw = sheet.conv(key, hw, cin, inner, 7, 2, padding=3)
            sheet.norm(key, inner)
            hw, cin, stride = pool_out(hw, 3, 2, 1), inner, 1
        for j in range(stage.depth):
            block_in, block_stride = (cin, stride) if j == 0 else (stage.width, 1)
            if stage.block == "basic":
                out = sheet.conv(key, hw, block_in, inner, 3, block_stride)
                sheet.norm(key, inner)
                sheet.conv(key, out, inner, stage.width, 3)
            else:
                sheet.conv(key, hw, block_in, inner, 1)
                sheet.norm(key, inner)
                out = sheet.conv(key, hw, inner, inner, 3, block_stride)
                sheet.norm(key, inner)
                sheet.conv(key, out, inner, stage.width, 1)
            sheet.norm(key, stage.width)
            if block_stride != 1 or block_in != stage.width:
                sheet.conv(key, hw, block_in, stage.width, 1, block_stride)
                sheet.norm(key, stage.width)
            hw = out
        cin = stage.width
        outputs.append((cin, hw))
    return outputs
