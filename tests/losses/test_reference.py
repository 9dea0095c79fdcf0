"""Reference values and cross-checks. Numbers come from ../shared/reference/ (cited per test) or from
pytorch-metric-learning (PML) run on the same tensors."""

import math

import pytest
import torch
import torch.nn.functional as F

from workbench import losses
from workbench.losses.similarity import cosine_similarity_matrix

try:  # the peer: only the cross-checks with it are skipped without it, never the reference values
    from pytorch_metric_learning import losses as pml_losses
except ImportError:
    pml_losses = None
needs_pml = pytest.mark.skipif(pml_losses is None, reason="pytorch-metric-learning is not installed")


def unit(*degrees):
    t = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([t.cos(), t.sin()], dim=1)


# --- cross_entropy ------------------------------------------------------------------------------

def test_cross_entropy_matches_the_formula_with_temperature_and_smoothing():
    g = torch.Generator().manual_seed(1)
    z, y = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0])
    T, eps = 2.0, 0.1
    q = torch.full((5, 4), eps / 4, dtype=torch.float64) + (1 - eps) * F.one_hot(y, 4)
    expected = -(q * torch.log_softmax(z / T, dim=1)).sum(1).mean()
    assert torch.allclose(losses.cross_entropy(z, y, temperature=T, label_smoothing=eps), expected)


def test_cross_entropy_reference_value():
    # losses-classification-kd-mil.md §2.4: h = [1, 2, 3], y = 0 -> p_y = 0.0900306, CE = -log p_y
    value = losses.get("cross_entropy")(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), torch.tensor([0]))
    assert value.item() == pytest.approx(-math.log(0.0900306), rel=1e-6)


# --- normface -----------------------------------------------------------------------------------

def test_normface_scale_bound_reference_values():
    # losses-metric-contrastive-margin.md §10.1: C=10, P=0.99 -> 6.1131; C=10000, P=0.9 -> 11.4063
    assert losses.normface_scale_bound(10, 0.99) == pytest.approx(6.1131, abs=1e-4)
    assert losses.normface_scale_bound(10000, 0.9) == pytest.approx(11.4063, abs=1e-4)


def test_normface_logits_are_scaled_cosines_and_the_loss_is_their_cross_entropy():
    torch.manual_seed(0)
    head = losses.get("normface", num_classes=3, embedding_dim=2, scale=10.0).double()
    with torch.no_grad():
        head.weight.copy_(unit(0, 120, 240) * torch.tensor([[2.0], [0.5], [1.0]], dtype=torch.float64))
    x, y = 3.0 * unit(0, 90), torch.tensor([0, 1])
    expected_cos = torch.tensor([[1.0, -0.5, -0.5], [0.0, math.cos(math.radians(30)), -math.cos(math.radians(30))]],
                                dtype=torch.float64)
    assert torch.allclose(head.logits(x), 10 * expected_cos)
    assert torch.allclose(head(x, y), F.cross_entropy(10 * expected_cos, y))


@needs_pml
def test_normface_equals_pml_normalized_softmax():
    torch.manual_seed(0)
    x, y = torch.randn(16, 8, dtype=torch.float64), torch.randint(0, 5, (16,))
    ours = losses.get("normface", num_classes=5, embedding_dim=8, scale=20.0).double()
    theirs = pml_losses.NormalizedSoftmaxLoss(num_classes=5, embedding_size=8, temperature=0.05).double()
    with torch.no_grad():
        theirs.W.copy_(ours.weight.T)  # PML stores W as [D, C]
    assert ours(x, y).item() == pytest.approx(theirs(x, y).item(), rel=1e-9)


def test_normface_learn_scale_makes_the_scale_a_parameter():
    head = losses.get("normface", num_classes=3, embedding_dim=2, learn_scale=True)
    assert any(p is head.scale for p in head.parameters())
    x = torch.randn(4, 2)
    head(x, torch.tensor([0, 1, 2, 0])).backward()
    assert head.scale.grad is not None and head.weight.grad is not None


# --- contrastive --------------------------------------------------------------------------------

@needs_pml
@pytest.mark.parametrize("pos_margin, neg_margin", [(0.0, 1.0), (0.2, 0.5), (0.0, 1.5)])
def test_contrastive_equals_pml(pos_margin, neg_margin):
    torch.manual_seed(0)
    x, y = torch.randn(32, 8, dtype=torch.float64), torch.randint(0, 4, (32,))
    ours = losses.get("contrastive", pos_margin=pos_margin, neg_margin=neg_margin)(x, y)
    theirs = pml_losses.ContrastiveLoss(pos_margin=pos_margin, neg_margin=neg_margin)(x, y)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-9)


def _pair_at_distance(d):
    """Two unit vectors at Euclidean distance d."""
    angle = 2 * math.degrees(math.asin(d / 2))
    return unit(0, angle)


def test_contrastive_squared_reference_values():
    # losses-metric-contrastive-margin.md §1.1: D=0.3, Y=0 -> 0.045; D=0.3, Y=1, m=1 -> 0.245
    x = _pair_at_distance(0.3)
    squared = losses.get("contrastive", squared=True, neg_margin=1.0)
    assert squared(x, torch.tensor([0, 0])).item() == pytest.approx(0.045, rel=1e-9)
    assert squared(x, torch.tensor([0, 1])).item() == pytest.approx(0.245, rel=1e-9)


def test_contrastive_negative_beyond_the_margin_is_free():
    # §1.1: Y=1, D >= m -> 0 and zero gradient
    x = _pair_at_distance(1.2).requires_grad_(True)
    value = losses.get("contrastive", neg_margin=1.0)(x, torch.tensor([0, 1]))
    value.backward()
    assert value == 0 and torch.count_nonzero(x.grad) == 0


