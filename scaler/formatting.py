"""Plain-text tables shared by the CLI commands (no scaling logic lives here)."""
from __future__ import annotations

from typing import Any, Sequence

from scaler.solver import Solution

__all__ = ["text_table", "variants_table"]


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
