"""Margin-softmax heads (issue 5): reference values from ../shared/reference/losses-metric-contrastive-margin.md
§10, cross-checks against pytorch-metric-learning (PML), ElasticFace and UNPG specifics, invariances."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import analysis, losses
from workbench.losses.margin import (
    arc_margin,
    box_whisker_filter,
    cos_margin,
    elastic_margins,
    sphereface_lambda,
    sphereface_psi,
)

try:  # the peer: only the cross-checks with it are skipped without it, never the reference values
    from pytorch_metric_learning import losses as pml_losses
except ImportError:
    pml_losses = None
needs_pml = pytest.mark.skipif(pml_losses is None, reason="pytorch-metric-learning is not installed")
HEADS = ["sphereface", "cosface", "arcface", "elasticface_arc", "elasticface_cos", "unpg"]


def batch(n=16, dim=8, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


@needs_pml
@pytest.mark.parametrize("name, pml, params", [
    ("cosface", lambda: pml_losses.CosFaceLoss(5, 8, margin=0.35, scale=64), {"margin": 0.35, "scale": 64.0}),
    ("arcface", lambda: pml_losses.ArcFaceLoss(5, 8, margin=math.degrees(0.5), scale=64), {}),  # PML: degrees
    ("sphereface", lambda: pml_losses.SphereFaceLoss(5, 8, margin=4, scale=1), {"margin": 4}),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_margin_heads_equal_pml(name, pml, params, seed):
    x, y = batch(seed=seed)
    torch.manual_seed(seed)
    ours = losses.get(name, num_classes=5, embedding_dim=8, **params).double()
    theirs = pml().double()
    with torch.no_grad():
        theirs.W.copy_(ours.weight.T)  # PML stores W as [D, C]
    assert ours(x, y).item() == pytest.approx(theirs(x, y).item(), abs=1e-5)


def test_arcface_reference_values():
    # §10.4 (m = 0.5): cos 0.5 -> 0.0235966 (x64 = 1.5101814); cos -0.9 -> -1.1397128 (fallback)
    cos = torch.tensor([[0.5, 0.1], [-0.9, 0.2]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    out = arc_margin(cos, y, 0.5)
    assert out[0, 0].item() == pytest.approx(0.0235966, abs=1e-7)
    assert out[1, 0].item() == pytest.approx(-1.1397128, abs=1e-7)
    assert out[:, 1].tolist() == cos[:, 1].tolist()  # non-target columns untouched
    easy = arc_margin(cos, y, 0.5, easy_margin=True)
    assert easy[1, 0].item() == -0.9 and easy[0, 0].item() == pytest.approx(0.0235966, abs=1e-7)
    assert torch.allclose(arc_margin(cos, y, 0.0), cos)  # m = 0 is NormFace


def test_arcface_target_logit_decreases_in_the_angle():
    frame = analysis.target_logit_curve(losses.get("arcface", num_classes=2, embedding_dim=2), range(0, 181))
    assert (frame["target_logit"].diff().dropna() < 0).all()
    assert frame["target_logit"].iloc[0] == pytest.approx(64 * math.cos(0.5))


def test_cosface_reference_value():
    # §10.3: cos 0.5, m 0.35, s 64 -> target logit 9.6
    cos = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    assert (64 * cos_margin(cos, torch.tensor([0]), 0.35))[0, 0].item() == pytest.approx(9.6)


def test_sphereface_psi_reference_values():
    # §10.2 (m = 4): psi(30) = -0.5, psi(60) = -1.5, psi(100) = -3.2339556, psi(180) = -7; decreasing on [0, pi]
    cos = torch.cos(torch.deg2rad(torch.tensor([30.0, 60, 100, 180], dtype=torch.float64)))
    assert sphereface_psi(cos, 4).tolist() == pytest.approx([-0.5, -1.5, -3.2339556, -7.0], abs=1e-6)
    dense = sphereface_psi(torch.cos(torch.linspace(0, math.pi, 721, dtype=torch.float64)), 4)
    assert (dense.diff() < 0).all()
    assert torch.allclose(sphereface_psi(cos, 1), cos)


def test_sphereface_keeps_the_feature_norm_and_anneals_with_lam():
    head = losses.get("sphereface", num_classes=3, embedding_dim=2, lam=1000.0).double()
    x = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    plain = head.logits(x)
    assert torch.allclose(plain, 3 * F.normalize(x) @ F.normalize(head.weight).T)
    assert torch.allclose(head.logits(x, torch.tensor([0])), plain, atol=0.05)  # huge lam: almost no margin


def test_sphereface_lambda_is_the_official_schedule():
    # official Caffe layer: lambda = max(base (1 + gamma t)^-power, lambda_min), base 1000, gamma 0.12, power 1,
    # lambda_min 5 (sphereface_model.prototxt); hand values: t=1 -> 1000/1.12, t=1000 -> 1000/121, t=2000 -> 5
    assert sphereface_lambda(1) == pytest.approx(892.857142857, rel=1e-10)
    assert sphereface_lambda(1000) == pytest.approx(8.26446281, rel=1e-8)
    assert sphereface_lambda(2000) == 5.0 and sphereface_lambda(10**6) == 5.0
    with pytest.raises(ValueError, match="iteration"):
        sphereface_lambda(-1)


def test_sphereface_anneal_counts_training_steps_and_uses_the_schedule():
    torch.manual_seed(0)
    head = losses.get("sphereface", num_classes=3, embedding_dim=2, anneal=True).double()
    x, y = torch.randn(4, 2, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    assert losses.info("sphereface").defaults["lam"] == 0.0 and not losses.get("sphereface", num_classes=3,
                                                                                 embedding_dim=2).anneal
    for _ in range(3):
        value = head(x, y)
    assert int(head.iteration) == 3 and head.current_lam == pytest.approx(1000 / 1.36)
    fixed = losses.get("sphereface", num_classes=3, embedding_dim=2, lam=1000 / 1.36).double()
    fixed.weight.data.copy_(head.weight.data)
    assert value.item() == pytest.approx(fixed(x, y).item(), rel=1e-12)
    head.eval()
    head(x, y)
    assert int(head.iteration) == 3  # evaluation does not advance the schedule


@pytest.mark.parametrize("elastic, plain", [("elasticface_arc", "arcface"), ("elasticface_cos", "cosface")])
def test_elasticface_with_zero_sigma_is_the_plain_head(elastic, plain):
    x, y = batch(seed=2)
    torch.manual_seed(0)
    a = losses.get(elastic, num_classes=5, embedding_dim=8, sigma=0.0).double()
    torch.manual_seed(0)
    b = losses.get(plain, num_classes=5, embedding_dim=8).double()
    assert torch.equal(a.weight, b.weight)
    assert torch.allclose(a(x, y), b(x, y), atol=1e-12)
    assert torch.allclose(a.logits(x, y), b.logits(x, y), atol=1e-12)


def test_elasticface_margins_are_the_seeded_normal_draws():
    # §10.5: with a fixed RNG seed the margins equal torch.normal(mean=m, std=sigma, size=(B, 1))
    cos = torch.rand(7, 1, dtype=torch.float64)
    drawn = elastic_margins(cos, 0.5, 0.05, generator=torch.Generator().manual_seed(3))
    expected = torch.normal(0.5, 0.05, size=(7, 1), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.equal(drawn, expected)


def test_elasticface_plus_gives_harder_samples_larger_margins():
    # §10.5 example: cos [0.1, 0.9, 0.5], sorted margins [0.45, 0.5, 0.55]: intended [0.55, 0.45, 0.50],
    # the official gather gives [0.50, 0.55, 0.45]
    cos = torch.tensor([[0.1], [0.9], [0.5]], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    draws = torch.normal(0.5, 0.05, size=(3, 1), generator=g, dtype=torch.float64).squeeze(1).sort().values
    intended = elastic_margins(cos, 0.5, 0.05, plus=True, generator=torch.Generator().manual_seed(0))
    legacy = elastic_margins(cos, 0.5, 0.05, plus=True, legacy_gather=True, generator=torch.Generator().manual_seed(0))
    assert intended.squeeze(1).tolist() == draws[[2, 0, 1]].tolist()
    assert legacy.squeeze(1).tolist() == draws[[1, 2, 0]].tolist()
    many = torch.rand(50, 1, dtype=torch.float64)
    m = elastic_margins(many, 0.5, 0.05, plus=True, generator=torch.Generator().manual_seed(1)).squeeze(1)
    order = many.squeeze(1).argsort()
    assert (m[order].diff() <= 0).all()  # non-increasing in cos(theta_y)


def test_elasticface_is_deterministic_in_eval_mode_and_random_in_training():
    x, y = batch(seed=4)
    head = losses.get("elasticface_arc", num_classes=5, embedding_dim=8, sigma=0.1).double()
    assert not torch.equal(head(x, y), head(x, y))
    head.eval()
    assert torch.equal(head(x, y), head(x, y))


def test_unpg_reference_values():
    # §10.6: CosFace CE for cos=[[.7,.1,-.2],[0,.5,.3]], y=[0,1], s=64, m=0.35 -> 4.8000339;
    # with sn'=[.2,.35] appended -> 6.7666011
    cos = torch.tensor([[0.7, 0.1, -0.2], [0.0, 0.5, 0.3]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    logits = 64 * cos_margin(cos, y, 0.35)
    assert F.cross_entropy(logits, y).item() == pytest.approx(4.8000339, abs=1e-6)
    extra = 64 * torch.tensor([0.2, 0.35], dtype=torch.float64).expand(2, -1)
    assert F.cross_entropy(torch.cat([logits, extra], 1), y).item() == pytest.approx(6.7666011, abs=1e-6)


def test_box_whisker_filter_reference():
    # §10.6: Q1 = 0, Q3 = 0.15; -0.3 and 0.9 removed for wisk 1.0 and 1.5; wisk -> inf keeps all
    sn = torch.tensor([-0.3, -0.1, 0, 0.05, 0.1, 0.12, 0.15, 0.9])
    for wisk in (1.0, 1.5):
        assert box_whisker_filter(sn, wisk).tolist() == pytest.approx([-0.1, 0, 0.05, 0.1, 0.12, 0.15])
    assert len(box_whisker_filter(sn, 1e9)) == 8
    assert box_whisker_filter(torch.tensor([0.3]), 1.5).tolist() == pytest.approx([0.3])


def test_unpg_appends_batch_negatives_and_never_lowers_the_loss():
    x, y = batch(seed=5)
    torch.manual_seed(0)
    unpg = losses.get("unpg", num_classes=5, embedding_dim=8, head="cosface", margin=0.35).double()
    torch.manual_seed(0)
    cosface = losses.get("cosface", num_classes=5, embedding_dim=8, margin=0.35).double()
    logits = unpg.logits(x, y)
    n_neg = int((y[:, None] != y[None, :]).triu(1).sum())
    assert 5 < logits.shape[1] <= 5 + n_neg and logits.shape[0] == len(x)
    assert torch.allclose(logits[:, :5], cosface.logits(x, y))
    assert unpg(x, y) >= cosface(x, y)
    assert unpg.logits(x).shape == (len(x), 5)


def test_unpg_compact_forward_equals_cross_entropy_on_the_full_logits():
    x, y = batch(seed=8)
    head = losses.get("unpg", num_classes=5, embedding_dim=8).double()
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    compact, full = head(x1, y), F.cross_entropy(head.logits(x2, y), y)
    assert torch.allclose(compact, full, atol=1e-12)
    compact.backward()
    full.backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-12)


def test_unpg_single_class_batch_falls_back_to_the_plain_head():
    x, _ = batch(seed=6)
    y = torch.zeros(len(x), dtype=torch.long)
    torch.manual_seed(0)
    unpg = losses.get("unpg", num_classes=5, embedding_dim=8).double()
    torch.manual_seed(0)
    arcface = losses.get("arcface", num_classes=5, embedding_dim=8).double()
    assert torch.allclose(unpg(x, y), arcface(x, y))


@pytest.mark.parametrize("name", HEADS)
def test_margin_heads_make_the_target_harder(name):
    # with the margin the target logit never exceeds the plain one, so the loss never drops
    x, y = batch(seed=7)
    head = losses.get(name, num_classes=5, embedding_dim=8).double()
    plain = head.logits(x)
    adjusted = head.logits(x, y)
    assert (adjusted.gather(1, y[:, None]) <= plain.gather(1, y[:, None]) + 1e-12).all()


@pytest.mark.parametrize("name", ["cosface", "arcface", "unpg"])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.01, 100))
def test_normalised_heads_ignore_the_norm_and_joint_rotations(seed, name, scale):
    loss, (x, y) = make_inputs(name, seed=seed)
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(x.shape[1], x.shape[1], generator=g, dtype=torch.float64))
    rotation = q * torch.sign(torch.diagonal(r))
    before = loss(x, y)
    assert torch.allclose(loss(scale * x, y), before, atol=1e-8)
    with torch.no_grad():
        loss.weight.copy_(loss.weight @ rotation)
    assert torch.allclose(loss(x @ rotation, y), before, atol=1e-8)


def test_arc_margin_gradient_is_finite_in_float16_at_a_cosine_of_one():
    # A float16 cosine rounds to exactly 1 for a sample on its class centre; a floor of 1e-12 under sin θ is 0 in
    # float16 and sqrt's infinite slope there made the gradient NaN (seen for subcenter_arcface under one seed).
    cosine = torch.tensor([[1.0, 0.2], [0.3, -0.1]], dtype=torch.float16, requires_grad=True)
    out = arc_margin(cosine, torch.tensor([0, 1]), 0.5)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(cosine.grad).all()
