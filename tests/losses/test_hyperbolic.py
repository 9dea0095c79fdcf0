"""Hyp-OC's Hyp-CE and Hyp-PC (issue 16) on the Poincaré ball: reference values of
../shared/reference/losses-metric-contrastive-margin.md §11, hand computations, and the official code's choices
(Kartik-3004/hyp-oc@f3345b2; a one-off comparison with its hyptorch code matched value and gradient to 1e-9,
see the issue-16 report: the official modules turn c = 0.1 into float32 first)."""

import math

import pytest
import torch

from workbench import losses
from workbench.losses.hyperbolic import (
    PseudoNegatives,
    clip_features,
    expmap0,
    hyp_pc_loss,
    hyperbolic_mlr_logits,
    mobius_add,
    poincare_distance,
)

C = 0.1
T = dict(dtype=torch.float64)


def point(*xs):
    return torch.tensor([xs], **T)


def test_poincare_distance_reference_values():
    # §11 [N], c = 0.1, exact Möbius addition: d(0, (.5, 0)) = 1.0084606 (arctan variant 0.9917895);
    # d((.3, 0), (0, .4)) = 1.0083868 (arctan 0.9917192). hyptorch adds 1e-5 to the Möbius denominator, which
    # moves the values by ~1e-5, hence the tolerance.
    assert poincare_distance(point(0, 0), point(0.5, 0), C).item() == pytest.approx(1.0084606, abs=2e-5)
    assert poincare_distance(point(0, 0), point(0.5, 0), C, True).item() == pytest.approx(0.9917895, abs=2e-5)
    assert poincare_distance(point(0.3, 0), point(0, 0.4), C).item() == pytest.approx(1.0083868, abs=2e-5)
    assert poincare_distance(point(0.3, 0), point(0, 0.4), C, True).item() == pytest.approx(0.9917192, abs=2e-5)


def test_poincare_distance_by_hand_with_the_mobius_epsilon():
    # (-x) ⊕ y for x = (.3, 0), y = (0, .4): <-x, y> = 0, so the numerator is (1 + c·.16)(-.3, 0) + (1 - c·.09)(0, .4)
    # and the denominator 1 + c²·.09·.16 + 1e-5; d = 2/√c · artanh(√c · norm)
    num = torch.tensor([-(1 + C * 0.16) * 0.3, (1 - C * 0.09) * 0.4], **T)
    norm = (num / (1 + C * C * 0.09 * 0.16 + 1e-5)).norm().item()
    assert mobius_add(-point(0.3, 0), point(0, 0.4), C).norm().item() == pytest.approx(norm, rel=1e-14)
    expected = 2 / math.sqrt(C) * math.atanh(math.sqrt(C) * norm)
    assert poincare_distance(point(0.3, 0), point(0, 0.4), C).item() == pytest.approx(expected, rel=1e-14)


def test_poincare_distance_properties():
    g = torch.Generator().manual_seed(0)
    x, y = 0.5 * torch.randn(5, 3, generator=g, **T), 0.5 * torch.randn(5, 3, generator=g, **T)
    assert torch.allclose(poincare_distance(x, y, C), poincare_distance(y, x, C), atol=1e-5)  # symmetric (±eps)
    assert poincare_distance(x, x, C).abs().max() < 1e-7
    tiny = 1e-6  # c → 0: d → 2‖x - y‖ (the factor-2 Euclidean limit of this convention)
    assert torch.allclose(poincare_distance(x, y, tiny), 2 * (x - y).norm(dim=1), rtol=1e-4)


def test_feature_clipping():
    # §11: ‖x‖ = 5, r = 2 -> norm 2 (up to the 1e-5 in the official denominator); ‖x‖ = 1 unchanged
    assert clip_features(point(3, 4), 2.0).norm().item() == pytest.approx(2.0, abs=1e-5)
    assert torch.equal(clip_features(point(0.6, 0.8), 2.0), point(0.6, 0.8))


def test_expmap0_maps_onto_the_ball_along_the_same_direction():
    u = point(3, 4)
    z = expmap0(u, C)
    assert z.norm().item() == pytest.approx(math.tanh(math.sqrt(C) * 5) / math.sqrt(C), rel=1e-12)
    assert torch.allclose(z / z.norm(), u / 5)
    assert torch.equal(expmap0(torch.zeros(1, 2, **T), C), torch.zeros(1, 2, **T))


