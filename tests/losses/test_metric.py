"""Pair-based metric-learning losses (issue 5): reference values from
../shared/reference/losses-metric-contrastive-margin.md (§1-3) and losses-classification-kd-mil.md (§9),
cross-checks against pytorch-metric-learning (PML) and brute force, GPW weights, edge cases, invariances."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import analysis, losses
from workbench.losses.fewshot import icnn_score, support_mask
from workbench.losses.metric import multi_similarity_weights
from workbench.losses.similarity import cosine_similarity_matrix, pair_masks

try:  # the peer: only the cross-checks with it are skipped without it, never the reference values
    from pytorch_metric_learning import losses as pml_losses
    from pytorch_metric_learning import miners as pml_miners
except ImportError:
    pml_losses = pml_miners = None
needs_pml = pytest.mark.skipif(pml_losses is None, reason="pytorch-metric-learning is not installed")


def unit(*degrees):
    t = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([t.cos(), t.sin()], dim=1)


def batch(n=24, dim=6, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


# --- triplet ------------------------------------------------------------------------------------------

@needs_pml
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_all_equals_pml(seed):
    x, y = batch(seed=seed)
    ours = losses.get("triplet", margin=0.05)
    assert ours(x, y).item() == pytest.approx(pml_losses.TripletMarginLoss(margin=0.05)(x, y).item(), abs=1e-5)


def test_triplet_recipes_are_a_keyword_away():
    # reference §1.2 [N]: d_ap = 0.5, d_an = 0.8: FaceNet's squared form with α = 0.2 gives 0 (0.25 - 0.64 + 0.2 < 0),
    # the non-squared default gives [0.5 - 0.8 + 0.2]_+ = 0; with d_an = 0.6: non-squared 0.1, squared 0.09
    assert losses.info("triplet").defaults == {"margin": 0.2}
    default = losses.get("triplet")
    assert default.margin == 0.2 and not default.squared and default.mining == "all"
    x = unit(0.0, 2 * math.degrees(math.asin(0.25)), 2 * math.degrees(math.asin(0.3)))  # d_ap = 0.5, d_an = 0.6
    y = torch.tensor([0, 0, 1])
    value = losses.get("triplet", reduction="none").from_similarity(x @ x.T, y)[0]
    assert value.item() == pytest.approx(0.1, abs=1e-12)
    facenet = losses.get("triplet", squared=True, mining="semi-hard", reduction="none").from_similarity(x @ x.T, y)[0]
    assert facenet.item() == pytest.approx(0.25 - 0.36 + 0.2, abs=1e-12)


@needs_pml
@pytest.mark.parametrize("mining, miner", [("semi-hard", lambda: pml_miners.TripletMarginMiner(0.3, "semihard")),
                                           ("hardest", lambda: pml_miners.BatchHardMiner())])
def test_triplet_mining_equals_pml_miners(mining, miner):
    x, y = batch(seed=3)
    ours = losses.get("triplet", margin=0.3, mining=mining)(x, y).item()
    theirs = pml_losses.TripletMarginLoss(margin=0.3)(x, y, miner()(x, y)).item()
    assert ours == pytest.approx(theirs, abs=1e-5)


def _brute_force_triplet(x, y, margin, mining, squared):
    """Enumerate triplets explicitly (the definition), with autograd."""
    z = torch.nn.functional.normalize(x, dim=1)
    d = torch.cdist(z, z).pow(2) if squared else torch.cdist(z, z)
    terms = []
    n = len(y)
    for a in range(n):
        pos = [p for p in range(n) if p != a and y[p] == y[a]]
        neg = [k for k in range(n) if y[k] != y[a]]
        if mining == "hardest":
            if pos and neg:
                p = max(pos, key=lambda j: float(d[a, j].detach()))
                k = min(neg, key=lambda j: float(d[a, j].detach()))
                terms.append(d[a, p] - d[a, k] + margin)
            continue
        for p, k in itertools.product(pos, neg):
            if mining == "semi-hard" and not (d[a, p] < d[a, k] < d[a, p] + margin):
                continue
            terms.append(d[a, p] - d[a, k] + margin)
    values = torch.stack(terms).relu() if terms else x.new_zeros(1)
    return values.sum() / (values > 0).sum().clamp(min=1)


@pytest.mark.parametrize("mining", ["all", "semi-hard", "hardest"])
@pytest.mark.parametrize("squared", [False, True])
def test_triplet_value_and_gradient_equal_brute_force(mining, squared):
    x, y = batch(n=12, dim=3, classes=3, seed=4)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours = losses.get("triplet", margin=0.4, mining=mining, squared=squared)(x1, y)
    ref = _brute_force_triplet(x2, y, 0.4, mining, squared)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10)
    ours.backward()
    ref.backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-10)


@pytest.mark.parametrize("squared", [False, True])
def test_semi_hard_triplet_with_zero_margin_and_a_tie_is_zero(squared):
    # Hand computation: anchor 0 has its positive (row 1) and its negative (row 2) both at S = 0.5, a tie
    # d_ap = d_an; semi-hard mining keeps d_ap < d_an < d_ap + margin, empty for margin 0, and anchors 1 and 2 have
    # no semi-hard negative either, so the loss is 0 with zero gradient (the hand-written version gave 1.0 here).
    sim = torch.tensor([[1, 0.5, 0.5], [0.5, 1, 0.0], [0.5, 0.0, 1]], dtype=torch.float64, requires_grad=True)
    loss = losses.get("triplet", margin=0.0, mining="semi-hard", squared=squared)
    value = loss.from_similarity(sim, torch.tensor([0, 0, 1]))
    value.backward()
    assert value.item() == 0 and not sim.grad.any()


@pytest.mark.parametrize("mining", ["all", "semi-hard", "hardest"])
def test_triplet_passes_gradcheck(mining):
    x, y = batch(n=10, dim=3, classes=3, seed=5)
    for reduction in ("mean", "sum", "none"):
        loss = losses.get("triplet", margin=0.5, mining=mining, reduction=reduction)
        assert torch.autograd.gradcheck(lambda t, loss=loss: loss(t, y), (x.requires_grad_(True),), eps=1e-6,
                                        atol=1e-6)


def test_triplet_reference_values():
    # losses-metric-contrastive-margin.md §1.2: d_ap = 0.5, d_an = 0.8: margin 1 -> 0.7; squared with 0.2 -> 0
    s_ap, s_an = 1 - 0.5**2 / 2, 1 - 0.8**2 / 2  # unit vectors: S = 1 - D²/2
    sim = torch.tensor([[1, s_ap, s_an], [s_ap, 1, 0.0], [s_an, 0.0, 1]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    plain = losses.get("triplet", margin=1.0, reduction="none").from_similarity(sim, y)
    assert plain[0].item() == pytest.approx(0.7, abs=1e-12)
    squared = losses.get("triplet", margin=0.2, squared=True, reduction="none").from_similarity(sim, y)
    assert squared[0].item() == 0


# --- multi-similarity ---------------------------------------------------------------------------------

@needs_pml
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_similarity_without_mining_equals_pml(seed):
    x, y = batch(seed=seed)
    ours = losses.get("multi_similarity", alpha=2.0, beta=50.0, base=0.5, epsilon=None)(x, y)
    assert ours.item() == pytest.approx(pml_losses.MultiSimilarityLoss(2, 50, 0.5)(x, y).item(), abs=1e-5)


@needs_pml
def test_multi_similarity_with_mining_equals_pml_miner():
    x, y = batch(n=32, classes=3, seed=7)
    x = x + 2.0 * torch.nn.functional.one_hot(y, 6).double()  # some structure, so mining drops pairs
    miner = pml_miners.MultiSimilarityMiner(epsilon=0.1)
    theirs = pml_losses.MultiSimilarityLoss(2, 50, 0.5)(x, y, miner(x, y)).item()
    assert losses.get("multi_similarity")(x, y).item() == pytest.approx(theirs, abs=1e-5)


def test_multi_similarity_reference_values():
    # losses-metric-contrastive-margin.md §1.4, alpha=2, beta=50, lambda=0.5, epsilon=0.1
    mined, plain = losses.get("multi_similarity"), losses.get("multi_similarity", epsilon=None)
    y = torch.tensor([0, 0, 1, 1])
    assert mined(unit(0, 50, 40, 120), y).item() == pytest.approx(0.7170049, rel=1e-6)
    assert plain(unit(0, 50, 40, 120), y).item() == pytest.approx(0.7170049, rel=1e-6)
    assert mined(unit(0, 30, 90, 120), y).item() == 0  # mining drops every negative of a separated batch
    assert plain(unit(0, 30, 90, 120), y).item() == pytest.approx(0.2032638, rel=1e-6)
    sim = torch.tensor([[1, 0.8, 0.6], [0.8, 1, 0], [0.6, 0, 1]], dtype=torch.float64)
    per_anchor = losses.get("multi_similarity", epsilon=None, reduction="none")
    single = per_anchor.from_similarity(sim, torch.tensor([0, 0, 1]))
    assert single[0].item() == pytest.approx(0.3188783, rel=1e-6)


def _gpw_batch():
    # anchor 0: positives S = [0.8, 0.6] (rows 1, 2), negatives S = [0.55, 0.3] (rows 3, 4)
    sim = torch.eye(5, dtype=torch.float64)
    sim[0, 1:] = sim[1:, 0] = torch.tensor([0.8, 0.6, 0.55, 0.3], dtype=torch.float64)
    return sim, torch.tensor([0, 0, 0, 1, 1])


def test_multi_similarity_autograd_weights_are_the_papers_closed_form():
    # §1.4 GPW check: L = 0.4825041, dL/dS_neg = [0.9241386, 3.44394e-6], dL/dS_pos = [-0.2318065, -0.3458146]
    sim, y = _gpw_batch()
    sim.requires_grad_(True)
    value = losses.get("multi_similarity", epsilon=None, reduction="none").from_similarity(sim, y)[0]
    assert value.item() == pytest.approx(0.4825041, rel=1e-6)
    (grad,) = torch.autograd.grad(value, sim)
    assert grad[0, 3].item() == pytest.approx(0.9241386, rel=1e-6)
    assert grad[0, 4].item() == pytest.approx(3.44394e-6, rel=1e-5)
    assert grad[0, 1:3].tolist() == pytest.approx([-0.2318065, -0.3458146], rel=1e-6)
    positive, negative = pair_masks(y, dtype=sim.dtype)
    w_pos, w_neg = multi_similarity_weights(sim.detach(), positive, negative)
    assert torch.allclose(grad[0], (w_neg - w_pos)[0], atol=1e-12)


def test_pair_weights_of_multi_similarity_equal_the_closed_form_on_a_batch():
    x, y = batch(n=16, classes=3, seed=8)
    loss = losses.get("multi_similarity", epsilon=None, reduction="sum")
    weights = analysis.pair_weights(loss, x, y)
    positive, negative = pair_masks(y, dtype=x.dtype)
    w_pos, w_neg = multi_similarity_weights(cosine_similarity_matrix(x), positive, negative)
    assert torch.allclose(weights, w_neg - w_pos, atol=1e-12)


def test_multi_similarity_hand_written_backward_passes_gradcheck():
    x, y = batch(n=10, dim=3, classes=3, seed=9)
    for epsilon, reduction in itertools.product([None, 0.1], ["mean", "sum", "none"]):
        loss = losses.get("multi_similarity", beta=10.0, epsilon=epsilon, reduction=reduction)
        assert torch.autograd.gradcheck(lambda t, loss=loss: loss(t, y), (x.requires_grad_(True),), eps=1e-6,
                                        atol=1e-6)


def test_multi_similarity_is_finite_at_large_beta_in_float32():
    x, y = batch(seed=10)
    x = x.float().requires_grad_(True)
    value = losses.get("multi_similarity", beta=100.0, base=0.0, epsilon=None)(x, y)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name, params", [("triplet", {}), ("triplet", {"mining": "hardest"}),
                                          ("triplet", {"mining": "semi-hard"}), ("lifted_structure", {}),
                                          ("generalized_lifted_structure", {}),
                                          ("generalized_lifted_structure", {"skip_incomplete": False}),
                                          ("binomial_deviance", {}), ("multi_similarity", {}),
                                          ("multi_similarity", {"epsilon": None}), ("opl", {}), ("metrix", {})])
@pytest.mark.parametrize("labels", [[0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 0, 0], [0, 0, 1, 2, 3, 4]])
def test_anchors_without_positive_or_negative_never_crash_or_nan(name, params, labels):
    x, _ = batch(n=6, seed=11)
    x.requires_grad_(True)
    value = losses.get(name, **params)(x, torch.tensor(labels))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()


# --- lifted structure and binomial deviance: their GPW weights -----------------------------------------

# The 6-point batch of the reference (losses-wave2.md §2.6/2.7), values derived by hand and matched to PML 2.8.1:
# Song et al.'s lifted structure 2.90026, the generalized (Hermans et al.) form 1.70941.
LIFTED_E = [(1, 0), (.9, .1), (0, 1), (.2, .9), (.5, .5), (.6, .4)]


def test_lifted_structure_reference_values():
    x, y = torch.tensor(LIFTED_E, dtype=torch.float64), torch.tensor([0, 0, 1, 1, 2, 2])
    assert losses.get("lifted_structure")(x, y).item() == pytest.approx(2.90026, abs=1e-5)
    assert losses.get("generalized_lifted_structure")(x, y).item() == pytest.approx(1.70941, abs=1e-5)
    # all labels distinct: no positive pair, Song's loss is 0
    assert losses.get("lifted_structure")(x, torch.arange(6)).item() == 0.0


LIFTED_LABELS = [[0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 2, 3, 3], [0, 0, 1, 2, 2, 2, 1, 3], [0] * 5, [0, 1, 2, 3]]


@pytest.mark.parametrize("labels", LIFTED_LABELS)
@pytest.mark.parametrize("margins", [{}, {"neg_margin": 0.6, "pos_margin": 0.2}])
def test_lifted_structure_equals_pml(labels, margins):
    # Song et al. 2016 eq. 4 as PML's LiftedStructureLoss computes it (peer): same value and gradient
    y = torch.tensor(labels)
    x = torch.randn(len(y), 5, dtype=torch.float64, generator=torch.Generator().manual_seed(len(y))).requires_grad_()
    ours = losses.get("lifted_structure", **margins)(x, y)
    theirs = pml_losses.LiftedStructureLoss(**margins)(x, y)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-10)
    if theirs.requires_grad and ours.requires_grad:
        (g_ours,), (g_theirs,) = torch.autograd.grad(ours, x), torch.autograd.grad(theirs, x)
        assert torch.allclose(g_ours, g_theirs, atol=1e-10)


@pytest.mark.parametrize("labels", LIFTED_LABELS)
@pytest.mark.parametrize("kw, pml_kw", [
    ({}, {}),
    ({"neg_margin": 0.6, "pos_margin": 0.2}, {"neg_margin": 0.6, "pos_margin": 0.2}),
    ({"distance": "cosine", "pos_margin": 1.0, "neg_margin": 0.0},
     {"pos_margin": 1.0, "neg_margin": 0.0, "cosine": True}),
])
def test_generalized_lifted_structure_equals_pml(labels, kw, pml_kw):
    # Hermans et al. 2017 as PML's GeneralizedLiftedStructureLoss computes it (peer); skip_incomplete=False is
    # PML's handling of anchors without positives or negatives, the default differs only on such anchors
    from pytorch_metric_learning.distances import CosineSimilarity
    pml_kw = dict(pml_kw)
    if pml_kw.pop("cosine", False):
        pml_kw["distance"] = CosineSimilarity()
    y = torch.tensor(labels)
    x = torch.randn(len(y), 5, dtype=torch.float64, generator=torch.Generator().manual_seed(len(y))).requires_grad_()
    theirs = pml_losses.GeneralizedLiftedStructureLoss(**pml_kw)(x, y)
    ours = losses.get("generalized_lifted_structure", skip_incomplete=False, **kw)(x, y)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-10)
    (g_ours,), (g_theirs,) = torch.autograd.grad(ours, x), torch.autograd.grad(theirs, x)
    assert torch.allclose(g_ours, g_theirs, atol=1e-10)
    complete = all(labels.count(c) > 1 for c in labels) and len(set(labels)) > 1
    default = losses.get("generalized_lifted_structure", **kw)(x, y).item()
    assert (default == pytest.approx(theirs.item(), abs=1e-10)) == complete


def test_generalized_lifted_structure_cosine_weights_are_softmax_shares():
    # MS paper's GPW table (reference §1.3): with distance="cosine", pos_margin=λ=1, neg_margin=0 (Loss Lab's
    # lifted_structure before issue 11): negative weight e^{S_ij}/Σ_N e^{S_ik}, positive -e^{λ-S_ij}/Σ_P e^{λ-S_ik}
    sim, y = _gpw_batch()
    sim.requires_grad_(True)
    loss = losses.get("generalized_lifted_structure", distance="cosine", pos_margin=1.0, neg_margin=0.0,
                      reduction="none")
    value = loss.from_similarity(sim, y)[0]
    (grad,) = torch.autograd.grad(value, sim)
    s = sim.detach()[0]
    assert torch.allclose(grad[0, 3:], torch.softmax(s[3:], 0))
    assert torch.allclose(grad[0, 1:3], -torch.softmax(1.0 - s[1:3], 0))


def test_binomial_deviance_weights_are_sigmoids_of_the_own_similarity():
    sim, y = _gpw_batch()
    sim.requires_grad_(True)
    value = losses.get("binomial_deviance", reduction="sum").from_similarity(sim, y)
    (grad,) = torch.autograd.grad(value, sim)
    s = sim.detach()[0]
    assert torch.allclose(grad[0, 3:], 50 * torch.sigmoid(50 * (s[3:] - 0.5)))
    assert torch.allclose(grad[0, 1:3], -2 * torch.sigmoid(-2 * (s[1:3] - 0.5)))


# --- OPL -----------------------------------------------------------------------------------------------

def test_opl_reference_values():
    # losses-classification-kd-mil.md §9
    f, y = torch.tensor([[1.0, 0], [2, 0], [1, 1]], dtype=torch.float64), torch.tensor([0, 0, 1])
    assert losses.get("opl", gamma=0.5)(f, y).item() == pytest.approx(0.3535538, abs=1e-6)
    assert losses.get("opl", gamma=2.0)(f, y).item() == pytest.approx(1.4142137, abs=1e-6)
    g = torch.tensor([[1.0, 0], [2, 0], [-1, 1]], dtype=torch.float64)
    assert losses.get("opl", gamma=0.5)(g, y).item() == pytest.approx(0.3535538, abs=1e-6)
    assert losses.get("opl", gamma=0.5, abs_neg=False)(g, y).item() == pytest.approx(-0.3535528, abs=1e-6)


def test_opl_batch_loss_adds_ce_on_logits_and_opl_on_features():
    from workbench import models
    from workbench.train import opl_batch_loss
    model = models.classifier(models.MLP(5, 4, hidden=(8,), seed=0), 3, seed=0).double()
    x, y = batch(n=9, dim=5, classes=3, seed=12)
    ce, opl = losses.get("cross_entropy"), losses.get("opl")
    value = opl_batch_loss(opl, lam=0.5)(model, ce, x, y, None)
    assert value.item() == pytest.approx((ce(model(x), y) + 0.5 * opl(model.embed(x), y)).item())


# --- Proto-Triplet and ICNN ----------------------------------------------------------------------------

def test_proto_triplet_reference_value():
    # §2: prototypes (0,0) [class 0], (2,0), (0,2); queries (0.5,0), (1.2,0) of class 0 -> 0.45 (0.4499999)
    x = torch.tensor([[0, 0], [2, 0], [0, 2], [0.5, 0], [1.2, 0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 0])
    value = losses.get("proto_triplet", margin=0.5, shot=1, normalize=False)(x, y)
    assert value.item() == pytest.approx(0.4499999, abs=1e-6)


def test_support_mask_takes_the_first_shot_rows_of_each_class():
    assert support_mask(torch.tensor([2, 0, 2, 0, 2, 1]), 2).tolist() == [True, True, True, True, False, True]


def test_icnn_reference_values():
    # §2 [N]: {0, .1, .25} class 0, {1, 1.15, 1.4} class 1 -> score 0.8874571 (loss 0.1193951);
    # plus a copy shifted by 5 as classes 2, 3 -> 0.6374571
    pts = torch.tensor([0, 0.1, 0.25, 1.0, 1.15, 1.4], dtype=torch.float64)[:, None]
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    assert icnn_score(pts @ pts.T, y).item() == pytest.approx(0.8874571, abs=1e-6)
    assert losses.get("icnn", normalize=False)(pts, y).item() == pytest.approx(0.1193951, abs=1e-6)
    both = torch.cat([pts, pts + 5])
    assert icnn_score(both @ both.T, torch.cat([y, y + 2])).item() == pytest.approx(0.6374571, abs=1e-6)


def test_icnn_official_recipe_is_a_keyword_away():
    # author code (maumruiz/FSL-Loss, fullicnn): ipc = shot + query, raw ProtoNet features
    g = torch.Generator().manual_seed(4)
    y = torch.arange(3).repeat_interleave(8)  # 8 per class, tight clusters: other classes beyond the 5 nearest
    x = 3 * torch.eye(3, dtype=torch.float64)[y] + 0.3 * torch.randn(24, 3, generator=g, dtype=torch.float64)
    official = losses.get("icnn", ipc="class", normalize=False)(x, y)
    assert official.item() == pytest.approx(-icnn_score(x @ x.T, y, ipc=8).log().item(), rel=1e-12)
    assert official.item() != pytest.approx(losses.get("icnn", normalize=False)(x, y).item(), rel=1e-6)
    assert losses.get("icnn").ipc is None and losses.get("icnn").normalize and losses.get("proto_triplet").normalize
    with pytest.raises(ValueError, match="ipc"):
        losses.get("icnn", ipc="all")


def test_icnn_and_proto_triplet_prefer_separated_episodes():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(5).repeat_interleave(4)
    centres = torch.randn(5, 8, generator=g, dtype=torch.float64)
    tight = 3 * centres[y] + 0.3 * torch.randn(20, 8, generator=g, dtype=torch.float64)
    loose = 3 * centres[y] + 3.0 * torch.randn(20, 8, generator=g, dtype=torch.float64)
    for name in ("icnn", "proto_triplet"):
        loss = losses.get(name)
        assert loss(tight, y) < loss(loose, y)


# --- Metrix and utilization ----------------------------------------------------------------------------

@pytest.mark.parametrize("inner", ["multi_similarity", "contrastive"])
def test_metrix_with_zero_weight_is_the_wrapped_loss(inner):
    x, y = batch(seed=13)
    assert losses.get("metrix", loss=inner, weight=0.0)(x, y) == losses.get(inner)(x, y)


def test_metrix_with_lambda_one_treats_the_mixed_points_as_positives():
    # §3: lam = 1 makes every mixed point a copy of the anchor's partner positive with positivity 1, so the
    # mixed MS term is the positive MS term over those copies (the negative term vanishes)
    x, y = batch(n=12, classes=3, seed=14)
    metrix = losses.get("metrix", lam=1.0, generator=torch.Generator().manual_seed(0))
    sim = cosine_similarity_matrix(x)
    lam, partner = metrix.draw(y)
    mixed = metrix.mixed_loss(sim, y, lam, partner)
    _, negative = pair_masks(y)
    s_partner = sim.gather(1, partner[:, None])                    # s(a, u) = S[a, p(a)] for each copy
    expected = torch.log1p(negative.sum(1, keepdim=True) * torch.exp(-2.0 * (s_partner - 0.5))).squeeze(1) / 2
    assert torch.allclose(mixed, expected.mean())


def _official_embed_mixed(z, y, lam, posneg):
    """billpsomas/metrix @0f03b58, embedding mode, transcribed: ``mixup/utils.py``
    ``embed_posneg_pair_mixup_for_pos_anchor`` / ``embed_neg_pair_mixup_without_posanchor``, then
    ``mixup/losses.py`` ``loss_posneg_mixup`` (margins 0 and 0.5) with PML's AvgNonZeroReducer on LpDistance."""
    from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
    a1, pos, a2, neg = lmu.get_all_pairs_indices(y)
    if posneg:
        anc, negs, poss = [], [], []
        for anchor_pos in a1:  # once per positive pair: an anchor's negatives repeat once per positive
            idxs = torch.where(anchor_pos == a2)[0]
            anc.append(a2[idxs]), negs.append(neg[idxs])
            poss.append(pos[torch.where(anchor_pos == a1)[0]][:1].repeat(len(idxs)))  # its first positive
        a, n, p = torch.cat(anc), torch.cat(negs), torch.cat(poss)
    else:  # anchors without a positive, mixed with their own negatives
        keep = ~torch.isin(a2, a1)
        a, n = a2[keep], neg[keep]
        p = a
    mixed = lam * z[p] + (1 - lam) * z[n]
    d = (F.normalize(z[a], dim=1) - F.normalize(mixed, dim=1)).norm(dim=1)
    pos_loss, neg_loss = lam * d.relu(), (1 - lam) * (0.5 - d).relu()
    return (pos_loss.sum() / (pos_loss > 0).sum().clamp(min=1) + neg_loss.sum() / (neg_loss > 0).sum().clamp(min=1))


