"""Plain-text tables and value parsing shared by the CLI commands (no scaling logic lives here)."""
from __future__ import annotations

import math
import re
from typing import Any, Sequence

from scaler.errors import ScalerError
from scaler.solver import Solution

__all__ = ["parse_size", "parse_ratio", "parse_assignments", "text_table", "variants_table"]

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """Parse "HxW" such as "512x1024" into (H, W)."""
    match = _SIZE_RE.match(text or "")
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise ScalerError(f"malformed input size {text!r}; valid: HxW with positive integers, e.g. 512x1024")
    return int(match.group(1)), int(match.group(2))


def parse_ratio(text: str) -> tuple[float, float, float]:
    """Parse a compound ratio: "paper", "efficientnet" or "D,W,R" such as "1.8,1.16,1.4"."""
    from scaler.rules import EFFICIENTNET_RATIO, PAPER_RATIO

    named = {"paper": PAPER_RATIO, "efficientnet": EFFICIENTNET_RATIO}
    if text in named:
        return named[text]
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ScalerError(f"malformed ratio {text!r}; valid: paper, efficientnet or D,W,R such as 1.8,1.16,1.4")
    return values  # type: ignore[return-value]


def _literal(value: str) -> Any:
    """An option value as int, float, bool or string."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def parse_assignments(items: Sequence[str], what: str) -> dict[str, Any]:
    """Parse ["a=1,b=x", "c=2"] into {"a": 1, "b": "x", "c": 2}."""
    out: dict[str, Any] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ScalerError(f"malformed {what} {part!r}; valid: NAME=VALUE, e.g. encoder_width=1.3")
            out[key.strip()] = _literal(value.strip())
    return out


def text_table(rows: list[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as an aligned plain-text table."""
    columns = list(columns or (rows[0].keys() if rows else []))
    cells = [[str(c) for c in columns]] + [["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(w) if j else cell.ljust(w) for j, (cell, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _factor(sol: Solution, key: str) -> str:
    """A factor cell: one number, or "enc/dec" where the parts differ."""
    f = sol.factors
    enc, dec = getattr(f, f"encoder_{key}"), getattr(f, f"decoder_{key}")
    return f"{enc:.3f}" if enc == dec else f"{enc:.3f}/{dec:.3f}"


def variants_table(solutions: Sequence[Solution]) -> str:
    """The paper-style table of solved variants (factors, params, GMACs, GFLOPs, activations, slack)."""
    rows = []
    for sol in solutions:
        row = {
            "method": sol.method,
            "depth (enc/dec)": _factor(sol, "depth"),
            "width (enc/dec)": _factor(sol, "width"),
            "resolution": f"{sol.factors.resolution:.3f}",
            "params (M)": f"{sol.cost.params / 1e6:.2f}",
            "GMACs": f"{sol.cost.macs / 1e9:.2f}",
            "GFLOPs": f"{sol.cost.flops / 1e9:.2f}",
            "acts (M)": f"{sol.cost.activations / 1e6:.2f}",
            "input": "x".join(map(str, sol.spec.input_size)),
        }
        for metric, slack in sol.slack.items():
            row[f"slack {metric}"] = f"{100 * slack:.1f}%"
        rows.append(row)
    table = text_table(rows, list(dict.fromkeys(k for r in rows for k in r)))
    notes = [f"{s.method}: {s.note}" for s in solutions if s.note]
    return table + ("\n" + "\n".join(notes) if notes else "")
