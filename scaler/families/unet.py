"""The U-Net of the asymmetric-scaling paper: 5 levels, two 3x3 conv+BN+ELU units per stage, He init."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scaler.errors import SpecError
from scaler.families._registry import Family, check_choice, register
from scaler.families._blocks import init_weights
from scaler.spec import NetSpec, StageSpec

__all__ = ["unet_spec", "UNet"]

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}
UPSAMPLES = ("transpose", "bilinear")
BLOCKS = ("conv", "residual")


def unet_spec(
    width: int = 64,
    levels: int = 5,
    depth: int = 2,
    classes: int = 2,
    in_channels: int = 3,
    input_size: tuple[int, int] = (256, 512),
    activation: str = "elu",
    upsample: str = "transpose",
    block: str = "conv",
) -> NetSpec:
    """The base U-Net: widths width*2^i over `levels` levels, `depth` conv units per stage.

    Defaults are the paper's network (ELU, transposed-conv upsampling, plain conv units); at width 64,
    3 input channels and 2 classes it has exactly 31,037,698 parameters.
    """
    if not isinstance(levels, int) or levels < 2:
        raise SpecError(f"levels must be an integer >= 2, got {levels!r}")
    check_choice("activation", activation, tuple(ACTIVATIONS))
    check_choice("upsample", upsample, UPSAMPLES)
    check_choice("block", block, BLOCKS)
    widths = [width * 2**i for i in range(levels)]
    encoder = tuple(StageSpec(depth, w, block, 1 if i == 0 else 2) for i, w in enumerate(widths))
    decoder = tuple(StageSpec(depth, w, block, 2) for w in reversed(widths[:-1]))
    return NetSpec("unet", in_channels, classes, input_size, encoder, decoder,
                   {"activation": activation, "upsample": upsample})


def _init_he(module: nn.Module) -> None:
    """He (kaiming normal, fan-in) init, the paper's choice for ELU/ReLU nets."""
    init_weights(module, mode="fan_in")


class ConvUnit(nn.Module):
    """One conv unit: 3x3 conv (no bias: BN follows) + BN + activation; `residual` adds the input."""

    def __init__(self, cin: int, cout: int, act: type[nn.Module], residual: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act()
        # A residual unit needs matching channels; the first unit of a stage changes them, so it is plain.
        self.residual = residual and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn(self.conv(x)))
        return x + y if self.residual else y


def _units(cin: int, stage: StageSpec, act: type[nn.Module]) -> nn.Sequential:
    """A stage's `depth` units; added units repeat the stage's unit at its width."""
    residual = stage.block == "residual"
    return nn.Sequential(*[ConvUnit(cin if i == 0 else stage.width, stage.width, act, residual)
                           for i in range(stage.depth)])


class EncoderStage(nn.Module):
    """Max-pool down (stride 2) then the stage's units."""

    def __init__(self, cin: int, stage: StageSpec, act: type[nn.Module]) -> None:
        super().__init__()
        self.down = nn.MaxPool2d(stage.stride) if stage.stride > 1 else nn.Identity()
        self.units = _units(cin, stage, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.down(x))


class Encoder(nn.Module):
    """The contracting path; `out_channels` is the contract the decoder reads its skip widths from."""

    def __init__(self, spec: NetSpec, act: type[nn.Module]) -> None:
        super().__init__()
        cins = (spec.in_channels, *(s.width for s in spec.encoder[:-1]))
        self.stages = nn.ModuleList(EncoderStage(c, s, act) for c, s in zip(cins, spec.encoder))
        self.out_channels = tuple(s.width for s in spec.encoder)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class DecoderStage(nn.Module):
    """Upsample the deeper feature to this stage's width, concatenate the skip, then the units."""

    def __init__(self, cin: int, skip: int, stage: StageSpec, act: type[nn.Module], upsample: str) -> None:
        super().__init__()
        if upsample == "transpose":
            self.up = nn.ConvTranspose2d(cin, stage.width, stage.stride, stride=stage.stride)
        else:  # bilinear + 1x1 conv keeps the same channel contract as the transposed conv
            self.up = nn.Sequential(nn.Upsample(scale_factor=stage.stride, mode="bilinear", align_corners=False),
                                    nn.Conv2d(cin, stage.width, 1))
        self.units = _units(stage.width + skip, stage, act)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.units(torch.cat([skip, self.up(x)], dim=1))


