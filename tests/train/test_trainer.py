"""The trainer on a tiny U-Net and tiny `shapes` data: run files, exact resume, divergence, pruning, early stop."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scaler.errors import ConfigError, ScalerError
from scaler.families import base_spec, build
from scaler.train import (
    Diverged,
    OutOfSpace,
    Pruned,
    RunResult,
    StopTraining,
    TrainConfig,
    evaluate_run,
    load_run,
    lr_factor,
    resolve_amp,
    select_device,
    train,
    tune_malloc,
)
from scaler.train import _loop
from scaler.train._timing import StepTimer, summarize
from tests.train.tiny import DATA_OPTIONS, SIZE

TIMING_KEYS = {"ms_per_step", "ms_p10", "ms_p90", "data_ms_per_step", "images_per_s", "peak_mem_bytes"}
RUN_FILES = {"spec.json", "config.json", "history.json", "metrics.json", "last.pt", "best.pt"}


def config(**changes) -> TrainConfig:
    """A tiny run: 4 steps of batch 4 per epoch."""
    base = dict(data="shapes", data_options=DATA_OPTIONS, epochs=3, batch_size=4, timing_warmup_steps=1)
    return TrainConfig(**{**base, **changes})


def run(spec, data, out, cfg=None, **kwargs) -> RunResult:
    return train(spec, cfg or config(), out, progress=False, train_ds=data[0], val_ds=data[1], **kwargs)


def without_timing(history):
    return [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in history]


# -- config --------------------------------------------------------------------------------------

def test_config_round_trips_through_json():
    cfg = config(optimizer="sgd", early_stop_patience=2, channels_last=False)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.effective_lr == 1e-2 and config().effective_lr == 1e-3


@pytest.mark.parametrize("changes, named", [
    ({"optimizer": "adam"}, "adam"), ({"amp": "fp8"}, "fp8"), ({"epochs": 0}, "epochs=0"),
    ({"lr": -1.0}, "lr=-1.0"), ({"loss": "hinge"}, "hinge"), ({"batch_size": 2.5}, "batch_size=2.5"),
    ({"class_weights": "sqrt"}, "sqrt"), ({"momentum": 1.0}, "momentum"), ({"warmup_epochs": 9}, "warmup_epochs"),
    ({"early_stop_patience": 0}, "early_stop_patience=0"), ({"poly_power": math.nan}, "poly_power"),
])
def test_bad_config_names_the_value(changes, named):
    with pytest.raises(ConfigError, match="valid|must be") as info:
        config(**changes)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_unknown_config_key_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown train config key.*'lr_max'.*valid: data"):
        TrainConfig.from_dict({"lr_max": 1})


def test_lr_schedule_warms_up_then_decays_poly():
    factors = [lr_factor(step, 100, 10, 0.9) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0
    assert all(a < b for a, b in zip(factors[:10], factors[1:10]))
    assert all(a > b for a, b in zip(factors[10:], factors[11:]))
    assert factors[55] == pytest.approx((1 - 45 / 90) ** 0.9)
    assert lr_factor(0, 10, 0, 0.9) == 1.0


def test_devices_and_precision_choices():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert select_device("auto") == torch.device(expected)  # this machine's facts: the first available of the three
    with pytest.raises(ConfigError, match="tpu"):
        select_device("tpu")
    with pytest.raises(ConfigError, match="fp16.*cpu"):
        resolve_amp("fp16", torch.device("cpu"))
    assert resolve_amp("auto", torch.device("cpu")) in ("bf16", "off")
    assert resolve_amp("off", torch.device("cpu")) == "off"


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto") == torch.device("cpu")


def test_tuned_malloc_reuses_freed_activation_buffers():
    """After tune_malloc(), allocating and freeing an 8 MB buffer again costs no page faults."""
    resource = pytest.importorskip("resource")
    if not tune_malloc():
        pytest.skip("not glibc: the allocator cannot be tuned here")
    assert tune_malloc()  # idempotent
    for _ in range(5):  # the first few grow the heap
        torch.ones(2**21).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        torch.ones(2**21).sum()  # 8 MB: mmapped (and faulted in page by page) under glibc's defaults
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # Fewer than two buffers' pages (a heap fragmented by earlier tests in the process may fault one buffer in
    # once: exactly 2048 after tests/train/test_recipes.py); untuned: ~8000 for the ten.
    assert faults < 2 * 2048, faults


def test_timer_skips_warmup_steps_and_summarizes():
    timer = StepTimer(torch.device("cpu"), warmup=2)
    for _ in range(5):
        timer.start()
        timer.data_ready()
        timer.step_done()
    steps, loads = timer.take()
    assert len(steps) == len(loads) == 3 and timer.take() == ([], [])
    assert summarize([3.0, 1.0, 2.0])["median"] == 2.0 and summarize([])["median"] is None
    spread = summarize([float(v) for v in range(1, 102)])
    assert (spread["p10"], spread["p90"]) == (11.0, 91.0)


# -- training runs -------------------------------------------------------------------------------

def test_run_directory_holds_every_file(spec, data, tmp_path):
    result = run(spec, data, tmp_path / "run", config(epochs=2))
    assert RUN_FILES <= {p.name for p in (tmp_path / "run").iterdir()}
    assert result.status == "completed" and result.epochs_run == 2 and len(result.history) == 2
    record = result.history[-1]
    assert set(record) >= {"epoch", "train_loss", "val_loss", "pa", "mpa", "miou", "iou_per_class", "lr",
                           "ms_per_step", "ms_p10", "ms_p90", "data_ms_per_step", "images_per_s", "peak_mem_bytes"}
    assert len(record["iou_per_class"]) == 5 and 0 <= record["miou"] <= 1
    assert result.ms_p10 <= result.ms_per_step <= result.ms_p90 and result.data_ms_per_step >= 0
    assert result.best["miou"] == max(r["miou"] for r in result.history)
    assert load_run(tmp_path / "run") == result
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["status"] == "completed" and "history" not in saved
    assert json.loads((tmp_path / "run" / "history.json").read_text()) == result.history


def test_interrupted_run_resumes_to_the_same_result(spec, data, tmp_path):
    """3 epochs straight == 2 epochs, an interruption, then a resume to 3 (metrics and weights, exactly)."""
    straight = run(spec, data, tmp_path / "straight")

    def stop_after_two(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(spec, data, tmp_path / "resumed", on_epoch_end=stop_after_two)
    assert load_run(tmp_path / "resumed").status == "interrupted"
    assert torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["epoch"] == 2
    seen = []
    resumed = run(spec, data, tmp_path / "resumed", on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [3] and resumed.status == "completed"
    assert without_timing(resumed.history) == without_timing(straight.history)
    assert resumed.best == straight.best
    weights = [torch.load(tmp_path / d / "last.pt", weights_only=True)["model"] for d in ("straight", "resumed")]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_finished_run_is_returned_not_retrained(spec, data, tmp_path):
    first = run(spec, data, tmp_path / "run", config(epochs=1))
    again = run(spec, data, tmp_path / "run", config(epochs=1), on_epoch_end=lambda e, r: pytest.fail("retrained"))
    assert again == first


def test_resume_refuses_a_different_config(spec, data, tmp_path):
    def stop(epoch, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(spec, data, tmp_path / "run", config(epochs=2), on_epoch_end=stop)
    with pytest.raises(ScalerError, match=r"different config: lr=None \(now 0.5\).*--no-resume"):
        run(spec, data, tmp_path / "run", config(epochs=2, lr=0.5))
    fresh = run(spec, data, tmp_path / "run", config(epochs=1, lr=0.5), resume=False)
    assert fresh.epochs_run == 1


def test_nan_loss_stops_as_diverged(spec, data, tmp_path):
    class Poisoned(torch.utils.data.Dataset):
        """The shapes items with NaN images from item 0 on."""

        def __init__(self, ds):
            self.ds, self.num_classes, self.ignore_index, self.input_size = ds, ds.num_classes, ds.ignore_index, SIZE

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            image, mask = self.ds[i]
            return image * math.nan, mask

        def class_pixel_counts(self):
            return self.ds.class_pixel_counts()

    with pytest.raises(Diverged, match=r"^diverged at epoch 1 step 1$"):
        train(spec, config(), tmp_path / "run", progress=False, train_ds=Poisoned(data[0]), val_ds=data[1])
    result = load_run(tmp_path / "run")
    assert result.status == "diverged" and result.message == "diverged at epoch 1 step 1"


@pytest.mark.parametrize("stop, status", [
    (Pruned("pruned after epoch 1"), "pruned"),
    (StopTraining("stop"), "interrupted"),
    (OutOfSpace("disk full"), "interrupted"),
    (RuntimeError("any other exception"), "interrupted"),
    (KeyboardInterrupt(), "interrupted"),
])
def test_a_stopped_run_records_the_stop_s_status_and_reraises(spec, data, tmp_path, stop, status):
    def stop_now(epoch, record):
        raise stop

    with pytest.raises(type(stop)):
        run(spec, data, tmp_path / "run", on_epoch_end=stop_now)
    result = load_run(tmp_path / "run")
    assert result.status == status and result.epochs_run == 1


def test_training_never_imports_optuna():
    """Training defines why a run stops (StopTraining); it does not look for a search library."""
    code = "import sys, scaler.train; assert 'optuna' not in sys.modules, 'optuna imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert out.returncode == 0, out.stderr


def test_early_stopping_on_val_miou(spec, data, tmp_path, monkeypatch):
    scores = iter([0.5, 0.6, 0.55, 0.58, 0.9])
    evaluate = _loop.evaluate

    def scripted(*args, **kwargs):
        return {**evaluate(*args, **kwargs), "miou": next(scores)}

    monkeypatch.setattr(_loop, "evaluate", scripted)
    result = run(spec, data, tmp_path / "run", config(epochs=5, early_stop_patience=2, max_steps_per_epoch=1))
    assert result.status == "early_stopped" and result.epochs_run == 4
    assert result.best["epoch"] == 2
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["epoch"] == 2


def _initial_parameters(spec, seed: int) -> dict[str, torch.Tensor]:
    """The network's parameters as a run seeded with `seed` initialises them."""
    _loop._seed_everything(seed)
    return {name: p.detach().clone() for name, p in build(spec).named_parameters()}


