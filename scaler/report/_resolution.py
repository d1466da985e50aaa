"""What the parameter-free attention fusion costs as the input grows, per host network (the attention paper's figure).

The paper plots the extra "GFLOPs" its attention adds from 480 to 2048 pixels a side; its "GFLOPs" are
MAC counts (mmsegmentation's convention), so this compares GMACs and says so. The counts are analytic
(`scaler.complexity`, per image, square inputs): each host with `fusion_attention` set and with "none";
the attention adds no parameters (the frame keeps the difference, which must be 0).

    frame = resolution_frame()              # one row per (host, side)
    draw_resolution(frame, "plots/papers/attention_resolution")
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scaler.complexity import complexity
from scaler.errors import ScalerError
from scaler.families import base_spec
from scaler.report._plots import _pyplot, _save

__all__ = ["ATTENTION_HOSTS", "RESOLUTIONS", "resolution_frame", "draw_resolution"]

#: The hosts of the attention paper's tables that scaler builds: label -> (family, base_spec options).
ATTENTION_HOSTS: dict[str, tuple[str, dict[str, Any]]] = {
    "DeepLabV3": ("deeplabv3", {}),
    "DeepLabV3+": ("deeplabv3", {"decoder": "v3plus"}),
    "FPN": ("fpn", {}),
    "UperNet": ("upernet", {}),
    "FCN-ResNet50": ("fcn_resnet", {}),
    "EDNet": ("ednet", {}),
}
#: Input sides of the paper's figure, 480 to 2048 (each a multiple of every host's stride, 32).
RESOLUTIONS = (480, 512, 640, 768, 1024, 1280, 1536, 1792, 2048)


def resolution_frame(hosts: Mapping[str, tuple[str, dict[str, Any]]] = ATTENTION_HOSTS,
                     resolutions: Sequence[int] = RESOLUTIONS, attention: str = "avg",
                     classes: int = 21) -> pd.DataFrame:
    """One row per (host, side): GMACs with and without the attention, the extra GMACs and percent, extra params.

    Columns: host, family, side, attention, gmacs_without, gmacs_with, extra_gmacs, extra_pct, params_m,
    extra_params. GMACs per image at side x side; FLOPs would be 2 x these.
    """
    rows = []
    for host, (family, options) in hosts.items():
        for side in resolutions:
            try:
                plain = base_spec(family, classes=classes, input_size=(side, side), fusion_attention="none",
                                  **options)
                attended = base_spec(family, classes=classes, input_size=(side, side), fusion_attention=attention,
                                     **options)
                without, with_attention = complexity(plain), complexity(attended)
            except ScalerError as exc:
                raise ScalerError(f"{host} at {side}x{side}: {exc}") from None
            extra = with_attention.macs - without.macs
            rows.append({"host": host, "family": family, "side": int(side), "attention": attention,
                         "gmacs_without": without.macs / 1e9, "gmacs_with": with_attention.macs / 1e9,
                         "extra_gmacs": extra / 1e9, "extra_pct": 100.0 * extra / without.macs,
                         "params_m": without.params / 1e6, "extra_params": with_attention.params - without.params})
    return pd.DataFrame(rows)


def draw_resolution(frame: pd.DataFrame, stem: str | Path, title: str = "") -> list[Path]:
    """Extra GMACs (left) and extra percent of the host's GMACs (right) vs input side, one line per host."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for host, group in frame.groupby("host", sort=False):
        group = group.sort_values("side")
        left.plot(group["side"], group["extra_gmacs"], marker="o", label=host)
        right.plot(group["side"], group["extra_pct"], marker="o", label=host)
    left.set_xlabel("input side (pixels, square)")
    left.set_ylabel("extra GMACs per image (FLOPs = 2 x MACs)")
    right.set_xlabel("input side (pixels, square)")
    right.set_ylabel("extra MACs (% of the host's)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    modes = ", ".join(sorted(set(frame["attention"])))
    fig.suptitle(title or f"Cost of the parameter-free attention fusion ({modes}) vs input resolution; 0 extra params")
    fig.tight_layout()
    return _save(fig, stem)
