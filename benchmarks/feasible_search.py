"""Feasible search: trained networks per 20 trials of the shipped CamVid study, before vs after, 3 sampler seeds.

Before: the free-factor box of search_spaces/factors.toml (encoder/decoder depth in [1, 3], width
in [1, 2], resolution in [1, 1.5]) under params <= 2x, infeasible samples recorded and never trained
(the study as shipped before the [direction] space). After: studies/camvid_unet.toml as shipped
(search_spaces/direction.toml: a direction put on the budget frontier by the solver). Both run the
study's own sampler (TPE, 6 startup trials, multivariate) and pruner with a stand-in trainer
(tests.study.fakes.FakeTrainer: a deterministic curve of params and learning rate), so it runs on
a CPU in about a minute; the sampler, the solver, rounding, the budget and the storage are real.

"trained / 20" counts, among the study's first 20 trials, those that trained a network of their
own (not infeasible, not a reuse). "samples for 20" is how many trials the study needed to train
20 networks now that infeasible samples and reuses do not count toward n_trials.

    PYTHONPATH=. python benchmarks/feasible_search.py [--seeds 0 1 2] [--trials 20]
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

import optuna

from scaler.formatting import text_table
from scaler.study import load_study_config, run_study, study_trials_frame
from tests.study.fakes import FakeTrainer

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "studies" / "camvid_unet.toml"
#: The CamVid folder (never read: the stand-in trainer needs no data; the study file must still load).
CAMVID = os.environ.get("SCALER_CAMVID", str(REPO.parent / "shared" / "data" / "camvid"))


def cpu_copy(folder: Path, before: bool, seed: int, storage: str, **study: object) -> Path:
    """The shipped study written into `folder` with absolute paths; `before`: the old free-factor space and budget."""
    text = STUDY.read_text()
    space = "factors.toml" if before else "direction.toml"
    text = re.sub(r'search_space = ".*"', f'search_space = "{REPO / "search_spaces" / space}"', text)
    text = re.sub(r'root = ".*"', f'root = "{CAMVID}"', text)
    text = re.sub(r"^seed = \d+", f"seed = {seed}", text, flags=re.M)
    text = re.sub(r'^name = "camvid_unet"', f'name = "camvid_{"before" if before else "after"}_{seed}"', text,
                  flags=re.M)
    if before:
        text = re.sub(r"^budget = .*$", 'budget = ["params=2x"]', text, flags=re.M)
    for key, value in study.items():  # replaced where the file sets the key, else added to [study]
        line = f"{key} = {value}"
        text, found = re.subn(rf"^{key} = .*$", line, text, count=1, flags=re.M)  # the first: [study] comes first
        text = text if found else text.replace("[study]\n", f"[study]\n{line}\n", 1)
    text = text.replace("[storage]\n", f'[storage]\nurl = "{storage}"\n')
    path = folder / f"{'before' if before else 'after'}_{seed}.toml"
    path.write_text(text)
    return path


def measure(folder: Path, before: bool, seed: int, trials: int) -> dict[str, object]:
    """Run one study with the stand-in trainer; trained networks among its first `trials` trials."""
    storage = f"sqlite:///{folder / f'{before}_{seed}.db'}"
    config = load_study_config(cpu_copy(folder, before, seed, storage, run_root=f'"{folder / "runs"}"'))
    config = config.with_overrides(n_trials=trials)
    trainer = FakeTrainer()
    run = run_study(config, train_fn=trainer, check=False)
    frame = study_trials_frame(config.storage, config.name)
    first = frame[frame.number < trials]
    own = first[~first.infeasible.astype(bool) & first.reused_from.isna() & first.status.isin(["completed", "pruned"])]
    total = frame[~frame.infeasible.astype(bool) & frame.reused_from.isna()]
    return {"trained": len(own), "samples": len(frame), "networks": len(total), "calls": len(trainer.calls),
            "infeasible": int(frame.infeasible.sum()), "stopped": run.stopped,
            "best": float(frame.miou.max()) if frame.miou.notna().any() else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            before = measure(Path(tmp), True, seed, args.trials)
            after = measure(Path(tmp), False, seed, args.trials)
            rows.append({"seed": seed, f"before: trained / {args.trials}": before["trained"],
                         f"after: trained / {args.trials}": after["trained"],
                         f"before: samples for {args.trials}": f"{before['samples']} ({before['stopped']})",
                         f"after: samples for {args.trials}": after["samples"],
                         "before: best mIoU": f"{before['best']:.4f}", "after: best mIoU": f"{after['best']:.4f}"})
    print(text_table(rows))
    total_before = sum(r[f"before: trained / {args.trials}"] for r in rows)
    total_after = sum(r[f"after: trained / {args.trials}"] for r in rows)
    print(f"trained networks per {args.trials} trials, all seeds: before {total_before}/{args.trials * len(rows)}, "
          f"after {total_after}/{args.trials * len(rows)}")


if __name__ == "__main__":
    main()
