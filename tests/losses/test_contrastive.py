"""The contrastive family beyond NT-Xent (issue 4): reference values from
../shared/reference/losses-metric-contrastive-margin.md (section cited per test), equalities between the
losses, PML cross-checks, iSogCLR's state, AMCL's structure, and property tests."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import analysis, losses
from workbench.losses.similarity import cosine_similarity_matrix

try:  # the peer: only the cross-checks with it are skipped without it, never the reference values
    from pytorch_metric_learning import losses as pml_losses
except ImportError:
    pml_losses = None
needs_pml = pytest.mark.skipif(pml_losses is None, reason="pytorch-metric-learning is not installed")
SETTINGS = settings(max_examples=20, deadline=None)
VIEWS_LOSSES = ["ntxent", "supcon", "hard_contrastive", "align_uniform", "dhel", "mv_infonce", "mv_dhel",
                "isogclr", "amcl"]


def unit(*degrees):
    t = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([t.cos(), t.sin()], dim=1)


def random_views(b=6, v=2, d=5, seed=0):
    return torch.randn(b, v, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _finite_grad(value, x):
    (grad,) = torch.autograd.grad(value, x, allow_unused=True)
    return grad is None or bool(torch.isfinite(grad).all())


# --- supcon (§4.2) -------------------------------------------------------------------------------

def test_supcon_reference_value_four_points_two_labels():
    # §4.2: 1 view, 4 unit vectors at 0,90,180,270 deg, labels 0,0,1,1, tau = tau_base = 0.5 -> 0.7586237
    loss = losses.get("supcon", temperature=0.5, base_temperature=0.5)
    sim = cosine_similarity_matrix(unit(0, 90, 180, 270))
    assert loss.from_similarity(sim, torch.tensor([0, 0, 1, 1])).item() == pytest.approx(0.7586237, abs=1e-7)


def test_supcon_collapsed_embeddings_give_scaled_log_n_minus_1():
    # §4.2: all equal -> each anchor log(n_total - 1) times tau/tau_base
    loss = losses.get("supcon", temperature=0.2, base_temperature=0.1)
    views = torch.ones(3, 2, 4, dtype=torch.float64)
    assert loss(views, torch.tensor([0, 1, 0])).item() == pytest.approx(2 * math.log(5), rel=1e-9)


def test_supcon_with_distinct_labels_and_two_views_is_ntxent():
    # §4.2: labels all distinct and 2 views -> SimCLR NT-Xent (mean over 2N anchors)
    views = random_views()
    supcon = losses.get("supcon", temperature=0.3, base_temperature=0.3)
    assert supcon(views).item() == pytest.approx(losses.get("ntxent", temperature=0.3)(views).item(), rel=1e-9)
    assert supcon(views, torch.arange(6)).item() == pytest.approx(supcon(views).item(), rel=1e-12)


def test_supcon_anchor_without_positive_is_zero_and_counts_in_the_mean():
    # official SupContrast: positive count clamped to 1 -> such anchors give 0 but stay in the mean
    sim = cosine_similarity_matrix(unit(0, 20, 100)).requires_grad_(True)
    labels = torch.tensor([0, 0, 1])
    per = losses.get("supcon", reduction="none").from_similarity(sim, labels)
    assert per[2] == 0 and per[0] > 0
    mean = losses.get("supcon").from_similarity(sim, labels)
    assert mean.item() == pytest.approx(per.sum().item() / 3)
    assert _finite_grad(mean, sim)


@needs_pml
def test_supcon_equals_pml_when_every_anchor_has_a_positive():
    torch.manual_seed(0)
    views, labels = random_views(12, 2, 8), torch.randint(0, 3, (12,))
    ours = losses.get("supcon", temperature=0.1, base_temperature=0.1)(views, labels)
    theirs = pml_losses.SupConLoss(temperature=0.1)(views.reshape(24, 8), labels.repeat_interleave(2))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-9)


# --- hard_contrastive (§4.3) ----------------------------------------------------------------------

def test_hard_contrastive_with_every_negative_kept_is_ntxent():
    views = random_views(5, 2, 4)
    hard = losses.get("hard_contrastive", temperature=0.4, k=8)  # 2*5-2 = 8 negatives: all kept
    assert torch.allclose(hard(views), losses.get("ntxent", temperature=0.4)(views))


def test_hard_contrastive_keeps_only_the_k_most_similar_negatives():
    # one anchor, positive 0.5, negatives [0.9, 0.1, -0.3]; k=1 keeps only 0.9
    s = torch.eye(5, dtype=torch.float64)
    for j, v in zip((1, 2, 3, 4), (0.5, 0.9, 0.1, -0.3)):
        s[0, j] = s[j, 0] = v
    labels = torch.tensor([0, 0, 1, 2, 3])
    per = losses.get("hard_contrastive", temperature=0.5, k=1, reduction="none").from_similarity(s, labels)
    assert per[0, 1].item() == pytest.approx(math.log(1 + math.exp((0.9 - 0.5) / 0.5)), rel=1e-12)


def test_hard_contrastive_drops_the_gradient_of_easy_negatives():
    sim = cosine_similarity_matrix(F.normalize(random_views(6, 2, 3).reshape(12, 3), dim=1))
    labels = torch.arange(6).repeat_interleave(2)
    sim = sim.clone().requires_grad_(True)
    value = losses.get("hard_contrastive", temperature=0.5, k=2).from_similarity(sim, labels)
    (w,) = torch.autograd.grad(value, sim)
    negative = labels[:, None] != labels[None, :]
    assert ((w != 0) & negative).sum(1).max() <= 2  # at most k pushed negatives per anchor


def test_tau_to_zero_limit_is_the_hardest_negative_margin():
    # §4.3: s_ii = 0.5, negatives [0.9, 0.1], tau = 1e-3 -> tau * L ~ 0.4
    s = torch.eye(4, dtype=torch.float64)
    for j, v in zip((1, 2, 3), (0.5, 0.9, 0.1)):
        s[0, j] = s[j, 0] = v
    per = losses.get("ntxent", temperature=1e-3, reduction="none").from_similarity(s, torch.tensor([0, 0, 1, 2]))
    assert 1e-3 * per[0, 1].item() == pytest.approx(0.4, abs=1e-3)


# --- align_uniform (§5) --------------------------------------------------------------------------

def test_align_uniform_is_the_official_objective_and_from_similarity_agrees():
    views = random_views(7, 2, 3)
    x, y = F.normalize(views[:, 0], dim=1), F.normalize(views[:, 1], dim=1)
    expected = analysis.alignment(x, y) + (analysis.uniformity(x) + analysis.uniformity(y)) / 2
    loss = losses.get("align_uniform")
    assert loss(views).item() == pytest.approx(expected.item(), rel=1e-9)
    rows = F.normalize(views.reshape(14, 3), dim=1)
    assert loss.from_similarity(rows @ rows.T, torch.arange(7).repeat_interleave(2)).item() == pytest.approx(
        expected.item(), rel=1e-9)


def test_align_uniform_reference_values():
    # §5: antipodal pair -> uniform = -8; align(x, -x) = 4; both views equal -> alignment 0
    x = unit(0, 180)
    views = torch.stack([x, -x], dim=1)
    loss = losses.get("align_uniform", uniformity_weight=0.0)
    assert loss(views).item() == pytest.approx(4.0)
    only_unif = losses.get("align_uniform", alignment_weight=0.0)
    assert only_unif(torch.stack([x, x], dim=1)).item() == pytest.approx(-8.0)


def test_align_uniform_with_three_views_and_weights():
    views = random_views(5, 3, 4)
    z = F.normalize(views, dim=-1)
    align = sum(analysis.alignment(z[:, a], z[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))) / 3
    unif = sum(analysis.uniformity(z[:, a]) for a in range(3)) / 3
    loss = losses.get("align_uniform", alignment_weight=2.0, uniformity_weight=0.5)
    assert loss(views).item() == pytest.approx((2 * align + 0.5 * unif).item(), rel=1e-9)
    rows = z.reshape(15, 4)
    assert loss.from_similarity(rows @ rows.T, torch.arange(5).repeat_interleave(3)).item() == pytest.approx(
        loss(views).item(), rel=1e-9)


@pytest.mark.parametrize("name", ["align_uniform", "dhel", "mv_infonce", "mv_dhel"])
def test_self_supervised_losses_reject_labels(name):
    with pytest.raises(ValueError, match="labels must be None"):
        losses.get(name)(random_views(), torch.arange(6))


@pytest.mark.parametrize("name", ["align_uniform", "dhel", "mv_dhel"])
def test_from_similarity_needs_instance_ids_with_equal_view_counts(name):
    sim = torch.eye(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="instance ids"):
        losses.get(name).from_similarity(sim, torch.tensor([0, 0, 1, 1, 1]))


# --- DHEL, MV-InfoNCE, MV-DHEL (§8) ----------------------------------------------------------------

def test_dhel_reference_values():
    # §8.1: u = v = I_2, tau = 0.5 -> -2.0; u = v = I_3, tau = 1 -> log 4 - 1 = 0.3862944
    two = torch.stack([torch.eye(2), torch.eye(2)], dim=1).double()
    assert losses.get("dhel", temperature=0.5)(two).item() == pytest.approx(-2.0, abs=1e-12)
    three = torch.stack([torch.eye(3), torch.eye(3)], dim=1).double()
    assert losses.get("dhel", temperature=1.0)(three).item() == pytest.approx(0.3862944, abs=1e-7)


def test_dhel_without_augs_drops_the_positive_view_energy():
    views = random_views(5, 2, 3)
    u, v = F.normalize(views[:, 0], dim=1), F.normalize(views[:, 1], dim=1)
    off = ~torch.eye(5, dtype=torch.bool)
    expected = (-(u * v).sum(1) / 0.3 + torch.logsumexp((u @ u.T / 0.3).masked_fill(~off, -math.inf), 1)).mean()
    assert losses.get("dhel", include_augs=False)(views).item() == pytest.approx(expected.item(), rel=1e-9)


def test_mv_losses_reference_values():
    # §8.2: 3 instances = standard basis of R^3, 3 identical views, tau = 1:
    # MV-DHEL -0.0191707 (= -log(3e/8)), MV-InfoNCE 0.7436684 (= log(1 + 3/e))
    views = torch.eye(3, dtype=torch.float64)[:, None, :].expand(3, 3, 3)
    assert losses.get("mv_dhel", temperature=1.0)(views).item() == pytest.approx(-0.0191707, abs=1e-7)
    assert losses.get("mv_infonce", temperature=1.0)(views).item() == pytest.approx(0.7436684, abs=1e-7)


def test_mv_dhel_with_two_views_equals_dhel():
    # §8.2: MV-DHEL with 2 views == DHEL(include_augs=True); also on the spec's I_3 example (0.3862944)
    for views, tau in ((random_views(6, 2, 4, seed=3), 0.3), (torch.stack([torch.eye(3)] * 2, 1).double(), 1.0)):
        mv = losses.get("mv_dhel", temperature=tau, reduction="none")(views)
        dhel = losses.get("dhel", temperature=tau, reduction="none")(views)
        assert torch.allclose(mv, dhel, atol=1e-12)


def test_mv_infonce_with_two_views_is_ntxent_summed_in_the_numerator():
    # with 2 views the numerator has the two ordered pairs: -log(2 e^{s/tau}) + LSE over the 2 rows' denominators
    views = random_views(4, 2, 3)
    rows = F.normalize(views.reshape(8, 3), dim=1)
    logits = (rows @ rows.T / 0.2).fill_diagonal_(-math.inf)
    pos = (rows[0::2] * rows[1::2]).sum(1) / 0.2
    den = torch.logsumexp(torch.stack([torch.logsumexp(logits[0::2], 1), torch.logsumexp(logits[1::2], 1)]), 0)
    expected = (den - (math.log(2) + pos)).mean()
    assert losses.get("mv_infonce")(views).item() == pytest.approx(expected.item(), rel=1e-9)


@pytest.mark.parametrize("name", ["dhel", "mv_dhel", "mv_infonce"])
def test_one_instance_is_rejected(name):
    with pytest.raises(ValueError, match="B >= 2"):
        losses.get(name)(random_views(1, 2, 3))


def test_dhel_needs_two_views():
    with pytest.raises(ValueError, match="mv_dhel"):
        losses.get("dhel")(random_views(4, 3, 3))


# --- iSogCLR (§6) --------------------------------------------------------------------------------

def _isogclr_batch():
    """2 instances x 2 views whose every anchor sees h = [-0.2, -0.6] (positive similarity 0.7)."""
    sp, x, y = 0.7, 0.5, 0.1
    s = torch.tensor([[1, sp, x, y], [sp, 1, y, x], [x, y, 1, sp], [y, x, sp, 1]], dtype=torch.float64)
    return s, torch.tensor([0, 0, 1, 1])


def test_isogclr_first_step_reference_values():
    # §6: h = [-0.2, -0.6], tau = 0.5, rho = 0.3, first visit: grad_tau = 0.2259739, after one LibAUC step
    # (beta = 0.9, eta = 0.01) tau -> 0.4979662. u is the mean of e^{s/tau} over the raw negative similarities
    # [0.5, 0.1] (LibAUC GCLoss_v1, official code): (e^1 + e^0.2)/2 = 1.9698419
    # (= §6's 0.4857571 on h, times e^{0.7/0.5})
    loss = losses.get("isogclr", temperature=0.5, rho=0.3, beta=0.9, eta=0.01, tau_max=1.0).double()
    s, labels = _isogclr_batch()
    loss.from_similarity(s, labels, index=torch.tensor([7, 7, 3, 3]))
    assert loss.log_u[[3, 7]].exp().tolist() == pytest.approx([(math.e + math.exp(0.2)) / 2] * 2, abs=1e-7)
    assert loss.momentum[[3, 7]].tolist() == pytest.approx([0.9 * 0.2259739] * 2, abs=1e-7)
    assert loss.tau[[3, 7]].tolist() == pytest.approx([0.4979662] * 2, abs=1e-7)
    assert loss.tau[0].item() == 0.5 and not loss.seen[0]  # untouched samples keep their state


def test_isogclr_moving_average_uses_gamma_after_the_first_visit():
    loss = losses.get("isogclr", temperature=0.5, gamma=0.25, eta=0.0, tau_max=1.0).double()
    s, labels = _isogclr_batch()
    index = torch.tensor([0, 0, 1, 1])
    loss.from_similarity(s, labels, index=index)
    g1 = loss.log_u[0].exp().item()
    s2 = s.clone()
    s2[0, 2] = s2[2, 0] = s2[1, 3] = s2[3, 1] = 0.3  # lower the x similarities: a smaller g
    s2_g = 0.5 * (math.exp(0.3 / 0.5) + math.exp(0.1 / 0.5))  # raw negative similarities [0.3, 0.1]
    loss.from_similarity(s2, labels, index=index)
    assert loss.log_u[0].exp().item() == pytest.approx(0.75 * g1 + 0.25 * s2_g, rel=1e-9)
    assert (loss.tau == 0.5).all()  # eta = 0: temperatures unchanged


def test_isogclr_stateless_gradient_is_that_of_the_decoupled_dro_objective():
    # §6: with gamma = 1 the surrogate gradient equals autograd of tau log mean_neg exp(h / tau)
    s, labels = _isogclr_batch()
    s = (s + 0.05 * torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    s = ((s + s.T) / 2).requires_grad_(True)
    loss = losses.get("isogclr", temperature=0.3, reduction="sum")
    (g_ours,) = torch.autograd.grad(loss.from_similarity(s, labels), s)
    t = s.detach().clone().requires_grad_(True)
    pos = torch.tensor([1, 0, 3, 2])
    neg = torch.tensor([[2, 3], [2, 3], [0, 1], [0, 1]])
    h = t.gather(1, neg) - t.gather(1, pos[:, None])
    objective = (0.3 * (torch.logsumexp(h / 0.3, 1) - math.log(2)) + 0.3 * loss.rho).sum()
    (g_ref,) = torch.autograd.grad(objective, t)
    assert torch.allclose(g_ours, g_ref, atol=1e-12)
    assert loss.from_similarity(s, labels).item() == pytest.approx(objective.item(), rel=1e-12)


def _libauc_views(seed, b=8, d=5):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, 2, d, generator=g) for _ in range(4)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_isogclr_equals_libauc_gcloss_v1_over_several_steps(seed):
    # Official code: LibAUC 2.0.1 ``libauc/losses/contrastive.py`` GCLoss_v1(enable_isogclr=True), which has no
    # clip on the τ-gradient. Steps on two disjoint index sets and revisits (first visit γ = 1, then γ = 0.9):
    # τ, u, the τ momentum and the embedding gradient (LibAUC adds the two directions: ours times 2) agree.
    import contextlib
    import io

    gcloss_v1 = pytest.importorskip("libauc.losses").GCLoss_v1
    with contextlib.redirect_stdout(io.StringIO()):  # GCLoss_v1 prints its gamma schedule
        ref = gcloss_v1(N=20, tau=0.1, device=torch.device("cpu"), enable_isogclr=True)
    ours = losses.get("isogclr", num_samples=20, grad_clip=None)
    first, second = torch.tensor([3, 17, 5, 0, 9, 12, 1, 8]), torch.tensor([2, 4, 6, 7, 10, 11, 13, 14])
    for step, (x, index) in enumerate(zip(_libauc_views(seed), [first, second, first, first])):
        a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ref(a[:, 0], a[:, 1], index).backward()
        ours(b, None, index).backward()
        assert torch.allclose(2 * b.grad, a.grad, rtol=1e-4, atol=1e-6), step
        assert torch.allclose(ours.log_u[index].exp(), ref.u[index, 0], rtol=1e-5), step
        assert torch.allclose(ours.momentum[index], ref.grad_tau[index, 0].detach(), rtol=1e-4, atol=1e-6), step
        assert torch.allclose(ours.tau[index], ref.learnable_tau[index, 0].detach(), rtol=1e-5, atol=1e-7), step
    assert (ours.tau[first] != 0.1).all()  # the temperatures did move


def _sogclr_dro_step(state, index, features, first, *, gamma, rho, eta, beta_u, tau_min, tau_max, grad_clip=3.0):
    """One call of the authors' ``SogCLR_DRO_Loss.forward`` (zhqiu/contrastive-learning-iSogCLR @4f28823,
    ``unimodal_exps/losses.py``), transcribed for the CPU: ``state`` holds their buffers ``s`` (the moving
    average), ``u`` (the τ momentum) and ``tau``; ``first`` is their ``epoch == 0`` branch. Returns the loss."""
    contrast = torch.cat(torch.unbind(features, dim=1), dim=0)
    bsz = contrast.shape[0] // 2
    sim = contrast @ contrast.T
    pos_sim = torch.cat([torch.diagonal(sim, offset=bsz), torch.diagonal(sim, offset=-bsz)])[:, None]
    tau = state["tau"][index].repeat(2)
    sim_d_temps = (sim / tau[:, None]).detach()
    mask_neg, num_neg = (1.0 - torch.eye(bsz, dtype=sim.dtype)).repeat(2, 2), 2 * bsz - 2
    exp_sim = torch.exp(sim_d_temps) * mask_neg
    g = exp_sim.sum(1, keepdim=True) / num_neg
    if first:
        s1, s2 = g.squeeze()[:bsz], g.squeeze()[bsz:]
    else:
        s1 = (1.0 - gamma) * state["s"][index] + gamma * g.squeeze()[:bsz]
        s2 = (1.0 - gamma) * state["s"][index] + gamma * g.squeeze()[bsz:]
    state["s"][index] = (s1 + s2) / 2.0
    w1, w2 = exp_sim[:bsz] / s1[:, None], exp_sim[bsz:] / s2[:, None]
    loss_1 = (w1 * sim[:bsz]).sum(1, keepdim=True) / num_neg - pos_sim[:bsz]
    loss_2 = (w2 * sim[bsz:]).sum(1, keepdim=True) / num_neg - pos_sim[bsz:]
    grad_1 = torch.log(s1) + rho - (w1 * sim_d_temps[:bsz]).sum(1) / num_neg
    grad_2 = torch.log(s2) + rho - (w2 * sim_d_temps[bsz:]).sum(1) / num_neg
    grad_tau = ((grad_1 + grad_2) / 2.0).clamp(min=-grad_clip, max=grad_clip)
    state["u"][index] = (1.0 - beta_u) * state["u"][index] + beta_u * grad_tau
    state["tau"][index] = (state["tau"][index] - eta * state["u"][index]).clamp(min=tau_min, max=tau_max)
    return (loss_1 + loss_2).mean()


@pytest.mark.parametrize("seed", [0, 1])
def test_isogclr_equals_the_authors_sogclr_dro_loss_with_its_clip(seed):
    # The authors' unimodal settings (main_supcon.py CLI: τ 0.1, ρ 6, γ 0.8, η 0.001, τ in [0.05, 1]) on unit
    # features; with ρ = 6 the τ-gradient passes +3, so the ±3 clip (our default grad_clip) is exercised.
    hyper = dict(gamma=0.8, rho=6.0, eta=0.001, beta_u=0.9, tau_min=0.05, tau_max=1.0)
    ours = losses.get("isogclr", temperature=0.1, rho=6.0, gamma=0.8, beta=0.9, eta=0.001, tau_min=0.05,
                      tau_max=1.0, num_samples=12).double()
    # tau: our buffer (0.1 rounded to float32 before .double()), so both start from the same number
    state = {"s": torch.zeros(12, dtype=torch.float64), "u": torch.zeros(12, dtype=torch.float64),
             "tau": ours.tau.clone()}
    g = torch.Generator().manual_seed(seed)
    index = torch.randperm(12, generator=g)[:6]
    clipped = False
    for step in range(3):
        x = F.normalize(torch.randn(6, 2, 4, generator=g, dtype=torch.float64), dim=-1)
        a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        m_before = state["u"][index].clone()
        # their model normalises its features before the loss; ours normalises inside (same Jacobian)
        _sogclr_dro_step(state, index, F.normalize(a, dim=-1), step == 0, **hyper).backward()
        ours(b, None, index).backward()
        clipped |= bool((((state["u"][index] - 0.1 * m_before) / 0.9).abs() >= 3.0 - 1e-12).any())
        assert torch.allclose(2 * b.grad, a.grad, atol=1e-10), step
        assert torch.allclose(ours.log_u[index].exp(), state["s"][index], rtol=1e-10), step
        assert torch.allclose(ours.momentum[index], state["u"][index], atol=1e-12), step
        assert torch.allclose(ours.tau[index], state["tau"][index], atol=1e-12), step
    assert clipped


def test_isogclr_temperatures_stay_in_bounds_and_follow_the_index():
    torch.manual_seed(0)
    loss = losses.get("isogclr", eta=1.0, tau_min=0.05, tau_max=0.7)
    for step in range(5):
        views = torch.randn(8, 2, 4)
        loss(views, index=torch.arange(8) + 8 * (step % 2))
    assert len(loss.tau) == 16
    assert ((loss.tau >= 0.05) & (loss.tau <= 0.7)).all() and (loss.tau != 0.1).any()
    assert loss.seen.all()


def test_isogclr_eval_mode_and_no_index_leave_the_state_alone():
    loss = losses.get("isogclr", num_samples=10)
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    loss(torch.randn(4, 2, 3))                       # no index: stateless
    loss.eval()
    loss(torch.randn(4, 2, 3), index=torch.arange(4))  # eval: no update
    assert all(torch.equal(before[k], v) for k, v in loss.state_dict().items())


@pytest.mark.parametrize("index, match", [(torch.tensor([0, 0, 1, 2]), "distinct"),
                                          (torch.tensor([0, 1, 2]), r"shape \[4\]"),
                                          (torch.tensor([0.0, 1, 2, 3]), "integer"),
                                          (torch.tensor([-1, 1, 2, 3]), ">= 0")])
def test_isogclr_checks_the_index(index, match):
    with pytest.raises(ValueError, match=match):
        losses.get("isogclr")(torch.randn(4, 2, 3), index=index)


def test_isogclr_temperature_outside_its_bounds_is_rejected():
    with pytest.raises(ValueError, match="tau_min"):
        losses.get("isogclr", temperature=0.01)


def test_isogclr_is_trained_by_fit_with_the_sample_ids():
    from workbench import data, models, train
    ds = data.sphere_blobs(n_per_class=20, num_classes=3, dim=4, seed=0)
    ds = type(ds)(**{**ds.__dict__, "augment": lambda x, g: x + 0.05 * torch.randn(x.shape, generator=g)})
    loss = losses.get("isogclr", eta=0.05)
    train.fit(models.MLP(4, 8, hidden=(16,), seed=0), loss, ds, epochs=2, batch_size=16, verbose=False)
    assert len(loss.tau) == ds.n_train and loss.seen.all() and (loss.tau != 0.1).any()


# --- AMCL (§7): the authors' v2.0 code ---------------------------------------------------------------

def _official_amcl_ntxent(loss, z1, z2, beta, topk, tau_min=1e-5, tau_max=2.0):
    """LeiWangR/cl v2.0 ``amcl/losses.py`` ``AMCLNTXentLoss.forward`` / ``_direction`` with ``TemperatureHead``
    and ``omega``, transcribed (their float32 casts dropped, so float64 compares exactly); ``loss.phi`` is
    their shared ``phi``. z1, z2: [B, H, D]."""
    def temp(a, b):  # TemperatureHead.forward: tau_min + (tau_max - tau_min) * sigmoid(-(phi(a) . phi(b)))
        return tau_min + (tau_max - tau_min) * torch.sigmoid(-(loss.phi(a) * loss.phi(b)).sum(-1))

    def direction(anchor, positive, negatives):
        anchor, positive, negatives = (F.normalize(t, dim=-1) for t in (anchor, positive, negatives))
        pos_sim, tau_pos = (anchor * positive).sum(-1), temp(anchor, positive)
        sim_neg = (anchor[:, None, :] * negatives).sum(-1)
        tau_neg = temp(anchor[:, None, :].expand_as(negatives), negatives)
        vals, idx = sim_neg.topk(k=min(topk, negatives.size(1)), dim=1, largest=True, sorted=False)
        tau_top = tau_neg.gather(1, idx)
        neg = (vals / tau_top).mean(dim=1)
        reg_pos = beta * (0.5 * anchor.shape[-1] * torch.log(tau_pos) + 1 / tau_pos)  # omega(tau, dim)
        reg_neg = beta * (torch.log(tau_top).sum(dim=1) + torch.reciprocal(tau_top).sum(dim=1))
        return (-pos_sim / tau_pos + neg + reg_pos - reg_neg).mean()

    b, c, d = z1.shape
    eye = torch.eye(b, dtype=torch.bool)
    terms = []
    for h in range(c):
        a, p = z1[:, h], z2[:, h]
        same = a.unsqueeze(0).expand(b, -1, -1)[~eye].view(b, b - 1, d)
        other = p.unsqueeze(0).expand(b, -1, -1)[~eye].view(b, b - 1, d)
        terms += [direction(a, p, torch.cat([same, other], 1)), direction(p, a, torch.cat([other, same], 1))]
    return torch.stack(terms).view(c, 2).mean(dim=1).sum()


@pytest.mark.parametrize("topk, beta", [(100, 0.01), (3, 0.1)])
def test_amcl_equals_the_authors_v2_code(topk, beta):
    torch.manual_seed(0)
    amcl = losses.get("amcl", num_heads=3, head_dim=4, beta=beta, topk=topk).double()
    views = random_views(6, 2, 12).requires_grad_(True)
    ours = amcl(views)
    z = views.view(6, 2, 3, 4)
    theirs = _official_amcl_ntxent(amcl, z[:, 0], z[:, 1], beta, topk)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    (g_ours,), (g_theirs,) = torch.autograd.grad(ours, views), torch.autograd.grad(theirs, views)
    assert torch.allclose(g_ours, g_theirs, atol=1e-10)
    g_phi = torch.autograd.grad(amcl(views), amcl.phi.weight1)[0]
    assert torch.isfinite(g_phi).all() and g_phi.abs().sum() > 0  # the temperature network learns


def test_amcl_defaults_are_the_official_loss_settings():
    amcl = losses.get("amcl")
    assert (amcl.beta, amcl.topk, amcl.tau_min, amcl.tau_max) == (0.01, 100, 1e-5, 2.0)
    views = random_views(4, 2, 4)
    tau = amcl.double().pair_temperatures(views.reshape(8, 4))
    assert tau.shape == (2, 8, 8) and ((tau > 1e-5) & (tau < 2.0)).all()
    with pytest.raises(ValueError, match="tau_min"):
        losses.get("amcl", tau_min=3.0)


def test_amcl_is_invariant_to_permuting_heads():
    # the temperature network is shared by the heads, so swapping the heads' parts changes nothing
    torch.manual_seed(0)
    amcl = losses.get("amcl", num_heads=3, head_dim=2).double()
    views = random_views(5, 2, 6)
    permuted = views.view(5, 2, 3, 2)[:, :, torch.tensor([2, 0, 1])].reshape(5, 2, 6)
    assert amcl(permuted).item() == pytest.approx(amcl(views).item(), rel=1e-12)


def test_amcl_rejects_a_dimension_that_is_not_num_heads_times_head_dim():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        losses.get("amcl", num_heads=2)(random_views(4, 2, 5))
    with pytest.raises(ValueError, match="pass head_dim=16"):
        losses.get("amcl", num_heads=2, head_dim=2)(random_views(4, 2, 32))


def test_amcl_reads_the_head_dimension_and_trains_its_lazy_network():
    # head_dim=None: d' = D // num_heads at the first call; an optimiser built before it still trains φ
    amcl = losses.get("amcl")
    optimiser = torch.optim.SGD(amcl.parameters(), lr=0.1)
    views = random_views(6, 2, 32).float()
    amcl(views).backward()
    before = amcl.phi.weight1.detach().clone()
    optimiser.step()
    assert amcl.head_dim == 16 and amcl.phi.weight1.shape == (16, 16)
    assert not torch.equal(amcl.phi.weight1, before)
    with pytest.raises(ValueError, match=r"2 \* 16"):  # fixed after the first call
        amcl(random_views(6, 2, 8).float())


def test_amcl_pair_weights_are_per_head():
    w = analysis.pair_weights(losses.get("amcl", num_heads=2).double(), random_views(4, 2, 4))
    assert w.shape == (2, 8, 8) and torch.isfinite(w).all()


# --- clip and cwcl (§9) --------------------------------------------------------------------------

def test_clip_is_the_symmetric_cross_entropy():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    logits = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T / 0.1
    expected = (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6))) / 2
    assert losses.get("clip", temperature=0.1)(x, y).item() == pytest.approx(expected.item(), rel=1e-12)
    assert losses.clip_loss(x, y, temperature=0.1).item() == pytest.approx(expected.item(), rel=1e-12)


def test_cwcl_weights_reference():
    # §9: q = normalised {(1,0),(0,1),(1,1)} -> W = [[1, .5, .853553], [.5, 1, .853553], [.853553, .853553, 1]]
    w = losses.cwcl_weights(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64))
    c = 0.8535534
    assert torch.allclose(w, torch.tensor([[1, .5, c], [.5, 1, c], [c, c, 1]], dtype=torch.float64), atol=1e-7)


def test_cwcl_with_identity_weights_is_clip():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    identity = torch.eye(5, dtype=torch.float64)
    cwcl = losses.cwcl_loss(x, y, temperature=0.2, weights=identity)
    assert cwcl.item() == pytest.approx(losses.clip_loss(x, y, temperature=0.2).item(), rel=1e-12)
    # and identity weights = cross-entropy with targets arange (x -> y direction of §9)
    assert losses.cwcl_loss(x, y, temperature=0.2, weights=3 * identity).item() == pytest.approx(cwcl.item())


def test_cwcl_reverse_clip_uses_the_matching_row_in_the_y_to_x_direction():
    # reverse="clip" (CellCLIP's use of CWCL, Lu, Weinberger, Kim & Lee 2025, §3.3): soft targets
    # w_ij / Σ_j w_ij for x -> y, cross-entropy with the matching row for y -> x, averaged (hand formula)
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    logits = F.normalize(x, dim=1) @ F.normalize(y, dim=1).T / 0.1
    w = (F.normalize(y, dim=1) @ F.normalize(y, dim=1).T) / 2 + 0.5
    forward = -((w / w.sum(1, keepdim=True)) * torch.log_softmax(logits, 1)).sum(1)
    backward = F.cross_entropy(logits.T, torch.arange(5), reduction="none")
    expected = ((forward + backward) / 2).mean()
    assert losses.get("cwcl", temperature=0.1, reverse="clip")(x, y).item() == pytest.approx(expected.item(), rel=1e-12)
    assert losses.cwcl_loss(x, y, temperature=0.1, reverse="clip").item() == pytest.approx(expected.item(), rel=1e-12)
    both = -((w / w.sum(1, keepdim=True)) * torch.log_softmax(logits.T, 1)).sum(1)
    assert losses.get("cwcl", temperature=0.1)(x, y).item() == pytest.approx(((forward + both) / 2).mean().item())
    with pytest.raises(ValueError, match="reverse"):
        losses.get("cwcl", reverse="text")


def test_cwcl_is_invariant_to_scaling_weight_rows():
    # §9: weight rows are normalised, so positive row scalings change nothing
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    w = losses.cwcl_weights(y)
    scaled = w * torch.tensor([[1.0], [2.0], [0.5], [7.0], [3.0]], dtype=torch.float64)
    assert torch.allclose(losses.cwcl_loss(x, y, weights=scaled), losses.cwcl_loss(x, y, weights=w))
    assert torch.allclose(losses.cwcl_loss(x, y, weights=w), losses.get("cwcl")(x, y))


def test_cwcl_gives_no_gradient_to_the_frozen_weights_but_some_through_the_logits():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    losses.get("cwcl")(x, y).backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0  # y still gets the logits' gradient
    with pytest.raises(ValueError, match="non-negative"):
        losses.cwcl_loss(x, y, weights=-torch.eye(4, dtype=torch.float64))


def test_crossmodal_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="same number of rows"):
        losses.get("clip")(torch.randn(4, 3), torch.randn(5, 3))


def test_clip_learned_temperature_is_a_parameter_and_capped():
    loss = losses.get("clip", learn_temperature=True)
    assert [p for p in loss.parameters()] and loss.temperature == pytest.approx(0.07)
    with torch.no_grad():
        loss.scale.log_scale.fill_(10.0)
    assert loss.temperature == pytest.approx(0.01)


# --- standards beyond the generic ones --------------------------------------------------------------

@pytest.mark.parametrize("name, params", [("supcon", {"temperature": 0.01}),
                                          ("hard_contrastive", {"temperature": 0.01}),
                                          ("dhel", {"temperature": 0.01}), ("mv_infonce", {"temperature": 0.01}),
                                          ("mv_dhel", {"temperature": 0.01}), ("amcl", {"tau_min": 1e-5}),
                                          ("isogclr", {"temperature": 0.01, "tau_min": 0.005}),
                                          ("clip", {"temperature": 0.01}), ("cwcl", {"temperature": 0.01})])
def test_low_temperature_is_finite(name, params):
    _, (x, y) = make_inputs(name, dtype=torch.float32)
    x.requires_grad_(True)
    value = losses.get(name, **params)(x, y)
    assert torch.isfinite(value) and _finite_grad(value, x)


@pytest.mark.parametrize("name", ["supcon", "hard_contrastive", "isogclr", "amcl"])
def test_supervised_one_class_in_the_batch_is_finite(name):
    x = random_views(4, 2, 4).requires_grad_(True)
    value = losses.get(name)(x, torch.zeros(4, dtype=torch.long))
    assert torch.isfinite(value) and _finite_grad(value, x)


@pytest.mark.parametrize("name", VIEWS_LOSSES)
def test_pair_weights_work_for_every_views_loss(name):
    loss, (views, _) = make_inputs(name)
    w = analysis.pair_weights(loss, views)
    rows, labels = views.reshape(-1, views.shape[-1]), torch.arange(len(views)).repeat_interleave(2)
    assert torch.isfinite(w).all() and w.abs().sum() > 0
    if name != "amcl":  # dL/dS equals autograd through from_similarity of the cosine matrix
        sim = cosine_similarity_matrix(rows).requires_grad_(True)
        (ref,) = torch.autograd.grad(loss.from_similarity(sim, labels).sum(), sim)
        assert torch.allclose(w, ref)


@pytest.mark.parametrize("name", ["supcon", "hard_contrastive", "dhel", "mv_infonce", "mv_dhel", "isogclr",
                                  "align_uniform"])
def test_forward_equals_from_similarity_of_the_rows(name):
    loss, (views, _) = make_inputs(name)
    rows = F.normalize(views.reshape(-1, views.shape[-1]), dim=1)
    labels = torch.arange(len(views)).repeat_interleave(views.shape[1])
    assert torch.allclose(loss(views), loss.from_similarity(rows @ rows.T, labels))


# --- properties ------------------------------------------------------------------------------------

def _rotation(dim, seed):
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


@pytest.mark.parametrize("name", VIEWS_LOSSES + ["clip", "cwcl"])
@SETTINGS
@given(seed=st.integers(0, 2**16), scale=st.floats(0.01, 100))
def test_invariant_to_rotation_and_norm(seed, name, scale):
    loss, (x, y) = make_inputs(name, seed=seed)
    rot = _rotation(x.shape[-1], seed + 1)
    ref = loss(x, y)
    if name == "amcl":  # rotations mix the heads' parts: only the norm of each part is free
        assert torch.allclose(loss(scale * x, y), ref, atol=1e-9)
        return
    y2 = y @ rot if name in ("clip", "cwcl") else y
    assert torch.allclose(loss(scale * x @ rot, y2), ref, atol=1e-9)


@pytest.mark.parametrize("name", VIEWS_LOSSES)
@SETTINGS
@given(seed=st.integers(0, 2**16), n_views=st.integers(2, 4))
def test_views_losses_are_invariant_to_permuting_instances_and_views(seed, name, n_views):
    n_views = 2 if name == "dhel" else n_views
    loss, _ = make_inputs(name, seed=seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, n_views, 4, generator=g, dtype=torch.float64)
    ref = loss(x)
    assert torch.allclose(loss(x[torch.randperm(6, generator=g)]), ref, atol=1e-9)
    assert torch.allclose(loss(x.flip(1)), ref, atol=1e-9)


@pytest.mark.parametrize("name", ["clip", "cwcl"])
@SETTINGS
@given(seed=st.integers(0, 2**16))
def test_crossmodal_losses_are_invariant_to_permuting_pairs(seed, name):
    loss, (x, y) = make_inputs(name, seed=seed)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(loss(x[perm], y[perm]), loss(x, y), atol=1e-9)


@pytest.mark.parametrize("name", ["supcon", "hard_contrastive", "isogclr", "amcl"])
@SETTINGS
@given(seed=st.integers(0, 2**16))
def test_supervised_losses_are_invariant_to_renaming_classes(seed, name):
    loss, (x, _) = make_inputs(name, seed=seed)
    labels = torch.tensor([0, 1, 0, 2, 1, 2])
    assert torch.allclose(loss(x, labels), loss(x, (labels + 5) * 3), atol=1e-12)


def test_hard_contrastive_topk_path_passes_gradcheck():
    x = random_views(5, 2, 3).requires_grad_(True)
    loss = losses.get("hard_contrastive", temperature=0.5, k=2)
    assert torch.autograd.gradcheck(lambda t: loss(t), (x,), eps=1e-6, atol=1e-5)


def test_isogclr_stateful_step_is_deterministic():
    views = random_views(4, 2, 3)
    a, b = losses.get("isogclr", eta=0.05).double(), losses.get("isogclr", eta=0.05).double()
    for loss in (a, b):
        for _ in range(3):
            loss(views, index=torch.tensor([3, 1, 0, 2]))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("name", [n for n in VIEWS_LOSSES if n != "ntxent"])
def test_the_loss_explorer_draws_every_new_views_loss(name):
    from workbench import widgets
    curves, x, _ = widgets.explorer_curves(name)
    assert x == "similarity"
    assert all(np.isfinite(frame["loss"]).all() and np.isfinite(frame["grad"]).all() for frame in curves.values())


def test_isogclr_from_similarity_checks_the_row_index():
    s, labels = _isogclr_batch()
    with pytest.raises(ValueError, match="one per row"):
        losses.get("isogclr").from_similarity(s, labels, index=torch.tensor([0, 1]))
