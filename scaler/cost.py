"""Cost records: the layer rows a family's analytic count writes, and their totals (params, MACs, activations).

The bottom layer of counting: families write rows with a `CostSheet` while they walk a spec, and
parameter-free ops with real multiply-accumulates declare theirs as `CountedOp`s. What is counted
and why is in scaler.complexity.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["Complexity", "LayerCost", "CostSheet", "CountedOp", "conv_out"]


@dataclass(frozen=True)
class LayerCost:
    """Cost of one counted layer, attributed to a stage key such as "encoder.2", "decoder.0" or "head"."""

    stage: str
    kind: str
    params: int
    macs: int
    activations: int


@dataclass(frozen=True)
class Complexity:
    """Totals for one image at `input_size`. `flops` is 2 x `macs`."""

    params: int
    macs: int
    activations: int
    input_size: tuple[int, int]
    layers: tuple[LayerCost, ...] = field(default=(), compare=False, repr=False)

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs."""
        return 2 * self.macs

    def as_dict(self) -> dict[str, object]:
        """JSON-ready totals, with MACs and FLOPs both labelled."""
        return {"params": self.params, "macs": self.macs, "flops": self.flops,
                "activations": self.activations, "input_size": list(self.input_size)}


def conv_out(side: int, k: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output side of a convolution."""
    return (side + 2 * padding - dilation * (k - 1) - 1) // stride + 1


class CountedOp(nn.Module):
    """A parameter-free module whose multiply-accumulates are counted: it declares them per forward call.

    Subclasses set `kind` and implement `op_cost(x, y)` -> (macs, activations) for one image, from its
    input `x` and output `y`; the family's analytic cost records the same numbers with `CostSheet.op`.
    """

    kind = "op"

    def op_cost(self, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
        """(MACs, activations) of one call for one image."""
        raise NotImplementedError


class CostSheet:
    """Accumulates layer costs while a family's cost function walks its spec (pycls-style)."""

    def __init__(self) -> None:
        self.rows: list[LayerCost] = []

    def conv(self, stage: str, hw: tuple[int, int], cin: int, cout: int, k: int, stride: int = 1,
             padding: int | None = None, groups: int = 1, bias: bool = False, dilation: int = 1) -> tuple[int, int]:
        """A k x k conv; returns the output (H, W)."""
        padding = dilation * (k // 2) if padding is None else padding
        out = (conv_out(hw[0], k, stride, padding, dilation), conv_out(hw[1], k, stride, padding, dilation))
        weights = cin // groups * cout * k * k
        self.rows.append(LayerCost(stage, "conv", weights + (cout if bias else 0),
                                   weights * out[0] * out[1], cout * out[0] * out[1]))
        return out

    def conv_transpose(self, stage: str, hw: tuple[int, int], cin: int, cout: int, k: int, stride: int,
                       groups: int = 1, bias: bool = True) -> tuple[int, int]:
        """A transposed conv with padding 0; MACs counted on the input size; returns the output (H, W)."""
        out = ((hw[0] - 1) * stride + k, (hw[1] - 1) * stride + k)
        weights = cin * (cout // groups) * k * k
        self.rows.append(LayerCost(stage, "conv_transpose", weights + (cout if bias else 0),
                                   weights * hw[0] * hw[1], cout * out[0] * out[1]))
        return out

    def linear(self, stage: str, rows: int, fin: int, fout: int, bias: bool = True) -> None:
        """A linear layer applied to `rows` vectors."""
        self.rows.append(LayerCost(stage, "linear", fin * fout + (fout if bias else 0), rows * fin * fout, rows * fout))

    def norm(self, stage: str, channels: int) -> None:
        """An affine BatchNorm: 2 params per channel, no MACs, no counted activations."""
        self.rows.append(LayerCost(stage, "norm", 2 * channels, 0, 0))

    def op(self, stage: str, kind: str, macs: int, activations: int) -> None:
        """A parameter-free counted op (a `CountedOp`): its declared MACs and activations, 0 params."""
        self.rows.append(LayerCost(stage, kind, 0, macs, activations))

    def total(self, input_size: tuple[int, int]) -> Complexity:
        """The totals of all rows."""
        return Complexity(sum(r.params for r in self.rows), sum(r.macs for r in self.rows),
                          sum(r.activations for r in self.rows), tuple(input_size), tuple(self.rows))
