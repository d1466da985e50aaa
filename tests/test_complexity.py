"""Counts from the spec equal the built module's, for every rule; cross-checked against fvcore and ptflops."""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from scaler import Factors, apply_factors, base_spec, build, complexity, scale, stage_table, traced_complexity
from scaler.rules import direction

SNAPSHOT = Path(__file__).parent / "reference_counts.json"
SMALL = base_spec("unet", width=8, classes=3, input_size=(64, 96))
VARIANTS = {
    "baseline": Factors(),
    "depth": direction("depth") ** 0.8,
    "width": Factors.uniform(width=1.4),
    "resolution": Factors(resolution=1.4),
    "compound": direction("compound"),
    "asymmetric": direction("asymmetric"),
    "per-part": Factors(encoder_width=1.3, decoder_depth=1.5),
}
OPTIONS = [dict(), dict(upsample="bilinear"), dict(block="residual", activation="relu"), dict(levels=4)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "paper")
@pytest.mark.parametrize("rule", VARIANTS)
def test_spec_counts_equal_the_built_module(rule, options):
    spec = apply_factors(base_spec("unet", width=8, classes=3, input_size=(64, 96), **options), VARIANTS[rule])
    analytic = complexity(spec)
    model = build(spec)
    assert analytic.params == sum(p.numel() for p in model.parameters())
    traced = traced_complexity(spec, model)
    assert (analytic.params, analytic.macs, analytic.activations) == (traced.params, traced.macs, traced.activations)
    assert model(torch.zeros(1, spec.in_channels, *spec.input_size)).shape == (1, 3, *spec.input_size)


def test_meta_trace_of_the_full_size_base_equals_analytic():
    spec = base_spec("unet", width=64, classes=2, input_size=(256, 512))
    assert traced_complexity(spec) == complexity(spec)


def _fvcore_and_ptflops(spec):
    from fvcore.nn import FlopCountAnalysis
    from ptflops import get_model_complexity_info

    model = build(spec).eval()
    x = torch.zeros(1, spec.in_channels, *spec.input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)
        by_op = analysis.by_operator()
    with contextlib.redirect_stdout(io.StringIO()):
        pt_convs, pt_params = get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, backend="pytorch",
            ignore_modules=[nn.BatchNorm2d, nn.ELU, nn.ReLU, nn.MaxPool2d, nn.Upsample],
            backend_specific_config={"count_functional": False})
    return model, by_op, pt_convs, pt_params


@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_cross_check_with_fvcore_and_ptflops(upsample):
    """fvcore's "flops" are MACs and its conv count (transposed convs on the input size) equals ours exactly;
    ptflops' conv MACs exceed ours by exactly the bias adds (one add per output element of a biased conv)."""
    spec = base_spec("unet", width=64, classes=2, input_size=(64, 128), upsample=upsample)
    ours = complexity(spec)
    model, by_op, pt_convs, pt_params = _fvcore_and_ptflops(spec)
    assert by_op["conv"] == ours.macs
    assert "batch_norm" in by_op  # fvcore also counts BN (and bilinear upsampling) unless told otherwise
    bias_adds = sum(row.activations for row, module in zip(
        [r for r in ours.layers if r.kind in ("conv", "conv_transpose")],
        [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]) if module.bias is not None)
    assert pt_convs - ours.macs == bias_adds
    assert pt_params == ours.params


def test_stage_table_adds_up():
    spec = scale(base_spec("unet"), "asymmetric").spec
    rows = stage_table(spec)
    total = complexity(spec)
    assert [r["stage"] for r in rows][:2] == ["encoder.0", "encoder.1"] and rows[-1]["stage"] == "head"
    for key in ("params", "macs", "activations"):
        assert sum(r[key] for r in rows) == getattr(total, key)


def _snapshot_rows():
    base = base_spec("unet", width=64, classes=2, input_size=(256, 512))
    rows = {}
    for method in ("baseline", "depth", "width", "resolution", "compound", "asymmetric"):
        sol = scale(base, method, "params=2x")
        rows[method] = {"params": sol.cost.params, "macs": sol.cost.macs, "activations": sol.cost.activations,
                        "input_size": list(sol.spec.input_size), "factors": sol.factors.as_dict()}
    return rows


def check_snapshot(rows: dict, path: Path, update: bool) -> None:
    """Compare `rows` with the snapshot at `path`; a missing snapshot fails (it never blesses itself).

    `update` (SCALER_UPDATE_SNAPSHOT=1) is the one explicit way to (re)write it: the test then skips,
    asking for the diff of the file to be reviewed and committed.
    """
    if update:
        path.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"snapshot {path.name} rewritten (SCALER_UPDATE_SNAPSHOT=1): review its diff and commit it")
    if not path.is_file():
        pytest.fail(f"snapshot {path} is missing; regenerate it with SCALER_UPDATE_SNAPSHOT=1 and commit it")
    assert json.loads(json.dumps(rows)) == json.loads(path.read_text())


def test_reference_snapshot_has_not_changed():
    """A silent change in counting or solving shows up here; regenerate with SCALER_UPDATE_SNAPSHOT=1."""
    check_snapshot(_snapshot_rows(), SNAPSHOT, os.environ.get("SCALER_UPDATE_SNAPSHOT") == "1")


def test_a_missing_snapshot_fails_instead_of_writing_itself(tmp_path):
    missing = tmp_path / "reference_counts.json"
    with pytest.raises(pytest.fail.Exception, match="missing.*SCALER_UPDATE_SNAPSHOT=1"):
        check_snapshot({"baseline": {"params": 1}}, missing, update=False)
    assert not missing.exists()
    with pytest.raises(AssertionError):  # and a changed count against a present one fails too
        check_snapshot({"baseline": {"params": 2}}, SNAPSHOT, update=False)
