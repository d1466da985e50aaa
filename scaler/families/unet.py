"""The U-Net of the asymmetric-scaling paper: 5 levels, two 3x3 conv+BN+ELU units per stage, He init.

Options: `activation` (elu, relu), `upsample` (transpose: a 2x2 stride-2 transposed conv; bilinear:
bilinear 2x then a 1x1 conv with the same channel contract), `fusion_attention` (none, avg, max,
avgmax: the parameter-free attention on each decoder stage's upsampled feature before it is
concatenated with the skip; written into the spec only when it is not "none", so the paper's U-Net
spec is unchanged). Stage records: StageSpec(units, width, "conv"|"residual", stride).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scaler.errors import SpecError
from scaler.families._base import SegmentationNet
from scaler.families._blocks import ATTENTION_MODES, HW, AttentionFusion, collect
from scaler.families._registry import Family, check_choice, check_options, register
from scaler.spec import NetSpec, StageSpec

__all__ = ["unet_spec", "check_unet", "UNet"]

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}
UPSAMPLES = ("transpose", "bilinear")
BLOCKS = ("conv", "residual")
OPTIONS = {"activation": tuple(ACTIVATIONS), "upsample": UPSAMPLES, "fusion_attention": ATTENTION_MODES}
DEFAULTS = {"activation": "elu", "upsample": "transpose", "fusion_attention": "none"}
#: 8 levels already have a total stride of 2^7 = 128 and a deepest stage of 128x the base width;
#: beyond that the input must be a multiple of 256+ per side, which no segmentation set provides.
MAX_LEVELS = 8


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
    fusion_attention: str = "none",
) -> NetSpec:
    """The base U-Net: widths width*2^i over `levels` levels, `depth` conv units per stage.

    Defaults are the paper's network (ELU, transposed-conv upsampling, plain conv units); at width 64,
    3 input channels and 2 classes it has exactly 31,037,698 parameters.
    """
    if not isinstance(levels, int) or isinstance(levels, bool) or not 2 <= levels <= MAX_LEVELS:
        raise SpecError(f"levels must be an integer in [2, {MAX_LEVELS}], got levels={levels!r}")
    widths = [width * 2**i for i in range(levels)]
    encoder = tuple(StageSpec(depth, w, block, 1 if i == 0 else 2) for i, w in enumerate(widths))
    decoder = tuple(StageSpec(depth, w, block, 2) for w in reversed(widths[:-1]))
    options = {"activation": activation, "upsample": upsample}
    if fusion_attention != "none":
        options["fusion_attention"] = fusion_attention
    spec = NetSpec("unet", in_channels, classes, input_size, encoder, decoder, options)
    check_unet(spec)
    return spec


def check_unet(spec: NetSpec) -> dict[str, Any]:
    """Validate options and stage records; returns the options with defaults filled in."""
    opts = check_options(spec, OPTIONS, defaults=DEFAULTS)
    if len(spec.decoder) != len(spec.encoder) - 1:
        raise SpecError(f"a U-Net needs {len(spec.encoder) - 1} decoder stages for {len(spec.encoder)} encoder "
                        f"stages, got {len(spec.decoder)}")
    for stage in (*spec.encoder, *spec.decoder):
        check_choice("unet block", stage.block, BLOCKS)
    meets = tuple(s.stride for s in reversed(spec.encoder[1:]))
    if tuple(s.stride for s in spec.decoder) != meets:
        raise SpecError(f"U-Net decoder strides {[s.stride for s in spec.decoder]} must undo the encoder's "
                        f"{list(meets)} (deep to shallow) so each upsampled map meets its skip")
    return opts


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

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, cout: int, act: Any = None, residual: bool = False) -> HW:
        """Its conv and BN."""
        sheet.conv(key, hw, cin, cout, 3)
        sheet.norm(key, cout)
        return hw


def _unit_inputs(cin: int, stage: StageSpec) -> list[int]:
    """Input channels of a stage's `depth` units: added units repeat the stage's unit at its width."""
    return [cin if i == 0 else stage.width for i in range(stage.depth)]


class EncoderStage(nn.Module):
    """Max-pool down (stride 2) then the stage's units."""

    def __init__(self, cin: int, stage: StageSpec, act: type[nn.Module]) -> None:
        super().__init__()
        self.down = nn.MaxPool2d(stage.stride) if stage.stride > 1 else nn.Identity()
        residual = stage.block == "residual"
        self.units = nn.Sequential(*(ConvUnit(c, stage.width, act, residual) for c in _unit_inputs(cin, stage)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.down(x))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, stage: StageSpec) -> HW:
        """Its units at the pooled size; returns that size."""
        hw = (hw[0] // stage.stride, hw[1] // stage.stride)
        for c in _unit_inputs(cin, stage):
            ConvUnit.cost(sheet, key, hw, c, stage.width)
        return hw


def _activation(spec: NetSpec) -> type[nn.Module]:
    """The activation module class the spec names."""
    return ACTIVATIONS[spec.option("activation", DEFAULTS["activation"])]


class Encoder(nn.Module):
    """The contracting path; `out_channels` is the contract the decoder reads its skip widths from."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        cins = (spec.in_channels, *(s.width for s in spec.encoder[:-1]))
        act = _activation(spec)
        self.stages = nn.ModuleList(EncoderStage(c, s, act) for c, s in zip(cins, spec.encoder))
        self.out_channels = tuple(s.width for s in spec.encoder)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return collect(self.stages, x)

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec) -> list[tuple[int, HW]]:
        """The stages' costs; returns each stage output's (channels, (H, W))."""
        hw, cin, features = spec.input_size, spec.in_channels, []
        for i, stage in enumerate(spec.encoder):
            hw = EncoderStage.cost(sheet, f"encoder.{i}", hw, cin, stage)
            cin = stage.width
            features.append((cin, hw))
        return features


class DecoderStage(nn.Module):
    """Upsample the deeper feature to this stage's width (then attend it), concatenate the skip, then the units."""

    def __init__(self, cin: int, skip: int, stage: StageSpec, act: type[nn.Module], upsample: str,
                 attention: str) -> None:
        super().__init__()
        if upsample == "transpose":
            self.up = nn.ConvTranspose2d(cin, stage.width, stage.stride, stride=stage.stride)
        else:  # bilinear + 1x1 conv keeps the same channel contract as the transposed conv
            self.up = nn.Sequential(nn.Upsample(scale_factor=stage.stride, mode="bilinear", align_corners=False),
                                    nn.Conv2d(cin, stage.width, 1))
        self.attention = AttentionFusion.make(attention)
        residual = stage.block == "residual"
        self.units = nn.Sequential(*(ConvUnit(c, stage.width, act, residual)
                                     for c in _unit_inputs(stage.width + skip, stage)))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.units(torch.cat([skip, self.attention(self.up(x))], dim=1))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, skip: int, stage: StageSpec, upsample: str,
             attention: str) -> HW:
        """The upsampling, the attention and the units; returns the upsampled (H, W)."""
        if upsample == "transpose":
            hw = sheet.conv_transpose(key, hw, cin, stage.width, stage.stride, stage.stride)
        else:
            hw = sheet.conv(key, (hw[0] * stage.stride, hw[1] * stage.stride), cin, stage.width, 1, bias=True)
        AttentionFusion.cost(sheet, key, hw, stage.width, attention)
        for c in _unit_inputs(stage.width + skip, stage):
            ConvUnit.cost(sheet, key, hw, c, stage.width)
        return hw


