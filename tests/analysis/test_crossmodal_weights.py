"""The pair-weight lens of the cross-modal losses: ``from_similarity`` on S = x̂ ŷᵀ gives the loss of (x, y), and
``analysis.crossmodal_weights`` gives dL/dS, pinned to closed forms derived by hand (CLIP: the two softmaxes minus
the matching pair; SigLIP: each pair's own sigmoid)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench import analysis, losses


def _pair(seed=0, b=6, d=5):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(b, d, generator=g, dtype=torch.float64))


def _cosines(x, y):
    return F.normalize(x, dim=1) @ F.normalize(y, dim=1).T


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("name", "params"), [("clip", {"temperature": 0.2, "learn_temperature": True}),
                                              ("cwcl", {"temperature": 0.3}), ("cwcl", {"reverse": "clip"}),
                                              ("siglip", {"scale": 5.0, "bias": -2.0})])
def test_from_similarity_is_the_loss_of_the_pairs(name, params, reduction):
    x, y = _pair()
    loss = losses.get(name, reduction=reduction, **params).double()
    assert torch.allclose(loss.from_similarity(_cosines(x, y), y), loss(x, y), atol=1e-12)


def test_clip_weights_are_the_two_softmaxes_minus_the_match():
    x, y = _pair(1)
    tau = 0.25
    s = _cosines(x, y)
    b = len(s)
    # d/dS of (1/2B) Σ_i [CE(S_i·/τ, i) + CE(S_·i/τ, i)]
    expected = (torch.softmax(s / tau, 1) + torch.softmax(s / tau, 0) - 2 * torch.eye(b, dtype=s.dtype)) / (2 * b * tau)
    weights = analysis.crossmodal_weights(losses.get("clip", temperature=tau).double(), x, y)
    assert torch.allclose(weights, expected, atol=1e-12)
    assert (weights.diagonal() < 0).all() and (weights - torch.diag(weights.diagonal()) >= 0).all()


def test_siglip_weights_are_each_pairs_own_sigmoid():
    x, y = _pair(2)
    t, bias = 10.0, -10.0
    s = _cosines(x, y)
    z = 2 * torch.eye(len(s), dtype=s.dtype) - 1
    # d/dS of -(1/B) Σ_ij log σ(z_ij (t S_ij + b)) = -(t/B) z_ij σ(-z_ij (t S_ij + b))
    expected = -(t / len(s)) * z * torch.sigmoid(-z * (t * s + bias))
    weights = analysis.crossmodal_weights(losses.get("siglip").double(), x, y)
    assert torch.allclose(weights, expected, atol=1e-12)


def test_bad_inputs_are_named():
    x, y = _pair()
    clip, cwcl = losses.get("clip").double(), losses.get("cwcl").double()
    with pytest.raises(ValueError, match="similarity.*square"):
        clip.from_similarity(_cosines(x, y)[:, :-1])
    with pytest.raises(ValueError, match="similarity.*NaN"):
        losses.get("siglip").double().from_similarity(torch.full((3, 3), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="y .*must be given"):
        cwcl.from_similarity(_cosines(x, y))
    with pytest.raises(ValueError, match="y must have 6 rows"):
        cwcl.from_similarity(_cosines(x, y), y[:-1])
    with pytest.raises(ValueError, match="crossmodal loss"):
        analysis.crossmodal_weights(losses.get("ntxent"), x, y)
    with pytest.raises(ValueError, match="scalar reduction"):
        analysis.crossmodal_weights(losses.get("clip", reduction="none"), x, y)
