"""Pinned values of the multi-label losses (kind multilabel): ASL against timm's formula, BCE against torch, ZLPR
against a hand computation; and the cross-modal losses with a relevance matrix (DEXML's decoupled softmax, SMS)
against the values of ../shared/reference/losses-wave2.md §4.2 and §4.5."""

import math

import pytest
import torch
import torch.nn.functional as F

from workbench import losses


def timm_asymmetric_sum(x, y, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8):
    """timm's AsymmetricLossMultiLabel.forward (huggingface/pytorch-image-models@245128a,
    timm/loss/asymmetric_loss.py), reduction='sum', no smoothing / weights, written out here (timm is not
    installed): clip shifts the negatives' probability, the focusing weight multiplies the summed log terms."""
    xs_pos = torch.sigmoid(x)
    xs_neg = 1 - xs_pos
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    if gamma_neg > 0 or gamma_pos > 0:
        pt = xs_pos * y + xs_neg * (1 - y)
        loss = loss * torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
    return -loss.sum()


X = torch.tensor([[2.0, -1.0, 0.5, -3.0]], dtype=torch.float64)
Y = torch.tensor([[1, 0, 0, 0]])


def test_asl_reference_values():
    # losses-wave2.md §4.1 [DERIVED]: per class [0.0151302, 5.67798e-4, 0.0912530, 0], sum 0.106951
    per_class_sum = losses.get("asymmetric", reduction="none")(X, Y)
    assert per_class_sum.item() == pytest.approx(0.0151302 + 5.67798e-4 + 0.0912530, abs=1e-6)
    assert losses.get("asymmetric", reduction="sum")(X, Y).item() == pytest.approx(0.106951, abs=1e-6)
    assert losses.get("asymmetric", gamma_pos=0.0, reduction="sum")(X, Y).item() == pytest.approx(0.218749, abs=1e-6)
    bce_like = losses.get("asymmetric", gamma_neg=0.0, gamma_pos=0.0, clip=0.0, reduction="sum")(X, Y)
    assert bce_like.item() == pytest.approx(1.46285, abs=1e-5)


@pytest.mark.parametrize("settings", [{}, {"gamma_pos": 0.0}, {"gamma_neg": 2.0, "clip": 0.2},
                                      {"gamma_neg": 0.0, "gamma_pos": 0.0, "clip": 0.0}])
def test_asl_sum_equals_timm(settings):
    g = torch.Generator().manual_seed(3)
    x = 3 * torch.randn(16, 7, generator=g, dtype=torch.float64)
    y = (torch.rand(16, 7, generator=g) < 0.3).long()
    ours = losses.get("asymmetric", reduction="sum", **settings)(x, y)
    assert ours.item() == pytest.approx(timm_asymmetric_sum(x, y.double(), **settings).item(), rel=1e-10)
    # "mean" is timm's default 'batchmean': the sum over the batch size
    mean = losses.get("asymmetric", **settings)(x, y)
    assert mean.item() == pytest.approx(ours.item() / 16, rel=1e-12)


def test_asl_gradient_matches_timm_and_easy_negatives_get_none():
    x = torch.tensor([[1.0, -4.0, -2.0, 0.3]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1, 0, 0, 0]])
    (grad,) = torch.autograd.grad(losses.get("asymmetric", reduction="sum")(x, y), x)
    x2 = x.detach().clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(timm_asymmetric_sum(x2, y.double()), x2)
    assert torch.allclose(grad, ref)
    # sigmoid(-4) = 0.018 < clip 0.05: the hard threshold gives this negative no loss and no gradient
    assert grad[0, 1] == 0 and grad[0, 2] != 0


def test_asl_detached_weight_changes_the_gradient_not_the_value():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(4, 5, generator=g) < 0.5).long()
    a, b = losses.get("asymmetric"), losses.get("asymmetric", detach_weight=True)
    assert a(x, y).item() == pytest.approx(b(x, y).item(), rel=1e-12)
    (ga,) = torch.autograd.grad(a(x, y), x)
    (gb,) = torch.autograd.grad(b(x, y), x)
    assert not torch.allclose(ga, gb)


def test_multilabel_bce_is_torch_bce_summed_over_labels():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = (torch.rand(8, 5, generator=g) < 0.4).long()
    ours = losses.get("multilabel_bce")(x, y)
    torch_mean = F.binary_cross_entropy_with_logits(x, y.double())  # over B*C entries
    assert ours.item() == pytest.approx(torch_mean.item() * 5, rel=1e-12)


def test_multilabel_targets_are_checked():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="targets"):
        losses.get("asymmetric")(x, torch.tensor([[0, 2, 1], [1, 0, 0]]))
    with pytest.raises(ValueError, match="targets"):
        losses.get("multilabel_bce")(x, torch.zeros(2, 4))


def test_zlpr_reference_value():
    # losses-wave2.md §4.3 [DERIVED]: s = [2, 1.5, -1, 0.5, -2], positives {0, 1} -> 1.45437
    s = torch.tensor([[2.0, 1.5, -1.0, 0.5, -2.0]], dtype=torch.float64)
    y = torch.tensor([[1, 1, 0, 0, 0]])
    hand = math.log(1 + math.exp(-1) + math.exp(0.5) + math.exp(-2)) + math.log(1 + math.exp(-2) + math.exp(-1.5))
    assert losses.get("zlpr")(s, y).item() == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(1.45437, abs=1e-5)


