"""Building blocks shared by the literature families, each with its analytic cost next to its module.

Every block comes as a module plus a `*_cost` function that records the same layers in a CostSheet
under the same stage key; the family contract tests check the two agree layer for layer.
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
from scaler.spec import NetSpec

__all__ = [
    "ATTENTION_MODES", "ConvBNReLU", "SqueezeExcite", "ASPP", "AttentionFusion", "check_options",
    "conv_bn_cost", "se_cost", "aspp_cost", "attention_cost", "attention_macs", "pool_out", "init_weights",
]

HW = tuple[int, int]

#: Pooling of the attention fusion module: "none" switches it off.
ATTENTION_MODES = ("none", "avg", "max", "avgmax")


def check_options(spec: NetSpec, choices: dict[str, tuple[Any, ...]], free: tuple[str, ...] = ()) -> dict[str, Any]:
    """The spec's options after checking every name is known and every choice-valued one is valid."""
    opts = spec.opts
    unknown = set(opts) - set(choices) - set(free)
    if unknown:
        raise SpecError(f"unknown {spec.family} option(s) {sorted(unknown)}; valid: {sorted((*choices, *free))}")
    for name, valid in choices.items():
        if name in opts:
            check_choice(f"{spec.family} {name}", opts[name], valid)
    return opts


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


class ConvBNReLU(nn.Sequential):
    """k x k conv (no bias: BN follows) + BN + ReLU, padded to keep the size at stride 1."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def conv_bn_cost(sheet: Any, key: str, hw: HW, cin: int, cout: int, k: int = 3, stride: int = 1,
                 dilation: int = 1) -> HW:
    """Cost of a ConvBNReLU; returns its output (H, W)."""
    out = sheet.conv(key, hw, cin, cout, k, stride, dilation=dilation)
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


def se_cost(sheet: Any, key: str, channels: int, reduction: int = 16) -> None:
    """Cost of a SqueezeExcite (its 1x1 convs run on the pooled 1x1 map)."""
    hidden = _hidden(channels, reduction)
    sheet.conv(key, (1, 1), channels, hidden, 1, bias=True)
    sheet.conv(key, (1, 1), hidden, channels, 1, bias=True)


class ImagePool(nn.Module):
    """ASPP's image-level branch: global average pool, 1x1 conv, ReLU, broadcast back to the map size.

    The 1x1 conv has a bias and no BatchNorm: BN over a 1x1 map fails in training at batch size 1.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.relu(self.conv(F.adaptive_avg_pool2d(x, 1)))
        return pooled.expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabV3): a 1x1 branch, one 3x3 branch per rate, an image-level
    branch, concatenated and projected by a 1x1 conv to `width`."""

    def __init__(self, cin: int, width: int, rates: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList([ConvBNReLU(cin, width, 1),
                                       *(ConvBNReLU(cin, width, 3, dilation=r) for r in rates)])
        self.pool = ImagePool(cin, width)
        self.project = ConvBNReLU(width * (len(rates) + 2), width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([*(b(x) for b in self.branches), self.pool(x)], dim=1))


def aspp_cost(sheet: Any, key: str, hw: HW, cin: int, width: int, rates: tuple[int, ...]) -> None:
    """Cost of an ASPP at feature size `hw`."""
    conv_bn_cost(sheet, key, hw, cin, width, 1)
    for rate in rates:
        conv_bn_cost(sheet, key, hw, cin, width, 3, dilation=rate)
    sheet.conv(key, (1, 1), cin, width, 1, bias=True)
    conv_bn_cost(sheet, key, hw, width * (len(rates) + 2), width, 1)


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

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        flat = u.flatten(2)  # N, C, HW
        pooled = {"avg": lambda: flat.mean(2), "max": lambda: flat.amax(2),
                  "avgmax": lambda: flat.mean(2) + flat.amax(2)}[self.mode]()
        similarity = torch.einsum("nc,ncp->np", pooled, flat) / math.sqrt(u.shape[1])
        attention = torch.softmax(similarity, dim=1) * flat.shape[2]
        return u * attention.view(u.shape[0], 1, *u.shape[2:])

    def op_cost(self, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
        """(MACs, activations) for one image: C*H*W and H*W."""
        return attention_macs(x.shape[1], tuple(x.shape[-2:]))


def attention_macs(channels: int, hw: HW) -> tuple[int, int]:
    """The attention fusion's (MACs, activations) on a C x H x W feature: C*H*W and H*W."""
    return channels * hw[0] * hw[1], hw[0] * hw[1]


def attention_cost(sheet: Any, key: str, channels: int, hw: HW) -> None:
    """Cost of an AttentionFusion on a `channels` x `hw` feature."""
    sheet.op(key, AttentionFusion.kind, *attention_macs(channels, hw))
