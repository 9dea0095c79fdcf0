"""Pinned values of the regression-kind contrastive losses: Rank-N-Contrast against the official loss written out
(kaiwenzha/Rank-N-Contrast@6239bdf loss.py), SupReMix against hand computations of its pieces."""

import math

import pytest
import torch
import torch.nn.functional as F

from workbench import losses


def official_rnc(features, labels, t=2.0):
    """RnCLoss.forward of kaiwenzha/Rank-N-Contrast@6239bdf (loss.py), written out: two views [bs, 2, D], L1 label
    difference, negative L2 distance, the loop over positives k."""
    features = torch.cat([features[:, 0], features[:, 1]], dim=0)
    labels = labels.repeat(2, 1)
    label_diffs = torch.abs(labels[:, None, :] - labels[None, :, :]).sum(dim=-1)
    logits = -(features[:, None, :] - features[None, :, :]).norm(2, dim=-1) / t
    logits = logits - logits.max(dim=1, keepdim=True)[0].detach()
    exp_logits = logits.exp()
    n = logits.shape[0]
    off = ~torch.eye(n, dtype=torch.bool)
    logits, exp_logits = logits.masked_select(off).view(n, n - 1), exp_logits.masked_select(off).view(n, n - 1)
    label_diffs = label_diffs.masked_select(off).view(n, n - 1)
    loss = 0.0
    for k in range(n - 1):
        neg_mask = (label_diffs >= label_diffs[:, k].view(-1, 1)).double()
        pos_log_probs = logits[:, k] - torch.log((neg_mask * exp_logits).sum(dim=-1))
        loss = loss - (pos_log_probs / (n * (n - 1))).sum()
    return loss


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_n_contrast_equals_the_official_loss_on_two_views(seed):
    g = torch.Generator().manual_seed(seed)
    views = torch.randn(5, 2, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0.0, 1.5, 1.5, 3.0, -2.0], dtype=torch.float64)  # a tie: |Δy| >= includes equal gaps
    ours = losses.get("rank_n_contrast")(torch.cat([views[:, 0], views[:, 1]]), y.repeat(2))
    assert ours.item() == pytest.approx(official_rnc(views, y[:, None]).item(), rel=1e-10)


def test_rank_n_contrast_prefers_embeddings_ordered_like_the_labels():
    y = torch.arange(6, dtype=torch.float64)
    ordered = torch.stack([y, torch.zeros(6, dtype=torch.float64)], 1)
    shuffled = ordered[torch.tensor([3, 0, 5, 1, 4, 2])]
    loss = losses.get("rank_n_contrast", temperature=0.5)
    assert loss(ordered, y) < loss(shuffled, y)


def _supcon_one_view(z, y, t, weighted):
    """Hand-written: positives = other rows with the same target, denominator over the other rows weighted by
    |Δy| + 1, the mean over positives with the +1 of the code's count."""
    z = F.normalize(z, dim=1)
    n = len(z)
    out = []
    for i in range(n):
        others = [a for a in range(n) if a != i]
        den = sum(((abs(y[i] - y[a]) + 1) if weighted else 1) * math.exp(float(z[i] @ z[a]) / t) for a in others)
        pos = [p for p in others if y[p] == y[i]]
        out.append(-sum(float(z[i] @ z[p]) / t - math.log(den) for p in pos) / (len(pos) + 1))
    return out


@pytest.mark.parametrize("weighted", [False, True])
def test_supremix_without_mixtures_is_a_label_weighted_supcon(weighted):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0, 5.0], dtype=torch.float64)
    loss = losses.get("supremix", mix_negatives=False, mix_positives=False, weighted=weighted, reduction="none")
    assert torch.allclose(loss(z, y), torch.tensor(_supcon_one_view(z, y.tolist(), 0.3, weighted),
                                                   dtype=torch.float64))


def test_supremix_hard_positive_is_the_mixture_that_lands_on_the_anchor_label():
    # y = 0, 1, 2 (all distinct): anchor 1 has one hard positive, 0.5 z0 + 0.5 z2 (λ = (2-1)/(2-0)); anchors 0 and 2
    # have none (nothing on both sides), so with negatives unmixed their loss is 0
    z = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=torch.float64), dim=1)
    y = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    t = 0.3
    loss = losses.get("supremix", mix_negatives=False, weighted=True, temperature=t, reduction="none")(z, y)
    m = float(z[1] @ (0.5 * z[0] + 0.5 * z[2])) / t
    den = 2 * math.exp(float(z[1] @ z[0]) / t) + 2 * math.exp(float(z[1] @ z[2]) / t) + math.exp(m)
    assert loss[1].item() == pytest.approx(-(m - math.log(den)) / 2, rel=1e-12)
    assert loss[0].item() == 0 and loss[2].item() == 0


def test_supremix_hard_negatives_follow_the_generator():
    z = torch.randn(5, 3, dtype=torch.float64)
    y = torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    a = losses.get("supremix", generator=torch.Generator().manual_seed(0))(z, y)
    b = losses.get("supremix", generator=torch.Generator().manual_seed(0))(z, y)
    c = losses.get("supremix", generator=torch.Generator().manual_seed(1))(z, y)
    assert a.item() == b.item() and a.item() != c.item()


def test_supremix_gradcheck_without_detached_mixtures():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    loss = losses.get("supremix", detach_mixtures=False, generator=torch.Generator())

    def f(z):
        loss.generator.manual_seed(0)
        return loss(z, y)
    assert torch.autograd.gradcheck(f, (z,))


def test_beta_draws_have_the_beta_mean():
    from workbench.losses.regression import beta_integer
    draws = beta_integer(2, 8, (20000,), torch.Generator().manual_seed(0))
    assert draws.mean().item() == pytest.approx(0.2, abs=0.005)  # Beta(2, 8) has mean 2 / 10