def test_metrix_official_embed_mode_equals_the_official_code():
    y = torch.tensor([0, 0, 0, 1, 1, 2, 3])
    z = F.normalize(torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)), dim=1)
    posneg, ancneg = _official_embed_mixed(z, y, 0.3, True), _official_embed_mixed(z, y, 0.3, False)
    seen = set()
    for seed in range(8):
        metrix = losses.get("metrix", loss="contrastive", lam=0.3, official_embed=True,
                            loss_params={"neg_margin": 0.5}, generator=torch.Generator().manual_seed(seed))
        mixed = metrix(z, y) - losses.get("contrastive", neg_margin=0.5)(z, y)
        # train.py embed_metrix_contrastive: loss_clean + 0.4 * posneg, or + 0.3 * anchor-negative
        if mixed.item() == pytest.approx(0.4 * posneg.item(), rel=1e-10):
            seen.add("posneg")
        else:
            assert mixed.item() == pytest.approx(0.3 * ancneg.item(), rel=1e-10)
            seen.add("ancneg")
    assert seen == {"posneg", "ancneg"} and posneg.item() != ancneg.item()
    assert not losses.get("metrix").official_embed and losses.info("metrix").defaults["weight"] == 0.4


def test_metrix_mixed_similarities_match_explicit_mixing():
    x, y = batch(n=10, classes=3, seed=15)
    metrix = losses.get("metrix", lam=0.3, generator=torch.Generator().manual_seed(1))
    lam, partner = metrix.draw(y)
    z = torch.nn.functional.normalize(x, dim=1)
    mixed = metrix.mixed_similarity(z @ z.T, y, lam, partner)
    u = torch.nn.functional.normalize(lam * z[partner][:, None, :] + (1 - lam) * z[None, :, :], dim=2)
    assert torch.allclose(mixed, (z[:, None, :] * u).sum(2))
    metrix.generator.manual_seed(1)
    assert len(metrix.mixed_points(x, y)) == int(pair_masks(y)[1].sum())


