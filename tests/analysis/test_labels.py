"""Multi-label and regression metrics against hand computations and scikit-learn."""

import math

import pytest
import torch

from workbench import analysis


def test_perfect_and_reversed_multilabel_scores():
    y = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    perfect = analysis.multilabel_metrics(y * 4.0 - 2.0, y)
    assert perfect == {"map": 1.0, "micro_f1": 1.0, "macro_f1": 1.0, "macro_auc": 1.0, "p_at_k": 1.0}
    reversed_ = analysis.multilabel_metrics(2.0 - y * 4.0, y)
    assert reversed_["macro_auc"] == 0.0 and reversed_["micro_f1"] == 0.0 and reversed_["p_at_k"] == 0.0


def test_average_precision_by_hand():
    # one label, scores ranking the samples [pos, neg, pos]: AP = (1/1 + 2/3) / 2
    scores = torch.tensor([[0.9], [0.8], [0.7]])
    y = torch.tensor([[1], [0], [1]])
    assert analysis.multilabel_metrics(scores, y)["map"] == pytest.approx((1 + 2 / 3) / 2)
    assert analysis.mean_average_precision(scores, y) == pytest.approx((1 + 2 / 3) / 2)


def test_the_scores_fit_records_each_epoch_are_multilabel_metrics_without_the_auc():
    g = torch.Generator().manual_seed(0)
    scores, y = torch.randn(30, 4, generator=g), (torch.rand(30, 4, generator=g) < 0.3).long()
    full = analysis.multilabel_metrics(scores, y)
    assert list(full) == ["map", "micro_f1", "macro_f1", "macro_auc", "p_at_k"]
    epoch = analysis.multilabel_scores(None, None, scores, y)
    assert epoch == {"map": full["map"], "micro_f1": full["micro_f1"], "macro_f1": full["macro_f1"],
                     "p_at_1": full["p_at_k"]}
    assert analysis.mean_average_precision(scores, y) == full["map"]
    with pytest.raises(ValueError, match="targets"):
        analysis.mean_average_precision(scores, y[:, :3])


def test_per_label_auc_is_nan_where_a_label_has_one_class():
    scores = torch.tensor([[0.1, 0.5], [0.9, 0.2], [0.4, 0.3]])
    y = torch.tensor([[0, 1], [1, 1], [0, 1]])
    auc = analysis.per_label_auc(scores, y)
    assert auc[0].item() == 1.0 and math.isnan(auc[1].item())


def test_precision_at_k_by_hand():
    scores = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    y = torch.tensor([[1, 0, 1], [1, 0, 0]])
    assert analysis.precision_at_k(scores, y, 1) == 0.5
    assert analysis.precision_at_k(scores, y, 2) == pytest.approx((1 / 2 + 0) / 2)
    with pytest.raises(ValueError, match="k"):
        analysis.precision_at_k(scores, y, 4)


def test_distance_spearman_is_one_for_an_ordered_line_and_drops_when_shuffled():
    y = torch.arange(10, dtype=torch.float64)
    line = torch.stack([2 * y, torch.zeros(10, dtype=torch.float64)], 1)
    assert analysis.distance_spearman(line, y) == pytest.approx(1.0)
    shuffled = line[torch.randperm(10, generator=torch.Generator().manual_seed(0))]
    assert analysis.distance_spearman(shuffled, y) < 0.5


def test_regression_scores_read_a_linear_target():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(80, 3, generator=g, dtype=torch.float64)
    y = emb @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    out = analysis.regression_scores(emb[:60], y[:60], emb[60:], y[60:])
    assert out["mae"] < 0.05 and out["spearman"] > 0.3
    assert analysis.mean_absolute_error(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0])) == 1.5


def test_ndcg_by_hand():
    rel = torch.tensor([[3.0, 0.0, 1.0]])
    assert analysis.ndcg_at_k(torch.tensor([[0.9, 0.5, 0.1]]), rel, 3) == pytest.approx(
        (3 + 0 + 1 / 2) / (3 + 1 / math.log2(3)))
    assert analysis.ndcg_at_k(torch.tensor([[0.9, 0.1, 0.5]]), rel, 2) == pytest.approx(1.0)
    assert analysis.ndcg_at_k(torch.tensor([[0.9, 0.1, 0.5]]), torch.zeros(1, 3), 2) == 0.0


def test_targets_of_another_shape_than_the_scores_are_refused():
    scores = torch.randn(5, 3)
    targets = (torch.arange(15).view(5, 3) % 2).long()
    for bad in (targets[:, :2], targets[:4], targets.flatten()):
        with pytest.raises(ValueError, match=r"\btargets\b"):
            analysis.per_label_auc(scores, bad)
        with pytest.raises(ValueError, match=r"\btargets\b"):
            analysis.precision_at_k(scores, bad)
