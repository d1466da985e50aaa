"""Building blocks shared by the families, each carrying its analytic cost next to its forward.

A block's `cost(sheet, key, hw, <its __init__ arguments>)` records in a CostSheet, under the stage
key, exactly the layers its `__init__` makes, and returns the (H, W) of its output; a family's
count is the composition of its blocks' costs (scaler.families._base), and the contract tests check
it against the built module layer kind by layer kind, per stage.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scaler.cost import CountedOp
from scaler.errors import SpecError
from scaler.families._registry import check_choice

__all__ = [
    "HW", "ATTENTION_MODES", "ConvBNReLU", "SqueezeExcite", "PoolBranch", "ASPP", "AttentionFusion",
    "attention_macs", "check_rates", "collect", "pool_out", "init_weights", "resize",
]

HW = tuple[int, int]

#: Pooling of the attention fusion module: "none" switches it off.
ATTENTION_MODES = ("none", "avg", "max", "avgmax")


def pool_out(hw: HW, k: int, stride: int, padding: int) -> HW:
    """Output (H, W) of a k x k pooling window (same arithmetic as a conv)."""
    return tuple((side + 2 * padding - k) // stride + 1 for side in hw)  # type: ignore[return-value]


def init_weights(module: nn.Module, mode: str = "fan_out") -> None:
    """He init for convs (fan-out by default, as torchvision's ResNet), unit/zero BatchNorm, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def resize(x: torch.Tensor, size: Any, mode: str = "bilinear") -> torch.Tensor:
    """`x` resized to `size` (H, W): bilinear without corner alignment, or nearest."""
    if x.is_meta:  # a meta tensor is only a shape; its interpolation would run a slow Python decomposition
        return x.new_empty((*x.shape[:-2], *size))
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def collect(stages: Any, x: torch.Tensor) -> list[torch.Tensor]:
    """Run `x` through `stages` in turn and return every stage's output (an encoder's features)."""
    outputs = []
    for stage in stages:
        x = stage(x)
        outputs.append(x)
    return outputs


def check_rates(rates: Any) -> tuple[int, ...]:
    """ASPP dilation rates: a non-empty tuple of integers >= 1."""
    if not isinstance(rates, tuple) or not rates or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rates):
        raise SpecError(f"aspp_rates must be a non-empty list of integers >= 1, got {rates!r}")
    return rates


