"""analysis.gradients: pair weights, gradient norms, loss and weight curves, relative penalty, GPW, target logits."""

import math

import numpy as np
import pytest
import torch
from conftest import unit

from workbench import analysis, losses


@pytest.mark.parametrize("tau, expected", [(0.07, [0.996702, 0.003288, 1.1e-5]),
                                           (0.2, [0.866813, 0.117310, 0.015876]),
                                           (1.0, [0.471776, 0.316241, 0.211983])])
def test_relative_penalty_reference_values(tau, expected):
    # losses-metric-contrastive-margin.md §4.3: negatives s = [0.9, 0.5, 0.1]
    r = analysis.relative_penalty(torch.tensor([0.9, 0.5, 0.1]), tau)
    assert r.tolist() == pytest.approx(expected, abs=1e-6)
    assert r.sum().item() == pytest.approx(1.0)


def test_penalty_entropy_rises_with_temperature_towards_log_k():
    # §4.3: entropy of r strictly increasing in tau
    s = torch.tensor([0.9, 0.5, 0.1, -0.3])
    h = [analysis.penalty_entropy(s, tau).item() for tau in (0.05, 0.1, 0.2, 0.5, 1.0, 5.0)]
    assert all(a < b for a, b in zip(h, h[1:])) and h[-1] < math.log(4) and h[0] > 0


def test_relative_penalty_is_the_ratio_of_ntxent_gradients():
    # §4.3: autograd ratio |dL/ds_ij| / |dL/ds_ii| equals r over the anchor's negatives
    s = torch.eye(5, dtype=torch.float64)
    for j, v in zip((1, 2, 3, 4), (0.4, 0.9, 0.5, 0.1)):
        s[0, j] = s[j, 0] = v
    s.requires_grad_(True)
    loss = losses.get("ntxent", temperature=0.3, reduction="sum")
    (g,) = torch.autograd.grad(loss.from_similarity(s, torch.tensor([0, 0, 1, 2, 3])), s)
    ratio = g[0, 2:] / -g[0, 1]
    assert torch.allclose(ratio, analysis.relative_penalty(torch.tensor([0.9, 0.5, 0.1]), 0.3))


def test_relative_penalty_rejects_a_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        analysis.relative_penalty(torch.tensor([0.1, 0.2]), 0.0)


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


def test_target_logit_curves_of_cosface_and_sphereface():
    cos = analysis.target_logit_curve(losses.get("cosface", num_classes=2, embedding_dim=2), [0, 60, 90])
    assert cos["target_logit"].tolist() == pytest.approx([64 * 0.65, 64 * 0.15, -64 * 0.35])
    sphere = analysis.target_logit_curve(losses.get("sphereface", num_classes=2, embedding_dim=2), [30, 60])
    assert sphere["target_logit"].tolist() == pytest.approx([-0.5, -1.5])


def test_amplifier_curve_passes_one_half_and_sharpens_with_L():
    frame = analysis.amplifier_curve([1, 73], points=11)
    assert np.allclose(frame.loc[5, ["L=1", "L=73"]], 0.5)
    assert frame["L=73"].iloc[-1] > frame["L=1"].iloc[-1] and frame["L=73"].iloc[0] < frame["L=1"].iloc[0]


def test_invariance_table_shows_z_loss_invariant_and_ce_not():
    z = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    table = analysis.invariance_table({"cross_entropy": losses.get("cross_entropy"), "z_loss": losses.get("z_loss")},
                                      z, torch.tensor([2]), {"z": (1, 0), "5z - 7": (5, -7)})
    assert table.loc["z", "z_loss"] == pytest.approx(table.loc["5z - 7", "z_loss"], abs=1e-12)
    assert table.loc["z", "cross_entropy"] != pytest.approx(table.loc["5z - 7", "cross_entropy"])


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


def test_target_logit_curve_is_float64_whatever_the_angles_type():
    # integer angles (range(0, 181)) are converted to float64 before the cosine, not computed in float32
    head = losses.get("arcface", num_classes=2, embedding_dim=2)
    ints = analysis.target_logit_curve(head, range(0, 181, 15))
    floats = analysis.target_logit_curve(head, np.arange(0, 181, 15, dtype=np.float64))
    assert np.array_equal(ints.to_numpy(), floats.to_numpy())
    expected = head.scale * np.cos(np.deg2rad(np.arange(0, 181, 15)))  # the margin-free s cos θ, in float64
    assert np.abs(ints["plain_logit"].to_numpy() - expected).max() < 1e-12


def test_zscore_curve_is_the_hand_derived_z_loss_and_its_slope():
    # ℓ(z) = log(1 + e^{a(b - z)}) / a (de Brébisson & Vincent 2016), dℓ/dz = -σ(a(b - z))
    zs = [-2.0, 0.0, 1.5, 3.0]
    frame = analysis.zscore_curve(zs, {"soft": (1.0, 2.0), "sharp": (5.0, 1.0)})
    for label, (a, b) in {"soft": (1.0, 2.0), "sharp": (5.0, 1.0)}.items():
        for z, value, grad in zip(zs, frame[label], frame[f"{label} grad"]):
            assert value == pytest.approx(math.log1p(math.exp(a * (b - z))) / a, rel=1e-12)
            assert grad == pytest.approx(-1 / (1 + math.exp(-a * (b - z))), rel=1e-12)
    assert list(frame["z"]) == zs
