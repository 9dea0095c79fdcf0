"""ARBEx (workbench.losses.arbex) against a transcription of the official code, takihasan/ARBEx @ b85c37b4a7:
``arbex/loss.py`` (AnchorLoss, CenterLoss, DistLoss), ``arbex/models/anchors.py`` (Anchors.forward),
``arbex/models/attn.py`` (SelfAttn), ``arbex/utils.py`` (normalized_entropy) and the training step of
``arbex/train.py`` (lines "forward pass" to "total loss"), written out below with the official module's weights
copied from ours."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench import losses
from workbench.losses.arbex import anchor_loss, confidence

# --- the official code, transcribed (class weights of DistLoss: None, i.e. balanced data) ----------------------


def official_normalized_entropy(x):
    norm = torch.log(torch.tensor([len(x[0])])).item()
    return -torch.sum(torch.log(x) * x, -1) / norm


def official_anchor_loss(anchors, dim_emb):
    n_classes, k, _ = anchors.shape
    anchors = anchors.view(n_classes, -1)
    distances = (anchors.unsqueeze(0) - anchors.unsqueeze(1)) ** 2
    distances = distances / math.sqrt(dim_emb)
    return -distances.sum() / k / k


def official_center_loss(distances, labels, confidence_, dim_emb):
    distances = distances[range(len(labels)), labels]
    distances = torch.min(distances, 1).values
    loss = distances * confidence_.view(-1) / math.sqrt(dim_emb)
    return loss.sum() / len(loss)


def official_anchor_distances(anchors, x):
    x = x.view(x.shape[0], 1, 1, x.shape[1])
    return torch.sqrt(((anchors.unsqueeze(0) - x) ** 2).sum(-1))


class OfficialSelfAttn(nn.Module):
    def __init__(self, n_anchors, n_classes, size_emb):
        super().__init__()
        self.n_classes, self.n_anchors = n_classes, n_anchors
        size_out = n_classes * n_anchors
        self.Q, self.K, self.V = nn.Linear(size_emb, size_out), nn.Linear(size_emb, size_out), nn.Linear(size_emb,
                                                                                                          size_out)
        self.attn_fn = nn.MultiheadAttention(size_out, num_heads=1)

    def forward(self, x):
        attn_scores, _ = self.attn_fn(self.Q(x), self.K(x), self.V(x))
        return torch.softmax(attn_scores, -1).view(-1, self.n_classes, self.n_anchors).sum(-1)


def official_step_loss(ours, x, y, *, trust, temperature, delta, lambda_mu, lambda_center):
    """train.py's loss with ``ours``'s weights: head, anchors [C, K, D], SelfAttn."""
    c, k, d = ours.num_classes, ours.anchors_per_class, ours.embedding_dim
    attn = OfficialSelfAttn(k, c, d).to(x.dtype)
    attn.Q.load_state_dict(ours.query.state_dict())
    attn.K.load_state_dict(ours.key.state_dict())
    attn.V.load_state_dict(ours.value.state_dict())
    attn.attn_fn.load_state_dict(ours.attention.state_dict())
    confidence_fn = lambda p: 1 - official_normalized_entropy(p)  # noqa: E731  (as train.py)
    anchors = ours.weight.detach().view(c, k, d)
    logits = ours.head(x)
    prob_dist = torch.softmax(logits / temperature, -1)
    conf = confidence_fn(prob_dist).view(-1, 1)
    distances = official_anchor_distances(anchors, x)
    similarities = torch.softmax(-distances.view(distances.shape[0], -1) / delta, -1).view_as(distances).sum(-1)
    confidence_g = confidence_fn(similarities).view(-1, 1)
    attn_q = attn(x)
    confidence_a = confidence_fn(attn_q).view(-1, 1)
    correction = similarities * confidence_g + attn_q * confidence_a
    correction /= confidence_g + confidence_a
    dist_correction = conf * prob_dist + (1 - conf) * correction
    prob_dist_corrected = (1 - trust) * prob_dist + trust * dist_correction
    loss_ce = nn.NLLLoss()(torch.log(prob_dist_corrected), y)
    loss_mu = official_anchor_loss(anchors, d) * lambda_mu
    loss_center = official_center_loss(distances, y, conf, d) * lambda_center
    return loss_ce + loss_mu * trust + loss_center * trust


def _loss_and_inputs(seed, *, classes=4, dim=6, batch=10, **params):
    torch.manual_seed(seed)
    loss = losses.get("arbex", num_classes=classes, embedding_dim=dim, **params).double()
    with torch.no_grad():  # anchors away from the official zero start, so every term is exercised
        loss.weight.normal_()
    g = torch.Generator().manual_seed(seed + 100)
    return loss, torch.randn(batch, dim, generator=g, dtype=torch.float64), torch.arange(batch) % classes


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("params", [{}, {"anchors_per_class": 3, "trust": 0.4, "temperature": 0.5, "delta": 2.0,
                                         "lambda_mu": 0.3, "lambda_center": 1.7}])
def test_equals_the_official_training_loss(seed, params):
    loss, x, y = _loss_and_inputs(seed, **params)
    full = {"trust": 1.0, "temperature": 1.0, "delta": 1.0, "lambda_mu": 1.0, "lambda_center": 1.0}
    full.update({key: value for key, value in params.items() if key in full})
    with torch.no_grad():
        expected = official_step_loss(loss, x, y, **full)
    # rel 1e-7, not 1e-12: the official normalized_entropy takes log(C) of a float32 tensor (.item() of
    # torch.log(torch.tensor([C]))), 1e-8 off the float64 log(C) that ours uses
    assert loss(x, y).item() == pytest.approx(expected.item(), rel=1e-7, abs=1e-9)


def test_gradient_equals_the_official_one_in_the_embeddings():
    loss, x, y = _loss_and_inputs(5, anchors_per_class=2, trust=0.7)
    ours = x.clone().requires_grad_(True)
    theirs = x.clone().requires_grad_(True)
    loss(ours, y).backward()
    official_step_loss(loss, theirs, y, trust=0.7, temperature=1.0, delta=1.0, lambda_mu=1.0,
                       lambda_center=1.0).backward()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-6, atol=1e-9)  # float32 log(C), as above


def test_anchor_loss_by_hand():
    # two classes, one anchor each, a_0 = 0, a_1 = (1, 1, 1, 1): both ordered pairs give 4, so -(4 + 4)/sqrt(4)
    anchors = torch.tensor([[[0.0, 0, 0, 0]], [[1.0, 1, 1, 1]]])
    assert anchor_loss(anchors, 4).item() == pytest.approx(-4.0)
    # K = 2: the concatenated anchors differ by 1 in 8 coordinates: -(8 + 8)/sqrt(4)/K^2
    anchors2 = torch.stack([torch.zeros(2, 4), torch.ones(2, 4)])
    assert anchor_loss(anchors2, 4).item() == pytest.approx(-2.0)


def test_confidence_is_one_on_a_one_hot_row_and_zero_on_the_uniform_one():
    log_probs = torch.log(torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]))
    torch.testing.assert_close(confidence(log_probs), torch.tensor([1.0, 0.0]))


def test_no_trust_is_cross_entropy_on_the_head():
    loss, x, y = _loss_and_inputs(3, trust=0.0, temperature=0.5)
    expected = F.cross_entropy(loss.head(x) / 0.5, y)
    assert loss(x, y).item() == pytest.approx(expected.item(), rel=1e-12)


def test_zero_anchors_with_uniform_corrections_stay_finite():
    # the official start: zero anchors give uniform similarities (confidence 0); with attention made uniform too,
    # the official correction is 0/0 = NaN, ours averages the two corrections
    loss = losses.get("arbex", num_classes=3, embedding_dim=4).double()
    with torch.no_grad():
        loss.attention.out_proj.weight.zero_()
        loss.attention.out_proj.bias.zero_()
    x, y = torch.randn(6, 4, dtype=torch.float64, requires_grad=True), torch.arange(6) % 3
    value = loss(x, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()


def test_anchors_and_head_learn():
    loss, x, y = _loss_and_inputs(4)
    loss(x, y).backward()
    for param in (loss.weight, loss.head.weight, loss.query.weight, loss.attention.in_proj_weight):
        assert param.grad is not None and param.grad.abs().sum() > 0
