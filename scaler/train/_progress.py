"""Progress output: one line per epoch (a tqdm bar on a terminal, a plain line otherwise, nothing when off)."""
from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """One line per epoch: a tqdm bar on a terminal, a plain summary line otherwise, nothing when off."""

    def __init__(self, enabled: bool, epochs: int) -> None:
        self.enabled, self.epochs = enabled, epochs
        self.tty = enabled and sys.stderr.isatty()
        self.bar: Any = None

    def start(self, epoch: int, steps: int) -> None:
        """Open the bar of an epoch."""
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, desc=f"epoch {epoch}/{self.epochs}", leave=True, file=sys.stderr,
                            dynamic_ncols=True, bar_format="{desc} {bar:20} {n_fmt}/{total_fmt} [{elapsed}]{postfix}")

    def step(self, loss: float, ms: float | None) -> None:
        """Advance the bar by one step (no refresh: tqdm redraws at most every 0.1 s)."""
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.3f}" + (f" {ms:.0f} ms/step" if ms is not None else ""),
                                     refresh=False)
            self.bar.update()

    def end(self, record: dict[str, Any]) -> None:
        """Close the epoch's line with its loss, mIoU (or accuracy) and ms/step."""
        if not self.enabled:
            return
        ms = record["ms_per_step"]
        score = f"accuracy {record['accuracy']:.3f}" if "accuracy" in record else f"mIoU {record['miou']:.3f}"
        text = (f"loss {record['train_loss']:.3f}  val loss {record['val_loss']:.3f}  {score}  "
                + (f"{ms:.0f} ms/step" if ms is not None else "- ms/step"))
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.close()
            self.bar = None
        else:
            print(f"epoch {record['epoch']}/{self.epochs}  {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close a bar left open by an exception."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