def test_utilization_properties():
    # §3: 0 when Q ⊂ X; permutation invariant; non-increasing when X grows
    g = torch.Generator().manual_seed(0)
    q, xs = torch.randn(10, 4, generator=g), torch.randn(30, 4, generator=g)
    assert analysis.utilization(xs[:5], xs) == 0
    u = analysis.utilization(q, xs)
    assert u == pytest.approx(analysis.utilization(q.flip(0), xs.flip(0)))
    assert analysis.utilization(q, xs[:10]) >= u > 0


# --- invariances (hypothesis) --------------------------------------------------------------------------

PAIRS = ["triplet", "lifted_structure", "generalized_lifted_structure", "binomial_deviance",
         "multi_similarity", "opl", "icnn", "proto_triplet"]
SETTINGS = settings(max_examples=15, deadline=None)


@pytest.mark.parametrize("name", PAIRS)
@SETTINGS
@given(seed=st.integers(0, 2**16), scale=st.floats(0.01, 100))
def test_metric_losses_ignore_the_embedding_norm_and_rotations(seed, name, scale):
    loss, (x, y) = make_inputs(name, seed=seed, batch=9)
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(x.shape[1], x.shape[1], generator=g, dtype=torch.float64))
    rotation = q * torch.sign(torch.diagonal(r))
    assert torch.allclose(loss(scale * x, y), loss(x, y), atol=1e-8)
    assert torch.allclose(loss(x @ rotation, y), loss(x, y), atol=1e-8)


