"""Complexity from the spec: params, MACs and activations, analytically (fast) or traced on the meta device.

What is counted, and why:
- params: every learnable parameter (conv weights and biases, BN affine weights, linear layers);
  BN running statistics are buffers, not parameters.
- MACs: multiply-accumulates of convolutions, transposed convolutions and linear layers only.
  Bias adds, BN, activations, pooling, upsampling and concatenation are not counted (they are
  memory-bound and a few tenths of a percent of the total). FLOPs = 2 x MACs, always labelled.
  A transposed conv is counted on its INPUT size: in_h * in_w * cin * cout/groups * kh * kw.
  The one extension: a parameter-free op that does real multiply-accumulates (a `CountedOp`, such as
  the attention fusion's similarity, a matrix-vector product per image) declares its own MACs and
  activations; both paths record them as a row of that op's `kind` with 0 params, so an option
  that adds such an op shows exactly its MACs and no parameters.
- activations: elements output by conv, transposed-conv and linear layers, as in Dollar et al.
  2021, "Fast and Accurate Model Scaling" (a proxy for memory traffic and runtime on accelerators).
All counts are for ONE image at the spec's input size (and, for a family that reads text too, one
report at its `max_tokens`). What a budget limits can be narrower (`budget_complexity`: a family's
`budget_cost`, e.g. the multimodal family leaves its text branch out by default).

Known differences of other counters (checked in tests/test_complexity.py):
- fvcore reports MACs under the name "flops", counts transposed convs on the input size too, and
  also counts batch norm, upsampling and adaptive pooling unless those ops are ignored.
- ptflops (pytorch backend) counts MACs too, adds bias adds to conv MACs, and adds BN, activations,
  pooling and upsampling; functional calls and interpolation are counted only when its
  `backend_specific_config={"count_functional": ...}` says so, and are double-counted when both a
  module and its functional form are seen.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from scaler.cost import Complexity, CostSheet, CountedOp, LayerCost
from scaler.families import build, get_family, validate
from scaler.spec import NetSpec

__all__ = ["Complexity", "LayerCost", "CostSheet", "CountedOp", "complexity", "budget_complexity", "traced_complexity",
           "example_inputs", "stage_table"]


@functools.lru_cache(maxsize=4096)
def complexity(spec: NetSpec) -> Complexity:
    """Params, MACs and activations of `spec` for one image; analytic when the family has a cost function.

    The family validates the spec first, exactly as `build` does: a spec that cannot be built has no cost.
    """
    family = validate(spec)
    if family.cost is None:
        return traced_complexity(spec)
    sheet = CostSheet()
    family.cost(spec, sheet)
    return sheet.total(spec.input_size)


def _stage_key(name: str) -> str:
    """Stage a module belongs to: "encoder.3" for encoder.stages.3.*, else its top-level name."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[1] == "stages":
        return f"{parts[0]}.{parts[2]}"
    return parts[0]


def _same(x: torch.Tensor) -> torch.Tensor:
    """The identity, standing in for a BN's forward while tracing."""
    return x


def example_inputs(model: nn.Module, spec: NetSpec, device: torch.device) -> tuple[torch.Tensor, ...]:
    """One sample the model takes: its own `example_inputs(1)` where it has one (a multimodal net's image
    and report), else a zero image at the spec's input size."""
    make = getattr(model, "example_inputs", None)
    return make(1) if callable(make) else (torch.zeros(1, spec.in_channels, *spec.input_size, device=device),)


@functools.lru_cache(maxsize=4096)
def budget_complexity(spec: NetSpec) -> Complexity:
    """The part of `complexity(spec)` that budgets limit: the family's `budget_cost` of it, else all of it."""
    cost = complexity(spec)  # validates the spec
    budget_cost = get_family(spec.family).budget_cost
    return cost if budget_cost is None else budget_cost(spec, cost)


def traced_complexity(spec: NetSpec, model: nn.Module | None = None) -> Complexity:
    """Count by running a real module (built on the meta device unless given) with forward hooks."""
    model = build(spec, "meta") if model is None else model
    device = next(model.parameters()).device
    rows: list[LayerCost] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        name = names[module]
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if isinstance(module, CountedOp):
            macs, activations = module.op_cost(inputs[0][:1], output[:1])
            rows.append(LayerCost(_stage_key(name), module.kind, own, macs, activations))
            return
        if isinstance(module, nn.ConvTranspose2d):
            weights = module.weight.numel()
            macs = weights * inputs[0].shape[-2] * inputs[0].shape[-1]
            kind = "conv_transpose"
        elif isinstance(module, nn.Conv2d):
            macs = module.weight.numel() * output.shape[-2] * output.shape[-1]
            kind = "conv"
        else:
            macs = module.weight.numel() * (output.numel() // output.shape[-1])
            kind = "linear"
        rows.append(LayerCost(_stage_key(name), kind, own, macs, output[0].numel()))

    names: dict[nn.Module, str] = {}
    handles = []
    counted = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, CountedOp)
    for name, module in model.named_modules():
        if isinstance(module, counted):
            names[module] = name
            handles.append(module.register_forward_hook(hook))
        elif not list(module.children()):  # other leaves: parameters only (BN, ...)
            own = sum(p.numel() for p in module.parameters(recurse=False))
            if own:
                rows.append(LayerCost(_stage_key(name), "norm", own, 0, 0))
    # BN keeps the shape and is not counted by MACs: skipping its forward (an instance attribute shadows the
    # method) changes no count and saves most of a meta trace's time (meta BN runs a Python decomposition).
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was_training = model.training
    model.eval()
    try:
        for module in norms:
            module.forward = _same
        with torch.no_grad():
            model(*example_inputs(model, spec, device))
    finally:
        for handle in handles:
            handle.remove()
        for module in norms:
            del module.forward
        model.train(was_training)
    return Complexity(sum(r.params for r in rows), sum(r.macs for r in rows),
                      sum(r.activations for r in rows), spec.input_size, tuple(rows))


def stage_table(spec: NetSpec) -> list[dict[str, object]]:
    """Per-stage breakdown rows: stage, depth, width, params, MACs, activations (for `scaler inspect`)."""
    cost = complexity(spec)
    order: dict[str, dict[str, int]] = {}
    for row in cost.layers:
        agg = order.setdefault(row.stage, {"params": 0, "macs": 0, "activations": 0})
        agg["params"] += row.params
        agg["macs"] += row.macs
        agg["activations"] += row.activations
    table = []
    for key, agg in order.items():
        part, _, index = key.partition(".")
        stage = spec.part(part)[int(index)] if index and part in ("encoder", "decoder") else None
        table.append({"stage": key, "depth": stage.depth if stage else None,
                      "width": stage.width if stage else None, **agg})
    return table
