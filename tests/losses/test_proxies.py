"""Proxy losses and softmax pair losses (issue 16): parity with pytorch-metric-learning (PML) on the same tensors
and weights (value and gradient), reference values of ../shared/reference/losses-wave2.md §2.1-2.6, edge cases."""

import math

import pytest
import torch
from conftest import make_inputs

from workbench import analysis, losses
from workbench.losses.softmax_pairs import npair_indices

pml = pytest.importorskip("pytorch_metric_learning.losses")

# The toy batch of losses-wave2.md §2 (unit vectors, two classes) and its proxies.
E = torch.tensor([(1, 0), (0.8, 0.6), (0, 1), (-0.6, 0.8)], dtype=torch.float64)
Y = torch.tensor([0, 0, 1, 1])
P = torch.tensor([(1, 0.2), (0.1, 1)], dtype=torch.float64)
# The 6-point batch of §2.6.
E6 = torch.tensor([(1, 0), (.9, .1), (0, 1), (.2, .9), (.5, .5), (.6, .4)], dtype=torch.float64)
Y6 = torch.tensor([0, 0, 1, 1, 2, 2])


def batch(n=16, dim=8, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


def with_weight(name, weight, **kw):
    loss = losses.get(name, num_classes=kw.pop("num_classes"), embedding_dim=weight.shape[1], **kw).double()
    with torch.no_grad():
        loss.weight.copy_(weight)
    return loss


def value_and_grads(loss, x, y, params):
    x = x.clone().requires_grad_(True)
    value = loss(x, y)
    grads = torch.autograd.grad(value, [x, *params])
    return value.detach(), grads


# --- parity with PML: value, gradient on the embeddings and on the proxies ------------------------------

# (our name, our kwargs, PML class builder, PML weight attribute, transposed?)
PROXY_CASES = [
    ("proxy_anchor", {}, lambda c, d: pml.ProxyAnchorLoss(c, d, margin=0.1, alpha=32), "proxies", False),
    ("proxy_anchor", {"margin": 0.3, "alpha": 8.0}, lambda c, d: pml.ProxyAnchorLoss(c, d, margin=0.3, alpha=8),
     "proxies", False),
    ("proxy_nca", {}, lambda c, d: pml.ProxyNCALoss(c, d), "proxies", False),
    ("proxy_nca", {"scale": 32.0}, lambda c, d: pml.ProxyNCALoss(c, d, softmax_scale=32), "proxies", False),
    ("soft_triple", {"tau": 0.0}, lambda c, d: pml.SoftTripleLoss(c, d), "fc", True),  # PML has no regulariser
    ("soft_triple", {"tau": 0.0, "centers_per_class": 3, "lam": 10.0, "gamma": 0.5, "margin": 0.1},
     lambda c, d: pml.SoftTripleLoss(c, d, centers_per_class=3, la=10, gamma=0.5, margin=0.1), "fc", True),
    ("subcenter_arcface", {}, lambda c, d: pml.SubCenterArcFaceLoss(num_classes=c, embedding_size=d,
                                                                    margin=math.degrees(0.5)), "W", True),
    ("subcenter_arcface", {"sub_centers": 2, "scale": 30.0, "margin": 0.3},
     lambda c, d: pml.SubCenterArcFaceLoss(num_classes=c, embedding_size=d, margin=math.degrees(0.3), scale=30,
                                           sub_centers=2), "W", True),
]


@pytest.mark.parametrize("name, kw, build, attr, transposed", PROXY_CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_proxy_losses_equal_pml_in_value_and_gradient(name, kw, build, attr, transposed, seed):
    x, y = batch(seed=seed)
    torch.manual_seed(seed)
    ours = losses.get(name, num_classes=5, embedding_dim=8, **kw).double()
    theirs = build(5, 8).double()
    their_weight = getattr(theirs, attr)
    with torch.no_grad():
        their_weight.copy_(ours.weight.T if transposed else ours.weight)
    value, (gx, gw) = value_and_grads(ours, x, y, [ours.weight])
    their_value, (their_gx, their_gw) = value_and_grads(theirs, x, y, [their_weight])
    assert value.item() == pytest.approx(their_value.item(), rel=1e-9, abs=1e-9)
    assert torch.allclose(gx, their_gx, atol=1e-9)
    assert torch.allclose(gw, their_gw.T if transposed else their_gw, atol=1e-9)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: losses.get("circle", margin=0.4, gamma=80.0), lambda: pml.CircleLoss(m=0.4, gamma=80)),
    (lambda: losses.get("circle"), lambda: pml.CircleLoss(m=0.25, gamma=256)),
    (lambda: losses.get("npairs"), lambda: pml.NPairsLoss()),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pair_losses_equal_pml_in_value_and_gradient(ours, theirs, seed):
    x, y = batch(n=20, classes=4, seed=seed)
    value, (gx,) = value_and_grads(ours(), x, y, [])
    their_value, (their_gx,) = value_and_grads(theirs(), x, y, [])
    assert value.item() == pytest.approx(their_value.item(), rel=1e-9, abs=1e-9)
    assert torch.allclose(gx, their_gx, atol=1e-9)


# --- reference values (losses-wave2.md §2, DERIVED + PML match) ------------------------------------------

def test_proxy_anchor_reference_values():
    loss = with_weight("proxy_anchor", P, num_classes=2)
    assert loss(E, Y).item() == pytest.approx(17.1639, abs=1e-4)                     # §2.1 toy batch
    assert loss(E, torch.zeros(4, dtype=torch.long)).item() == pytest.approx(34.5273, abs=1e-4)  # all labels 0


def test_proxy_nca_reference_values():
    assert with_weight("proxy_nca", P, num_classes=2)(E, Y).item() == pytest.approx(0.231977, abs=1e-6)  # §2.2
    assert with_weight("proxy_nca", P, num_classes=2, scale=32.0)(E, Y).item() == pytest.approx(1.34882e-7,
                                                                                                rel=1e-4)


def test_soft_triple_reference_values_and_regulariser():
    # §2.3: C=2, K=2, centres W (dim x C·K) = [[1,.9,-.2,.1],[.1,.5,1,.9]] -> L_cls 0.000815556, R 0.177871,
    # L (τ = 0.2) 0.0363897
    w = torch.tensor([[1, 0.9, -0.2, 0.1], [0.1, 0.5, 1, 0.9]], dtype=torch.float64).T
    loss = with_weight("soft_triple", w, num_classes=2, centers_per_class=2)
    assert loss.regularizer().item() == pytest.approx(0.177871, abs=1e-6)
    assert loss(E, Y).item() == pytest.approx(0.0363897, abs=1e-7)
    assert with_weight("soft_triple", w, num_classes=2, centers_per_class=2, tau=0.0)(E, Y).item() == \
        pytest.approx(0.000815556, abs=1e-9)


def test_soft_triple_regulariser_edge_cases():
    # K = 1: no pair of centres, no regulariser (official code skips it); identical centres: sqrt(1e-5) per pair
    one = losses.get("soft_triple", num_classes=3, embedding_dim=4, centers_per_class=1)
    assert one.regularizer().item() == 0
    same = with_weight("soft_triple", torch.ones(6, 2, dtype=torch.float64), num_classes=3, centers_per_class=2)
    # 3 classes x 1 pair each, divided by C·K·(K-1) = 6
    assert same.regularizer().item() == pytest.approx(3 * math.sqrt(1e-5) / 6, rel=1e-6)


def test_soft_triple_reductions_carry_the_regulariser_once_per_sample():
    x, y = batch()
    torch.manual_seed(0)
    mean = losses.get("soft_triple", num_classes=5, embedding_dim=8).double()
    plain = losses.get("soft_triple", num_classes=5, embedding_dim=8, tau=0.0).double()
    plain.load_state_dict(mean.state_dict())
    assert mean(x, y).item() == pytest.approx(plain(x, y).item() + 0.2 * mean.regularizer().item(), rel=1e-12)


def test_subcenter_arcface_reference_values():
    # §2.4: W = [[1,0,.2,-1,0,.5],[0,1,1,.1,-1,1]] (C=2, K=3): m = 0.5 rad -> 23.4993, PML 28.6° -> 23.4632
    w = torch.tensor([[1, 0, .2, -1, 0, .5], [0, 1, 1, .1, -1, 1]], dtype=torch.float64).T
    assert with_weight("subcenter_arcface", w, num_classes=2)(E, Y).item() == pytest.approx(23.4993, abs=1e-4)
    pml_margin = with_weight("subcenter_arcface", w, num_classes=2, margin=math.radians(28.6))
    assert pml_margin(E, Y).item() == pytest.approx(23.4632, abs=1e-4)


def test_subcenter_arcface_outliers_equal_pml():
    x, y = batch(n=40, classes=3, seed=3)
    torch.manual_seed(0)
    ours = losses.get("subcenter_arcface", num_classes=3, embedding_dim=8).double()
    theirs = pml.SubCenterArcFaceLoss(num_classes=3, embedding_size=8).double()
    with torch.no_grad():
        theirs.W.copy_(ours.weight.T)
    for threshold in (45.0, 75.0):
        outliers, dominant = ours.outliers(x, y, threshold=threshold)
        their_outliers, their_centres = theirs.get_outliers(x, y, threshold=threshold)
        assert sorted(outliers.tolist()) == sorted(their_outliers.tolist())
        # PML returns the dominant centres' weight columns; ours the sub-centre index per class
        assert torch.equal(ours.weight.view(3, 3, 8)[torch.arange(3), dominant].T, their_centres)
    assert len(ours.outliers(x, y, threshold=45.0)[0]) > 0  # the comparison above is not vacuous


def test_circle_reference_values():
    # §2.5 [DERIVED]: one anchor with s_p = 0.8, s_n = 0.4: (m=.25, γ=256) -> 19.2; (m=.4, γ=80) -> 6.77264e-5;
    # s_p = [.9, .7], s_n = [.3, .1], (.25, 256) -> 14.08; toy batch, PML (.4, 80) -> 3.20086
    def one_anchor(sp, sn, **kw):
        n = 1 + len(sp) + len(sn)
        sim = torch.eye(n, dtype=torch.float64)
        sim[0, 1:] = sim[1:, 0] = torch.tensor([*sp, *sn], dtype=torch.float64)
        labels = torch.tensor([0] * (1 + len(sp)) + list(range(1, 1 + len(sn))))
        return losses.get("circle", reduction="none", **kw).from_similarity(sim, labels)[0].item()

    assert one_anchor([0.8], [0.4]) == pytest.approx(19.2, abs=1e-6)
    assert one_anchor([0.8], [0.4], margin=0.4, gamma=80.0) == pytest.approx(6.77264e-5, rel=1e-5)
    assert one_anchor([0.9, 0.7], [0.3, 0.1]) == pytest.approx(14.08, abs=1e-4)
    assert losses.get("circle", margin=0.4, gamma=80.0)(E, Y).item() == pytest.approx(3.20086, abs=1e-5)
    assert losses.get("circle")(E, torch.zeros(4, dtype=torch.long)).item() == 0  # single class: no negative


def test_circle_pair_weights_are_the_self_paced_weights():
    # With α detached, dL/ds_p = -γ α_p · (softmax share) and dL/ds_n = +γ α_n · (share): for one anchor with one
    # positive and one negative the shares are both σ(z), z the softplus argument.
    m, gamma, sp, sn = 0.25, 256.0, 0.8, 0.4
    x = torch.tensor([[1.0, 0.0], [sp, math.sqrt(1 - sp * sp)], [sn, -math.sqrt(1 - sn * sn)]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1])
    loss = losses.get("circle", reduction="sum")
    weights = analysis.pair_weights(loss, x, labels)
    alpha_p, alpha_n = 1 + m - sp, sn + m
    z = gamma * (alpha_n * (sn - m) - alpha_p * (sp - 1 + m))
    share = torch.sigmoid(torch.tensor(z, dtype=torch.float64)).item()
    assert weights[0, 1].item() == pytest.approx(-gamma * alpha_p * share, rel=1e-9)
    assert weights[0, 2].item() == pytest.approx(gamma * alpha_n * share, rel=1e-9)


def test_circle_without_detached_weights_passes_gradcheck():
    # The default detaches α (paper, PML), so its gradient is not the derivative of the value by design; the
    # flag differentiates through α and is held to finite differences.
    x, y = batch(n=10, dim=4, classes=3)
    x.requires_grad_(True)
    loss = losses.get("circle", gamma=16.0, detach_weights=False)
    assert torch.autograd.gradcheck(lambda t: loss(t, y), (x,), eps=1e-6, atol=1e-5)


def test_npairs_reference_values_and_pair_choice():
    assert losses.get("npairs")(E6, Y6).item() == pytest.approx(0.852720, abs=1e-6)  # §2.6 (normalised)
    anchors, positives = npair_indices(torch.tensor([2, 0, 1, 0, 2, 0, 3]))
    assert anchors.tolist() == [1, 0] and positives.tolist() == [3, 4]  # labels 0 and 2; 1 and 3 are singletons
    assert losses.get("npairs")(E6, torch.arange(6)).item() == 0  # no positive pair
    none = losses.get("npairs", reduction="none")(E6, Y6)
    assert none[[1, 3, 5]].tolist() == [0, 0, 0] and (none[[0, 2, 4]] > 0).all()


@pytest.mark.parametrize("name", ["circle", "npairs"])
def test_from_similarity_equals_forward(name):
    x, y = batch(n=12, classes=3)
    loss = losses.get(name)
    sim = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    assert loss.from_similarity(sim, y).item() == pytest.approx(loss(x, y).item(), rel=1e-12)


# --- the margin kind: margin-free logits, hyper-parameters and inputs refused -----------------------------

@pytest.mark.parametrize("name", ["proxy_anchor", "proxy_nca", "soft_triple", "subcenter_arcface"])
def test_logits_without_labels_are_margin_free_and_predict(name):
    loss, (x, y) = make_inputs(name)
    plain, adjusted = loss.logits(x), loss.logits(x, y)
    assert plain.shape == adjusted.shape == (len(x), 3)
    off_target = torch.nn.functional.one_hot(y, 3) == 0
    if name in ("soft_triple", "subcenter_arcface"):  # the margin touches the target column only
        assert torch.equal(plain[off_target], adjusted[off_target])
    if name != "proxy_nca":  # ProxyNCA has no margin
        assert not torch.equal(plain, adjusted)


def test_weights_are_class_major_for_sub_centres():
    loss = losses.get("soft_triple", num_classes=3, embedding_dim=4, centers_per_class=2).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    with torch.no_grad():
        loss.weight.zero_()
        loss.weight[2 * 2 + 1] = x[0]  # class 2's second centre on x[0]: x[0] is nearest to class 2
    assert loss.logits(x[:1]).argmax().item() == 2
    sub = losses.get("subcenter_arcface", num_classes=3, embedding_dim=4, sub_centers=3).double()
    with torch.no_grad():
        sub.weight.copy_(-x[0].expand(9, 4))
        sub.weight[1 * 3 + 2] = x[0]
    assert sub.logits(x[:1]).argmax().item() == 1 and sub.weight.shape == (9, 4)


@pytest.mark.parametrize("name, bad, named", [
    ("proxy_anchor", {"alpha": 0.0}, "alpha"), ("proxy_anchor", {"alpha": math.inf}, "alpha"),
    ("proxy_anchor", {"margin": -0.1}, "margin"), ("proxy_anchor", {"margin": True}, "margin"),
    ("proxy_nca", {"scale": math.nan}, "scale"), ("proxy_nca", {"scale": "1"}, "scale"),
    ("soft_triple", {"centers_per_class": 0}, "centers_per_class"),
    ("soft_triple", {"centers_per_class": 2.0}, "centers_per_class"), ("soft_triple", {"gamma": 0}, "gamma"),
    ("soft_triple", {"lam": -1.0}, "lam"), ("soft_triple", {"tau": math.nan}, "tau"),
    ("soft_triple", {"margin": math.inf}, "margin"),
    ("subcenter_arcface", {"sub_centers": True}, "sub_centers"), ("subcenter_arcface", {"margin": 4.0}, "margin"),
    ("subcenter_arcface", {"scale": math.inf}, "scale"),
    ("proxy_nca", {"reduction": "avg"}, "reduction"),
])
def test_bad_hyper_parameters_name_the_argument(name, bad, named):
    with pytest.raises(ValueError, match=named):
        losses.get(name, num_classes=3, embedding_dim=4, **bad)


@pytest.mark.parametrize("name, bad, named", [
    ("circle", {"margin": -0.1}, "margin"), ("circle", {"margin": 1.5}, "margin"),
    ("circle", {"gamma": 0.0}, "gamma"), ("circle", {"gamma": math.inf}, "gamma"),
    ("circle", {"gamma": True}, "gamma"), ("circle", {"detach_weights": 1}, "detach_weights"),
    ("npairs", {"reduction": "avg"}, "reduction"),
])
def test_bad_pair_hyper_parameters_name_the_argument(name, bad, named):
    with pytest.raises(ValueError, match=named):
        losses.get(name, **bad)


@pytest.mark.parametrize("name", ["proxy_anchor", "proxy_nca", "soft_triple", "subcenter_arcface", "circle",
                                  "npairs"])
def test_bad_inputs_are_refused(name):
    loss, (x, y) = make_inputs(name)
    with pytest.raises(ValueError, match="at least one row"):
        loss(x[:0], y[:0])
    x_inf = x.clone()
    x_inf[0, 0] = math.inf
    with pytest.raises(ValueError, match="embeddings"):
        loss(x_inf, y)
    with pytest.raises(ValueError, match="labels"):
        loss(x, y.double())
    if losses.info(name).kind == "margin":
        with pytest.raises(ValueError, match="num_classes"):
            loss(x, y + 3)
        with pytest.raises(ValueError, match="embedding_dim"):
            loss(torch.randn(len(x), 5, dtype=x.dtype), y)


@pytest.mark.parametrize("name", ["proxy_anchor", "proxy_nca", "soft_triple", "subcenter_arcface", "circle",
                                  "npairs"])
def test_every_slider_endpoint_builds_a_loss_that_runs(name):
    kind_args = {"num_classes": 3, "embedding_dim": 4} if losses.info(name).kind == "margin" else {}
    _, (x, y) = make_inputs(name)
    for pname, param in losses.info(name).params.items():
        for value in (param.low, param.high):
            value = type(param.default)(value)
            loss = losses.get(name, **kind_args, **{pname: value}).double()
            assert torch.isfinite(loss(x, y)), (pname, value)


@pytest.mark.parametrize("name", ["proxy_anchor", "proxy_nca", "soft_triple", "subcenter_arcface", "circle",
                                  "npairs"])
def test_one_class_and_one_sample_are_finite(name):
    loss, (x, y) = make_inputs(name)
    x.requires_grad_(True)
    for xs, ys in ((x, torch.zeros_like(y)), (x[:1], y[:1])):
        value = loss(xs, ys)
        (grad,) = torch.autograd.grad(value, x)
        assert torch.isfinite(value) and torch.isfinite(grad).all()


def test_circle_reductions_agree():
    x, y = batch(n=12, classes=3)
    none = losses.get("circle", reduction="none")(x, y)
    assert none.shape == (12,)
    assert losses.get("circle", reduction="sum")(x, y).item() == pytest.approx(none.sum().item(), rel=1e-12)
    assert losses.get("circle")(x, y).item() == pytest.approx(none[none > 0].mean().item(), rel=1e-12)


def test_npairs_pair_weights_live_on_anchor_to_positive_entries_only():
    # ℓ_i reads S[anchor_i, positive_j] only: dL/dS is zero elsewhere; on the row of anchor i it is the softmax
    # minus the one-hot target, divided by N (mean over pairs).
    loss = losses.get("npairs")
    weights = analysis.pair_weights(loss, E6, Y6)
    anchors, positives = npair_indices(Y6)
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[anchors[:, None], positives[None, :]] = True
    assert (weights[~mask] == 0).all()
    sim = torch.nn.functional.normalize(E6, dim=1) @ torch.nn.functional.normalize(E6, dim=1).T
    block = sim[anchors][:, positives]
    expected = (torch.softmax(block, dim=1) - torch.eye(3, dtype=torch.float64)) / 3
    assert torch.allclose(weights[anchors][:, positives], expected, atol=1e-12)
