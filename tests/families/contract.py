"""The contract every family keeps, as ONE test class; each family's test file subclasses it with its options.

Big networks are checked on the meta device (and analytically); real modules are built only at a
small width (`small_width_factor`) and input (`small_size`), where they are cheap.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

import pytest
import torch

from scaler import SpecError, apply_factors, base_spec, build, complexity, solve, traced_complexity
from scaler.families import get_family
from scaler.rules import scale_resolution, scale_width
from scaler.spec import NetSpec

METHODS = ("baseline", "depth", "width", "resolution", "compound", "asymmetric")


def per_stage(cost: Any) -> dict[str, tuple[int, int, int]]:
    """Params, MACs and activations summed per stage key."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in cost.layers:
        totals[row.stage][0] += row.params
        totals[row.stage][1] += row.macs
        totals[row.stage][2] += row.activations
    return {k: tuple(v) for k, v in totals.items()}


def counts(cost: Any) -> tuple[int, int, int]:
    """(params, MACs, activations)."""
    return cost.params, cost.macs, cost.activations


def _layers(module: torch.nn.Module) -> dict[str, tuple[str, int | None, int | None, tuple[tuple[int, ...], ...]]]:
    """Every layer with parameters: (type, in_channels, out_channels, parameter shapes)."""
    return {name: (type(m).__name__, getattr(m, "in_channels", None), getattr(m, "out_channels", None),
                   tuple(tuple(p.shape) for p in m.parameters(recurse=False)))
            for name, m in module.named_modules() if next(m.parameters(recurse=False), None) is not None}


class FamilyContract:
    """Subclass with `family` and `base_options`; every test below then runs on that family."""

    family: str = ""
    base_options: dict[str, Any] = {}
    #: Width factor and input size at which real (allocated) modules are built.
    small_width_factor: float = 1 / 8
    small_size: tuple[int, int] = (64, 64)
    #: An option value the family must refuse, and fragments the message must name (the valid values).
    bad_option: tuple[str, Any, tuple[str, ...]] | None = None
    #: Whether the family refuses unknown option names in a spec.
    checks_option_names: bool = True

    # -- helpers ---------------------------------------------------------------------------
    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def one_thread(cls):
        """Real modules here are tiny: more threads only oversubscribe a shared CPU (10x slower)."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)

    @pytest.fixture(scope="class")
    @classmethod
    def base(cls) -> NetSpec:
        """The family's base network (full size: only analysed, traced on meta, or built on meta)."""
        return base_spec(cls.family, **cls.base_options)

    def small(self, spec: NetSpec) -> NetSpec:
        """`spec` at the small width and input size (real modules are built only at this size)."""
        return replace(scale_width(spec, self.small_width_factor), input_size=self.small_size)

    @pytest.fixture(scope="class")
    @classmethod
    def solutions(cls, base: NetSpec) -> dict[str, Any]:
        """Every method solved under params <= 2x the base."""
        return {method: solve(base, method, "params=2x") for method in METHODS}

    # -- the contract ------------------------------------------------------------------------
    def test_spec_round_trips_through_json(self, base, solutions):
        for spec in (base, solutions["asymmetric"].spec):
            assert NetSpec.from_json(spec.to_json()) == spec

    def test_analytic_cost_equals_meta_trace_per_stage(self, base):
        analytic, traced = complexity(base), traced_complexity(base)
        assert counts(analytic) == counts(traced)
        assert per_stage(analytic) == per_stage(traced)

    def test_small_real_module_matches_analytic_and_shapes(self, base):
        spec = self.small(base)
        model = build(spec)
        analytic = complexity(spec)
        assert analytic.params == sum(p.numel() for p in model.parameters())
        assert counts(traced_complexity(spec, model)) == counts(analytic)
        model.eval()
        with torch.no_grad():
            out = model(torch.randn(2, spec.in_channels, *spec.input_size))
        assert out.shape == (2, spec.classes, *spec.input_size)
        assert torch.isfinite(out).all()

    @pytest.mark.parametrize("method", METHODS)
    def test_every_method_solves_under_params_2x_and_counts_match(self, base, solutions, method):
        solution = solutions[method]
        assert solution.cost.params <= 2 * complexity(base).params
        assert solution.cost == complexity(solution.spec)
        assert counts(traced_complexity(solution.spec)) == counts(solution.cost)
        # the same factors on the small base build a real module whose counts equal the analytic ones
        small = apply_factors(self.small(base), solution.factors)
        model = build(small)
        assert complexity(small).params == sum(p.numel() for p in model.parameters())
        assert counts(traced_complexity(small, model)) == counts(complexity(small))

    def test_asymmetric_leaves_the_decoder_except_layers_reading_encoder_channels(self, base, solutions):
        scaled = solutions["asymmetric"].spec
        assert scaled.decoder == base.decoder and scaled.encoder != base.encoder
        before, after = build(base, "meta"), build(scaled, "meta")
        layers, scaled_layers = _layers(before.decoder), _layers(after.decoder)
        assert layers.keys() == scaled_layers.keys()
        changed = [n for n in layers if layers[n] != scaled_layers[n]]
        assert changed, "no decoder layer reads the encoder's channels"
        for name in changed:  # only the input channels of a conv that reads an encoder feature
            (kind, cin, cout, shapes), (new_kind, new_cin, new_cout, new_shapes) = layers[name], scaled_layers[name]
            assert kind in ("Conv2d", "ConvTranspose2d") and (kind, cout) == (new_kind, new_cout), name
            assert cin != new_cin and shapes[0][2:] == new_shapes[0][2:] and shapes[1:] == new_shapes[1:], name
        assert {n: p.shape for n, p in before.head.named_parameters()} == \
            {n: p.shape for n, p in after.head.named_parameters()}

    def test_width_scaling_keeps_the_class_count(self, base):
        wide = scale_width(base, 1.7)
        assert wide.classes == base.classes
        model = build(wide, "meta")
        assert model(torch.zeros(1, wide.in_channels, *wide.input_size, device="meta")).shape[1] == base.classes

    def test_bad_input_size_is_refused_and_resolution_snaps(self, base):
        multiple = get_family(self.family).input_multiple(base)
        bad = replace(base, input_size=(base.input_size[0] + multiple // 2, base.input_size[1]))
        with pytest.raises(SpecError, match="not a multiple") as info:
            build(bad, "meta")
        assert "\n" not in str(info.value)
        snapped = scale_resolution(base, 1.37)
        assert all(side % multiple == 0 for side in snapped.input_size)
        build(snapped, "meta")

    def test_unknown_option_values_are_refused_naming_the_valid_ones(self, base):
        if self.bad_option is None:
            pytest.skip("the family has no option to get wrong")
        name, value, fragments = self.bad_option
        with pytest.raises(SpecError) as info:
            base_spec(self.family, **{**self.base_options, name: value})
        assert all(f in str(info.value) for f in fragments), str(info.value)
        with pytest.raises(SpecError):  # a spec that arrives with it (say from JSON) is refused as well
            build(replace(base, options={**base.opts, name: value}), "meta")
        if self.checks_option_names:
            with pytest.raises(SpecError, match="unknown .*option"):
                build(replace(base, options={**base.opts, "bogus": 1}), "meta")
