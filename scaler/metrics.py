"""Segmentation metrics from a confusion matrix: pixel accuracy, mean pixel accuracy, two mean IoUs.

Formulas of the FCN paper (Long, Shelhamer, Darrell 2015, sec. 5): with n_ij the pixels of true
class i predicted as j, t_i = sum_j n_ij and IoU_i = n_ii / (t_i + sum_j n_ji - n_ii),
    PA   = sum_i n_ii / sum_i t_i
    MPA  = (1/n_cl') sum_i n_ii / t_i             over the classes present in the truth (t_i > 0)
    mIoU = (1/n_cl') sum_i IoU_i                  over the classes present in the truth OR the prediction
Ignore pixels are never counted. Two mean IoUs are in use and `compute` returns both:

- `miou` (the default, and what every table, pruner and checkpoint selection reads): the mean over
  the classes that take part, i.e. whose union t_i + sum_j n_ji - n_ii is non-zero. A class absent
  from the truth but predicted counts with IoU 0; a class absent from both is left out (its IoU is
  0/0). This is what the FCN reference code computes (`np.nanmean(iu)` in its score.py) and what
  mmsegmentation and the Cityscapes/VOC evaluation scripts report, so it is the number papers'
  tables actually contain.
- `miou_all_classes`: the formula as the papers write it, (1/(k+1)) sum over ALL k+1 classes
  (EDNet: k classes plus background; FCN: 1/n_cl), taking a class absent from both truth and
  prediction as IoU 0 (0/0 := 0). It equals `miou` whenever every class takes part (any split of
  a real dataset) and is lower otherwise: on a small evaluation set missing a class it is the
  pessimistic reading.

Classification (the multimodal family's classification head) uses the same matrix, counting
samples instead of pixels: `update(logits [N, C], labels [N])`, then `compute_classification()`:
with n_ij the samples of true class i predicted as j, t_i = sum_j n_ij, p_i = sum_j n_ji,
    accuracy  = sum_i n_ii / sum_i t_i
    recall_i  = n_ii / t_i        precision_i = n_ii / p_i        F1_i = 2 n_ii / (t_i + p_i)
(F1_i = 2 precision_i recall_i / (precision_i + recall_i), and 0 for a class in the truth that is
never predicted). `macro_recall` averages the classes present in the truth (as MPA); `macro_precision`
and `macro_f1` the classes present in the truth or the prediction (scikit-learn's macro set: a class
predicted but absent has F1 0, a class present but never predicted precision 0, as its
zero_division=0). Per class, a 0/0 value is None and stays out of the means otherwise.
"""
from __future__ import annotations

import torch

from scaler.errors import ScalerError

__all__ = ["ConfusionMatrix", "classification_scores"]