def test_contrastive_coincident_positive_pair_has_finite_gradient():
    # §0 / §1.1: D = 0 is the sqrt-at-0 trap: forward 0 and a finite gradient
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    value = losses.get("contrastive")(x, torch.tensor([0, 0]))
    value.backward()
    assert value == 0 and torch.isfinite(x.grad).all()


def test_contrastive_default_is_the_mean_over_non_zero_pairs_of_each_part():
    x = unit(0, 60, 90, 180)          # distances: d(0,60)=1, d(0,90)=√2, d(60,90)=0.5176, ...
    y = torch.tensor([0, 0, 1, 1])
    d = torch.cdist(x, x)
    pos = d[0, 1]                      # the two positive pairs (both orders) have the same distance
    pos2 = d[2, 3]
    negatives = [d[i, j] for i in (0, 1) for j in (2, 3)]
    neg_terms = [max(0.0, 1.0 - float(v)) for v in negatives]
    nonzero = [t for t in neg_terms if t > 0]
    expected = float(pos + pos2) / 2 + sum(nonzero) / len(nonzero)
    assert losses.get("contrastive")(x, y).item() == pytest.approx(expected, rel=1e-9)


# --- ntxent -------------------------------------------------------------------------------------

def test_ntxent_two_orthogonal_pairs_reference():
    # losses-metric-contrastive-margin.md §4.1: z1 = z2 = I_2, tau = 0.5 -> 0.2395448 = log(1 + 2e^-2)
    views = torch.stack([torch.eye(2), torch.eye(2)], dim=1).double()
    assert losses.get("ntxent", temperature=0.5)(views).item() == pytest.approx(0.2395448, abs=1e-7)


def test_ntxent_collapsed_embeddings_give_log_2n_minus_1():
    # §4.1: collapsed N=2 -> log 3
    assert losses.get("ntxent")(torch.ones(2, 2, 3)).item() == pytest.approx(math.log(3), rel=1e-6)


def test_ntxent_matches_the_simclr_formula_over_2n_anchors():
    torch.manual_seed(3)
    b, tau = 5, 0.3
    views = torch.randn(b, 2, 4, dtype=torch.float64)
    z = F.normalize(views.reshape(2 * b, 4), dim=1)
    sim = (z @ z.T / tau).fill_diagonal_(-math.inf)
    partner = torch.arange(2 * b) ^ 1              # row b*2+v pairs with b*2+(1-v)
    expected = F.cross_entropy(sim, partner)       # mean over the 2B anchors
    assert losses.get("ntxent", temperature=tau)(views).item() == pytest.approx(expected.item(), rel=1e-9)


@needs_pml
@pytest.mark.parametrize("views_count, supervised", [(2, False), (3, False), (2, True)])
def test_ntxent_equals_pml(views_count, supervised):
    torch.manual_seed(0)
    views = torch.randn(12, views_count, 8, dtype=torch.float64)
    labels = torch.randint(0, 3, (12,)) if supervised else None
    row_labels = (labels if supervised else torch.arange(12)).repeat_interleave(views_count)
    ours = losses.get("ntxent", temperature=0.2)(views, labels)
    theirs = pml_losses.NTXentLoss(temperature=0.2)(views.reshape(-1, 8), row_labels)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-9)


def test_ntxent_with_distinct_labels_is_the_self_supervised_loss():
    views = torch.randn(6, 2, 4, dtype=torch.float64)
    loss = losses.get("ntxent")
    assert torch.allclose(loss(views, torch.arange(6)), loss(views))


def test_ntxent_gradient_identity_of_wang_and_liu():
    # §4.3: for each anchor, the negatives' dL/dS add up to minus the positive's (and r_i sums to 1)
    torch.manual_seed(1)
    views = torch.randn(4, 2, 3, dtype=torch.float64)
    rows = F.normalize(views.reshape(8, 3), dim=1)
    sim = cosine_similarity_matrix(rows).requires_grad_(True)
    labels = torch.arange(4).repeat_interleave(2)
    loss = losses.get("ntxent", temperature=0.2, reduction="sum")
    (grad,) = torch.autograd.grad(loss.from_similarity(sim, labels), sim)
    positive = (labels[:, None] == labels[None, :]) & ~torch.eye(8, dtype=torch.bool)
    pos_grad = (grad * positive).sum(1)
    neg_grad = (grad * (labels[:, None] != labels[None, :])).sum(1)
    assert torch.allclose(neg_grad, -pos_grad)
    assert (pos_grad < 0).all()


def test_ntxent_relative_penalty_reference():
    # §4.3: negatives s = [0.9, 0.5, 0.1] -> r(tau=0.2) = [0.866813, 0.117310, 0.015876]
    s_pos = 0.7
    sim = torch.eye(4, dtype=torch.float64)
    sim[0, 1] = sim[1, 0] = s_pos
    sim[0, 2:] = torch.tensor([0.9, 0.5], dtype=torch.float64)
    sim_full = torch.zeros(5, 5, dtype=torch.float64)
    sim_full[:4, :4] = sim
    sim_full[0, 4] = 0.1
    sim_full = (sim_full + sim_full.T - torch.diag(sim_full.diagonal())).fill_diagonal_(1.0).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 2, 3])
    loss = losses.get("ntxent", temperature=0.2, reduction="sum")
    (grad,) = torch.autograd.grad(loss.from_similarity(sim_full, labels), sim_full)
    neg = torch.stack([grad[0, 2], grad[0, 3], grad[0, 4]])
    r = neg / -grad[0, 1]
    assert torch.allclose(r, torch.tensor([0.866813, 0.117310, 0.015876], dtype=torch.float64), atol=1e-6)
