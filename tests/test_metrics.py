"""ConfusionMatrix against hand-computed examples (FCN-paper formulas; both mIoU conventions)."""
from __future__ import annotations

import json

import pytest
import torch

from scaler.errors import ScalerError
from scaler.metrics import ConfusionMatrix, classification_scores

IGNORE = 255

# 1x2x4 batch; the 255 pixel is skipped. Pairs (truth, prediction):
# (0,0) (0,1) (1,1) (1,1) / (2,2) (2,0) (255,1) (0,0)
TARGET = torch.tensor([[[0, 0, 1, 1], [2, 2, IGNORE, 0]]])
PREDICTION = torch.tensor([[[0, 1, 1, 1], [2, 0, 1, 0]]])
# rows = truth, columns = prediction
EXPECTED_MATRIX = torch.tensor([[2, 1, 0], [0, 2, 0], [1, 0, 1]])


def _one_hot_logits(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Logits whose argmax is `labels`, [N, C, H, W]."""
    return torch.nn.functional.one_hot(labels, num_classes).permute(0, 3, 1, 2).float() * 3 - 1


def test_matrix_counts_rows_truth_columns_prediction():
    cm = ConfusionMatrix(3, IGNORE, "cpu")
    cm.update(PREDICTION, TARGET)
    assert torch.equal(cm.matrix, EXPECTED_MATRIX)
    assert cm.matrix.dtype == torch.int64


def test_scores_match_hand_computation():
    cm = ConfusionMatrix(3, IGNORE)
    cm.update(PREDICTION, TARGET)
    scores = cm.compute()
    # PA = (2 + 2 + 1) / 7; per-class accuracy 2/3, 2/2, 1/2; IoU 2/(3+3-2), 2/(2+3-2), 1/(2+1-1)
    assert scores["pa"] == pytest.approx(5 / 7)
    assert scores["mpa"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    assert scores["iou_per_class"] == pytest.approx([1 / 2, 2 / 3, 1 / 2])
    assert scores["miou"] == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)
    assert scores["miou_all_classes"] == pytest.approx(scores["miou"])  # every class takes part


def test_absent_class_is_none_and_excluded_from_the_means():
    # truth [0, 0, 1], prediction [0, 3, 1]: class 2 absent everywhere, class 3 only predicted.
    cm = ConfusionMatrix(4, IGNORE)
    cm.update(torch.tensor([[[0, 3, 1]]]), torch.tensor([[[0, 0, 1]]]))
    scores = cm.compute()
    assert scores["iou_per_class"] == pytest.approx([1 / 2, 1.0, None, 0.0])
    assert scores["miou"] == pytest.approx((1 / 2 + 1 + 0) / 3)  # class 3 (false positives only) counts
    assert scores["miou_all_classes"] == pytest.approx((1 / 2 + 1 + 0 + 0) / 4)  # and absent class 2 as 0
    assert scores["mpa"] == pytest.approx((1 / 2 + 1) / 2)  # MPA: only classes with t_i > 0
    assert scores["pa"] == pytest.approx(2 / 3)
    json.dumps(scores, allow_nan=False)


def test_logits_and_labels_give_the_same_matrix():
    from_labels, from_logits = ConfusionMatrix(3, IGNORE), ConfusionMatrix(3, IGNORE)
    from_labels.update(PREDICTION, TARGET)
    from_logits.update(_one_hot_logits(PREDICTION, 3), TARGET)
    assert torch.equal(from_labels.matrix, from_logits.matrix)


def test_updates_accumulate_and_reset_clears():
    cm = ConfusionMatrix(3, IGNORE)
    cm.update(PREDICTION[:, :1], TARGET[:, :1])
    cm.update(PREDICTION[:, 1:], TARGET[:, 1:])
    assert torch.equal(cm.matrix, EXPECTED_MATRIX)
    cm.reset()
    assert cm.matrix.sum() == 0


def test_ignore_pixels_never_count_whatever_is_predicted():
    cm = ConfusionMatrix(3, IGNORE)
    cm.update(torch.tensor([[[0, 1, 2]]]), torch.full((1, 1, 3), IGNORE))
    assert cm.matrix.sum() == 0
    assert cm.compute() == {"pa": 0.0, "mpa": 0.0, "miou": 0.0, "miou_all_classes": 0.0,
                            "iou_per_class": [None, None, None]}


def test_ignore_index_inside_the_class_range_is_also_skipped():
    cm = ConfusionMatrix(3, ignore_index=3)
    cm.update(torch.tensor([[[0, 1, 2]]]), torch.tensor([[[0, 3, 2]]]))
    assert cm.matrix.sum() == 2


def test_shape_mismatch_is_rejected():
    cm = ConfusionMatrix(3, IGNORE)
    with pytest.raises(ScalerError, match="does not match"):
        cm.update(torch.zeros(1, 2, 3, dtype=torch.long), torch.zeros(1, 3, 2, dtype=torch.long))
    with pytest.raises(ScalerError, match="channels"):
        cm.update(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))


def test_perfect_prediction_scores_one():
    target = torch.randint(0, 5, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    cm = ConfusionMatrix(5, IGNORE)
    cm.update(_one_hot_logits(target, 5), target)
    scores = cm.compute()
    assert scores["pa"] == scores["mpa"] == scores["miou"] == scores["miou_all_classes"] == 1.0


def test_the_two_mious_on_a_hand_made_matrix():
    """5 classes. Truth/prediction pairs chosen so each class shows one case:

    class 0: 3 hits, 1 missed (as 1)      -> IoU 3 / (4 + 3 - 3) = 3/4
    class 1: 2 hits, 1 false positive     -> IoU 2 / (2 + 3 - 2) = 2/3
    class 2: 2 pixels, never predicted    -> IoU 0 / (2 + 0 - 0) = 0   (in truth: counts in both)
    class 3: predicted twice, never true  -> IoU 0 / (0 + 2 - 0) = 0   (in prediction: counts in both)
    class 4: absent from truth and prediction -> 0/0: left out of miou, 0 in miou_all_classes
    """
    truth = [0, 0, 0, 0, 1, 1, 2, 2]
    predicted = [0, 0, 0, 1, 1, 1, 3, 3]
    cm = ConfusionMatrix(5, IGNORE)
    cm.update(torch.tensor([[predicted]]), torch.tensor([[truth]]))
    expected = torch.zeros(5, 5, dtype=torch.int64)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 3] = 3, 1, 2, 2
    assert torch.equal(cm.matrix, expected)
    scores = cm.compute()
    assert scores["iou_per_class"] == pytest.approx([3 / 4, 2 / 3, 0.0, 0.0, None])
    assert scores["miou"] == pytest.approx((3 / 4 + 2 / 3 + 0 + 0) / 4)
    assert scores["miou_all_classes"] == pytest.approx((3 / 4 + 2 / 3 + 0 + 0 + 0) / 5)
    assert scores["mpa"] == pytest.approx((3 / 4 + 1 + 0) / 3)  # classes in the truth: 0, 1, 2


def test_a_perfect_prediction_missing_a_class_separates_the_conventions():
    target = torch.tensor([[[0, 1, 1, 2]]])  # class 3 of 4 never occurs
    cm = ConfusionMatrix(4, IGNORE)
    cm.update(target, target)
    scores = cm.compute()
    assert scores["miou"] == 1.0
    assert scores["miou_all_classes"] == pytest.approx(3 / 4)


# -- classification (samples, not pixels) ---------------------------------------------------------------------

def test_classification_scores_by_hand():
    # truth 0,0,0,1,1,2 and prediction 0,0,1,1,1,0: class 2 is never predicted, nothing is predicted as 3
    truth, prediction = torch.tensor([0, 0, 0, 1, 1, 2]), torch.tensor([0, 0, 1, 1, 1, 0])
    cm = ConfusionMatrix(4, IGNORE, "cpu")
    cm.update(torch.nn.functional.one_hot(prediction, 4).float(), truth)  # logits [N, C]
    assert torch.equal(cm.matrix[:3, :3], torch.tensor([[2, 1, 0], [0, 2, 0], [1, 0, 0]]))
    scores = cm.compute_classification()
    assert scores["accuracy"] == pytest.approx(4 / 6)
    # recall: 2/3, 2/2, 0/1, class 3 absent (None); precision: 2/3, 2/3, never predicted (None), None
    assert scores["recall_per_class"] == pytest.approx([2 / 3, 1.0, 0.0, None])
    assert scores["precision_per_class"] == pytest.approx([2 / 3, 2 / 3, None, None])
    # F1 = 2 n_ii / (t_i + p_i): 4/6, 4/5, 0/1, 0/0
    assert scores["f1_per_class"] == pytest.approx([2 / 3, 0.8, 0.0, None])
    assert scores["macro_recall"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert scores["macro_precision"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    json.dumps(scores)


def test_classification_f1_is_the_harmonic_mean_and_an_empty_matrix_scores_zero():
    matrix = torch.tensor([[5, 2], [1, 7]])
    scores = classification_scores(matrix)
    for p, r, f in zip(scores["precision_per_class"], scores["recall_per_class"], scores["f1_per_class"]):
        assert f == pytest.approx(2 * p * r / (p + r))
    assert scores["accuracy"] == pytest.approx(12 / 15) and scores["recall_per_class"] == pytest.approx([5 / 7, 7 / 8])
    empty = classification_scores(torch.zeros(3, 3, dtype=torch.int64))
    assert empty["accuracy"] == 0.0 and empty["macro_f1"] == 0.0 and empty["f1_per_class"] == [None] * 3