class ConfusionMatrix:
    """A [C, C] pixel confusion matrix (rows = truth, columns = prediction) accumulated on `device`."""

    def __init__(self, num_classes: int, ignore_index: int, device: torch.device | str = "cpu") -> None:
        """Start from an all-zero matrix.

        Args:
            num_classes: number of classes C.
            ignore_index: truth value whose pixels are skipped.
            device: where the matrix lives; put it where the predictions are, so updates never copy
                to the host.
        """
        if num_classes < 1:
            raise ScalerError(f"num_classes must be >= 1, got {num_classes=}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.device = torch.device(device)
        # One extra bin at the end collects the skipped pixels, so no boolean indexing (which would
        # need the number of kept pixels on the host) is needed to drop them.
        self._counts = torch.zeros(self.num_classes**2 + 1, dtype=torch.int64, device=self.device)

    @property
    def matrix(self) -> torch.Tensor:
        """The [C, C] int64 counts: matrix[i, j] = pixels of true class i predicted as j."""
        return self._counts[:-1].view(self.num_classes, self.num_classes)

    def reset(self) -> None:
        """Zero the counts."""
        self._counts.zero_()

    @torch.no_grad()
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: `prediction` is logits [N, C, H, W] (argmax over C) or labels [N, H, W]; `target` [N, H, W].

        Pixels whose target is the ignore index, or outside [0, C), are skipped, as are predictions
        outside [0, C) (impossible for logits). No host synchronisation happens here.
        """
        if prediction.dim() == target.dim() + 1:  # logits [N, C, H, W] (or [N, C] for classification)
            if prediction.shape[1] != self.num_classes:
                raise ScalerError(
                    f"logits have {prediction.shape[1]} channels but the matrix has {self.num_classes} classes"
                )
            prediction = prediction.argmax(dim=1)
        if prediction.shape != target.shape:
            raise ScalerError(
                f"prediction shape {tuple(prediction.shape)} does not match target shape {tuple(target.shape)}"
            )
        truth = target.to(self.device, torch.int64, non_blocking=True).flatten()
        predicted = prediction.to(self.device, torch.int64, non_blocking=True).flatten()
        size = self.num_classes
        valid = (truth != self.ignore_index) & (truth >= 0) & (truth < size) & (predicted >= 0) & (predicted < size)
        index = torch.where(valid, truth * size + predicted, size * size)
        if self.device.type == "cpu":
            self._counts += torch.bincount(index, minlength=size * size + 1)
        else:
            # CUDA bincount reads the input's min/max back to the host (a sync per call); a
            # scatter-add into the fixed-size bins does the same count without one.
            self._counts.scatter_add_(0, index, torch.ones_like(index))

    def compute(self) -> dict[str, float | list[float | None]]:
        """PA, MPA, both mean IoUs and per-class IoU as plain Python numbers (JSON-safe, no NaN).

        `miou` averages the classes that take part (see the module docstring), `miou_all_classes`
        every class, an absent one as 0. `iou_per_class[i]` is None for a class absent from both
        truth and prediction. With no counted pixel at all every score is 0.0.
        """
        matrix = self.matrix.to("cpu", torch.float64)
        hits = matrix.diagonal()
        truth = matrix.sum(dim=1)
        predicted = matrix.sum(dim=0)
        union = truth + predicted - hits
        in_truth = truth > 0
        in_union = union > 0
        total = truth.sum()
        pixel_accuracy = float(hits.sum() / total) if total > 0 else 0.0
        class_accuracy = hits[in_truth] / truth[in_truth]
        iou = hits[in_union] / union[in_union]
        iou_per_class: list[float | None] = [None] * self.num_classes
        for position, value in zip(torch.nonzero(in_union).flatten().tolist(), iou.tolist()):
            iou_per_class[position] = value
        return {
            "pa": pixel_accuracy,
            "mpa": float(class_accuracy.mean()) if class_accuracy.numel() else 0.0,
            "miou": float(iou.mean()) if iou.numel() else 0.0,
            "miou_all_classes": float(iou.sum()) / self.num_classes,
            "iou_per_class": iou_per_class,
        }

    def compute_classification(self) -> dict[str, float | list[float | None]]:
        """Accuracy, per-class and macro recall, precision and F1 of a matrix counting samples (module docstring)."""
        return classification_scores(self.matrix)


def _ratios(hits: torch.Tensor, totals: torch.Tensor) -> list[float | None]:
    """hits / totals per class, None where the total is 0."""
    return [float(h / t) if t > 0 else None for h, t in zip(hits.tolist(), totals.tolist())]


def _mean(values: list[float | None], keep: torch.Tensor) -> float:
    """Mean of the values of the kept classes (0.0 when none is kept)."""
    kept = [v for v, k in zip(values, keep.tolist()) if k and v is not None]
    return sum(kept) / len(kept) if kept else 0.0


def classification_scores(matrix: torch.Tensor) -> dict[str, float | list[float | None]]:
    """Accuracy, recall, precision and F1 per class and macro of a [C, C] count matrix (rows = truth),
    as plain Python numbers (JSON-safe, no NaN); with no counted sample every score is 0.0."""
    counts = matrix.to("cpu", torch.float64)
    hits, truth, predicted = counts.diagonal(), counts.sum(dim=1), counts.sum(dim=0)
    total = truth.sum()
    recall, precision = _ratios(hits, truth), _ratios(hits, predicted)
    f1 = _ratios(2 * hits, truth + predicted)
    return {
        "accuracy": float(hits.sum() / total) if total > 0 else 0.0,
        "macro_recall": _mean(recall, truth > 0),
        "macro_precision": _mean([0.0 if p is None else p for p in precision], truth + predicted > 0),
        "macro_f1": _mean(f1, truth + predicted > 0),
        "recall_per_class": recall,
        "precision_per_class": precision,
        "f1_per_class": f1,
    }
