"""Binary losses (issue 3): AnyLoss, EnsLoss, AUC-M, MW; and the multi-sample dropout head."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st
from test_standards import _grads_finite

from workbench import data, losses, models, train
from workbench.losses import binary

SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**16)
BINARY = ["bce", "anyloss", "ensloss", "auc_margin", "mw"]


def logit(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.log(p / (1 - p))


# --- AnyLoss (spec 4.6: p = [0.9, 0.2, 0.7, 0.4], y = [1, 0, 1, 0]) ----------------------------------------

P4, Y4 = logit([0.9, 0.2, 0.7, 0.4]), torch.tensor([1, 0, 1, 0])


@pytest.mark.parametrize("L, metric, expected", [
    (73, "accuracy", 1.6888e-4), (73, "f1", 1.6886e-4), (73, "balanced_accuracy", 1.6888e-4), (73, "gmean", 1.6890e-4),
    (1, "accuracy", 0.438014), (1, "f1", 0.432703), (1, "balanced_accuracy", 0.438014), (1, "gmean", 0.438148),
])
def test_anyloss_reference_values(L, metric, expected):
    # The spec's values use the paper's formulas (no eps in the denominators)
    got = float(losses.get("anyloss", metric=metric, L=L, eps=0.0)(P4, Y4))
    assert got == pytest.approx(expected, rel=2e-4 if L == 73 else 1e-5)


def test_anyloss_eps_only_pads_the_denominator():
    c = binary.soft_confusion(P4, Y4, 73.0)
    f1 = 2 * c["tp"] / (c["P"] + c["tp"] + c["fp"] + 1e-5)
    assert torch.allclose(losses.get("anyloss")(P4, Y4), 1 - f1, atol=0, rtol=1e-14)


def test_anyloss_fbeta_with_beta_one_is_f1_and_amplifier_fixes_one_half():
    assert float(losses.get("anyloss", metric="fbeta", beta=1.0)(P4, Y4)) == float(losses.get("anyloss")(P4, Y4))
    for L in (1.0, 30.0, 73.0):
        assert float(binary.amplified(torch.zeros(1), L)) == 0.5


def test_anyloss_of_perfect_hard_predictions_is_nearly_zero():
    z = torch.tensor([40.0, -40.0, 40.0], dtype=torch.float64)
    for metric in binary.METRICS:
        assert float(losses.get("anyloss", metric=metric)(z, torch.tensor([1, 0, 1]))) < 1e-4


# --- EnsLoss (spec 5.3: properties of the drawn derivatives) ------------------------------------------------


@SETTINGS
@given(seed=seeds, lam=st.sampled_from([0.0, 0.5, 1.0, -0.5]))
def test_ensloss_derivatives_are_negative_monotone_clipped_with_a_tail(seed, lam):
    g0 = torch.Generator().manual_seed(seed)
    s = 3 * torch.randn(64, generator=g0, dtype=torch.float64)
    g = losses.ensloss_derivatives(s, lam=lam, generator=torch.Generator().manual_seed(seed + 1))
    assert (g <= -1e-6).all() and (g >= -1 - 1e-6).all()          # negative (calibrated), clipped at -1
    order = s.argsort()
    assert (g[order].diff() >= -1e-15).all()                     # non-decreasing in the margin: convex
    big = s > 1
    assert (g[big].abs() <= 1 / s[big] + 1e-6).all()             # the superlinear tail


@SETTINGS
@given(seed=seeds)
def test_ensloss_gradient_is_g_times_y_over_b(seed):
    _, (f, t) = make_inputs("ensloss", seed=seed, batch=10)
    f = f.requires_grad_(True)
    loss = losses.get("ensloss", generator=torch.Generator().manual_seed(seed))
    (grad,) = torch.autograd.grad(loss(f, t), f)
    y = 2 * t.double() - 1
    g = losses.ensloss_derivatives(y * f.detach(), generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(grad, g * y / len(f), atol=1e-15)


def test_ensloss_is_reproducible_with_a_generator_and_random_without_reset():
    _, (f, t) = make_inputs("ensloss", batch=32)
    a = losses.get("ensloss", generator=torch.Generator().manual_seed(0))
    b = losses.get("ensloss", generator=torch.Generator().manual_seed(0))
    first = a(f, t)
    assert torch.equal(first, b(f, t)) and not torch.equal(first, a(f, t))  # a fresh loss at every call


def test_ensloss_box_cox_one_gives_derivatives_in_minus_one_zero():  # spec 5.3, lam = 1
    s = torch.linspace(-2, 0.9, 200, dtype=torch.float64)
    g = losses.ensloss_derivatives(s, lam=1.0, generator=torch.Generator().manual_seed(0))
    assert (g >= -1 - 1e-6).all() and (g < 0).all() and (g > -1e-5).any()  # some draws with z < -1 give 0


# --- AUC-M (spec 7a) -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha, expected", [(0.0, 0.205), (1.0, 0.055)])
def test_auc_margin_reference_values(alpha, expected):
    loss = losses.get("auc_margin").double()
    with torch.no_grad():
        loss.alpha.fill_(alpha)
    assert loss(logit([0.9, 0.1]), torch.tensor([1, 0])).item() == pytest.approx(expected, abs=1e-12)


def test_auc_margin_saddle_value():  # spec 7a: 0.0424 = 0.24 (0.01 + 0.006667 + 0.16)
    h, y = [0.9, 0.7, 0.2, 0.1, 0.3], torch.tensor([1, 1, 0, 0, 0])
    loss = losses.get("auc_margin").double()
    with torch.no_grad():
        loss.a.fill_(0.8), loss.b.fill_(0.2), loss.alpha.fill_(0.4)
    assert loss(logit(h), y).item() == pytest.approx(0.24 * (0.01 + 0.02 / 3 + 0.16), abs=1e-12)
    # closed_form puts a, b and alpha at that saddle point by itself
    assert losses.get("auc_margin", closed_form=True)(logit(h), y).item() == pytest.approx(0.0424, abs=1e-12)


@SETTINGS
@given(seed=seeds)
def test_auc_margin_closed_form_gradient_is_the_gradient_at_the_saddle(seed):
    _, (s, y) = make_inputs("auc_margin", seed=seed, batch=8)
    s = s.requires_grad_(True)
    (g_closed,) = torch.autograd.grad(losses.get("auc_margin", closed_form=True)(s, y), s)
    h, pos = torch.sigmoid(s.detach()), y.bool()
    learned = losses.get("auc_margin").double()
    with torch.no_grad():  # a*, b*, alpha* of this batch
        learned.a.fill_(h[pos].mean()), learned.b.fill_(h[~pos].mean())
        learned.alpha.fill_(max(1.0 - float(h[pos].mean() - h[~pos].mean()), 0.0))
    (g_saddle,) = torch.autograd.grad(learned(s, y), s)
    assert torch.allclose(g_closed, g_saddle, atol=1e-12)


def test_auc_margin_alpha_ascends_and_stays_non_negative():
    loss = losses.get("auc_margin").double()
    z, y = logit([0.6, 0.4, 0.5]), torch.tensor([1, 0, 0])
    loss(z, y).backward()
    # dL/dalpha at alpha = 0 is 2 (p(1-p)m + E[...]) > 0 here: the reversed gradient is negative, so a
    # descent step increases alpha (the max player ascends).
    assert loss.alpha.grad.item() < 0
    with torch.no_grad():
        loss.alpha.fill_(-3.0)
    loss(z, y)
    assert loss.alpha.item() == 0.0
    assert {n for n, _ in loss.named_parameters()} == {"a", "b", "alpha"}


def test_auc_margin_trains_a_b_and_alpha_towards_the_saddle():
    torch.manual_seed(0)
    h = torch.tensor([0.9, 0.7, 0.2, 0.1, 0.3], dtype=torch.float64)
    y = torch.tensor([1, 1, 0, 0, 0])
    loss = losses.get("auc_margin").double()
    opt = torch.optim.SGD(loss.parameters(), lr=0.5)
    for _ in range(2000):
        opt.zero_grad()
        loss(logit(h), y).backward()
        opt.step()
    assert loss.a.item() == pytest.approx(0.8, abs=1e-3) and loss.b.item() == pytest.approx(0.2, abs=1e-3)
    assert loss.alpha.item() == pytest.approx(0.4, abs=1e-3)


# --- MW (spec 7b) --------------------------------------------------------------------------------------------


def test_bce_is_torch_bce_with_the_positive_weight():
    s, y = P4, Y4
    expected = F.binary_cross_entropy_with_logits(s, y.double(), pos_weight=torch.tensor(3.0, dtype=torch.float64))
    assert torch.allclose(losses.get("bce", pos_weight=3.0)(s, y), expected)
    assert torch.allclose(losses.get("bce", reduction="none")(s, y).mean(), losses.get("bce")(s, y))


def test_mw_reference_value():
    scores, y = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64), torch.tensor([1, 0, 0])
    assert float(losses.get("mw")(scores, y)) == pytest.approx(0.220095, abs=1e-6)


@SETTINGS
@given(seed=seeds, shift=st.floats(-50, 50))
def test_mw_is_shift_invariant_and_bounds_one_minus_auc(seed, shift):
    from sklearn.metrics import roc_auc_score
    loss, (s, y) = make_inputs("mw", seed=seed, batch=12)
    assert torch.allclose(loss(s + shift, y), loss(s, y), atol=1e-10)
    assert float(loss(s, y)) / math.log(2) >= 1 - roc_auc_score(y.numpy(), s.numpy()) - 1e-12


# --- every binary loss: empty classes, invariances, standards ------------------------------------------------


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("only", [0, 1])
def test_a_batch_with_one_class_is_finite_and_documented(name, only):
    loss, (s, _) = make_inputs(name)
    s = s.requires_grad_(True)
    value = loss(s, torch.full((len(s),), only))
    assert torch.isfinite(value) and _grads_finite(value, s)
    if name in ("auc_margin", "mw"):
        assert value.item() == 0.0
        if name == "auc_margin":
            assert losses.get(name, closed_form=True)(s, torch.full((len(s),), only)).item() == 0.0
    if name == "bce":
        assert value.item() > 0
    if name == "anyloss":  # F1 with no positives: metric 0, loss 1
        assert only == 1 or value.item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", ["anyloss", "auc_margin", "mw"])
@SETTINGS
@given(seed=seeds)
def test_binary_losses_are_invariant_to_batch_permutation(seed, name):
    loss, (s, y) = make_inputs(name, seed=seed)
    perm = torch.randperm(len(s), generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(loss(s[perm], y[perm]), loss(s, y), atol=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_binary_targets_are_checked(name):
    loss, (s, y) = make_inputs(name)
    with pytest.raises(ValueError, match=r"target.*\{0, 1\}"):
        loss(s, y + 1)
    with pytest.raises(ValueError, match="target must have shape"):
        loss(s, y[:-1])


@pytest.mark.parametrize("name, bad", [("anyloss", {"metric": "auc"}), ("anyloss", {"L": 0.0}),
                                       ("anyloss", {"eps": -1.0}),
                                       ("ensloss", {"clip": 0.5}), ("auc_margin", {"margin": -1.0}),
                                       ("auc_margin", {"imratio": 1.5}),
                                       ("auc_margin", {"imratio": 1.0}), ("auc_margin", {"imratio": 0.0}),
                                       ("mw", {"scale": 0.0})])
def test_bad_binary_parameters_are_rejected_by_name(name, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        losses.get(name, **bad)


def test_binary_losses_train_with_fit():
    from sklearn.metrics import roc_auc_score
    ds = data.one_vs_rest(data.digits(seed=0), positive=3, imbalance=5.0, seed=0)
    for name in BINARY:
        model = models.for_kind("binary", ds.X_train.shape[1], 2, embedding_dim=8, hidden=(16,), seed=0)
        kwargs = {"generator": torch.Generator().manual_seed(0)} if name == "ensloss" else {}
        # AUC-M starts by pulling every score to a = b = 0 (sigmoid saturates); it needs ~10 epochs here
        train.fit(model, losses.get(name, **kwargs), ds, epochs=10, batch_size=64, verbose=False, record=())
        with torch.no_grad():
            scores = model(ds.X_test).squeeze(-1)
        assert roc_auc_score(ds.y_test.numpy(), scores.numpy()) > 0.9, name  # ranking; AUC losses set no threshold


# --- multi-sample dropout (spec 12) --------------------------------------------------------------------------


def _head(samples=4, p=0.5):
    head = models.MultiSampleDropout(6, 3, samples=samples, p=p, seed=0).double()
    feats = torch.randn(5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return head, feats, torch.tensor([0, 1, 2, 0, 1])


def test_multi_sample_dropout_equals_the_plain_loss_in_eval_mode_and_at_p_zero():
    head, feats, y = _head()
    plain = F.cross_entropy(head.fc(feats), y)
    head.eval()
    assert torch.allclose(head.loss(F.cross_entropy, feats, y), plain)
    assert torch.allclose(F.cross_entropy(head(feats), y), plain)
    head0, *_ = _head(p=0.0)
    assert torch.allclose(head0.train().loss(F.cross_entropy, feats, y), plain)


def test_multi_sample_dropout_is_the_mean_of_m_shared_weight_runs():
    head, feats, y = _head(samples=3)
    got = head.loss(F.cross_entropy, feats, y, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    keep = torch.rand((3, *feats.shape), generator=g, dtype=feats.dtype) >= 0.5
    manual = [F.cross_entropy(head.fc(feats * keep[m] / 0.5), y) for m in range(3)]
    assert torch.allclose(got, torch.stack(manual).mean())


def test_more_samples_lower_the_variance_of_the_loss():
    draws = {}
    for m in (1, 8):
        head, feats, y = _head(samples=m)
        g = torch.Generator().manual_seed(0)
        draws[m] = torch.stack([head.loss(F.cross_entropy, feats, y, g) for _ in range(300)]).detach()
    assert draws[8].var() < 0.3 * draws[1].var()                         # about 1/M
    assert abs(draws[8].mean() - draws[1].mean()) < 4 * draws[1].std() / math.sqrt(300)  # same expectation


def test_multi_sample_dropout_trains_with_fit_and_is_deterministic():
    ds = data.digits(seed=0)
    runs = []
    for _ in range(2):
        model = models.multi_sample_dropout_classifier(models.MLP(64, 16, (32,), seed=0), 10, samples=4, seed=0)
        runs.append(train.fit(model, losses.get("cross_entropy"), ds, epochs=2, batch_size=128, verbose=False,
                              record=(), batch_loss=train.multi_sample_batch_loss))
    assert runs[0].equals(runs[1]) and runs[0]["test_acc"].iloc[-1] > 0.7
    with pytest.raises(ValueError, match="MultiSampleDropout"):
        train.multi_sample_batch_loss(models.MLP(64, 4), F.cross_entropy, ds.X_train[:4], ds.y_train[:4], None)
    with pytest.raises(ValueError, match="samples"):
        models.MultiSampleDropout(4, 2, samples=0)
