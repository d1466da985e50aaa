"""scaler.bench: isolated results and their cache, the latency model, time budgets, the CSV and the CLI."""
from __future__ import annotations

import csv
import json

import pytest

from scaler.bench import (
    TIMM_COLUMNS, BenchSettings, LatencyModel, bench, calibration_specs, fit_latency_model, latency_model,
    solve_timed, write_timm_csv,
)
from scaler.bench import _measure
from scaler.errors import BudgetError, ConfigError, ScalerError
from scaler.families import base_spec
from scaler.scaling import ScalingOptions
from tests.bench.fakes import FakeTimer, linear_ms
from tests.cli_helpers import run_cli

SETTINGS = BenchSettings(batch=1, device="cpu", threads=1)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder."""
    monkeypatch.setenv("SCALER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def base():
    """A small U-Net whose scaled variants still build quickly."""
    return base_spec("unet", width=8, classes=3, input_size=(32, 32))


def test_results_record_the_conditions_and_are_cached(base):
    wide = base_spec("unet", width=16, classes=3, input_size=(32, 32))
    timer = FakeTimer([base, wide], lambda s: 10.0 if s == base else 30.0)
    first = bench([base, wide], SETTINGS, measure=timer)
    assert [r.median_ms for r in first] == [10.0, 30.0]
    r = first[0]
    assert (r.mode, r.batch, r.threads, r.dtype, r.layout, r.device, r.clock) == (
        "train", 1, 1, "float32", "contiguous", "cpu", "cpu")
    assert r.spec_hash == base.digest() and r.torch_version and r.device_name.startswith("cpu")
    assert r.p10_ms < r.median_ms < r.p90_ms and r.peak_mem_bytes is None  # the CPU reports no peak
    assert r.samples_per_sec == pytest.approx(100.0)
    again = bench([wide, base], SETTINGS, measure=timer)
    assert [x.median_ms for x in again] == [30.0, 10.0] and len(timer.timed) == 2  # both from the cache
    bench([base], BenchSettings(batch=1, device="cpu", threads=1, mode="infer"), measure=timer)
    assert len(timer.timed) == 3  # another mode is another key


@pytest.mark.parametrize("bad, match", [({"mode": "eval"}, "mode 'eval'"), ({"batch": 0}, "batch"),
                                        ({"amp": "int8"}, "amp 'int8'"), ({"threads": 0}, "threads"),
                                        ({"clock": "tsc"}, "clock 'tsc'")])
def test_bad_settings_name_the_value(bad, match):
    with pytest.raises(ConfigError, match=match):
        BenchSettings(**bad)


def test_latency_model_prefers_the_simple_form_and_round_trips(base, tmp_path):
    specs = calibration_specs(base)
    assert len(specs) >= 8 and len({s.digest() for s in specs}) == len(specs)
    model = fit_latency_model(specs, [linear_ms()(s) for s in specs], {"device": "fake"})
    assert model.form == "macs" and model.error < 1e-6 and "leave-one-out" in model.reason
    assert model.predict(base) == pytest.approx(linear_ms()(base))
    loaded = LatencyModel.load(model.save(tmp_path / "model.json"))
    assert loaded == model
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ScalerError, match="bad.json"):
        LatencyModel.load(tmp_path / "bad.json")


@pytest.mark.parametrize("terms, form", [({"layers": 3.0}, "macs+layers"),
                                         ({"layers": 3.0, "mparams": 20.0}, "macs+layers+params"),
                                         ({"layers": 3.0, "macts": 40.0}, "macs+acts+layers")])
def test_latency_model_takes_more_terms_when_held_out_error_says_so(base, terms, form):
    from scaler.bench import features
    specs = calibration_specs(base)
    times = [1.0 + 500.0 * features(s)["gmacs"] + sum(v * features(s)[k] for k, v in terms.items()) for s in specs]
    model = fit_latency_model(specs, times)
    assert model.form == form and model.error < 0.01
    assert model.form_errors["macs"] > model.form_errors[model.form] + 0.005


def fitted(base, ms):
    """A model fitted on fake measurements of the calibration networks."""
    specs = calibration_specs(base)
    return fit_latency_model(specs, [ms(s) for s in specs])


def register_solved(monkeypatch, timer):
    """Let the fake timer know every network the solver makes (it finds networks by their hash)."""
    original = ScalingOptions.scale

    def scale(self, spec, measured=None):
        solution = original(self, spec, measured)
        timer.add(solution.spec)
        return solution
    monkeypatch.setattr(ScalingOptions, "scale", scale)


def test_time_budget_is_solved_by_the_model_and_checked_by_measurement(base, monkeypatch):
    ms = linear_ms()
    options, model = ScalingOptions.parse("width", "ms=2x"), fitted(base, ms)
    timer = FakeTimer([base], ms)
    register_solved(monkeypatch, timer)
    timed = solve_timed(base, options, SETTINGS, models={"ms": model}, measure=timer)
    assert timed.resolves == 0 and timed.measured_ms["ms"] <= 2 * ms(base)
    assert timed.solution.slack["ms"] == pytest.approx(1 - timed.measured_ms["ms"] / (2 * ms(base)))
    assert timed.solution.measured == timed.measured_ms


def test_an_inference_budget_times_inference(base, monkeypatch):
    ms = linear_ms(gmacs=800.0, intercept=2.0)
    timer = FakeTimer([base], ms)
    register_solved(monkeypatch, timer)
    timed = solve_timed(base, ScalingOptions.parse("compound", "infer_ms=25"), SETTINGS,
                        models={"infer_ms": fitted(base, ms)}, measure=timer)
    assert timer.modes == {"infer"} and timed.measured_ms["infer_ms"] <= 25
    assert timed.solution.limits["infer_ms"] == 25 and timed.solution.binding == "infer_ms"


def test_a_measurement_over_the_budget_shrinks_the_network(base, monkeypatch):
    """The device is 30% slower on bigger networks than the model says: the solve is repeated until it fits."""
    ms = linear_ms()
    options, model = ScalingOptions.parse("width", "ms=2x"), fitted(base, ms)
    timer = FakeTimer([base], lambda s: ms(s) if s == base else 1.3 * ms(s))
    register_solved(monkeypatch, timer)
    first_guess = options.scale(base, {"ms": model.predict})
    shrunk = solve_timed(base, options, SETTINGS, models={"ms": model}, measure=timer)
    assert shrunk.resolves >= 1 and shrunk.measured_ms["ms"] <= 2 * ms(base)
    assert shrunk.solution.cost.macs < first_guess.cost.macs


def test_time_budget_errors(base):
    timer = FakeTimer([base], linear_ms())
    with pytest.raises(BudgetError, match="below the base network's ms"):
        solve_timed(base, ScalingOptions.parse("width", "ms=0.5x"), SETTINGS, measure=timer)
    with pytest.raises(BudgetError, match="no time budget"):
        solve_timed(base, ScalingOptions.parse("width", "params=2x"), SETTINGS, measure=timer)
    with pytest.raises(BudgetError, match="needs a measurable device"):
        ScalingOptions.parse("width", "ms=2x").scale(base)


def test_latency_model_is_fitted_once_and_stored(base, cache):
    specs = calibration_specs(base)
    timer = FakeTimer(specs, linear_ms())
    model = latency_model(base, SETTINGS, measure=timer)
    assert len(timer.timed) == len(specs) and list((cache / "latency").glob("unet-train-*.json"))
    assert latency_model(base, SETTINGS, measure=timer) == model and len(timer.timed) == len(specs)


def test_timm_csv(base, tmp_path):
    results = bench([base], SETTINGS, measure=FakeTimer([base], lambda s: 20.0))
    path = write_timm_csv(tmp_path / "out" / "bench.csv", results, ["unet-w8"])
    rows = list(csv.DictReader(path.open()))
    assert tuple(rows[0])[:len(TIMM_COLUMNS)] == TIMM_COLUMNS
    assert rows[0]["model"] == "unet-w8" and rows[0]["img_size"] == "32x32" and float(rows[0]["step_time"]) == 20.0
    assert float(rows[0]["samples_per_sec"]) == 50.0 and float(rows[0]["gmacs"]) == round(results[0].macs / 1e9, 4)


def test_cli_bench_table_json_csv_and_errors(capsys, monkeypatch, tmp_path, base):
    monkeypatch.setattr(_measure, "time_interleaved", lambda steps, threads, **kw: {k: [5.0, 6.0] for k in steps})
    args = ("bench", "unet", "--width", "8", "--input", "32x32", "--threads", "1", "--device", "cpu")
    result = run_cli(capsys, *args, "--csv", str(tmp_path / "b.csv"))
    assert result.returncode == 0 and "5.50" in result.stdout and (tmp_path / "b.csv").is_file()
    records = json.loads(run_cli(capsys, *args, "--json").stdout)
    assert records[0]["model"] == "unet" and records[0]["median_ms"] == 5.5
    for extra, text in ((("--mode", "eval"), "mode 'eval'"), (("--budget", "ms=0.5x"), "below the base"),
                        (("--device", "cuda:99"), "cuda:99"), (("--budget", "ms=2x", "--method", "wide"), "'wide'")):
        bad = run_cli(capsys, *args, *extra)
        assert bad.returncode == 2 and text in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