@pytest.mark.parametrize("name", PAIRS[:5])
@SETTINGS
@given(seed=st.integers(0, 2**16))
def test_metric_losses_are_invariant_to_batch_permutation(seed, name):
    loss, (x, y) = make_inputs(name, seed=seed, batch=9)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(loss(x[perm], y[perm]), loss(x, y), atol=1e-9)


@SETTINGS
@given(seed=st.integers(0, 2**16))
def test_episode_losses_ignore_the_order_of_queries(seed):
    # supports are the first rows of each class; shuffling only the query rows changes nothing
    x, _ = batch(n=12, seed=seed)
    y = torch.arange(3).repeat(4)                 # rows 0-2 are the 1-shot supports
    perm = torch.cat([torch.arange(3), 3 + torch.randperm(9, generator=torch.Generator().manual_seed(seed))])
    loss = losses.get("proto_triplet")
    assert torch.allclose(loss(x[perm], y[perm]), loss(x, y), atol=1e-9)


# --- errors name the argument --------------------------------------------------------------------------

@pytest.mark.parametrize("name, params, match", [
    ("triplet", {"mining": "easy"}, "mining"), ("multi_similarity", {"epsilon": -0.1}, "epsilon"),
    ("multi_similarity", {"beta": 0}, "beta"), ("metrix", {"loss": "triplet"}, "loss"),
    ("metrix", {"lam": 1.5}, "lam"), ("opl", {"gamma": -1}, "gamma"), ("proto_triplet", {"shot": 0}, "shot"),
    ("icnn", {"k": 0}, "k"), ("sphereface", {"margin": 1.5}, "margin"), ("unpg", {"head": "normface"}, "head"),
    ("unpg", {"wisk": -1}, "wisk"), ("elasticface_arc", {"sigma": -0.1}, "sigma"),
    ("arcface", {"margin": 4.0}, "margin"),
])
def test_bad_hyper_parameters_are_rejected_by_name(name, params, match):
    extra = {"num_classes": 3, "embedding_dim": 2} if losses.info(name).kind == "margin" else {}
    with pytest.raises(ValueError, match=match):
        losses.get(name, **params, **extra)


def test_icnn_needs_three_samples():
    with pytest.raises(ValueError, match="at least 3"):
        losses.get("icnn")(torch.randn(2, 3), torch.tensor([0, 1]))