class ConvBNReLU(nn.Sequential):
    """k x k conv + BN + ReLU, padded to keep the size at stride 1; no conv bias unless asked
    (BN cancels it; torchvision's vgg16_bn has one, so VGG units keep it to load its weights)."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1,
                 bias: bool = False) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation, bias=bias),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1,
             bias: bool = False) -> HW:
        """Its conv and BN; returns the output (H, W)."""
        out = sheet.conv(key, hw, cin, cout, k, stride, dilation=dilation, bias=bias)
        sheet.norm(key, cout)
        return out


def _hidden(channels: int, reduction: int) -> int:
    """Squeeze width of a channel-attention block: channels // reduction, at least 1."""
    return max(1, channels // reduction)


class SqueezeExcite(nn.Module):
    """SE channel attention (Hu et al. 2018): global average pool, 1x1 down, ReLU, 1x1 up, sigmoid, scale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.down = nn.Conv2d(channels, hidden, 1)
        self.up = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.up(F.relu(self.down(F.adaptive_avg_pool2d(x, 1))))
        return x * torch.sigmoid(weights)

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, channels: int, reduction: int = 16) -> HW:
        """Its two 1x1 convs, which run on the pooled 1x1 map; the output keeps `hw`."""
        hidden = _hidden(channels, reduction)
        sheet.conv(key, (1, 1), channels, hidden, 1, bias=True)
        sheet.conv(key, (1, 1), hidden, channels, 1, bias=True)
        return hw


class PoolBranch(nn.Module):
    """Average-pool to `size` x `size`, 1x1 conv (bias), ReLU, back to the input's size: ASPP's image
    pooling and EDNet's global pooling module (size 1, a broadcast), a PPM branch (bilinear).

    The conv has a bias and no BatchNorm: BN over a 1x1 map fails in training at batch size 1.
    """

    def __init__(self, cin: int, cout: int, size: int = 1) -> None:
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.relu(self.conv(F.adaptive_avg_pool2d(x, self.size)))
        if self.size == 1:
            return pooled.expand(-1, -1, *x.shape[-2:])
        return resize(pooled, x.shape[-2:])

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, cout: int, size: int = 1) -> HW:
        """Its conv on the pooled map; the output has the input's `hw`."""
        sheet.conv(key, (size, size), cin, cout, 1, bias=True)
        return hw


class AttentionFusion(CountedOp):
    """Parameter-free attention on an upsampled deep feature u (C x H x W) before it is fused.

    g = pool(u) over H, W ("avg", "max", or "avgmax" = avg + max), a C-vector; the similarity
    s = g . u / sqrt(C) at every position (a matrix-vector product: C*H*W multiply-accumulates);
    a = softmax of s over the H*W positions, times H*W so the map averages 1 and the feature keeps
    its magnitude for the fusion; the output is u * a. Counted: 0 params, C*H*W MACs (the
    similarity; pooling, softmax and the rescaling multiply are elementwise, uncounted as BN is),
    H*W activations (the similarity map, as a linear layer's output would be).
    """

    kind = "attention"

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = check_choice("fusion_attention", mode, ATTENTION_MODES[1:])

    @classmethod
    def make(cls, mode: str) -> nn.Module:
        """The attention for `mode`, or the identity when it is "none"."""
        return nn.Identity() if mode == "none" else cls(mode)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        flat = u.flatten(2)  # N, C, HW
        if self.mode == "avg":
            pooled = flat.mean(2)
        elif self.mode == "max":
            pooled = flat.amax(2)
        else:
            pooled = flat.mean(2) + flat.amax(2)
        similarity = torch.einsum("nc,ncp->np", pooled, flat) / math.sqrt(u.shape[1])
        attention = torch.softmax(similarity, dim=1) * flat.shape[2]
        return u * attention.view(u.shape[0], 1, *u.shape[2:])

    def op_cost(self, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
        """(MACs, activations) for one image: C*H*W and H*W."""
        return attention_macs(x.shape[1], tuple(x.shape[-2:]))

    @classmethod
    def cost(cls, sheet: Any, key: str, hw: HW, channels: int, mode: str) -> HW:
        """Its declared MACs and activations on a `channels` x `hw` feature (nothing when `mode` is "none")."""
        if mode != "none":
            sheet.op(key, cls.kind, *attention_macs(channels, hw))
        return hw


def attention_macs(channels: int, hw: HW) -> tuple[int, int]:
    """The attention fusion's (MACs, activations) on a C x H x W feature: C*H*W and H*W."""
    return channels * hw[0] * hw[1], hw[0] * hw[1]


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabV3): a 1x1 branch, one 3x3 branch per rate, an image-level
    branch, concatenated and projected by a 1x1 conv to `width`.

    `attention` attends the concatenation before the projection: the fusion that the image-level
    branch's upsampling precedes (that map itself is constant, where the attention is the identity).
    """

    def __init__(self, cin: int, width: int, rates: tuple[int, ...], attention: str = "none") -> None:
        super().__init__()
        self.branches = nn.ModuleList([ConvBNReLU(cin, width, 1),
                                       *(ConvBNReLU(cin, width, 3, dilation=r) for r in rates)])
        self.pool = PoolBranch(cin, width)
        self.attention = AttentionFusion.make(attention)
        self.project = ConvBNReLU(width * (len(rates) + 2), width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.attention(torch.cat([*(b(x) for b in self.branches), self.pool(x)], dim=1)))

    @staticmethod
    def cost(sheet: Any, key: str, hw: HW, cin: int, width: int, rates: tuple[int, ...],
             attention: str = "none") -> HW:
        """Its branches, the image-level branch, the attention and the projection."""
        ConvBNReLU.cost(sheet, key, hw, cin, width, 1)
        for rate in rates:
            ConvBNReLU.cost(sheet, key, hw, cin, width, 3, dilation=rate)
        PoolBranch.cost(sheet, key, hw, cin, width)
        AttentionFusion.cost(sheet, key, hw, width * (len(rates) + 2), attention)
        return ConvBNReLU.cost(sheet, key, hw, width * (len(rates) + 2), width, 1)
