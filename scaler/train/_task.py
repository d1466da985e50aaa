"""What the network predicts, as the trainer sees it: segmentation (a mask) or classification (a label).

ONE home for everything that differs between the two: how a batch becomes the model's inputs and
its target, the class count the data must have, which losses apply, how a confusion matrix becomes
scores, which keys an epoch record holds, and the key that picks the best epoch (best.pt and early
stopping follow it; scaler.study's objective and pruner still read mIoU only). A batch is either an (image, mask) pair (segmentation datasets) or a
dict (paired image + report datasets, scaler.data PairedDataset: "image", "tokens", "label",
"mask"); a dict batch calls `model(image, tokens)`. channels_last applies to the image only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from scaler.errors import ConfigError
from scaler.metrics import ConfusionMatrix
from scaler.spec import NetSpec

__all__ = ["Task", "task_of", "SEGMENTATION", "CLASSIFICATION", "metrics_text"]

#: The spec option that names a network's task (the multimodal family's heads); absent: segmentation.
HEAD_OPTION = "head"
#: The heads whose output is one label per sample (every other network outputs a mask).
_CLASSIFICATION_HEADS = ("classification",)


@dataclass(frozen=True)
class Task:
    """One task: its target key in dict batches, its scores, and the score that selects the best epoch."""

    name: str
    target_key: str          # the target of a dict batch ("mask" or "label")
    select: str              # the record key that picks the best epoch: higher is better
    record_keys: tuple[str, ...]  # the scores an epoch record (and a run's best) holds
    losses: tuple[str, ...] | None  # the losses that apply (None: every one of scaler.losses)

    def num_classes(self, ds: Any) -> int:
        """The classes of the dataset for this task (a paired dataset's mask classes for segmentation)."""
        if self.name == "segmentation" and hasattr(ds, "mask_classes"):
            return int(ds.mask_classes)
        return int(ds.num_classes)

    def inputs(self, batch: Any, device: torch.device,
               channels_last: bool) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """The model's positional inputs and the target of a batch, on `device`."""
        if isinstance(batch, dict):
            image, target = batch["image"], batch[self.target_key]
            extra: tuple[torch.Tensor, ...] = (batch["tokens"].to(device, non_blocking=True),)
        else:
            image, target = batch
            extra = ()
        image = image.to(device, non_blocking=True)
        if channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return (image, *extra), target.to(device, non_blocking=True)

    def scores(self, matrix: ConfusionMatrix) -> dict[str, Any]:
        """The task's scores of an accumulated confusion matrix (pixels or samples): `record_keys` and more."""
        return matrix.compute() if self.name == "segmentation" else matrix.compute_classification()

    def check_loss(self, loss: str) -> None:
        """ConfigError when `loss` does not apply to this task."""
        if self.losses is not None and loss not in self.losses:
            raise ConfigError(f"loss {loss!r} does not apply to {self.name} (one label per sample); "
                              f"valid: {', '.join(self.losses)}")


SEGMENTATION = Task("segmentation", "mask", "miou", ("pa", "mpa", "miou", "iou_per_class"), None)
# Dice needs a spatial map: over one label per sample it is undefined, so classification keeps ce and focal.
CLASSIFICATION = Task("classification", "label", "accuracy",
                      ("accuracy", "macro_recall", "macro_precision", "macro_f1",
                       "recall_per_class", "precision_per_class", "f1_per_class"), ("ce", "focal"))


def task_of(spec: NetSpec) -> Task:
    """The task of a network: classification for a classification head, segmentation otherwise."""
    return CLASSIFICATION if spec.option(HEAD_OPTION) in _CLASSIFICATION_HEADS else SEGMENTATION


def metrics_text(scores: dict[str, Any]) -> str:
    """The headline scores of a record, labelled: mIoU/PA/MPA, or accuracy/macro recall/macro F1."""
    if "accuracy" in scores:
        return (f"accuracy {scores['accuracy']:.4f}, macro recall {scores['macro_recall']:.4f}, "
                f"macro F1 {scores['macro_f1']:.4f}")
    return f"mIoU {scores['miou']:.4f}, PA {scores['pa']:.4f}, MPA {scores['mpa']:.4f}"
