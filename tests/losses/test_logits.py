"""Losses on logits (issue 3): reference values from the spec, the equalities between them, per-sample state."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st
from test_standards import _grads_finite

from workbench import losses
from workbench.losses import ldr, zloss

H = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)  # the spec's logits h = [1, 2, 3]
Y0 = torch.tensor([0])
SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**16)


def value(name, logits=H, target=Y0, **params):
    return float(losses.get(name, **params)(logits, target))


# --- reference values (spec: losses-classification-kd-mil.md, recomputed there with numpy in float64) ----


@pytest.mark.parametrize("tau, expected", [(0.0, 10.107338), (0.5, 4.665535), (1.0, 2.407606), (1.5, 1.399898),
                                           (2.0, 0.909969)])
def test_comp_sum_reference_values(tau, expected):  # spec 2.4
    assert value("comp_sum", tau=tau) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("q, expected", [(0.7, 1.163737), (0.5, 1.399898), (1.0, 0.909969)])
def test_gce_reference_values(q, expected):  # spec 3.3
    assert value("gce", q=q) == pytest.approx(expected, abs=1e-6)


def test_truncated_gce_is_constant_below_k():  # spec 3.3: L_q(k=0.5, q=0.7) = 0.549183
    logits = H.clone().requires_grad_(True)  # p_y = 0.09 <= k
    loss = losses.get("gce", q=0.7, k=0.5)(logits, Y0)
    assert loss.item() == pytest.approx(0.549183, abs=1e-6)
    (grad,) = torch.autograd.grad(loss, logits)
    assert (grad == 0).all()
    confident = torch.tensor([[5.0, 0.0, 0.0]], dtype=torch.float64)  # p_y > k: the plain L_q
    assert value("gce", confident, q=0.7, k=0.5) == pytest.approx(value("gce", confident, q=0.7), abs=1e-12)


def test_mae_reference_value():  # spec 2.4, tau = 2
    assert value("mae") == pytest.approx(0.909969, abs=1e-6)


@pytest.mark.parametrize("a, b, expected", [(1.0, 0.0, 0.2576089), (2.0, 1.0, 0.2467238), (0.1, 10.0, 12.252277)])
def test_z_loss_reference_values(a, b, expected):  # spec 1.6: o = [1, 2, 3], c = 2
    assert value("z_loss", target=torch.tensor([2]), a=a, b=b) == pytest.approx(expected, abs=1e-6)


def test_z_score_reaches_its_bound():  # spec 1.6: o = [0, 0, 1], c = 2 -> z = sqrt(D - 1)
    z = zloss.true_class_zscore(torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), torch.tensor([2]))
    assert float(z) == pytest.approx(math.sqrt(2), abs=1e-12)


def test_z_loss_of_equal_logits_is_softplus_ab_over_a():  # spec 1.5 edge case
    x = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    loss = losses.get("z_loss", a=2.0, b=1.5)(x, torch.tensor([0, 3]))
    assert float(loss) == pytest.approx(math.log1p(math.exp(3.0)) / 2, abs=1e-12)
    assert _grads_finite(loss, x)


def test_z_loss_of_equal_float32_logits_that_do_not_average_exactly():
    # Ten float32 0.1s: their float mean is not 0.1, so mean-then-square left a tiny variance and a z of -1;
    # equal logits carry no information, so z = 0 and the loss is softplus(a b)/a (spec 1.5 edge case).
    x = torch.full((2, 10), 0.1, requires_grad=True)
    loss = losses.get("z_loss", a=2.0, b=1.5)(x, torch.tensor([0, 3]))
    assert float(loss) == pytest.approx(math.log1p(math.exp(3.0)) / 2, rel=1e-6)
    assert _grads_finite(loss, x)


def test_z_loss_gradient_in_z_is_bounded():  # spec 1.5: dL/dz_y = -sigmoid(a (b - z_y)) in (-1, 0)
    z = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.softplus(2.0 * (1.0 - z)) / 2.0
    (grad,) = torch.autograd.grad(loss.sum(), z)
    assert torch.allclose(grad, -torch.sigmoid(2.0 * (1.0 - z.detach())))


@pytest.mark.parametrize("lam, margin, expected", [(1.0, 0.0, 1.308994), (0.5, 0.0, 1.522160),
                                                   (10.0, 0.1, 1.103350), (1e-3, 0.1, 2.098901)])
def test_ldr_kl_reference_values(lam, margin, expected):  # spec 6.3
    assert value("ldr_kl", lam=lam, margin=margin) == pytest.approx(expected, abs=1e-6)


def test_ldr_kl_code_faithful_preprocessing():  # spec 6.3: softplus + mean normalisation
    assert value("ldr_kl", lam=10.0, margin=0.1, preprocess="softplus") == pytest.approx(0.466282, abs=1e-6)


def test_aldr_kl_one_step_reference():  # spec 6.3: lam_new = 9.9962099, loss = 0.576761
    loss = losses.get("aldr_kl", lam0=10.0, alpha=2.0, margin=0.1, preprocess="normalize")
    out = loss(H, Y0, index=torch.tensor([0]))
    assert float(out) == pytest.approx(0.576761, abs=1e-6)
    assert float(loss.lam_state[0]) == pytest.approx(9.9962099, abs=1e-6)
    # the registry's defaults are the experiments' lam0, alpha, margin; only the preprocessing differs (docstring)
    default = losses.get("aldr_kl")
    assert (default.lam0, default.alpha, default.margin, default.preprocess) == (10.0, 2.0, 0.1, "none")
    assert float(default(H, Y0, index=torch.tensor([0]))) != pytest.approx(0.576761, abs=1e-6)


def test_bias_loss_reference_weights():  # spec 8: variances [1, 2, 3], local -> z = [0.7, 0.861834, 1.049859]
    a = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64).sqrt()
    features = torch.stack([a, -a], dim=1)  # unbiased variance of [a, -a] is 2 a^2 = [1, 2, 3]
    loss = losses.get("bias_loss", normalisation="local")
    assert torch.allclose(loss.weights(features), torch.tensor([0.7, 0.861834, 1.049859], dtype=torch.float64),
                          atol=1e-6)
    logits = torch.zeros(3, 2, dtype=torch.float64)
    logits[:, 0] = math.log(math.e - 1)  # CE of class 1 is exactly 1: log(e - 1 + 1) - 0
    assert float(loss(logits, torch.ones(3, dtype=torch.long), features)) == pytest.approx(0.870564, abs=1e-6)


# --- equalities between the losses ---------------------------------------------------------------------


@SETTINGS
@given(seed=seeds)
def test_comp_sum_special_cases(seed):
    _, (z, y) = make_inputs("comp_sum", seed=seed, scale=3.0)
    ce = F.cross_entropy(z, y, reduction="none")
    p_y = (-ce).exp()
    get = lambda name, **kw: losses.get(name, reduction="none", **kw)(z, y)  # noqa: E731
    assert torch.allclose(get("comp_sum", tau=0.0), 1 / p_y - 1)          # sum-exponential
    assert torch.allclose(get("comp_sum", tau=1.0), ce)                   # cross-entropy
    # tau = 1.3, written out (spec 2.1): ((1 + u)^(1 - tau) - 1) / (1 - tau), u = sum_{k != y} e^{z_k - z_y};
    # GCE with q = 0.3 (spec 3.1): (1 - p_y^q) / q. Both from the logits, not through the losses' shared _phi.
    u = (z - z.gather(1, y[:, None])).exp().sum(1) - 1
    assert torch.allclose(get("comp_sum", tau=1.3), ((1 + u) ** -0.3 - 1) / -0.3)
    assert torch.allclose(get("gce", q=0.3), (1 - p_y ** 0.3) / 0.3)
    assert torch.allclose(get("comp_sum", tau=2.0), 1 - p_y)             # MAE
    assert torch.allclose(get("mae"), 1 - p_y) and torch.allclose(get("gce", q=1.0), 1 - p_y)


@SETTINGS
@given(seed=seeds, lam=st.floats(0.05, 20.0))
def test_ldr_kl_with_margin_zero_is_scaled_cross_entropy(seed, lam):
    # The equality: LDR-KL(margin 0) = lam * CE(logits / lam) - lam * log K
    _, (z, y) = make_inputs("ldr_kl", seed=seed, scale=3.0)
    expected = lam * F.cross_entropy(z / lam, y) - lam * math.log(z.shape[1])
    assert torch.allclose(losses.get("ldr_kl", lam=lam, margin=0.0)(z, y), expected, atol=1e-10)


def test_ldr_kl_limits():  # spec 6.1: lam -> 0 Crammer-Singer max margin; lam -> inf average margin
    z, y, c = H, Y0, 0.1
    d = torch.tensor([0.0, 1.1, 2.1])
    assert value("ldr_kl", z, y, lam=1e-4, margin=c) == pytest.approx(float(d.max()), abs=1e-3)
    assert value("ldr_kl", z, y, lam=1e5, margin=c) == pytest.approx(float(d.mean()), abs=1e-4)


def test_comp_sum_decreases_in_tau():  # spec 2.4: monotone decreasing in tau for fixed h
    values = [value("comp_sum", tau=t) for t in (0.0, 0.5, 1.0, 1.5, 2.0)]
    assert values == sorted(values, reverse=True)


# --- invariances (hypothesis) --------------------------------------------------------------------------


@SETTINGS
@given(seed=seeds, shift=st.floats(-50, 50), scale=st.floats(0.01, 100))
def test_z_loss_is_shift_and_positive_scale_invariant(seed, shift, scale):
    loss, (z, y) = make_inputs("z_loss", seed=seed)
    assert torch.allclose(loss(scale * z + shift, y), loss(z, y), rtol=1e-12, atol=1e-12)


def test_z_loss_is_not_invariant_to_negative_scale():  # spec 1.6
    assert value("z_loss", -H, torch.tensor([2])) != pytest.approx(value("z_loss", H, torch.tensor([2])))


@pytest.mark.parametrize("name", ["comp_sum", "gce", "mae", "ldr_kl", "aldr_kl", "bias_loss"])
@SETTINGS
@given(seed=seeds, shift=st.floats(-50, 50))
def test_logits_losses_are_shift_invariant(seed, shift, name):
    loss, (z, y) = make_inputs(name, seed=seed)
    assert torch.allclose(loss(z + shift, y), loss(z, y), atol=1e-9)


@SETTINGS
@given(seed=seeds, scale=st.floats(0.01, 100), preprocess=st.sampled_from(["normalize"]))
def test_normalised_ldr_ignores_the_logit_scale(seed, scale, preprocess):
    _, (z, y) = make_inputs("ldr_kl", seed=seed)
    loss = losses.get("ldr_kl", preprocess=preprocess)
    assert torch.allclose(loss(scale * z, y), loss(z, y), atol=1e-9)


@pytest.mark.parametrize("name", ["comp_sum", "gce", "mae", "z_loss", "ldr_kl", "aldr_kl"])
@SETTINGS
@given(seed=seeds)
def test_logits_losses_are_invariant_to_batch_permutation(seed, name):
    loss, (z, y) = make_inputs(name, seed=seed)
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(loss(z[perm], y[perm]), loss(z, y), atol=1e-12)


@SETTINGS
@given(seed=seeds, tau=st.floats(1.0, 2.0))
def test_bounded_comp_sum_gradient_is_cross_entropy_gradient_times_p_y_power(seed, tau):
    # spec 2.2: dPhi/dz = p_y^(tau - 1) dCE/dz per sample
    _, (z, y) = make_inputs("comp_sum", seed=seed)
    z = z.requires_grad_(True)
    (g_tau,) = torch.autograd.grad(losses.get("comp_sum", tau=tau, reduction="sum")(z, y), z)
    (g_ce,) = torch.autograd.grad(F.cross_entropy(z, y, reduction="sum"), z)
    p_y = F.softmax(z.detach(), 1).gather(1, y[:, None])
    assert torch.allclose(g_tau, p_y ** (tau - 1) * g_ce, atol=1e-12)


# --- ALDR-KL: per-sample state -------------------------------------------------------------------------


def test_aldr_kl_gradient_is_ldr_kl_gradient_at_the_adapted_lam():
    # lam is detached (as in the official code): the gradient is LDR-KL's with each sample's lam held fixed.
    _, (z, y) = make_inputs("aldr_kl", seed=3, scale=2.0)
    z = z.requires_grad_(True)
    loss = losses.get("aldr_kl", lam0=2.0, alpha=3.0, reduction="sum")
    (g,) = torch.autograd.grad(loss(z, y, index=torch.arange(len(z))), z)
    # Written out, not through LDR-KL (both share one helper): d/df of lam log mean_k e^{(c[k!=y] + f_k - f_y)/lam}
    # is softmax((f + c [k != y]) / lam) - onehot(y), per sample at its adapted lam (default margin c = 0.1).
    lam = loss.lam_state[: len(z)].to(z.dtype)[:, None]
    onehot = F.one_hot(y, z.shape[1]).to(z.dtype)
    expected = torch.softmax((z.detach() + 0.1 * (1 - onehot)) / lam, dim=1) - onehot
    assert torch.allclose(g, expected, atol=1e-12)


def test_aldr_kl_lam_stays_in_its_range_and_shrinks_for_confident_samples():
    loss = losses.get("aldr_kl", lam0=1.0, alpha=2.0).double()
    z = torch.tensor([[8.0, 0.0, 0.0], [0.1, 0.0, 0.0]], dtype=torch.float64)
    loss(z, torch.tensor([0, 0]), index=torch.tensor([5, 2]))
    lam = loss.lam_state
    assert len(lam) == 6 and lam[[0, 1, 3, 4]].eq(1.0).all()  # grown on demand; untouched ids keep lam0
    assert 0.5 <= lam[5] < lam[2] <= 1.0  # the confident sample gets the smaller lam, both in [lam0(1-1/a), lam0]
    loss.reset()
    assert lam.eq(1.0).all()


def test_aldr_kl_state_follows_the_index_and_without_index_is_stateless():
    z = torch.randn(4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    y = torch.tensor([0, 1, 2, 3])
    loss = losses.get("aldr_kl", lam0=1.0, num_samples=10).double()
    first = loss(z, y)  # no index: lam_old = lam0 and nothing stored
    assert torch.equal(loss(z, y), first) and loss.lam_state.eq(1.0).all()
    loss(z, y, index=torch.tensor([1, 3, 5, 7]))
    assert loss.lam_state[[1, 3, 5, 7]].lt(1.0).all() and loss.lam_state[[0, 2]].eq(1.0).all()
    with pytest.raises(ValueError, match="num_samples"):
        loss(z, y, index=torch.tensor([1, 3, 5, 10]))
    with pytest.raises(ValueError, match="index"):
        loss(z, y, index=torch.tensor([1.0, 3.0, 5.0, 7.0]))
    with pytest.raises(ValueError, match="alpha"):
        losses.get("aldr_kl", alpha=1.0)


def test_fit_passes_the_index_to_aldr_kl():
    from workbench import data, models, train
    ds = data.sphere_blobs(n_per_class=20, num_classes=3, dim=4, seed=0)
    loss = losses.get("aldr_kl", lam0=1.0)
    model = models.for_kind("logits", ds.X_train.shape[1], ds.num_classes, embedding_dim=4, hidden=(8,))
    train.fit(model, loss, ds, epochs=1, batch_size=16, verbose=False, record=())
    assert len(loss.lam_state) == ds.n_train and loss.lam_state.lt(1.0).all()


@pytest.mark.parametrize("name", ["comp_sum", "gce", "mae", "z_loss", "ldr_kl", "aldr_kl", "bias_loss"])
def test_labels_are_checked(name):
    loss, (x, target) = make_inputs(name)
    with pytest.raises(ValueError, match="num_classes"):
        loss(x, target + 3)
    with pytest.raises(ValueError, match="integer"):
        loss(x, target.double())


@pytest.mark.parametrize("name, bad", [("comp_sum", {"tau": -0.5}), ("gce", {"q": 0.0}), ("gce", {"q": 1.5}),
                                       ("gce", {"k": 1.0}), ("z_loss", {"a": 0.0}), ("ldr_kl", {"lam": 0.0}),
                                       ("ldr_kl", {"margin": -1.0}), ("ldr_kl", {"preprocess": "softmax"}),
                                       ("bias_loss", {"normalisation": "batch"})])
def test_bad_parameters_are_rejected_by_name(name, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        losses.get(name, **bad)


def test_low_lam_and_huge_logits_stay_finite():  # the "temperature 0.01" for lam-style losses
    x = (1e4 * torch.randn(6, 3, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    y = torch.arange(6) % 3
    for name, kw in [("ldr_kl", {"lam": 0.01}), ("aldr_kl", {"lam0": 0.01}), ("comp_sum", {"tau": 1.9})]:
        v = losses.get(name, **kw)(x, y)
        assert torch.isfinite(v) and _grads_finite(v, x)


# --- bias loss -----------------------------------------------------------------------------------------


def test_bias_loss_weights_carry_no_gradient_and_global_min_is_a_resettable_buffer():
    loss = losses.get("bias_loss").double()
    feats = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64).requires_grad_()
    z = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    value_ = loss(z, torch.arange(5) % 4, feats)
    assert torch.autograd.grad(value_, [z, feats], allow_unused=True)[1] is None
    assert "running_min" in dict(loss.named_buffers())
    low = float(feats.detach().flatten(1).var(1).min())
    assert float(loss.running_min) == pytest.approx(low)
    loss(z.detach(), torch.arange(5) % 4, 10 * feats.detach())  # larger variances: the running minimum stays
    assert float(loss.running_min) == pytest.approx(low)
    loss.reset()
    assert loss.running_min.isinf()


def test_bias_loss_with_equal_variances_weights_every_sample_one_minus_beta():
    loss = losses.get("bias_loss", normalisation="local", reduction="none").double()
    z, y = H, Y0
    assert torch.allclose(loss(z, y, torch.ones(1, 4, dtype=torch.float64)),
                          0.7 * F.cross_entropy(z, y, reduction="none"))
    with pytest.raises(ValueError, match="features"):
        loss(z, y, torch.ones(2, 4, dtype=torch.float64))


# --- loss-based reweighting ----------------------------------------------------------------------------


def test_reweighting_none_is_the_plain_mean_and_weights_sum_to_one():
    _, (z, y) = make_inputs("cross_entropy", seed=2, scale=3.0)
    ce = losses.get("cross_entropy", reduction="none")
    assert torch.allclose(losses.LossReweighting(ce, strategy="none")(z, y), F.cross_entropy(z, y))
    for strategy in ("linear", "linupper", "quadratic", "extremes"):
        w = losses.loss_weights(ce(z, y), strategy)
        assert w.sum().item() == pytest.approx(1.0) and (w > 0).all()


def test_reweighting_strategies_have_their_shapes():
    values = torch.linspace(0, 4, 9, dtype=torch.float64)  # normalised to -1 .. 1 in steps of 0.25
    w = {s: losses.loss_weights(values, s) for s in ("linear", "linupper", "quadratic", "extremes")}
    assert (w["linear"].diff() > 0).all()                                          # higher loss, more weight
    assert (w["linupper"][:5].diff() > 0).all() and torch.allclose(w["linupper"][4:], w["linupper"][4])  # capped
    assert w["quadratic"].argmax() == 4 and w["extremes"].argmin() == 4           # middle vs both ends
    assert torch.allclose(losses.loss_weights(torch.ones(5), "linear"), torch.full((5,), 0.2))


def test_reweighting_needs_per_sample_losses_and_passes_the_index():
    with pytest.raises(ValueError, match="reduction='none'"):
        losses.LossReweighting(losses.get("cross_entropy"))(H, Y0)
    wrapped = losses.LossReweighting(losses.get("aldr_kl", reduction="none"))
    assert wrapped.uses_index and wrapped.kind == "logits"
    wrapped(H, Y0, index=torch.tensor([3]))
    assert len(wrapped.loss.lam_state) == 4


def test_ldr_preprocess_normalize_keeps_zero_rows_finite():
    f = ldr.preprocess_scores(torch.zeros(2, 3), "normalize")
    assert torch.isfinite(f).all() and (f == 0).all()


def test_reweighting_wrapper_trains_with_fit_like_the_loss_it_wraps():
    from workbench import data, models, train
    ds = data.sphere_blobs(n_per_class=20, num_classes=3, dim=4, seed=0)
    loss = losses.LossReweighting(losses.get("cross_entropy", reduction="none"), strategy="linupper")
    model = models.for_kind("logits", 4, 3, embedding_dim=4, hidden=(8,), seed=0)
    history = train.fit(model, loss, ds, epochs=3, batch_size=16, verbose=False, record=())
    assert history["test_acc"].iloc[-1] > 0.5 and loss.last_weights.sum().item() == pytest.approx(1.0)