def test_mlr_logit_by_hand():
    # One class with offset P = 0 (p = 0, λ_p = 2, a = A): logit = 2‖a‖/√c · asinh(2√c <x, a> / ((1 - c‖x‖²)‖a‖))
    x, a = point(0.5, -1.0), point(2.0, 1.0)
    num = 2 * math.sqrt(C) * (0.5 * 2 - 1.0) / ((1 - C * 1.25 / (1 + 1e-5) ** 2) * math.sqrt(5))
    # x ⊕ 0 divides by (1 + 1e-5): <z, a> = 0 here, so only the denominator sees it
    expected = 2 * math.sqrt(5) / math.sqrt(C) * math.asinh(num)
    out = hyperbolic_mlr_logits(x, a, torch.zeros(1, 2, **T), C)
    assert out.item() == pytest.approx(expected, abs=1e-12)
    x2 = point(0.5, 1.0)  # <x, a> = 2
    z = x2 / (1 + 1e-5)
    num = 2 * math.sqrt(C) * (z @ a.T).item() / ((1 - C * z.pow(2).sum().item()) * math.sqrt(5))
    assert hyperbolic_mlr_logits(x2, a, torch.zeros(1, 2, **T), C).item() == pytest.approx(
        2 * math.sqrt(5) / math.sqrt(C) * math.asinh(num), rel=1e-12)


def test_mlr_logits_are_finite_where_the_official_arsinh_cancels():
    # hyptorch's log(x + sqrt(1 + x²)) is clamped at log(1e-5) once x < ~-5e4; asinh stays exact and odd.
    x, a = point(-1000.0, 0.0), point(1.0, 0.0)
    ball = expmap0(x, C) * (1 - 1e-12)
    out = hyperbolic_mlr_logits(ball, a, torch.zeros(1, 2, **T), C)
    mirrored = hyperbolic_mlr_logits(-ball, a, torch.zeros(1, 2, **T), C)
    assert torch.isfinite(out) and out.item() == pytest.approx(-mirrored.item(), rel=1e-9)


def test_hyp_pc_pairs_halves_and_divides_by_the_row_count():
    z = torch.tensor([[0.0, 0.0], [0.3, 0.0], [0.5, 0.0], [0.0, 0.4]], **T)
    expected = (poincare_distance(z[:1], z[2:3], C) + poincare_distance(z[1:2], z[3:], C)).item() / 4
    assert hyp_pc_loss(z, C).item() == pytest.approx(expected, rel=1e-14)
    assert hyp_pc_loss(torch.cat([z, point(0.9, 0.9)]), C).item() == pytest.approx(expected * 4 / 5, rel=1e-14)
    assert hyp_pc_loss(z[:1], C).item() == 0  # no pair


def test_hyp_pc_uses_the_bona_fide_rows_only_and_adds_hyp_ce():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 4, generator=g, **T)
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    torch.manual_seed(0)
    ce = losses.get("hyp_ce", num_classes=2, embedding_dim=4).double()
    pc = losses.get("hyp_pc", num_classes=2, embedding_dim=4, ce_weight=0.0).double()
    pc.load_state_dict(ce.state_dict())
    total = losses.get("hyp_pc", num_classes=2, embedding_dim=4).double()
    total.load_state_dict(ce.state_dict())
    points = ce.to_ball(x)
    assert pc(x, y).item() == pytest.approx(hyp_pc_loss(points[y == 0], C).item(), rel=1e-14)
    assert total(x, y).item() == pytest.approx(pc(x, y).item() + ce(x, y).item(), rel=1e-14)
    arctan = losses.get("hyp_pc", num_classes=2, embedding_dim=4, ce_weight=0.0, official_arctan=True).double()
    arctan.load_state_dict(ce.state_dict())
    assert 0 < arctan(x, y).item() < pc(x, y).item()  # arctan < artanh on (0, 1)


def test_ball_points_stay_inside_the_ball_and_clipping_bounds_them():
    loss = losses.get("hyp_ce", num_classes=2, embedding_dim=3).double()
    x = torch.tensor([[1e4, 0, 0], [0, 1.0, 0], [0, 0, 0]], **T)
    z = loss.to_ball(x)
    assert (z.norm(dim=1) < 1 / math.sqrt(C)).all()
    assert z[0].norm().item() == pytest.approx(math.tanh(math.sqrt(C) * 2) / math.sqrt(C), rel=1e-4)  # clipped to 2


@pytest.mark.parametrize("name", ["hyp_ce", "hyp_pc"])
def test_without_the_riemannian_fix_the_gradient_is_the_derivative(name):
    # riemannian=True (official) rescales the gradient on purpose; riemannian=False is held to finite differences,
    # and both give the same value.
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 4, generator=g, **T)
    y = torch.tensor([0, 1, 0, 1, 0, 0])
    torch.manual_seed(0)
    plain = losses.get(name, num_classes=2, embedding_dim=4, riemannian=False).double()
    riemann = losses.get(name, num_classes=2, embedding_dim=4).double()
    riemann.load_state_dict(plain.state_dict())
    assert torch.autograd.gradcheck(lambda t: plain(t, y), (x.clone().requires_grad_(True),), eps=1e-6, atol=1e-5)
    assert riemann(x, y).item() == pytest.approx(plain(x, y).item(), rel=1e-14)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    grads = [torch.autograd.grad(loss(t, y), t)[0] for loss, t in zip((plain, riemann), xs)]
    assert not torch.allclose(grads[0], grads[1])


