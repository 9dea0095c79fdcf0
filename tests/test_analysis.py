import math

import numpy as np
import pytest
import torch

from workbench import analysis, losses


def unit(*degrees):
    t = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([t.cos(), t.sin()], dim=1)


def test_uniformity_reference_values():
    # losses-metric-contrastive-margin.md §5: antipodal pair -> -8 (t=2); 0/90/180/270 deg -> -4.3963490;
    # identical points -> 0
    assert analysis.uniformity(unit(0, 180)).item() == pytest.approx(-8.0)
    assert analysis.uniformity(unit(0, 90, 180, 270)).item() == pytest.approx(-4.3963490, abs=1e-7)
    assert analysis.uniformity(unit(30, 30, 30)).item() == pytest.approx(0.0, abs=1e-12)


def test_uniformity_gradient_is_finite_for_coincident_points():
    x = unit(10, 10, 50).requires_grad_(True)
    analysis.uniformity(x).backward()
    assert torch.isfinite(x.grad).all()


def test_uniformity_needs_two_points():
    with pytest.raises(ValueError, match="at least 2"):
        analysis.uniformity(unit(0))


def test_alignment_reference_value():
    # §5: align(x, -x) = 4
    x = unit(0, 77, 140)
    assert analysis.alignment(x, -x).item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="same shape"):
        analysis.alignment(x, x[:2])


def test_tolerance_is_the_mean_same_class_cosine():
    x, y = unit(0, 60, 90, 180), torch.tensor([0, 0, 1, 1])
    assert analysis.tolerance(x, y) == pytest.approx((0.5 + math.cos(math.radians(90))) / 2)


def test_class_similarity_stats():
    x, y = unit(0, 10, 90, 100), torch.tensor([0, 0, 1, 1])
    stats = analysis.class_similarity_stats(x, y)
    assert stats["intra"] == pytest.approx(math.cos(math.radians(10)))
    assert stats["inter"] == pytest.approx(np.mean([math.cos(math.radians(a)) for a in (90, 100, 80, 90)]))
    assert stats["gap"] == pytest.approx(stats["intra"] - stats["inter"])
    assert stats["min_centroid_angle"] == pytest.approx(90.0)


def test_recall_at_k():
    x = unit(0, 5, 90, 95, 180, 185)
    y = torch.tensor([0, 0, 1, 1, 2, 0])  # 185 deg: its nearest neighbour (180) has another label
    recall = analysis.recall_at_k(x, y, ks=(1, 2))
    assert recall[1] == pytest.approx(4 / 6)  # queries at 180 and 185 miss at k=1
    assert recall[2] < 1 and recall[2] >= recall[1]


def test_accuracy_from_logits_and_from_labels():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert analysis.accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert analysis.accuracy(torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


def test_knn_accuracy_on_separated_classes():
    train, test = unit(0, 5, 180, 185), unit(2, 182)
    assert analysis.knn_accuracy(train, torch.tensor([0, 0, 1, 1]), test, torch.tensor([0, 1]), k=1) == 1.0
    assert analysis.knn_accuracy(train, torch.tensor([0, 0, 1, 1]), test, torch.tensor([1, 0]), k=1) == 0.0


def test_pair_weights_contrastive_pulls_positives_and_pushes_close_negatives():
    x, y = unit(0, 40, 60, 170), torch.tensor([0, 0, 1, 1])
    w = analysis.pair_weights(losses.get("contrastive", neg_margin=1.0), x, y)
    assert w.shape == (4, 4)
    assert w[0, 1] < 0 and w[2, 3] < 0          # positives: increasing S lowers the loss (pull)
    assert w[0, 2] > 0 and w[1, 2] > 0          # negatives within the margin: pushed apart
    assert w[0, 3] == 0                          # 170 deg apart: beyond the margin, ignored


def test_pair_weights_of_views_flatten_rows():
    views = torch.randn(3, 2, 4, dtype=torch.float64)
    w = analysis.pair_weights(losses.get("ntxent"), views)
    assert w.shape == (6, 6)
    assert (w[0, 1] < 0) and (w[2, 3] < 0)  # the other view of the same instance is pulled


def test_pair_weights_needs_a_similarity_loss_and_labels():
    with pytest.raises(ValueError, match="from_similarity"):
        analysis.pair_weights(losses.get("cross_entropy"), torch.randn(4, 2), torch.arange(4))
    with pytest.raises(ValueError, match="labels"):
        analysis.pair_weights(losses.get("contrastive"), torch.randn(4, 2))


def test_sample_gradient_norms_of_cross_entropy():
    logits, y = torch.tensor([[5.0, 0.0], [0.0, 0.0], [-5.0, 0.0]]), torch.tensor([0, 0, 0])
    norms = analysis.sample_gradient_norms(losses.get("cross_entropy", reduction="sum"), logits, y)
    p = torch.softmax(logits, 1)[:, 0]
    assert torch.allclose(norms, math.sqrt(2) * (1 - p), atol=1e-6)  # |dL/dz| = sqrt(2)(1 - p_y) for 2 classes
    assert norms[2] > norms[1] > norms[0]  # the misclassified sample pulls hardest


def test_margin_curve_of_cross_entropy_matches_the_closed_form():
    curve = analysis.margin_curve(losses.get("cross_entropy"), np.linspace(-4, 4, 9), num_classes=10)
    m = curve["margin"].to_numpy()
    p = np.exp(m) / (np.exp(m) + 9)
    assert np.allclose(curve["loss"], -np.log(p))
    assert np.allclose(curve["grad"], -(1 - p))


def test_similarity_curve_of_ntxent():
    loss = losses.get("ntxent", temperature=0.5)
    pos = analysis.similarity_curve(loss, np.linspace(-1, 1, 11), "positive")
    neg = analysis.similarity_curve(loss, np.linspace(-1, 1, 11), "negative")
    assert np.all(np.diff(pos["loss"]) < 0) and np.all(pos["grad"] < 0)   # closer positives, lower loss
    assert np.all(np.diff(neg["loss"]) > 0) and np.all(neg["grad"] > 0)   # closer negatives, higher loss
    with pytest.raises(ValueError, match="which"):
        analysis.similarity_curve(loss, [0.0], "both")