def test_sgd_clipping_and_unweighted_ce_take_effect(spec, data, tmp_path):
    """One SGD step under a tiny clip moves the weights by exactly lr x clip (AdamW or no clipping move them
    far more), and the recorded val loss is plain, unweighted cross-entropy of the saved weights."""
    cfg = config(epochs=1, optimizer="sgd", lr=0.1, weight_decay=0.0, warmup_epochs=0.0, amp="off",
                 channels_last=False, loss="ce", class_weights="none", grad_clip=1e-3, max_steps_per_epoch=1,
                 timing_warmup_steps=0)
    result = run(spec, data, tmp_path / "run", cfg)
    assert (result.amp, result.channels_last, result.device) == ("off", False, "cpu")
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert len(saved["step_ms"]) == 1 and saved["global_step"] == 1
    before = _initial_parameters(spec, cfg.seed)
    moved = torch.sqrt(sum(((saved["model"][k] - before[k]) ** 2).sum() for k in before))
    assert moved.item() == pytest.approx(cfg.lr * cfg.grad_clip, rel=1e-3)

    model = build(spec)
    model.load_state_dict(saved["model"])
    model.eval()
    total, items = 0.0, 0
    with torch.no_grad():
        for images, masks in torch.utils.data.DataLoader(data[1], batch_size=cfg.batch_size):
            loss = torch.nn.functional.cross_entropy(model(images), masks, ignore_index=data[1].ignore_index)
            total, items = total + loss.item() * len(masks), items + len(masks)
    assert result.history[0]["val_loss"] == pytest.approx(total / items, rel=1e-5)


