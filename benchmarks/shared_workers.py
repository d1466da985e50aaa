"""Shared workers: 3 workers on the real PostgreSQL run the shipped CamVid study: exactly n_trials, no network twice.

Each worker is `scaler study run` in its own process (tests.study.fakes: the command with the
stand-in trainer, so it runs on a CPU in a minute or two; each worker still trains one real step of
the base network on CamVid first, the set-up check). The study is studies/camvid_unet.toml (a
direction on the budget frontier and the learning rate, TPE) with 20 trials, run twice: as shipped,
and on a search space that repeats networks on purpose (encoder width 1.0/1.005/1.01 round to one
network, x 2 learning rates: 6 samples, 2 networks), which exercises reuse across workers.

Printed side by side: trials, networks that count toward n_trials, distinct network keys trained,
trials that reused another's network, and the most times any network was trained (must be 1).

    PYTHONPATH=. python benchmarks/shared_workers.py [--url postgresql+psycopg2://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import re
import tempfile
import uuid
from pathlib import Path

import optuna

from feasible_search import cpu_copy
from scaler.formatting import text_table
from scaler.study import reuse_counts, study_trials_frame
from tests.study.fakes import finish, start_worker, toml_text

URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
#: Three encoder widths that round to one network, two learning rates: 6 samples, 2 networks.
REPEATING_SPACE = {"factors": {"encoder_width": {"choices": [1.0, 1.005, 1.01]}},
                   "train": {"lr": {"choices": [1e-3, 2e-3]}}}


def measure(folder: Path, url: str, label: str, trials: int, space: dict | None) -> dict[str, object]:
    """Three workers on one fresh study; what they trained."""
    name = f"shared_{label}_{uuid.uuid4().hex[:8]}"
    sampler = {"sampler": '"grid"', "pruner": '"none"', "sampler_options": "{}"} if space else {}
    path = cpu_copy(folder, False, 0, url, name=f'"{name}"', n_trials=trials, **sampler,
                    run_root=f'"{folder / "runs"}"', heartbeat_interval=1, grace_period=120)
    if space:
        (folder / f"{label}.toml").write_text(toml_text(space))
        path.write_text(re.sub(r'^search_space = ".*"', f'search_space = "{folder / label}.toml"', path.read_text(),
                               flags=re.M))
    try:
        workers = [start_worker(path, url) for _ in range(3)]
        runs = [finish(w, timeout=1200) for w in workers]
        frame = study_trials_frame(url, name)
    finally:
        if name in optuna.get_all_study_names(url):
            optuna.delete_study(study_name=name, storage=url)
    trained = frame[frame.reused_from.isna() & ~frame.infeasible.astype(bool)]
    counts = reuse_counts(frame)
    return {"study": label, "n_trials": trials, "trials": len(frame), "per worker": [len(r["trials"]) for r in runs],
            "counted networks": len(trained), "distinct keys trained": counts["distinct_networks"],
            "reused trials": counts["reused_trials"],
            "max trainings of one network": int(trained.network_key.value_counts().max()),
            "stopped": sorted({r["stopped"] for r in runs})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=URL)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure(Path(tmp), args.url, "shipped", args.trials, None))
        rows.append(measure(Path(tmp), args.url, "repeating", 6, REPEATING_SPACE))
    print(text_table(rows))


if __name__ == "__main__":
    main()