def _decoder_plan(spec: NetSpec, encoder_channels: tuple[int, ...]) -> list[tuple[int, int, StageSpec]]:
    """Per decoder stage: (input channels, skip channels, record); the skips come from the encoder's contract."""
    skips = tuple(reversed(encoder_channels[:-1]))
    cins = (encoder_channels[-1], *(s.width for s in spec.decoder[:-1]))
    return list(zip(cins, skips, spec.decoder))


class Decoder(nn.Module):
    """The expanding path; its input widths come from `encoder_channels`, never from the spec's encoder."""

    def __init__(self, spec: NetSpec, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        opts, act = {**DEFAULTS, **spec.opts}, _activation(spec)
        self.stages = nn.ModuleList(DecoderStage(c, k, s, act, opts["upsample"], opts["fusion_attention"])
                                    for c, k, s in _decoder_plan(spec, encoder_channels))
        self.out_channels = spec.decoder[-1].width

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for stage, skip in zip(self.stages, reversed(features[:-1])):
            x = stage(x, skip)
        return x

    @classmethod
    def cost(cls, sheet: Any, spec: NetSpec, features: list[tuple[int, HW]]) -> tuple[int, HW]:
        """The stages' costs; returns the output's (channels, (H, W))."""
        opts, hw = {**DEFAULTS, **spec.opts}, features[-1][1]
        for j, args in enumerate(_decoder_plan(spec, tuple(c for c, _ in features))):
            hw = DecoderStage.cost(sheet, f"decoder.{j}", hw, *args, opts["upsample"], opts["fusion_attention"])
        return spec.decoder[-1].width, hw


class UNet(SegmentationNet):
    """Encoder, decoder and 1x1 head joined by the channel contract; He (fan-in) init, the paper's choice."""

    Encoder = Encoder
    Decoder = Decoder
    init_mode = "fan_in"


register(Family("unet", unet_spec, UNet, check_unet,
                "U-Net (Ronneberger 2015) as in the asymmetric-scaling paper", presets={"paper": {}}))