class Decoder(nn.Module):
    """The expanding path; its input widths come from `encoder_channels`, never from the spec's encoder."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...], act: type[nn.Module]) -> None:
        super().__init__()
        if len(spec.decoder) != len(encoder_channels) - 1:
            raise SpecError(f"a U-Net needs {len(encoder_channels) - 1} decoder stages for "
                            f"{len(encoder_channels)} encoder stages, got {len(spec.decoder)}")
        skips = tuple(reversed(encoder_channels[:-1]))
        cins = (encoder_channels[-1], *(s.width for s in spec.decoder[:-1]))
        upsample = spec.option("upsample", "transpose")
        self.stages = nn.ModuleList(DecoderStage(c, k, s, act, upsample)
                                    for c, k, s in zip(cins, skips, spec.decoder))
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for stage, skip in zip(self.stages, reversed(features[:-1])):
            x = stage(x, skip)
        return x


class UNet(nn.Module):
    """Encoder, decoder and 1x1 head joined by the channel contract."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        for s in (*spec.encoder, *spec.decoder):
            check_choice("unet block", s.block, BLOCKS)
        check_choice("upsample", spec.option("upsample", "transpose"), UPSAMPLES)
        act = ACTIVATIONS[check_choice("activation", spec.option("activation", "elu"), tuple(ACTIVATIONS))]
        self.encoder = Encoder(spec, act)
        self.decoder = Decoder(spec, self.encoder.out_channels, act)
        self.head = nn.Conv2d(self.decoder.out_channels, spec.classes, 1)
        self.apply(_init_he)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.encoder(x)))


def unet_cost(spec: NetSpec, sheet: Any) -> None:
    """Analytic cost of a U-Net spec, layer by layer in the builder's order (tests check they agree)."""
    hw = spec.input_size
    cin = spec.in_channels
    skips = []
    for i, stage in enumerate(spec.encoder):
        hw = (hw[0] // stage.stride, hw[1] // stage.stride)
        for unit in range(stage.depth):
            sheet.conv(f"encoder.{i}", hw, cin if unit == 0 else stage.width, stage.width, 3)
            sheet.norm(f"encoder.{i}", stage.width)
        cin = stage.width
        skips.append((cin, hw))
    bilinear = spec.option("upsample", "transpose") == "bilinear"
    for j, (stage, (skip, skip_hw)) in enumerate(zip(spec.decoder, reversed(skips[:-1]))):
        key = f"decoder.{j}"
        if bilinear:
            hw = sheet.conv(key, (hw[0] * stage.stride, hw[1] * stage.stride), cin, stage.width, 1, bias=True)
        else:
            hw = sheet.conv_transpose(key, hw, cin, stage.width, stage.stride, stage.stride)
        assert hw == skip_hw, f"upsampled {hw} does not meet skip {skip_hw}"
        for unit in range(stage.depth):
            sheet.conv(key, hw, stage.width + skip if unit == 0 else stage.width, stage.width, 3)
            sheet.norm(key, stage.width)
        cin = stage.width
    sheet.conv("head", hw, cin, spec.classes, 1, bias=True)


def _make_base(**options: Any) -> NetSpec:
    """Registry hook: the base spec from keyword options."""
    return unet_spec(**options)


register(Family("unet", _make_base, UNet, "U-Net (Ronneberger 2015) as in the asymmetric-scaling paper",
                cost=unet_cost))
