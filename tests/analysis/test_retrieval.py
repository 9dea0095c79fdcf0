"""Retrieval measurements (analysis.retrieval): MAP@R, recall, prototypes, verification ROC."""


import numpy as np
import pytest
import torch
from conftest import clusters, unit

from workbench import analysis


def test_map_at_r_and_recall_on_known_rankings():
    z, y = clusters()
    assert analysis.map_at_r(z, y) == 1.0 and analysis.nmi(z, y) == pytest.approx(1.0)
    # every class has R = 1 other item: MAP@R is the share of queries whose nearest item is that one
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]])
    y = torch.tensor([0, 1, 1, 0])
    ap = analysis.map_at_r(z, y)
    sim = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(z, dim=1).T
    sim.fill_diagonal_(-2)
    expected = np.mean([1.0 if y[int(sim[i].argmax())] == y[i] else 0.0 for i in range(4)])
    assert ap == pytest.approx(expected)
    metrics = analysis.retrieval_metrics(*clusters())
    assert set(metrics) == {"R@1", "R@2", "R@4", "MAP@R", "NMI"}


def test_prototype_accuracy_and_angles():
    z, y = clusters(classes=6, per=12, spread=0.02)
    assert analysis.prototype_accuracy(z, y, n_way=5, shot=3, queries=4, episodes=10) == 1.0
    with pytest.raises(ValueError, match="n_way"):
        analysis.prototype_accuracy(z, y, n_way=7)
    with pytest.raises(ValueError, match=r"shot \+ queries"):  # 12 per class < 5 + 8
        analysis.prototype_accuracy(z, y, shot=5, queries=8)
    stats = analysis.angular_stats(z, y)
    assert stats["intra_spread"] < 5 < stats["min_centre_angle"] <= stats["mean_centre_angle"]
    square = torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]])
    assert analysis.angular_stats(square, torch.arange(4))["min_centre_angle"] == pytest.approx(90)


def test_verification_roc():
    z, y = clusters(spread=0.02)
    roc = analysis.verification_roc(z, y, pairs=200)
    assert roc["auc"] == 1.0 and roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    noise = torch.randn(400, 8, generator=torch.Generator().manual_seed(1))
    assert 0.35 < analysis.verification_roc(noise, torch.arange(400) % 4, pairs=1000)["auc"] < 0.65


def test_tied_similarities_rank_in_index_order_and_one_ranking_serves_every_metric():
    # items 0, 1, 2 coincide and 3 is orthogonal to them; ties go to the lower index (hand computation):
    # query 0 ranks [1, 2, 3] (labels 1 0 1), query 1 [0, 2, 3] (0 0 1), query 2 [0, 1, 3] (0 1 1),
    # query 3 [0, 1, 2] (0 1 0): R@1 = 1/4 (query 2), R@2 = 3/4 (all but query 1), R@3 = 1;
    # every class has R = 1, so MAP@R is R@1
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 0, 1])
    assert analysis.recall_at_k(z, y, ks=(1, 2, 3)) == {1: 0.25, 2: 0.75, 3: 1.0}
    assert analysis.map_at_r(z, y) == 0.25
    metrics = analysis.retrieval_metrics(z, y, ks=(1, 2, 3))
    assert (metrics["R@1"], metrics["R@2"], metrics["R@3"], metrics["MAP@R"]) == (0.25, 0.75, 1.0, 0.25)


@pytest.mark.parametrize("ks", [(), (0,), (4,), (1, 2.5), (True,)])
def test_recall_ranks_must_be_among_the_other_items(ks):
    z, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="ks"):
        analysis.recall_at_k(z, y, ks=ks)
    with pytest.raises(ValueError, match="ks"):
        analysis.retrieval_metrics(z, y, ks=ks)


def test_recall_at_k():
    x = unit(0, 5, 90, 95, 180, 185)
    y = torch.tensor([0, 0, 1, 1, 2, 0])  # 185 deg: its nearest neighbour (180) has another label
    recall = analysis.recall_at_k(x, y, ks=(1, 2))
    assert recall[1] == pytest.approx(4 / 6)  # queries at 180 and 185 miss at k=1
    assert recall[2] < 1 and recall[2] >= recall[1]
