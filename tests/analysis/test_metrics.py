"""analysis.metrics: accuracy, top-k accuracy and binary metrics."""


import pytest
import torch

from workbench import analysis


def test_topk_accuracy():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [2.0, 3.0, 1.0]])
    y = torch.tensor([1, 0, 1])
    assert analysis.topk_accuracy(logits, y, 1) == pytest.approx(1 / 3)
    assert analysis.topk_accuracy(logits, y, 2) == pytest.approx(2 / 3)
    assert analysis.topk_accuracy(logits, y, 3) == 1.0
    with pytest.raises(ValueError, match="k"):
        analysis.topk_accuracy(logits, y, 4)


def test_binary_metrics_match_hand_counts():
    scores = torch.tensor([2.0, -1.0, 0.5, -0.5, 1.0])
    y = torch.tensor([1, 0, 0, 1, 1])  # predictions 1 0 1 0 1: TP 2, FP 1, FN 1, TN 1
    m = analysis.binary_metrics(scores, y)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["roc_auc"] == pytest.approx(5 / 6)  # positives 2, -0.5, 1 vs negatives -1, 0.5: 5 of 6 pairs


def test_accuracy_from_logits_and_from_labels():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert analysis.accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert analysis.accuracy(torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
