"""Isolated timing and amp/channels_last chosen by measurement (fake timers: both branches)."""
from __future__ import annotations

import pytest
import torch

from scaler.errors import ConfigError
from scaler.families import base_spec
from scaler.train._hardware import precision_candidates
from scaler.train._timing import auto_precision, choose_precision, resolve_clock, time_interleaved

CPU = torch.device("cpu")
FP32, FP32_CL, BF16, BF16_CL = ("off", False), ("off", True), ("bf16", False), ("bf16", True)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder."""
    monkeypatch.setenv("SCALER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def tiny():
    """A small U-Net: building it is quick."""
    return base_spec("unet", width=8, classes=3, input_size=(32, 32))


def fake_measure(ms: dict, calls: list | None = None):
    """Times per candidate from `ms` (label tuple -> median), with a 2% spread; records each call."""
    def measure(steps, threads):
        if calls is not None:
            calls.append(list(steps))
        return {k: [ms[k] * f for f in (0.98, 0.99, 1.0, 1.01, 1.02)] for k in steps}
    return measure


def test_spec_digest_is_canonical():
    a, b = tiny(), tiny()
    assert a.digest() == b.digest() and len(a.digest()) == 16
    assert base_spec("unet", width=16, classes=3, input_size=(32, 32)).digest() != a.digest()


def test_fastest_candidate_is_chosen_when_beyond_noise():
    """The AMD case: bf16+channels_last 1.75x faster than eager fp32."""
    choice = choose_precision({FP32: [100.0] * 5, FP32_CL: [95.0] * 5, BF16: [80.0] * 5, BF16_CL: [57.1] * 5})
    assert (choice.amp, choice.channels_last) == BF16_CL
    assert choice.ratio == pytest.approx(100 / 57.1)


def test_fp32_is_kept_when_the_candidates_are_slower():
    """The Intel case: bf16+channels_last at 0.82x of eager fp32 must not be chosen."""
    choice = choose_precision({FP32: [164.1] * 5, FP32_CL: [170.0] * 5, BF16: [190.0] * 5, BF16_CL: [206.7] * 5})
    assert (choice.amp, choice.channels_last) == FP32 and choice.ratio == 1.0


def test_a_gain_within_the_noise_keeps_fp32():
    noisy = [70.0, 90.0, 100.0, 110.0, 130.0]  # p10-p90 spread ~ +-20%
    choice = choose_precision({FP32: noisy, BF16: [x * 0.9 for x in noisy]})
    assert (choice.amp, choice.channels_last) == FP32
    assert (choose_precision({FP32: [100.0] * 5, BF16: [98.0] * 5}).amp) == "off"  # 2% < the 3% floor


@pytest.mark.parametrize("ms, expected", [
    ({FP32: 100.0, FP32_CL: 96.0, BF16: 75.0, BF16_CL: 57.0}, BF16_CL),
    ({FP32: 164.0, FP32_CL: 170.0, BF16: 190.0, BF16_CL: 206.7}, FP32),
])
def test_auto_precision_measures_once_then_reads_the_cache(ms, expected, cache):
    calls: list = []
    first = auto_precision(tiny(), CPU, batch=1, measure=fake_measure(ms, calls))
    assert (first.amp, first.channels_last) == expected and first.source == "measured"
    assert calls == [[FP32, FP32_CL, BF16, BF16_CL]]
    assert "x eager fp32" in first.line()
    again = auto_precision(tiny(), CPU, batch=1, measure=fake_measure(ms, calls))
    assert (again.amp, again.channels_last, again.source) == (*expected, "cache") and len(calls) == 1
    assert (cache / "precision.json").is_file()


def test_explicit_settings_are_kept_and_only_the_rest_is_measured():
    calls: list = []
    choice = auto_precision(tiny(), CPU, amp="off", measure=fake_measure({FP32: 100.0, FP32_CL: 80.0}, calls))
    assert calls == [[FP32, FP32_CL]] and choice.channels_last is True and choice.amp == "off"
    fixed = auto_precision(tiny(), CPU, amp="off", channels_last=False, measure=fake_measure({}, calls))
    assert fixed.source == "fixed" and len(calls) == 1
    assert precision_candidates(CPU, "bf16", None) == [BF16, BF16_CL]
    with pytest.raises(ConfigError, match="fp16"):
        precision_candidates(CPU, "fp16", None)


def test_time_interleaved_rotates_the_order_each_round():
    order: list[str] = []
    steps = {name: (lambda name=name: order.append(name)) for name in "abc"}
    samples = time_interleaved(steps, 1, rounds=3, min_run_time=0.001, warmup=1)
    assert set(samples) == set("abc") and all(samples.values())
    runs = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert runs[:3] == ["a", "b", "c"]  # warm-up
    assert runs[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_cpu_clock_only_where_it_measures_a_step():
    assert resolve_clock("auto", CPU, 1) == "cpu" and resolve_clock("auto", CPU, 2) == "wall"
    assert resolve_clock("wall", CPU, 1) == "wall"
    with pytest.raises(ConfigError, match="clock 'cpu'"):
        resolve_clock("cpu", CPU, 2)
    with pytest.raises(ConfigError, match="unknown clock 'gpu'"):
        resolve_clock("gpu", CPU, 1)
