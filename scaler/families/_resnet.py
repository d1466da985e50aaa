"""The ResNet encoder shared by ednet, fcn_resnet, deeplabv3, fpn and upernet; every module carries its cost.

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
from scaler.families._blocks import HW, collect, pool_out
from scaler.families._registry import check_choice
from scaler.rounding import make_divisible
from scaler.spec import NetSpec, StageSpec

__all__ = ["RESNETS", "EXPANSION", "resnet_stages", "check_resnet", "ResNetEncoder", "inner_width"]

#: name -> (block, blocks per stage), He et al. 2016.
RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}
EXPANSION = {"basic": 1, "bottleneck": 4}
OUTPUT_STRIDES = (8, 16, 32)


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


def check_resnet(spec: NetSpec) -> None:
    """Validate the spec's encoder as four ResNet stage records (stage 0 at stride 4, later ones 1 or 2)."""
    if len(spec.encoder) != 4:
        raise SpecError(f"a {spec.family} ResNet encoder needs 4 stages, got {len(spec.encoder)}")
    for i, stage in enumerate(spec.encoder):
        check_choice("resnet block", stage.block, tuple(EXPANSION))
        valid = (4,) if i == 0 else (1, 2)
        if stage.stride not in valid:
            raise SpecError(f"resnet stage {i} stride {stage.stride} is not supported; valid: "
                            f"{', '.join(map(str, valid))} (stage 0 holds the stride-4 stem)")


def _stage_plan(spec: NetSpec) -> list[tuple[int, StageSpec, int | None, tuple[int, int]]]:
    """Per stage: (input channels, record, stem width or None, (entry dilation, dilation)) — ResNetStage's args."""
    plan, cin, dilation = [], spec.in_channels, 1
    for i, stage in enumerate(spec.encoder):
        previous = dilation
        if i > 0 and stage.stride == 1:
            dilation *= 2
        plan.append((cin, stage, inner_width(stage) if i == 0 else None, (previous, dilation)))
        cin = stage.width
    return plan


def _block_plan(cin: int, stage: StageSpec, stride: int, dilation: tuple[int, int]) -> list[tuple[Any, ...]]:
    """Per block of a stage: (cin, width, inner, stride, dilation pair) — a block's args."""
    inner = inner_width(stage)
    return [(cin if j == 0 else stage.width, stage.width, inner, stride if j == 0 else 1,
             dilation if j == 0 else (dilation[1], dilation[1])) for j in range(stage.depth)]


class Shortcut(nn.Sequential):
    """A 1x1 conv + BN projection where a block changes size or channels (else the block has none)."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))

    @staticmethod
    def needed(cin: int, width: int, stride: int) -> bool:
        """Whether a block from `cin` to `width` at `stride` needs a projection."""
        return stride != 1 or cin != width

    @classmethod
    def make(cls, cin: int, width: int, stride: int) -> nn.Module | None:
        """The projection, or None (identity) where it is not needed."""
        return cls(cin, width, stride) if cls.needed(cin, width, stride) else None

    @classmethod
    def cost(cls, sheet: Any, key: str, hw: HW, cin: int, width: int, stride: int) -> None:
        """Its conv and BN, where it is needed."""
        if cls.needed(cin, width, stride):
            sheet.conv(key, hw, cin, width, 1, stride)
            sheet.norm(key, width)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, width: int, inner: int, stride: int, dilation: tuple[int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, inner, 3, stride, dilation[0], dilation[0], bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, width, 3, 1, dilation[1], dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = Shortcut.make(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, width: int, inner: int, stride: int,
             dilation: tuple[int, int]) -> HW:
        """Its convs, BNs and shortcut; returns the output (H, W)."""
        out = sheet.conv(key, hw, cin, inner, 3, stride)
        sheet.norm(key, inner)
        sheet.conv(key, out, inner, width, 3)
        sheet.norm(key, width)
        Shortcut.cost(sheet, key, hw, cin, width, stride)
        return out


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
        self.downsample = Shortcut.make(cin, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(y)))))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, width: int, inner: int, stride: int,
             dilation: tuple[int, int]) -> HW:
        """Its convs, BNs and shortcut; returns the output (H, W)."""
        sheet.conv(key, hw, cin, inner, 1)
        sheet.norm(key, inner)
        out = sheet.conv(key, hw, inner, inner, 3, stride)
        sheet.norm(key, inner)
        sheet.conv(key, out, inner, width, 1)
        sheet.norm(key, width)
        Shortcut.cost(sheet, key, hw, cin, width, stride)
        return out


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class Stem(nn.Sequential):
    """7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max pool (stride 4 in all)."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__(nn.Conv2d(cin, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, width: int) -> HW:
        """Its conv and BN; returns the pooled (H, W)."""
        out = sheet.conv(key, hw, cin, width, 7, 2, padding=3)
        sheet.norm(key, width)
        return pool_out(out, 3, 2, 1)


class ResNetStage(nn.Module):
    """One stage: (stage 0 only) the stem, then `depth` blocks; the first may downsample."""

    def __init__(self, cin: int, stage: StageSpec, stem: int | None, dilation: tuple[int, int]) -> None:
        super().__init__()
        self.stem = None if stem is None else Stem(cin, stem)
        cin, stride = (cin, stage.stride) if stem is None else (stem, 1)
        block = BLOCKS[stage.block]
        self.blocks = nn.Sequential(*(block(*args) for args in _block_plan(cin, stage, stride, dilation)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x if self.stem is None else self.stem(x))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, stage: StageSpec, stem: int | None,
             dilation: tuple[int, int]) -> HW:
        """The stem's and the blocks' costs; returns the output (H, W)."""
        if stem is not None:
            hw, cin = Stem.cost(sheet, key, hw, cin, stem), stem
        block = BLOCKS[stage.block]
        for args in _block_plan(cin, stage, stage.stride if stem is None else 1, dilation):
            hw = block.cost(sheet, key, hw, *args)
        return hw


class ResNetEncoder(nn.Module):
    """A ResNet from the spec's encoder records; `out_channels` (one per stage) is the decoder's contract."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.stages = nn.ModuleList(ResNetStage(*args) for args in _stage_plan(spec))
        self.out_channels: tuple[int, ...] = tuple(s.width for s in spec.encoder)

    def forward(self, x: torch.Tensor) -> list[Any]:
        return collect(self.stages, x)

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec) -> list[tuple[int, HW]]:
        """The stages' costs; returns each stage output's (channels, (H, W))."""
        hw, features = spec.input_size, []
        for i, args in enumerate(_stage_plan(spec)):
            hw = ResNetStage.cost(sheet, f"encoder.{i}", hw, *args)
            features.append((args[1].width, hw))
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
