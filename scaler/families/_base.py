"""The base model of every family: encoder -> decoder -> 1x1 head, joined by the channel contract.

A family subclasses `SegmentationNet` and names its two parts:

- `Encoder(spec)`: `out_channels` (one width per feature it returns; 0 marks a feature it does not
  make), `forward(x) -> list of features`, and a classmethod `cost(sheet, spec) -> features`, each
  feature a `(channels, (H, W))` pair in the same order.
- `Decoder(spec, encoder_channels)`: reads its input widths from the encoder's `out_channels`, never
  from the spec's encoder records (so encoder-only scaling cannot break it); `out_channels`,
  `forward(features) -> map`, and a classmethod `cost(sheet, spec, features) -> (channels, (H, W))`.

The analytic count is then `SegmentationNet.cost`: the encoder's, the decoder's and the head's,
each made of its blocks' own `cost` (the blocks in scaler.families._blocks carry theirs next to
their forward), so a family's count composes from the modules it builds and cannot drift from them.
"""
from __future__ import annotations

import functools
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from scaler.errors import SpecError
from scaler.families._blocks import init_weights, resize
from scaler.spec import NetSpec

__all__ = ["SegmentationNet"]


class SegmentationNet(nn.Module):
    """Encoder, decoder and a 1x1 head (bias) to the classes; logits come back at the input's size.

    Forward checks the input (N x in_channels x H x W) and accepts any H, W: sides that are not a
    multiple of the network's stride are zero-padded at the bottom and right up to the next multiple
    and the logits cropped back, so every family takes any image size (a random crop, a test-time
    scale) while its counts stay those of the spec's input size.
    """

    Encoder: ClassVar[type[nn.Module]]
    Decoder: ClassVar[type[nn.Module]]
    #: He init's fan mode: "fan_out" as torchvision's ResNet; the U-Net paper's nets use "fan_in".
    init_mode: ClassVar[str] = "fan_out"

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.in_channels = spec.in_channels
        self.multiple = self.input_multiple(spec)
        self.encoder = self.Encoder(spec)
        self.decoder = self.Decoder(spec, self.encoder.out_channels)
        self.head = nn.Conv2d(self.decoder.out_channels, spec.classes, 1)
        if self.head.weight.device.type != "meta":  # meta tensors hold no values to initialise
            self.apply(functools.partial(init_weights, mode=self.init_mode))

    @staticmethod
    def input_multiple(spec: NetSpec) -> int:
        """Sides the network takes without padding: a multiple of the total stride."""
        return spec.total_stride

    def check_input(self, x: torch.Tensor) -> None:
        """Refuse a tensor that is not N x in_channels x H x W, naming its shape."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise SpecError(f"input of shape {tuple(x.shape)} does not fit this network; "
                            f"valid: N x {self.in_channels} x H x W")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        logits = self.head(self.decoder(self.encoder(x)))
        if logits.shape[-2:] != x.shape[-2:]:
            logits = resize(logits, x.shape[-2:])
        return logits[..., :h, :w] if pad_h or pad_w else logits

    @classmethod
    def cost(cls, spec: NetSpec, sheet: Any) -> None:
        """Analytic cost of `spec`: the encoder's, the decoder's and the head's, layer by layer."""
        features = cls.Encoder.cost(sheet, spec)
        channels, hw = cls.Decoder.cost(sheet, spec, features)
        sheet.conv("head", hw, channels, spec.classes, 1, bias=True)
