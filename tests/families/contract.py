"""The contract every family keeps, as ONE test class; each family's test file subclasses it with its variants.

A subclass names the family and its `variants` (id -> base_spec options: ablation switches, attention
hosts, presets); every test below runs once per variant, and the per-method tests once per method of
scaler.vocabulary.METHODS. Big networks are checked on the meta device (and analytically); real
modules are built only at a small width (`small_width_factor`) and input (`small_size`), on 1 thread.
"""
from __future__ import annotations

import io
import itertools
from collections import defaultdict
from dataclasses import replace
from typing import Any

import pytest
import torch

from scaler import Factors, SpecError, apply_factors, base_spec, build, complexity, solve, traced_complexity
from scaler.families import get_family
from scaler.rules import scale_resolution, scale_width
from scaler.spec import NetSpec
from scaler.vocabulary import METHODS

#: The direction "custom" is solved along (the other methods carry their own).
CUSTOM = Factors(encoder_width=1.3, decoder_depth=1.5)


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


def numel(module: torch.nn.Module) -> int:
    """Parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def _layers(module: torch.nn.Module) -> dict[str, tuple[str, int | None, int | None, tuple[tuple[int, ...], ...]]]:
    """Every layer with parameters: (type, in_channels, out_channels, parameter shapes)."""
    return {name: (type(m).__name__, getattr(m, "in_channels", None), getattr(m, "out_channels", None),
                   tuple(tuple(p.shape) for p in m.parameters(recurse=False)))
            for name, m in module.named_modules() if next(m.parameters(recurse=False), None) is not None}


def inputs(model: torch.nn.Module, spec: NetSpec, batch: int, size: tuple[int, int] | None = None,
           device: str | None = None) -> tuple[torch.Tensor, ...]:
    """A random batch the model takes: its own `example_inputs` (a multimodal net's images and reports), else images."""
    size = size or spec.input_size
    make = getattr(model, "example_inputs", None)
    return make(batch, size) if callable(make) else (torch.randn(batch, spec.in_channels, *size, device=device),)


def forward_backward(model: torch.nn.Module, spec: NetSpec, size: tuple[int, int] | None = None) -> torch.Tensor:
    """One training-mode forward and backward on a batch of 2; checks the output and that every parameter
    got a finite gradient (so every module the builder made takes part in the forward)."""
    model.train()
    model.zero_grad(set_to_none=True)
    size = size or spec.input_size
    out = model(*inputs(model, spec, 2, size))
    # per-pixel logits at the input's size, or (a classification head: per_pixel False) one row per sample
    assert out.shape == ((2, spec.classes, *size) if getattr(model, "per_pixel", True) else (2, spec.classes))
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not unused, f"no finite gradient for {unused[:5]}"
    return out


class FamilyContract:
    """Subclass with `family` and `variants`; every test below then runs on each variant of that family."""

    family: str = ""
    #: Variant id -> base_spec options (switches, hosts, presets); each goes through the whole contract.
    variants: dict[str, dict[str, Any]] = {"base": {}}
    #: Width factor and input size at which real (allocated) modules are built.
    small_width_factor: float = 1 / 8
    small_size: tuple[int, int] = (32, 32)
    #: An option value the family must refuse, and fragments the message must name (the valid values).
    bad_option: tuple[str, Any, tuple[str, ...]] | None = None
    #: Whether the family refuses unknown option names in a spec.
    checks_option_names: bool = True

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every test of the class once per variant (class-scoped, so each variant's fixtures are shared)."""
        if "variant" in metafunc.fixturenames:
            metafunc.parametrize("variant", list(self.variants), indirect=True, scope="class")

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
    def variant(cls, request) -> str:
        """The variant id this run of the class checks."""
        return request.param

    @pytest.fixture(scope="class")
    @classmethod
    def base(cls, variant: str) -> NetSpec:
        """The variant's base network (full size: only analysed, traced on meta, or built on meta)."""
        return base_spec(cls.family, **cls.variants[variant])

    def small(self, spec: NetSpec) -> NetSpec:
        """`spec` at the small width and input size (real modules are built only at this size)."""
        return replace(scale_width(spec, self.small_width_factor), input_size=self.small_size)

    @pytest.fixture(scope="class")
    @classmethod
    def solutions(cls, base: NetSpec) -> dict[str, Any]:
        """Every method solved under params <= 2x the base ("custom" along CUSTOM)."""
        return {m: solve(base, m, "params=2x", factors=CUSTOM if m == "custom" else None) for m in METHODS}

    # -- counting --------------------------------------------------------------------------
    def test_spec_round_trips_through_json(self, base, solutions):
        for spec in (base, solutions["asymmetric"].spec):
            assert NetSpec.from_json(spec.to_json()) == spec

    def test_analytic_cost_equals_meta_trace_per_stage(self, base):
        analytic, traced = complexity(base), traced_complexity(base)
        assert counts(analytic) == counts(traced)
        assert per_stage(analytic) == per_stage(traced)

    def test_small_real_module_matches_analytic_forward_and_backward(self, base):
        spec = self.small(base)
        model = build(spec)
        analytic = complexity(spec)
        assert analytic.params == numel(model)
        assert per_stage(traced_complexity(spec, model)) == per_stage(analytic)
        forward_backward(model, spec)

    @pytest.mark.parametrize("method", METHODS)
    def test_every_method_solves_counts_match_and_trains(self, base, solutions, method):
        solution = solutions[method]
        assert solution.cost.params <= 2 * complexity(base).params
        assert solution.cost == complexity(solution.spec)
        assert counts(traced_complexity(solution.spec)) == counts(solution.cost)
        # the same factors on the small base build a real module whose counts equal the analytic ones
        small = apply_factors(self.small(base), solution.factors)
        model = build(small)
        assert complexity(small).params == numel(model)
        assert counts(traced_complexity(small, model)) == counts(complexity(small))
        forward_backward(model, small)

    # -- the built module ------------------------------------------------------------------
    @pytest.mark.parametrize("in_channels", [1, 4])
    def test_any_input_channels(self, base, in_channels):
        spec = replace(self.small(base), in_channels=in_channels)
        model = build(spec)
        assert complexity(spec).params == numel(model)
        forward_backward(model, spec)
        with pytest.raises(SpecError, match=f"N x {in_channels} x H x W"):
            model(torch.zeros(1, in_channels + 1, *spec.input_size), *inputs(model, spec, 1)[1:])

    def test_state_dict_round_trip_reproduces_the_outputs(self, base):
        spec = self.small(base)
        torch.manual_seed(0)
        source = build(spec)
        forward_backward(source, spec)  # moves the BN running statistics off their init
        buffer = io.BytesIO()
        torch.save(source.state_dict(), buffer)
        torch.manual_seed(1)
        target = build(spec).eval()
        x = inputs(target, spec, 2)
        with torch.no_grad():
            expected, before = source.eval()(*x), target(*x)
            assert not torch.equal(expected, before)  # a fresh build differs, so the load below is what matches
            buffer.seek(0)
            target.load_state_dict(torch.load(buffer, weights_only=True))
            assert torch.equal(target(*x), expected)

    def test_exports_with_torch_export(self, base):
        spec = self.small(base)
        model = build(spec).eval()
        x = inputs(model, spec, 2)
        exported = torch.export.export(model, x)
        with torch.no_grad():
            torch.testing.assert_close(exported.module()(*x), model(*x))

    def test_any_input_size_is_padded_to_the_stride_and_cropped_back(self, base):
        spec = self.small(base)
        size = (spec.input_size[0] + 5, spec.input_size[1] - 3)
        forward_backward(build(spec), spec, size)

    # -- scaling -----------------------------------------------------------------------------
    def test_asymmetric_grows_the_encoder_and_leaves_the_decoder_except_layers_reading_it(self, base, solutions):
        scaled = solutions["asymmetric"].spec
        assert scaled.decoder == base.decoder and scaled.encoder != base.encoder
        before, after = build(base, "meta"), build(scaled, "meta")
        grown = dict(after.encoder.named_children())
        for name, part in before.encoder.named_children():  # every part the encoder owns grows with it
            assert numel(grown[name]) > numel(part), f"encoder part {name!r} did not grow"
        grew = [new - old for old, new in zip(before.encoder.out_channels, after.encoder.out_channels) if new != old]
        growth = {sum(c) for k in range(1, len(grew) + 1) for c in itertools.combinations(grew, k)}
        layers, scaled_layers = _layers(before.decoder), _layers(after.decoder)
        assert layers.keys() == scaled_layers.keys()
        changed = [n for n in layers if layers[n] != scaled_layers[n]]
        assert changed, "no decoder layer reads the encoder's channels"
        for name in changed:  # only the input channels of a conv, grown by the growth of encoder outputs it reads
            (kind, cin, cout, shapes), (new_kind, new_cin, new_cout, new_shapes) = layers[name], scaled_layers[name]
            assert kind in ("Conv2d", "ConvTranspose2d") and (kind, cout) == (new_kind, new_cout), name
            assert new_cin - cin in growth, (name, cin, new_cin, growth)
            assert shapes[0][2:] == new_shapes[0][2:] and shapes[1:] == new_shapes[1:], name
        assert {n: p.shape for n, p in before.head.named_parameters()} == \
            {n: p.shape for n, p in after.head.named_parameters()}

    def test_width_scaling_keeps_the_class_count(self, base):
        wide = scale_width(base, 1.7)
        assert wide.classes == base.classes
        model = build(wide, "meta")
        assert model(*inputs(model, wide, 1, device="meta")).shape[1] == base.classes

    # -- validation ---------------------------------------------------------------------------
    def test_bad_input_size_is_refused_and_resolution_snaps(self, base):
        multiple = get_family(self.family).input_multiple(base)
        bad = replace(base, input_size=(base.input_size[0] + multiple // 2, base.input_size[1]))
        with pytest.raises(SpecError, match="not a multiple") as info:
            build(bad, "meta")
        assert "\n" not in str(info.value)
        snapped = scale_resolution(base, 1.37)
        assert all(side % multiple == 0 for side in snapped.input_size)
        build(snapped, "meta")

    def test_broken_records_are_refused_by_build_complexity_and_solve_alike(self, base):
        bogus = lambda stages: (replace(stages[0], block="bogus"), *stages[1:])  # noqa: E731
        broken = {"a decoder stage too few": base.with_part("decoder", base.decoder[:-1]),
                  "a bogus decoder block": base.with_part("decoder", bogus(base.decoder)),
                  "a bogus encoder block": base.with_part("encoder", bogus(base.encoder))}
        for what, spec in broken.items():
            for use in (lambda: build(spec, "meta"), lambda: complexity(spec), lambda: solve(spec, "width", "params=2x")):
                with pytest.raises(SpecError) as info:
                    use()
                assert "\n" not in str(info.value), what

    def test_unknown_option_values_are_refused_naming_the_valid_ones(self, base, variant):
        if self.bad_option is None:
            pytest.skip("the family has no option to get wrong")
        name, value, fragments = self.bad_option
        with pytest.raises(SpecError) as info:
            base_spec(self.family, **{**self.variants[variant], name: value})
        assert all(f in str(info.value) for f in fragments), str(info.value)
        with pytest.raises(SpecError):  # a spec that arrives with it (say from JSON) is refused as well
            build(replace(base, options={**base.opts, name: value}), "meta")
        if self.checks_option_names:
            with pytest.raises(SpecError, match="unknown .*option"):
                build(replace(base, options={**base.opts, "bogus": 1}), "meta")
