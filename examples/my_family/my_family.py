"""my_family: a tiny encoder-decoder that plugs into scaler from its own package (entry point group
`scaler.families`), and then scales, trains, studies and reports like a built-in family.

Three strided conv stages down, two up (bilinear 2x, concat the skip, conv units), a 1x1 head.
Each module's `cost` records the layers its `__init__` makes, so counting needs no module at all.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scaler.families import ConvBNReLU, Family, SegmentationNet, check_options, check_stages, collect, resize
from scaler.spec import NetSpec, StageSpec


def my_family_spec(width: int = 16, classes: int = 2, in_channels: int = 3,
                   input_size: tuple[int, int] = (64, 64)) -> NetSpec:
    """The base network: encoder widths width * (1, 2, 4), decoder widths width * (2, 1), one unit each."""
    encoder = tuple(StageSpec(1, width * 2**i, "conv", 2) for i in range(3))
    decoder = tuple(StageSpec(1, width * 2**i, "conv", 2) for i in (1, 0))
    return NetSpec("my_family", in_channels, classes, input_size, encoder, decoder)


def check(spec: NetSpec) -> None:
    """Refuse what the builder cannot build (scaler runs it before building, counting and solving)."""
    check_options(spec, {})
    check_stages(spec, "encoder", (("conv", 2),) * 3)
    check_stages(spec, "decoder", (("conv", 2),) * 2)


def unit_inputs(cin: int, stage: StageSpec) -> list[int]:
    """Input channels of a stage's units: depth scaling repeats the unit at the stage's width."""
    return [cin if i == 0 else stage.width for i in range(stage.depth)]


class Down(nn.Sequential):
    """The stage's conv units, the first one strided."""

    def __init__(self, cin: int, stage: StageSpec) -> None:
        super().__init__(*(ConvBNReLU(c, stage.width, stride=stage.stride if i == 0 else 1)
                           for i, c in enumerate(unit_inputs(cin, stage))))

    @staticmethod
    def cost(sheet: Any, key: str, hw: tuple[int, int], cin: int, stage: StageSpec) -> tuple[int, int]:
        for i, c in enumerate(unit_inputs(cin, stage)):
            hw = ConvBNReLU.cost(sheet, key, hw, c, stage.width, stride=stage.stride if i == 0 else 1)
        return hw


class Encoder(nn.Module):
    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        cins = (spec.in_channels, *(s.width for s in spec.encoder[:-1]))
        self.stages = nn.ModuleList(Down(c, s) for c, s in zip(cins, spec.encoder))
        self.out_channels = tuple(s.width for s in spec.encoder)  # the contract the decoder reads

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return collect(self.stages, x)

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec) -> list[tuple[int, tuple[int, int]]]:
        hw, cin, features = spec.input_size, spec.in_channels, []
        for i, stage in enumerate(spec.encoder):
            hw, cin = Down.cost(sheet, f"encoder.{i}", hw, cin, stage), stage.width
            features.append((cin, hw))
        return features


class Up(nn.Module):
    """Bilinear upsampling to the skip's size, concat the skip, the stage's conv units."""

    def __init__(self, cin: int, skip: int, stage: StageSpec) -> None:
        super().__init__()
        self.units = nn.Sequential(*(ConvBNReLU(c, stage.width) for c in unit_inputs(cin + skip, stage)))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.units(torch.cat([resize(x, skip.shape[-2:]), skip], dim=1))

    @staticmethod
    def cost(sheet: Any, key: str, hw: tuple[int, int], cin: int, skip: int, stage: StageSpec) -> tuple[int, int]:
        hw = (hw[0] * stage.stride, hw[1] * stage.stride)
        for c in unit_inputs(cin + skip, stage):
            ConvBNReLU.cost(sheet, key, hw, c, stage.width)
        return hw


def decoder_plan(spec: NetSpec, encoder_channels: tuple[int, ...]) -> list[tuple[int, int, StageSpec]]:
    """(input, skip, record) per decoder stage: the widths it reads come from the encoder's contract."""
    cins = (encoder_channels[-1], *(s.width for s in spec.decoder[:-1]))
    return list(zip(cins, encoder_channels[-2::-1], spec.decoder))


class Decoder(nn.Module):
    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(Up(*args) for args in decoder_plan(spec, encoder_channels))
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for stage, skip in zip(self.stages, features[-2::-1]):
            x = stage(x, skip)
        return x

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec, features: list[Any]) -> tuple[int, tuple[int, int]]:
        hw = features[-1][1]
        for j, args in enumerate(decoder_plan(spec, tuple(c for c, _ in features))):
            hw = Up.cost(sheet, f"decoder.{j}", hw, *args)
        return spec.decoder[-1].width, hw


class MyNet(SegmentationNet):
    """Encoder, decoder and the base class's 1x1 head, logits resized to the input."""

    Encoder = Encoder
    Decoder = Decoder


def family() -> Family:
    """The entry point: scaler registers the Family this returns."""
    return Family("my_family", my_family_spec, MyNet, check, "a tiny encoder-decoder from a plug-in package",
                  presets={"paper": {}})