def test_every_step_s_lr_follows_warmup_then_poly_across_a_resume(spec, data, tmp_path, monkeypatch):
    seen: list[float] = []
    make = _loop._optimizer

    def recording(cfg, model):
        optimizer = make(cfg, model)
        step = optimizer.step

        def step_and_record(*args, **kwargs):
            seen.append(optimizer.param_groups[0]["lr"])
            return step(*args, **kwargs)

        optimizer.step = step_and_record
        return optimizer

    monkeypatch.setattr(_loop, "_optimizer", recording)
    cfg = config(lr=0.01, warmup_epochs=1.5)  # 3 epochs of 4 steps: 6 warm-up steps, then poly over 6
    expected = [0.01 * lr_factor(step, 12, 6, cfg.poly_power) for step in range(12)]
    result = run(spec, data, tmp_path / "straight", cfg)
    assert seen == pytest.approx(expected) and expected[5] == pytest.approx(0.01)
    assert [r["lr"] for r in result.history] == pytest.approx(expected[3::4])

    seen.clear()

    def stop(epoch, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(spec, data, tmp_path / "resumed", cfg, on_epoch_end=stop)
    run(spec, data, tmp_path / "resumed", cfg)
    assert seen == pytest.approx(expected)  # the resumed process goes on from global step 4


#: Trains the tiny run of `config()` (its own datasets) with seed argv[2] into argv[1].
SEEDED_RUN = """
import sys
from scaler.families import base_spec
from scaler.train import TrainConfig, train
spec = base_spec("unet", width=4, levels=3, classes=5, input_size=(32, 32))
cfg = TrainConfig(data="shapes", data_options={"length": 16, "source_size": [32, 32]}, epochs=2, batch_size=4,
                  timing_warmup_steps=1, seed=int(sys.argv[2]))
train(spec, cfg, sys.argv[1], progress=False)
"""


def test_the_same_seed_in_two_processes_gives_the_same_history(spec, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    histories = []
    for name in ("first", "second"):
        out = subprocess.run([sys.executable, "-c", SEEDED_RUN, str(tmp_path / name), "0"], capture_output=True,
                             text=True, timeout=300, env=env)
        assert out.returncode == 0, out.stderr
        histories.append(without_timing(load_run(tmp_path / name).history))
    assert histories[0] == histories[1] and len(histories[0]) == 2
    other = train(spec, config(epochs=2, seed=1), tmp_path / "seed1", progress=False)
    assert without_timing(other.history) != histories[0]  # the seed matters, so equality above is not vacuous


def test_evaluate_run_reproduces_the_best_epoch(spec, data, tmp_path):
    result = run(spec, data, tmp_path / "run", config(epochs=2, data_options=DATA_OPTIONS))
    metrics = evaluate_run(tmp_path / "run", split="val", checkpoint="best")
    assert metrics["miou"] == pytest.approx(result.best["miou"], abs=1e-9)
    assert metrics["class_names"][0] == "background" and metrics["epoch"] == result.best["epoch"]
    with pytest.raises(ScalerError, match="checkpoint 'first'; valid: best, last"):
        evaluate_run(tmp_path / "run", checkpoint="first")


def test_data_must_match_the_network(data, tmp_path):
    wrong = base_spec("unet", width=4, levels=3, classes=3, input_size=SIZE)
    with pytest.raises(ScalerError, match="3 classes but the train data has 5.*valid: classes=5"):
        run(wrong, data, tmp_path / "run")