# --- relevance-matrix cross-modal losses ------------------------------------------------------------------------

def queries_with_scores(first_row_cosines):
    """x[5, 2], y[5, 2] whose first row of cosines is ``first_row_cosines`` (y_j at angle arccos(c_j) from x_0)."""
    angles = torch.tensor([math.acos(c) for c in first_row_cosines], dtype=torch.float64)
    y = torch.stack([angles.cos(), angles.sin()], 1)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5], [0.3, -1.0]], dtype=torch.float64)
    return x, y


def test_decoupled_softmax_reference_values():
    # losses-wave2.md §4.2 [DERIVED]: s = [3, 2, 0.5, 1, -1], P = {0, 1}: decoupled 0.353424, softmax 0.972261.
    # cosines s/3 with temperature 1/3 give those scores.
    x, y = queries_with_scores([1.0, 2 / 3, 0.5 / 3, 1 / 3, -1 / 3])
    relevance = torch.eye(5, dtype=torch.float64)
    relevance[0, 1] = 1.0
    none = losses.get("decoupled_softmax", temperature=1 / 3, reduction="none")(x, y, relevance)
    assert none[0].item() == pytest.approx(0.353424, abs=1e-6)
    coupled = losses.get("decoupled_softmax", temperature=1 / 3, decoupled=False, reduction="none")(x, y, relevance)
    assert coupled[0].item() == pytest.approx(0.972261, abs=1e-6)


def test_decoupled_softmax_edge_cases_and_one_positive_is_infonce():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    loss = losses.get("decoupled_softmax", temperature=0.1, reduction="none")
    # every label relevant: no negatives, so 0; no label relevant: the row contributes 0
    assert torch.allclose(loss(x, y, torch.ones(6, 6, dtype=torch.float64)), torch.zeros(6, dtype=torch.float64))
    assert torch.allclose(loss(x, y, torch.zeros(6, 6, dtype=torch.float64)), torch.zeros(6, dtype=torch.float64))
    # identity relevance: the x -> y cross-entropy of CLIP
    logits = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T / 0.1
    assert torch.allclose(loss(x, y), F.cross_entropy(logits, torch.arange(6), reduction="none"))
    with pytest.raises(ValueError, match="relevance"):
        loss(x, y, torch.full((6, 6), 2.0, dtype=torch.float64))


def embeddings_with_cosines(s):
    """x[n, n+1], y = e_j[n, n+1] with cos(x_i, y_j) = s_ij (rows of s of norm <= 1)."""
    s = torch.as_tensor(s, dtype=torch.float64)
    rest = (1 - (s ** 2).sum(1, keepdim=True)).clamp(min=0).sqrt()
    x = torch.cat([s, rest], 1)
    y = torch.eye(len(s), len(s) + 1, dtype=torch.float64)
    return x, y


S = [[0.8, 0.3, 0.5], [0.2, 0.7, 0.6], [0.4, 0.1, 0.9]]


def test_sms_reference_values():
    # losses-wave2.md §4.5 [DERIVED]: R = [[1,.5,0],[.5,1,1],[0,1,1]] -> 0.183333; R = I -> 0.166667
    x, y = embeddings_with_cosines(S)
    relevance = torch.tensor([[1, 0.5, 0], [0.5, 1, 1], [0, 1, 1]], dtype=torch.float64)
    assert losses.get("sms")(x, y, relevance).item() == pytest.approx(0.183333, abs=1e-6)
    assert losses.get("sms")(x, y).item() == pytest.approx(0.166667, abs=1e-6)


def test_sms_identity_is_a_symmetric_max_margin_loss():
    # R = I: every off-diagonal pair gets relu(m - (s_ii - s_ij)), in both directions, averaged over 2 n (n-1)
    s = torch.tensor(S, dtype=torch.float64)
    hand = sum(max(0.0, 0.6 - (s[i, i] - s[i, j])) + max(0.0, 0.6 - (s[i, i] - s[j, i]))
               for i in range(3) for j in range(3) if i != j) / 12
    x, y = embeddings_with_cosines(S)
    assert losses.get("sms")(x, y).item() == pytest.approx(float(hand), rel=1e-12)


def test_sms_one_pair_is_zero():
    x = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    value = losses.get("sms")(x, torch.randn(1, 3, dtype=torch.float64))
    assert value.item() == 0


def test_decoupled_softmax_scores_matches_the_module_and_checks_its_inputs():
    x, y = queries_with_scores([1.0, 2 / 3, 0.5 / 3, 1 / 3, -1 / 3])
    relevance = torch.eye(5, dtype=torch.float64)
    relevance[0, 1] = 1.0
    scores = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T * 3
    module = losses.get("decoupled_softmax", temperature=1 / 3, reduction="none")(x, y, relevance)
    assert torch.allclose(losses.decoupled_softmax_scores(scores, relevance, reduction="none"), module)
    with pytest.raises(ValueError, match="relevance"):
        losses.decoupled_softmax_scores(scores, relevance[:, :3])
    with pytest.raises(ValueError, match="scores"):
        losses.decoupled_softmax_scores(scores[:0], relevance[:0])
