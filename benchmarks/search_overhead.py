"""Search overhead: the share of a study's wall time spent outside training, which must stay <= 1%.

Runs a study with the real trainer (default: studies/quickstart.toml, the synthetic data, into a
temporary SQLite file) and splits every trial's wall time, as the worker saw it from claiming a
slot to Optuna's tell, into training (inside `scaler.train.train`) and everything else: the claim
(cross-worker lock, stale-trial check, counting, sampler set-up), sampling + budget solving,
writing the trial record, per-epoch reporting/pruning, ask/tell. Opening the study counts too.

The worker's set-up check (one training step of the base network and one validation batch, once
per worker before any trial) is printed on its own, not held to the limit: it is a one-time cost
whose share shrinks with the study's length (about one step of the ~150 in the quickstart). As the
process's first training step it also pays the one-time imports and kernel warm-up that the first
trial would pay without it, so its cost is taken from a second, warm call after the study.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import optuna

from scaler.formatting import text_table
from scaler.study import check_worker, load_study_config, run_study

REPO = Path(__file__).resolve().parents[1]
LIMIT = 0.01


def main() -> int:
    """Run the study; print the per-trial split and the overall share; exit 1 above the limit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=REPO / "studies" / "quickstart.toml")
    parser.add_argument("--storage", help="storage URL (default: a temporary SQLite file)")
    parser.add_argument("--n-trials", type=int, default=None)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.storage or f"sqlite:///{Path(tmp) / 'study.db'}"
        name = f"overhead_{uuid.uuid4().hex[:8]}"
        config = load_study_config(args.study).with_overrides(storage=storage, name=name, run_root=Path(tmp) / "runs",
                                                              n_trials=args.n_trials)
        try:
            run = run_study(config)
            started = time.perf_counter()
            check_worker(config)  # warm: what the check itself costs, without the process's one-time warm-up
            check_warm_s = time.perf_counter() - started
        finally:
            if name in optuna.get_all_study_names(storage):
                optuna.delete_study(study_name=name, storage=storage)
    rows = [{"trial": t.number, "wall s": f"{t.total_s:.2f}", "train s": f"{t.train_s:.2f}",
             "outside ms": f"{1e3 * t.overhead_s:.1f}", "claim ms": f"{1e3 * t.claim_s:.1f}",
             "sample+budget ms": f"{1e3 * t.budget_s:.1f}", "record ms": f"{1e3 * t.record_s:.1f}",
             "report ms": f"{1e3 * t.report_s:.1f}",
             "ask/tell/other ms": f"{1e3 * (t.overhead_s - t.claim_s - t.budget_s - t.record_s - t.report_s):.1f}",
             "share": f"{t.overhead_s / t.total_s:.2%}"} for t in run.timings]
    print(f"study {args.study.name}: {len(run.timings)} trials on {storage.split('://')[0]}")
    print(text_table(rows))
    train_s = sum(t.train_s for t in run.timings)
    bookkeeping = run.wall_s - train_s - run.check_s
    share = bookkeeping / (run.wall_s - run.check_s)
    print(f"opening the study: {1e3 * (run.setup_s - run.check_s):.0f} ms; whole run {run.wall_s:.1f} s, "
          f"training {train_s:.1f} s")
    print(f"set-up check: {1e3 * check_warm_s:.0f} ms warm = {check_warm_s / (run.wall_s - run.check_s):.2%} of this "
          f"run, once per worker ({1e3 * run.check_s:.0f} ms as the process's first training step)")
    print(f"time outside training (bookkeeping): {bookkeeping:.2f} s = {share:.2%} of the run "
          f"({'PASS' if share <= LIMIT else 'FAIL'}: limit {LIMIT:.0%})")
    return 0 if share <= LIMIT else 1

if __name__ == "__main__":
    raise SystemExit(main())
