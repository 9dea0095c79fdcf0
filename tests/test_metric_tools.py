"""Data, analysis, viz and widget helpers of issue 5 (metric learning and margin heads)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from workbench import analysis, data, losses, viz, widgets


def clusters(classes=4, per=10, dim=6, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(classes, dim, generator=g), dim=1)
    y = torch.arange(classes).repeat_interleave(per)
    return centres[y] + spread * torch.randn(len(y), dim, generator=g), y


def test_unseen_classes_split():
    ds = data.unseen_classes(data.digits(), seen=5)
    assert ds.num_classes == 5 and ds.y_train.max() == 4 and ds.y_test.max() == 4
    assert set(ds.meta["y_unseen"].tolist()) == {5, 6, 7, 8, 9}
    full = data.digits()
    assert ds.n_train + ds.n_test + len(ds.meta["y_unseen"]) == full.n_train + full.n_test
    with pytest.raises(ValueError, match="seen"):
        data.unseen_classes(full, seen=10)


def test_episode_orders_supports_first_and_is_seeded():
    X, y = torch.arange(100.0)[:, None], torch.arange(100) % 10
    ex, ey = data.episode(X, y, n_way=3, shot=2, queries=4, generator=torch.Generator().manual_seed(0))
    assert len(ey) == 3 * 6 and len(ey.unique()) == 3
    assert (ey[:6].reshape(3, 2) == ey[:6].reshape(3, 2)[:, :1]).all()  # two supports per class, class by class
    assert (y[ex.squeeze(1).long()] == ey).all()
    again = data.episode(X, y, n_way=3, shot=2, queries=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], ex)
    with pytest.raises(ValueError, match="n_way"):
        data.episode(X, y, n_way=11)


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


def test_gpw_dependence_reproduces_the_table():
    # MS paper, GPW table: binomial deviance weights use S only; lifted structure (the paper's anchor-wise
    # cosine form: generalized_lifted_structure, distance="cosine") N (negatives), P (positives);
    # MS uses all three (P for negatives via mining)
    assert analysis.gpw_dependence(losses.get("binomial_deviance")) == {"negative": {"S"}, "positive": {"S"}}
    ms_lifted = losses.get("generalized_lifted_structure", distance="cosine", pos_margin=1.0, neg_margin=0.0)
    assert analysis.gpw_dependence(ms_lifted) == {"negative": {"S", "N"}, "positive": {"S", "P"}}
    # Song et al.'s per-pair form (derived): a negative (i, k) is weighted by [J_ij]_+ of the positive pairs
    # (i, j), which holds D_ij, so negatives also use P; a positive's weight [J_ij]_+ holds its own D and the
    # negatives' log-sum-exp, not the other positives
    assert analysis.gpw_dependence(losses.get("lifted_structure")) == {"negative": {"S", "N", "P"},
                                                                       "positive": {"S", "N"}}
    ms = analysis.gpw_dependence(losses.get("multi_similarity"))
    assert ms["negative"] == {"S", "N", "P"} and ms["positive"] == {"S", "N", "P"}
    assert analysis.gpw_dependence(losses.get("contrastive"))["positive"] == {"S"}


def test_weight_curve_of_ms_negative_is_the_closed_form():
    frame = analysis.weight_curve(losses.get("multi_similarity", epsilon=None, reduction="sum"), [0.2, 0.6],
                                  "negative", negative=0.3)
    # anchor 0's negatives: the varied one (s) and two at 0.3; the pair enters rows 0 and 3 symmetrically
    for s, w in zip(frame["similarity"], frame["weight"]):
        row0 = 1 / (math.exp(50 * (0.5 - s)) + 1 + 2 * math.exp(50 * (0.3 - s)))
        assert w == pytest.approx(2 * row0, rel=1e-9)


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


def test_target_logit_curves_of_cosface_and_sphereface():
    cos = analysis.target_logit_curve(losses.get("cosface", num_classes=2, embedding_dim=2), [0, 60, 90])
    assert cos["target_logit"].tolist() == pytest.approx([64 * 0.65, 64 * 0.15, -64 * 0.35])
    sphere = analysis.target_logit_curve(losses.get("sphereface", num_classes=2, embedding_dim=2), [30, 60])
    assert sphere["target_logit"].tolist() == pytest.approx([-0.5, -1.5])


def test_viz_functions_return_figures():
    curves = {"ms": {"positive · others 0.7": analysis.weight_curve(losses.get("multi_similarity"), [0, 0.5],
                                                                     "positive"),
                     "negative · others 0.3": analysis.weight_curve(losses.get("multi_similarity"), [0, 0.5])}}
    fig = viz.pair_weight_curves(curves)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 1 and len(fig.axes[1].lines) == 1
    frames = {"arcface": analysis.target_logit_curve(losses.get("arcface", num_classes=2, embedding_dim=2), [0, 90])}
    assert len(viz.target_logit_curves(frames).axes[0].lines) == 2
    z, y = clusters()
    assert isinstance(viz.roc_curves({"a": analysis.verification_roc(z, y, pairs=100)}), Figure)
    table = pd.DataFrame({"R@1": [0.9, 0.8]}, index=["ms", "triplet"])
    assert len(viz.metric_bars(table).axes[0].patches) == 2


def test_margin_explorer_redraws_on_slider_change():
    explorer = widgets.MarginExplorer("arcface")
    before = explorer.image.value
    explorer.sliders["margin"].value = 0.2
    assert explorer.image.value != before and set(explorer.sliders) == {"scale", "margin"}
    explorer.dropdown.value = "cosface"
    assert explorer.params["margin"] == losses.info("cosface").params["margin"].default
    with pytest.raises(ValueError, match="name must be one of"):
        widgets.MarginExplorer("triplet")