def test_riemannian_scaling_of_the_input_gradient():
    # d/dx through the ball map: riemannian multiplies the gradient at the ball point by (1 - c‖z‖²)²/4 before it
    # flows back, so for a loss that is linear in z the two gradients differ exactly by that factor per row.
    from workbench.losses.hyperbolic import _RiemannianGradient
    z = torch.tensor([[0.5, 0.2], [1.0, -2.0]], **T, requires_grad=True)
    out = _RiemannianGradient.apply(z, C)
    (grad,) = torch.autograd.grad(out.sum(), z)
    factor = (1 - C * z.detach().pow(2).sum(1, keepdim=True)).pow(2) / 4
    assert torch.allclose(grad, factor.expand_as(z)) and torch.equal(out, z)


def test_pseudo_negatives_follow_the_official_running_mean():
    feats = [torch.full((4, 3), 2.0, **T), torch.full((4, 3), 4.0, **T)]
    sampler = PseudoNegatives(alpha=0.8, std_dev=0.0 + 1e-12)  # (nearly) no spread: the draws sit on the centre
    first = sampler(feats[0], torch.Generator().manual_seed(0))
    assert torch.allclose(first, torch.full((4, 3), 0.2 * 2.0, **T), atol=1e-5)  # μ = .8·0 + .2·2
    second = sampler(feats[1], torch.Generator().manual_seed(0))
    assert torch.allclose(second, torch.full((4, 3), 0.8 * 2.0 + 0.2 * 4.0, **T), atol=1e-5)  # previous raw mean
    spread = PseudoNegatives(alpha=0.0, std_dev=4.0)(torch.zeros(20000, 1, **T), torch.Generator().manual_seed(0))
    assert spread.std().item() == pytest.approx(2.0, rel=0.05)  # std_dev is the covariance scale: std = √4
    with pytest.raises(ValueError, match="alpha"):
        PseudoNegatives(alpha=1.5)
    with pytest.raises(ValueError, match="std_dev"):
        PseudoNegatives(std_dev=0.0)


@pytest.mark.parametrize("name, bad, named", [
    ("hyp_ce", {"curvature": 0.0}, "curvature"), ("hyp_ce", {"curvature": math.inf}, "curvature"),
    ("hyp_ce", {"clip_r": -1.0}, "clip_r"), ("hyp_ce", {"clip_r": True}, "clip_r"),
    ("hyp_ce", {"riemannian": 1}, "riemannian"), ("hyp_ce", {"reduction": "avg"}, "reduction"),
    ("hyp_ce", {"num_classes": 1}, "num_classes"), ("hyp_pc", {"ce_weight": math.nan}, "ce_weight"),
    ("hyp_pc", {"confused_label": 5}, "confused_label"), ("hyp_pc", {"official_arctan": "yes"}, "official_arctan"),
])
def test_bad_hyper_parameters_name_the_argument(name, bad, named):
    kw = {"num_classes": 3, "embedding_dim": 4, **bad}
    with pytest.raises(ValueError, match=named):
        losses.get(name, **kw)


@pytest.mark.parametrize("name", ["hyp_ce", "hyp_pc"])
def test_bad_inputs_are_refused(name):
    loss = losses.get(name, num_classes=3, embedding_dim=4).double()
    x, y = torch.randn(6, 4, **T), torch.arange(6) % 3
    for bad_x, match in ((x[:0], "at least one row"), (x.masked_fill(x > 1, math.inf), "inf"),
                         (torch.randn(6, 5, **T), "embedding_dim")):
        with pytest.raises(ValueError, match=match):
            loss(bad_x, y[: len(bad_x)])
    with pytest.raises(ValueError, match="num_classes"):
        loss(x, y + 3)
    with pytest.raises(ValueError, match=r"\blabels\b"):  # both need the class labels
        loss(x, None)


@pytest.mark.parametrize("name", ["hyp_ce", "hyp_pc"])
def test_every_slider_endpoint_builds_a_loss_that_runs(name):
    x, y = torch.randn(6, 4, **T), torch.arange(6) % 3
    for pname, param in losses.info(name).params.items():
        for value in (param.low, param.high):
            loss = losses.get(name, num_classes=3, embedding_dim=4, **{pname: float(value)}).double()
            assert torch.isfinite(loss(x, y)), (pname, value)


def test_hyp_ce_reductions_agree():
    x, y = torch.randn(6, 4, **T), torch.arange(6) % 3
    torch.manual_seed(0)
    built = {r: losses.get("hyp_ce", num_classes=3, embedding_dim=4, reduction=r).double()
             for r in ("mean", "sum", "none")}
    for loss in built.values():
        loss.load_state_dict(built["mean"].state_dict())
    none = built["none"](x, y)
    assert none.shape == (6,)
    assert built["mean"](x, y).item() == pytest.approx(none.mean().item(), rel=1e-14)
    assert built["sum"](x, y).item() == pytest.approx(none.sum().item(), rel=1e-14)
