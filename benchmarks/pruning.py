"""Pruning: the same fixed search with and without a pruner, side by side: best mIoU and epochs spent.

The search is a grid (4 methods x 4 learning rates = 16 trials, 8 epochs of 24 steps each) of a
tiny U-Net (width 8, 32x32) on the synthetic `shapes` data, trained for real on the CPU. Every
trial has the same seed, so a trial that the pruner lets finish is the very run of the unpruned
search: the pruner can only lose by stopping the eventual winner early. The goal: the pruned
search reaches the unpruned best mIoU within 1% (relative) on at most 50% of the epochs.

    python benchmarks/pruning.py                       # median pruner
    python benchmarks/pruning.py --pruner hyperband
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import optuna

from scaler.formatting import text_table
from scaler.study import load_study_config, run_study, study_trials_frame

#: No verdict on epoch 1 (its warm-up leaves every curve at the noise floor); from epoch 2 a trial
#: must stay above the median of the trials before it at the same epoch (3 full trials first).
PRUNER_OPTIONS = {
    "median": {"n_startup_trials": 3, "n_warmup_steps": 1},
    "hyperband": {"min_resource": 1, "reduction_factor": 3},
    "none": {},
}
SPACE = {"method": {"choices": ["baseline", "width", "depth", "compound"]},
         "train": {"lr": {"choices": [3e-4, 1e-3, 3e-3, 3e-2]}}}
STUDY = """
[study]
name = "pruning_{pruner}"
search_space = "space.toml"
sampler = "grid"
pruner = "{pruner}"
pruner_options = {options}
seed = 0

[network]
family = "unet"
width = 8
levels = 4
input_size = [32, 32]
classes = 5

[scaling]
budget = ["params=2x"]

[data]
name = "shapes"
options = {{length = {length}, source_size = [32, 32]}}

[train]
epochs = {epochs}
batch_size = 8
warmup_epochs = 1.0
device = "cpu"
"""


def _toml(value: object) -> str:
    """A JSON-ish dict as a TOML inline table."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def search(folder: Path, pruner: str, epochs: int, length: int = 192) -> dict[str, object]:
    """Run the search with `pruner` (`length` images per split: 24 steps of 8); summarise it."""
    folder.mkdir(parents=True)
    (folder / "space.toml").write_text(
        f"method = {_toml(SPACE['method'])}\n[train]\nlr = {_toml(SPACE['train']['lr'])}\n")
    (folder / "study.toml").write_text(STUDY.format(pruner=pruner, options=_toml(PRUNER_OPTIONS[pruner]),
                                                    epochs=epochs, length=length))
    config = load_study_config(folder / "study.toml").with_overrides(
        storage=f"sqlite:///{folder / 'study.db'}", run_root=folder / "runs")
    started = time.perf_counter()
    run_study(config)
    frame = study_trials_frame(config.storage, config.name)
    best = frame.loc[frame.miou.idxmax()]
    return {"pruner": pruner, "trials": len(frame), "pruned": int((frame.state == "PRUNED").sum()),
            "epochs": int(frame.epochs_run.sum()), "best_miou": float(best.miou),
            "best": f"#{best.number} {best.method} lr={best.hyperparams['lr']:g}",
            "wall_s": time.perf_counter() - started}


def main() -> int:
    """Run both searches, print them side by side, exit 1 when the goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pruner", choices=["median", "hyperband"], default="median")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        results = [search(Path(tmp) / p, p, args.epochs) for p in ("none", args.pruner)]
    full, pruned = results
    print(text_table([{**r, "best_miou": f"{r['best_miou']:.4f}", "wall_s": f"{r['wall_s']:.0f}"} for r in results]))
    ratio = pruned["epochs"] / full["epochs"]
    gap = 1.0 - pruned["best_miou"] / full["best_miou"]
    ok = gap <= 0.01 and ratio <= 0.5
    print(f"{args.pruner}: best mIoU {pruned['best_miou']:.4f} vs {full['best_miou']:.4f} unpruned "
          f"({gap:+.2%} below), on {pruned['epochs']}/{full['epochs']} epochs = {ratio:.0%} "
          f"({'PASS' if ok else 'FAIL'}: within 1% on <= 50% of the epochs)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
