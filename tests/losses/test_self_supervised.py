"""Barlow Twins, VICReg, DCL/DCLW, SimSiam, BYOL and SigLIP pinned to a peer (lightly 1.6.0), to hand
computations from the spec (../shared/reference/losses-wave2.md §1, values recomputed in float64 there), and
the model side of SimSiam/BYOL (models.Siamese, the views step)."""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs

from workbench import analysis, data, kinds, losses, models, train


def _lightly_module(name: str):
    """lightly's loss module ``name`` loaded by file: ``import lightly`` pulls torchvision, which the project does
    not install, so the package and ``lightly.utils`` are stubbed and only ``lightly/utils/dist.py`` (torch only)
    is loaded beside the loss file. Skips when lightly is not installed."""
    spec = importlib.util.find_spec("lightly")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lightly is not installed")
    root = Path(list(spec.submodule_search_locations)[0])
    saved = {k: sys.modules.get(k) for k in ("lightly", "lightly.utils", "lightly.utils.dist")}
    try:
        for pkg, path in (("lightly", root), ("lightly.utils", root / "utils")):
            stub = types.ModuleType(pkg)
            stub.__path__ = [str(path)]
            sys.modules[pkg] = stub
        for mod, path in (("lightly.utils.dist", root / "utils" / "dist.py"),
                          (f"lightly.loss.{name}", root / "loss" / f"{name}.py")):
            s = importlib.util.spec_from_file_location(mod, path)
            module = importlib.util.module_from_spec(s)
            sys.modules[mod] = module
            s.loader.exec_module(module)
            if mod == "lightly.utils.dist":
                sys.modules["lightly.utils"].dist = module
        return module
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _views(seed=0, b=8, d=5, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(b, 2, d, generator=g, dtype=torch.float64)


# Spec §1.1 / §1.2: z1, z2 with hand-checked values.
Z1 = torch.tensor([[1, 2, 0], [0, 1, 1], [2, 0, 1], [1, 1, 3]], dtype=torch.float64)
Z2 = torch.tensor([[1.5, 2, .5], [0, .5, 1], [2, 1, 1], [.5, 1, 2]], dtype=torch.float64)


# --- Barlow Twins ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lam", [5e-3, 0.0051, 0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_barlow_twins_equals_lightly(lam, seed):
    ref = _lightly_module("barlow_twins_loss").BarlowTwinsLoss(lambda_param=lam)
    v = _views(seed)
    assert torch.allclose(losses.get("barlow_twins", lam=lam)(v), ref(v[:, 0], v[:, 1]), rtol=1e-10, atol=1e-12)


def test_barlow_twins_spec_values():
    # losses-wave2.md §1.1 [DERIVED], λ = 0.0051: L = 0.137882; z2 = z1: 0.00362355.
    loss = losses.get("barlow_twins", lam=0.0051)
    assert loss(torch.stack([Z1, Z2], 1)).item() == pytest.approx(0.137882, abs=2e-6)
    assert loss(torch.stack([Z1, Z1], 1)).item() == pytest.approx(0.00362355, rel=1e-5)


def test_barlow_twins_is_a_function_of_the_cross_correlation():
    v = _views(3)
    loss = losses.get("barlow_twins")
    c = analysis.cross_correlation(v[:, 0], v[:, 1])
    assert torch.allclose(loss(v), loss.from_correlation(c))
    # the lens: dL/dC = -2(1 - C_ii) on the diagonal, 2 λ C_ij off it
    w = analysis.correlation_weights(loss, v)
    expected = 2 * loss.lam * c
    expected.diagonal().copy_(-2 * (1 - c.diagonal()))
    assert torch.allclose(w, expected)


def test_barlow_twins_and_vicreg_refuse_the_pair_weight_lens_by_saying_why():
    v = _views()
    for name in ("barlow_twins", "vicreg"):
        loss = losses.get(name)
        assert not hasattr(loss, "from_similarity")
        with pytest.raises(ValueError, match="feature statistics"):
            analysis.pair_weights(loss, v)
    with pytest.raises(ValueError, match="from_correlation"):
        analysis.correlation_weights(losses.get("vicreg"), v)


def test_a_views_class_without_from_similarity_or_a_reason_is_still_refused():
    class NoReason(torch.nn.Module):
        def forward(self, views, labels=None):
            return views.sum()

    with pytest.raises(ValueError, match="from_similarity"):
        kinds.get("views").check_loss_class(NoReason)
    NoReason.similarity_free = "a function of feature statistics"
    kinds.get("views").check_loss_class(NoReason)  # accepted: it says why


# --- VICReg ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, {"lam": 1.0, "mu": 3.0, "nu": 0.5, "eps": 1e-3}])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vicreg_equals_lightly(params, seed):
    module = _lightly_module("vicreg_loss")
    ref = module.VICRegLoss(lambda_param=params.get("lam", 25.0), mu_param=params.get("mu", 25.0),
                            nu_param=params.get("nu", 1.0), eps=params.get("eps", 1e-4))
    v = _views(seed, scale=0.3)  # std 0.3 < 1: the variance hinge is active
    assert torch.allclose(losses.get("vicreg", **params)(v), ref(v[:, 0], v[:, 1]), rtol=1e-10)


def test_vicreg_spec_values_and_terms():
    # losses-wave2.md §1.2 [DERIVED]: s = 0.25, v = 0.199249, c = 0.287326, L = 11.5186; inputs x0.1: L = 22.9376
    loss = losses.get("vicreg")
    t = loss.terms(torch.stack([Z1, Z2], 1))
    assert t["invariance"].item() == pytest.approx(0.25)
    assert t["variance"].item() == pytest.approx(0.199249, abs=1e-6)
    assert t["covariance"].item() == pytest.approx(0.287326, abs=1e-6)
    assert loss(torch.stack([Z1, Z2], 1)).item() == pytest.approx(11.5186, abs=1e-4)
    assert loss(0.1 * torch.stack([Z1, Z2], 1)).item() == pytest.approx(22.9376, abs=1e-4)


def test_vicreg_without_the_variance_term_prefers_a_point():
    # with mu = 0 shrinking both views to a point lowers the loss; the default hinge makes it costlier
    v = _views(1)
    small = 1e-3 * v
    assert losses.get("vicreg", mu=0.0)(small) < losses.get("vicreg", mu=0.0)(v)
    # the hinge charges the point mu * relu(1 - sqrt(var + eps)), about 25 * 0.99, on top of the rest
    assert losses.get("vicreg")(small) > losses.get("vicreg", mu=0.0)(small) + 24
    assert losses.get("vicreg")(small) > 24  # mu * relu(1 - sqrt(eps + ~0)) ~ 25 * 0.99


def test_vicreg_refuses_a_value_its_dtype_cannot_hold():
    with pytest.raises(ValueError, match="views.*overflows.*float32"):
        losses.get("vicreg")(_views().float() * 1e20)


# --- DCL / DCLW -----------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:To copy construct")  # lightly's torch.tensor(tensor) in its DCLW weights
@pytest.mark.parametrize("temperature", [0.1, 0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dcl_and_dclw_equal_lightly(temperature, seed):
    module = _lightly_module("dcl_loss")
    v = _views(seed)
    a, b = v[:, 0], v[:, 1]
    assert torch.allclose(losses.get("dcl", temperature=temperature)(v), module.DCLLoss(temperature)(a, b))
    for sigma in (0.5, 2.0):
        ours = losses.get("dclw", temperature=temperature, sigma=sigma)(v)
        assert torch.allclose(ours, module.DCLWLoss(temperature, sigma)(a, b))


def test_dcl_spec_values():
    # losses-wave2.md §1.4 [DERIVED]: τ=0.1 symmetric -0.898297, DCLW -0.890861; τ=0.5 DCL 0.653426, DCLW 0.654913
    z1 = F.normalize(torch.tensor([[1, 0], [0, 1], [1, 1]], dtype=torch.float64), dim=1)
    z2 = F.normalize(torch.tensor([[1, .2], [.1, 1], [1, .5]], dtype=torch.float64), dim=1)
    v = torch.stack([z1, z2], 1)
    assert losses.get("dcl")(v).item() == pytest.approx(-0.898297, abs=1e-6)
    assert losses.get("dclw")(v).item() == pytest.approx(-0.890861, abs=1e-6)
    assert losses.get("dcl", temperature=0.5)(v).item() == pytest.approx(0.653426, abs=1e-6)
    assert losses.get("dclw", temperature=0.5)(v).item() == pytest.approx(0.654913, abs=1e-6)


@pytest.mark.parametrize("name", ["dcl", "dclw", "simsiam", "byol"])
def test_forward_equals_from_similarity_and_pair_weights_work(name):
    loss, (v, _) = make_inputs(name)
    rows = v.reshape(-1, v.shape[-1])
    labels = torch.arange(len(v)).repeat_interleave(2)
    assert torch.allclose(loss(v), loss.from_similarity(analysis_cosines(rows), labels))
    w = analysis.pair_weights(loss, v)
    assert torch.isfinite(w).all() and w.abs().sum() > 0
    if name in ("simsiam", "byol"):  # no negatives: only the positive pairs carry a weight
        negatives = labels[:, None] != labels[None, :]
        assert (w[negatives] == 0).all()


def analysis_cosines(rows):
    z = F.normalize(rows, dim=1)
    return z @ z.T


def test_collapsed_dcl_is_log_2_b_minus_1():
    # spec §1.4: collapsed embeddings give log(2(B - 1))
    v = torch.ones(5, 2, 3, dtype=torch.float64)
    assert losses.get("dcl")(v).item() == pytest.approx(math.log(8))


def test_dclw_gradient_holds_its_weights_constant():
    # the weights are detached (as lightly): the gradient equals DCL's with those weights as constants
    v = _views(4).requires_grad_(True)
    loss = losses.get("dclw")
    (g,) = torch.autograd.grad(loss(v), v)
    u, w = F.normalize(v[:, 0], dim=1), F.normalize(v[:, 1], dim=1)
    weight = (2 - len(v) * torch.softmax((u * w).sum(1) / 0.5, 0)).detach()
    from workbench.losses.decoupled import _one_way
    manual = (_one_way(u @ w.T, u @ u.T, weight, 0.1) + _one_way(w @ u.T, w @ w.T, weight, 0.1)).mean() / 2
    (g_ref,) = torch.autograd.grad(manual, v)
    assert torch.allclose(g, g_ref)
    assert torch.autograd.gradcheck(lambda t: losses.get("dcl")(t), (_views(5).requires_grad_(True),))


# --- SimSiam / BYOL -------------------------------------------------------------------------------------------

P1 = torch.tensor([[1., 0, 0], [0, 1, 1]], dtype=torch.float64)
P2 = torch.tensor([[0., 1, 0], [1, 1, 0]], dtype=torch.float64)
T1 = torch.tensor([[1., 1, 0], [0, 1, 0]], dtype=torch.float64)
T2 = torch.tensor([[1., 0, 1], [0, 0, 1]], dtype=torch.float64)


def test_simsiam_and_byol_spec_values():
    # losses-wave2.md §1.3 [DERIVED]: SimSiam -0.707107; BYOL (sum of directions, batch mean) 1.17157
    p, z = torch.stack([P1, P2], 1), torch.stack([T1, T2], 1)
    assert losses.get("simsiam")(p, targets=z).item() == pytest.approx(-0.707107, abs=1e-6)
    assert losses.get("byol")(p, targets=z).item() == pytest.approx(1.17157, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_byol_is_4_plus_4_simsiam_on_the_same_tensors(seed):
    p, z = _views(seed), _views(seed + 10)
    assert torch.allclose(losses.get("byol")(p, targets=z), 4 + 4 * losses.get("simsiam")(p, targets=z))


def test_simsiam_equals_the_official_formula():
    # facebookresearch/simsiam main_simsiam.py: criterion = nn.CosineSimilarity(dim=1);
    # loss = -(criterion(p1, z2).mean() + criterion(p2, z1).mean()) * 0.5, with z detached in builder.py
    p, z = _views(7), _views(8)
    cos = torch.nn.CosineSimilarity(dim=1)
    ref = -(cos(p[:, 0], z[:, 1]).mean() + cos(p[:, 1], z[:, 0]).mean()) * 0.5
    assert torch.allclose(losses.get("simsiam")(p, targets=z), ref)


@pytest.mark.parametrize("name", ["simsiam", "byol"])
def test_stop_gradient_detaches_the_targets_and_can_be_switched_off(name):
    p, z = _views(1).requires_grad_(True), _views(2).requires_grad_(True)
    g_p, g_z = torch.autograd.grad(losses.get(name)(p, targets=z), (p, z), allow_unused=True)
    assert g_z is None and g_p.abs().sum() > 0
    (g_z,) = torch.autograd.grad(losses.get(name, stop_gradient=False)(p, targets=z), z)
    assert g_z.abs().sum() > 0
    # without stop-gradient the gradient is the derivative of the value (finite differences agree)
    assert torch.autograd.gradcheck(lambda a, b: losses.get(name, stop_gradient=False)(a, targets=b), (p, z))
    # with it, the gradient is the derivative with the targets held constant
    zc = z.detach()
    assert torch.autograd.gradcheck(lambda a: losses.get(name)(a, targets=zc), (p,))


def test_targets_must_match_the_views():
    p = _views()
    with pytest.raises(ValueError, match="targets"):
        losses.get("simsiam")(p, targets=p[:-1])
    with pytest.raises(ValueError, match="targets"):
        losses.get("byol")(p, targets=p.float())


def test_siamese_model_feeds_predictions_and_targets_and_byol_tracks_its_target():
    ds = data.digit_views(seed=0, image=False)
    enc = models.MLP(ds.X_train.shape[1], 8, hidden=(32,), seed=0)
    simsiam = models.Siamese(enc, 8, hidden=16)
    hist = train.fit(simsiam, losses.get("simsiam"), ds, epochs=1, batch_size=128, lr=1e-3, verbose=False)
    assert math.isfinite(hist.frame["loss"].iloc[-1])
    byol = models.Siamese(models.MLP(ds.X_train.shape[1], 8, hidden=(32,), seed=0), 8, hidden=16, momentum=0.5)
    before = [t.clone() for t in byol.target.parameters()]
    train.fit(byol, losses.get("byol"), ds, epochs=1, batch_size=256, lr=1e-3, verbose=False)
    after = list(byol.target.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))  # the EMA moved
    assert all(not t.requires_grad for t in after)  # and is never trained by the optimiser
    online = list(byol.encoder.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, online))  # lagging behind the online network


def test_siamese_outputs_without_predictor_and_the_ema_step():
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(0))
    enc = models.MLP(6, 4, hidden=(8,), seed=0)
    plain = models.Siamese(enc, 4, hidden=8, predictor=False)
    p, z = plain.siamese_outputs(x)
    assert torch.equal(p, z) and torch.equal(z, enc(x))  # p = z (the collapsing ablation), the target is z itself
    assert isinstance(plain.predictor, torch.nn.Identity) and plain.target is None
    with_head = models.Siamese(models.MLP(6, 4, hidden=(8,), seed=0), 4, hidden=8)
    p, z = with_head.siamese_outputs(x)
    assert torch.equal(z, enc(x)) and not torch.allclose(p, z)  # the predictor's output, the online z as target
    byol = models.Siamese(models.MLP(6, 4, hidden=(8,), seed=0), 4, hidden=8, momentum=0.75)
    with torch.no_grad():
        for q in byol.encoder.parameters():
            q.add_(1.0)  # the online network moves away from the target
    before = [t.clone() for t in byol.target.parameters()]
    byol.update_target()  # ξ ← τ ξ + (1 - τ) θ
    for old, new, online in zip(before, byol.target.parameters(), byol.encoder.parameters()):
        assert torch.allclose(new, 0.75 * old + 0.25 * online)
    p, target = byol.siamese_outputs(x)
    assert torch.equal(target, byol.target(x)) and not target.requires_grad
    with pytest.raises(ValueError, match="predictor"):
        models.Siamese(enc, 4, predictor=1)
    with pytest.raises(ValueError, match="momentum"):
        models.Siamese(enc, 4, momentum=1.5)


# --- SigLIP ---------------------------------------------------------------------------------------------------

def test_siglip_spec_values():
    # losses-wave2.md §1.5 [DERIVED]: x = I3, y = norm{(1,.1,0),(.2,1,0),(0,.3,1)}: t=10, b=-10 -> 0.813563;
    # t=10, b=-2.71 -> 0.508931; y = x: 0.693238 (= log 2 + 2 log(1 + e^-10))
    x = torch.eye(3, dtype=torch.float64)
    y = torch.tensor([[1, .1, 0], [.2, 1, 0], [0, .3, 1]], dtype=torch.float64)
    assert losses.get("siglip").double()(x, y).item() == pytest.approx(0.813563, abs=1e-6)
    assert losses.get("siglip", bias=-2.71).double()(x, y).item() == pytest.approx(0.508931, abs=1e-6)
    assert losses.get("siglip").double()(x, x).item() == pytest.approx(math.log(2) + 2 * math.log1p(math.exp(-10)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_siglip_equals_big_vision_formula(seed):
    # big_vision trainers/proj/image_text/siglip.py loss_fn: zimg, ztxt normalised by (norm + 1e-8);
    # logits = zimg @ ztxt.T * t + b; m1_diag1 = -1 + 2 eye; nll = -sum(log_sigmoid(m1_diag1 * logits), -1); mean
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    zi, zt = x / (x.norm(dim=1, keepdim=True) + 1e-8), y / (y.norm(dim=1, keepdim=True) + 1e-8)
    logits = zi @ zt.T * 10.0 - 10.0
    ref = -F.logsigmoid((2 * torch.eye(6, dtype=torch.float64) - 1) * logits).sum(-1).mean()
    assert torch.allclose(losses.get("siglip").double()(x, y), ref, rtol=1e-7)
    assert torch.allclose(losses.siglip_loss(x, y), ref, rtol=1e-7)


def test_siglip_learns_scale_and_bias_unless_told_not_to():
    loss = losses.get("siglip")
    assert {n for n, _ in loss.named_parameters()} == {"log_scale", "bias"}
    assert loss.scale == pytest.approx(10.0) and float(loss.bias) == -10.0
    fixed = losses.get("siglip", learnable=False)
    assert list(fixed.parameters()) == []
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    value = loss(x, y)
    grads = torch.autograd.grad(value, [loss.log_scale, loss.bias])
    assert all(g.abs() > 0 for g in grads)


# --- GroCo ----------------------------------------------------------------------------------------------------
# Reference written from the official code, read at ninatu/learning_by_sorting@108f501
# learning_by_sorting/losses/groco.py (GroCo.compute_loss) and Felix-Petersen/diffsort@6d583c7
# diffsort/networks.py (odd_even_network: the split/combine matrices) and functional.py (execute_sort, "cauchy"):
# the matrix form of the network, a different path from the loss's index operations.

def _odd_even_matrices(n):
    layers, shifted, even = [], False, n % 2 == 0
    for _ in range(n):
        k = n // 2 + shifted if even else n // 2 + 1
        sa, sb, cmin, cmax = (torch.zeros(k, n), torch.zeros(k, n), torch.zeros(n, k), torch.zeros(n, k))
        count = 0
        for i in range(int(shifted), n - 1, 2):
            sa[count, i], sb[count, i + 1], cmin[i, count], cmax[i + 1, count] = 1, 1, 1, 1
            count += 1
        corners = [0, n - 1] if (even and shifted) else ([0] if shifted else [n - 1]) if not even else []
        for c in corners:
            sa[count, c], sb[count, c], cmin[c, count], cmax[c, count] = 1, 1, .5, .5
            count += 1
        layers.append((sa, sb, cmin, cmax))
        shifted = not shifted
    return layers


def _diffsort_reference(x, steepness):
    X = torch.eye(x.shape[1], dtype=x.dtype).repeat(x.shape[0], 1, 1)
    for sa, sb, cmin, cmax in _odd_even_matrices(x.shape[1]):
        sa, sb, cmin, cmax = (m.to(x.dtype) for m in (sa, sb, cmin, cmax))
        a, b = x @ sa.T, x @ sb.T
        alpha = torch.atan(steepness * (b - a)) / math.pi + .5
        aX, bX = X @ sa.T, X @ sb.T
        w_min = alpha.unsqueeze(-2) * aX + (1 - alpha).unsqueeze(-2) * bX
        w_max = (1 - alpha).unsqueeze(-2) * aX + alpha.unsqueeze(-2) * bX
        X = (w_max @ cmax.T.unsqueeze(-3)) + (w_min @ cmin.T.unsqueeze(-3))
        x = (alpha * a + (1 - alpha) * b) @ cmin.T + ((1 - alpha) * a + alpha * b) @ cmax.T
    return X


def _groco_reference(views, topk_neg=10, steepness=1.0):
    b, v, _ = views.shape
    total = 0
    for n in range(v):
        anchor = views[:, n]
        pos = torch.stack([F.cosine_similarity(anchor, views[:, p], dim=1, eps=1e-8) for p in range(v) if p != n], 1)
        an = anchor / anchor.norm(dim=1, keepdim=True).clamp(min=1e-8)
        neg = (an @ an.T).masked_fill(torch.eye(b, dtype=torch.bool), -math.inf)
        pos = torch.sort(pos, dim=1).values
        neg = torch.flip(torch.topk(neg, k=topk_neg, dim=1).values, dims=[1])
        sims = torch.cat((neg, pos), 1)
        perm = _diffsort_reference(sims, steepness)
        target = torch.eye(sims.shape[1], dtype=sims.dtype).expand_as(perm)
        p_neg, p_pos = perm[:, :, :topk_neg].sum(2, keepdim=True), perm[:, :, topk_neg:].sum(2, keepdim=True)
        t_neg, t_pos = target[:, :, :topk_neg].sum(2, keepdim=True), target[:, :, topk_neg:].sum(2, keepdim=True)
        bce = torch.nn.BCELoss()
        total = total + (bce(p_pos.clamp(0, 1), t_pos) + bce(p_neg.clamp(0, 1), t_neg)) / 2
    return total / v


@pytest.mark.parametrize(("b", "v", "k", "steepness"), [(12, 2, 10, 1.0), (16, 3, 10, 1.0), (8, 2, 4, 4.0),
                                                      (9, 4, 5, 0.5)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_groco_equals_the_official_computation(b, v, k, steepness, seed):
    g = torch.Generator().manual_seed(seed)
    views = torch.randn(b, v, 6, generator=g, dtype=torch.float64)
    ours = losses.get("groco", topk_neg=k, steepness=steepness)(views)
    assert torch.allclose(ours, _groco_reference(views, k, steepness), rtol=1e-10)
    rows = views.reshape(-1, 6)
    labels = torch.arange(b).repeat_interleave(v)
    assert torch.allclose(losses.get("groco", topk_neg=k, steepness=steepness).from_similarity(
        analysis_cosines(rows), labels), ours)


def test_soft_sort_is_doubly_stochastic_and_sharpens_to_the_sorting_permutation():
    x = torch.tensor([[3., 1, 2, 0.5, -1]], dtype=torch.float64)
    for s in (1.0, 100.0):
        perm = losses.soft_sort_permutation(x, s)
        assert torch.allclose(perm.sum(1), torch.ones(1, 5, dtype=torch.float64))
        assert torch.allclose(perm.sum(2), torch.ones(1, 5, dtype=torch.float64))
    hard = losses.soft_sort_permutation(x, 1e4)[0]
    assert torch.equal(hard.argmax(1), torch.argsort(torch.argsort(x[0])))  # input i goes to its rank


def test_groco_orders_positives_above_negatives():
    # spec §12 tests: a large positive/negative gap gives a small loss; one positive view moved far away raises it;
    # the order of the instances does not matter
    g = torch.Generator().manual_seed(0)
    base = F.normalize(torch.randn(12, 1, 16, generator=g, dtype=torch.float64), dim=-1)
    aligned = torch.cat([base, base + 0.01 * torch.randn(12, 1, 16, generator=g, dtype=torch.float64)], 1)
    loss = losses.get("groco", steepness=16.0)
    separated = loss(aligned)
    broken = aligned.clone()
    broken[0, 1] = -broken[0, 0]  # instance 0's positive now below all its negatives
    assert separated < 0.1 and loss(broken) > separated
    perm = torch.randperm(12, generator=g)
    assert torch.allclose(loss(aligned[perm]), separated)


def test_groco_stop_grad_trains_only_the_anchor_and_gradchecks_without_it():
    views = _views(3, b=6, d=4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: losses.get("groco", stop_grad=False)(t), (views,))
    # with stop_grad the gradient is the derivative with the positives and negatives held constant:
    # a copy of the batch whose "other" side is frozen gives the same gradient on the anchors
    (g,) = torch.autograd.grad(losses.get("groco")(views), views)
    frozen = views.detach()

    def anchors_only(t):
        loss = losses.get("groco")
        unit, other = F.normalize(t, dim=2, eps=1e-8), F.normalize(frozen, dim=2, eps=1e-8)
        b = len(t)
        total = 0
        for a in range(2):
            pos = (unit[:, a] * other[:, 1 - a]).sum(1, keepdim=True)
            neg = (unit[:, a] @ other[:, a].T).masked_fill(torch.eye(b, dtype=torch.bool), -math.inf)
            total = total + loss._anchor_loss(pos, neg)
        return total / 2
    (g_ref,) = torch.autograd.grad(anchors_only(views), views)
    assert torch.allclose(g, g_ref)
