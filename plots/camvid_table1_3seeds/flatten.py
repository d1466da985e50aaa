"""How flat the validation curves are at the end: per network, the best val mIoU so far at epochs 20, 25 and 30.

Reads the run records committed beside this file (history.json of each NAME-seedS run):

    python plots/camvid_table1_3seeds/flatten.py > plots/camvid_table1_3seeds/flatten.md
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from statistics import mean

HERE = Path(__file__).resolve().parent
ORDER = ("Baseline", "D", "W", "R", "WDR", "AWDR")


def main() -> None:
    runs: dict[str, list[list[float]]] = defaultdict(list)
    for folder in sorted((HERE / "run_records").iterdir()):
        history = json.loads((folder / "history.json").read_text())
        history = history["history"] if isinstance(history, dict) else history
        mious = [r["miou"] * 100 for r in history]
        runs[folder.name.rsplit("-seed", 1)[0]].append([max(mious[:k]) for k in range(1, len(mious) + 1)])
    print("| Network | seeds | best so far @20 | @25 | @30 | gain 25 -> 30 (points) | peak epochs |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in ORDER:
        curves = runs.get(name, [])
        if not curves:
            continue
        at = {k: mean(c[k - 1] for c in curves) for k in (20, 25, 30)}
        peaks = ", ".join(str(c.index(c[-1]) + 1) for c in curves)
        print(f"| {name} | {len(curves)} | {at[20]:.2f} | {at[25]:.2f} | {at[30]:.2f} | {at[30] - at[25]:+.2f} | {peaks} |")
    print("\nBest val mIoU so far (%), mean over seeds; peak epoch of each seed (seed 0, 1, 2).")


if __name__ == "__main__":
    main()
