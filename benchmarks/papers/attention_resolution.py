"""The attention paper's "extra GFLOPs vs input resolution" figure for scaler's hosts: a table and a plot.

    python benchmarks/papers/attention_resolution.py --out plots/papers/attention_resolution [--attention avg]

Counts are analytic (no timing, no GPU, well under a minute): per image at side x side, GMACs (the paper's
"GFLOPs" are MACs, mmsegmentation's convention; FLOPs = 2 x MACs). Writes resolution.csv, resolution.md
and resolution.png/.svg into --out. The computation and the drawing are scaler.report.resolution_frame
and draw_resolution.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from scaler.report import RESOLUTIONS, draw_resolution, resolution_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--attention", default="avg", help="avg, max or avgmax")
    parser.add_argument("--classes", type=int, default=21, help="classes of every host (PASCAL VOC: 21)")
    args = parser.parse_args()
    frame = resolution_frame(attention=args.attention, classes=args.classes)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "resolution.csv", index=False)
    wide = frame.pivot(index="host", columns="side", values="extra_gmacs").reindex(frame["host"].unique())
    lines = [f"Extra GMACs per image of the `{args.attention}` attention fusion (FLOPs = 2 x MACs), square inputs; "
             f"extra params: {sorted(set(frame['extra_params']))}", "",
             "| host | " + " | ".join(str(s) for s in RESOLUTIONS) + " |",
             "|---|" + "---:|" * len(RESOLUTIONS)]
    lines += [f"| {host} | " + " | ".join(f"{v:.4f}" for v in row) + " |" for host, row in wide.iterrows()]
    pct = frame.groupby("host", sort=False)["extra_pct"].agg(["min", "max"])
    lines += ["", "Extra as a percent of the host's MACs: "
              + "; ".join(f"{h} {r['min']:.4f}-{r['max']:.4f}%" for h, r in pct.iterrows())]
    (args.out / "resolution.md").write_text("\n".join(lines) + "\n")
    draw_resolution(frame, args.out / "resolution")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
