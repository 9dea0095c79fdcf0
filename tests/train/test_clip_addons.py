"""The CLIP add-ons SiamLIP, BYOLIP and SwALIP (workbench.train.ssl_recipes, workbench.models.clip_addons) against
a transcription of the official code, facebookresearch/clip-rocket@ebd9e58 ``losses.py`` (SiamLIPLoss L211-264,
SwALIPLoss L267-368) and ``main.py`` (momentum update L564-572, defaults L68-121): values on fixed tensors, where
the gradient stops, the EMA update and a short training run of each."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench import data, losses, models, train
from workbench.models import clip_addons
from workbench.train import ssl_recipes


def official_negative_cosine(p, v):
    # clip-rocket losses.py L215-218, SiamLIPLoss.negative_cosine_similarity
    p = F.normalize(p, dim=-1)
    v = F.normalize(v, dim=-1)
    return 2 - 2 * (p * v.detach()).sum(dim=1).mean()


def official_sinkhorn(Q, eps=0.05, iters=3):
    # clip-rocket losses.py L306-329 with world size 1, in-place as written there
    Q = torch.exp(Q / eps).t()
    B, K = Q.shape[1], Q.shape[0]
    Q /= torch.sum(Q)
    for _ in range(iters):
        Q /= torch.sum(Q, dim=1, keepdim=True)
        Q /= K
        Q /= torch.sum(Q, dim=0, keepdim=True)
        Q /= B
    Q *= B
    return Q.t()


def official_swalip(h_image_local, h_text_local, h_logit_scale, sinkhorn=official_sinkhorn):
    # clip-rocket losses.py L340-365 (one device, so the gathered lists are the local ones)
    h_image_local = [F.normalize(h) for h in h_image_local]
    h_text_local = [F.normalize(h) for h in h_text_local]
    logits_per_image_local = [[h @ h_all.t() for h_all in h_text_local] for h in h_image_local]
    logits_per_text_local = [[h @ h_all.t() for h_all in h_image_local] for h in h_text_local]
    targets_per_image_local = [[sinkhorn(t.detach().clone()) for t in i] for i in logits_per_image_local]
    targets_per_text_local = [[sinkhorn(i.detach().clone()) for i in t] for t in logits_per_text_local]

    def ce(logits, targets):
        return -torch.mean(torch.sum(targets * torch.log_softmax(logits, dim=1), dim=1))
    swalip_loss = 0
    for l1 in range(2):
        for l2 in range(2):
            t1, t2 = abs(l1 - 1), abs(l2 - 1)
            swalip_loss += (ce(logits_per_image_local[l1][l2] * h_logit_scale, targets_per_image_local[t1][t2])
                            + ce(logits_per_text_local[l1][l2] * h_logit_scale, targets_per_text_local[t1][t2])) / 2
    return swalip_loss / len(h_image_local) ** 2


def paired_model(kind="siamlip", momentum=None, seed=0):
    paired = data.paired_digits(seed=0)
    dual = models.DualEncoder(models.MLP(64, 16, hidden=(32,), seed=seed),
                              models.pca_encoder(paired.X_train[:, 64:], 16), split=64)
    if kind == "swalip":
        return paired, models.SwALIPDual(dual)
    return paired, models.SiamLIPDual(dual, 16, momentum=momentum, seed=seed)


def code_noise(b, generator):
    return b + 0.3 * torch.randn(b.shape, generator=generator)


def test_official_defaults():
    # clip-rocket main.py: --momentum-tau 0.99 (L70), --swalip-weight 0.2 (L114), --target-epsilon 0.05 (L108),
    # --sk-iters 3 (L106), --siamlip-proj-dim 128, --siamlip-hidden-dim 2048 (L117-120); losses.py L258: SiamLIP's
    # term is added with weight 1; models.py CL2L: l2l_logit_scale = log(1/0.1), clamped to log 100 (main.py L577).
    assert ssl_recipes.SIAMLIP_WEIGHT == 1.0
    assert (ssl_recipes.SWALIP_WEIGHT, ssl_recipes.SWALIP_EPSILON, ssl_recipes.SWALIP_ITERS) == (0.2, 0.05, 3)
    assert clip_addons.BYOLIP_MOMENTUM == 0.99
    assert (clip_addons.SIAMLIP_PROJ_DIM, clip_addons.SIAMLIP_HIDDEN_DIM) == (128, 2048)
    assert math.isclose(clip_addons.SWALIP_SCALE_INIT, 10.0) and clip_addons.LOGIT_SCALE_MAX == 100.0
    _, model = paired_model("swalip")
    assert math.isclose(float(model.scale.detach()), 10.0, rel_tol=1e-6)


def test_siamlip_term_equals_the_official_formula_and_a_hand_value():
    g = torch.Generator().manual_seed(0)
    p_a, p_b, v_a, v_b = (torch.randn(6, 5, generator=g, dtype=torch.float64) for _ in range(4))
    expected = (official_negative_cosine(p_a, v_b) + official_negative_cosine(p_b, v_a)) / 2  # num_losses = 2
    assert torch.allclose(ssl_recipes.siamlip_term(p_a, p_b, v_a, v_b), expected)
    # losses-wave2.md §1.3 reference (DERIVED): p1, p2, z1, z2 below give the BYOL form 1.17157 = 2 (2 - 2·0.707107);
    # SiamLIP averages the two directions instead of summing them: 2 - 2·0.707107 = 0.585786.
    p1, p2 = torch.tensor([[1., 0, 0], [0, 1, 1]]), torch.tensor([[0., 1, 0], [1, 1, 0]])
    z1, z2 = torch.tensor([[1., 1, 0], [0, 1, 0]]), torch.tensor([[1., 0, 1], [0, 0, 1]])
    assert math.isclose(float(ssl_recipes.siamlip_term(p1, p2, z1, z2)), 2 - math.sqrt(2), rel_tol=1e-6)


def test_siamlip_targets_get_no_gradient():
    g = torch.Generator().manual_seed(1)
    p_a, p_b, v_a, v_b = (torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4))
    ssl_recipes.siamlip_term(p_a, p_b, v_a, v_b).backward()
    assert v_a.grad is None and v_b.grad is None  # detached (losses.py L218, L240-251)
    assert p_a.grad.abs().sum() > 0 and p_b.grad.abs().sum() > 0


def test_siamlip_batch_loss_is_clip_plus_the_term_on_the_models_heads():
    paired, model = paired_model()
    clip = losses.get("clip")
    x = paired.X_train[:32]
    value = train.siamlip_batch_loss()(model, clip, x, None, torch.Generator())
    a, b = model(x)
    v_a, v_b = model.projector_a(a), model.projector_b(b)
    p_a, p_b = model.predictor_a(v_a), model.predictor_b(v_b)
    expected = clip(a, b) + (official_negative_cosine(p_a, v_b) + official_negative_cosine(p_b, v_a)) / 2
    assert torch.allclose(value, expected)
    # the heads as clip-rocket builds them: projector ends in BatchNorm(affine=False), no-bias linears
    assert isinstance(model.projector_a[-1], torch.nn.BatchNorm1d) and not model.projector_a[-1].affine
    assert model.projector_a[0].bias is None and model.predictor_a[0].bias is None
    assert train.siamlip_batch_loss(weight=0.0)(model, clip, x, None, torch.Generator()).item() == \
        pytest.approx(clip(a, b).item())


def test_byolip_targets_come_from_the_momentum_model_and_get_no_gradient():
    paired, model = paired_model(momentum=0.99)
    x = paired.X_train[:32]
    value = train.byolip_batch_loss()(model, losses.get("clip"), x, None, torch.Generator())
    value.backward()
    assert all(p.grad is None for p in model.momentum_model.parameters())
    assert model.projector_a[0].weight.grad.abs().sum() > 0
    # with momentum 0 the momentum model is the online one after the EMA step: BYOLIP = SiamLIP on the same batch
    _, zero = paired_model(momentum=0.0)
    with torch.no_grad():  # move the online weights away from the copy taken at construction
        for p in zero.projector_a.parameters():
            p.add_(0.1)
    _, plain = paired_model()
    plain.load_state_dict({k: v for k, v in zero.state_dict().items() if not k.startswith("momentum_model")})
    clip = losses.get("clip")
    byolip = train.byolip_batch_loss()(zero, clip, x, None, torch.Generator())
    siamlip = train.siamlip_batch_loss()(plain, clip, x, None, torch.Generator())
    assert torch.allclose(byolip, siamlip, atol=1e-6)
    with pytest.raises(ValueError, match="momentum"):
        train.byolip_batch_loss()(plain, clip, x, None, torch.Generator())


def test_ema_update_is_m_p_plus_one_minus_m_q():
    _, model = paired_model(momentum=0.9)
    with torch.no_grad():
        for p in model.projector_b.parameters():
            p.mul_(3.0).add_(0.5)
        for p in model.dual.encoder.parameters():
            p.add_(0.25)
    online = dict(model._online().named_parameters())
    before = {k: v.clone() for k, v in model.momentum_model.named_parameters()}
    model.update_target()
    for name, p_mom in model.momentum_model.named_parameters():
        assert torch.allclose(p_mom, 0.9 * before[name] + 0.1 * online[name])  # clip-rocket main.py L571
    assert any(not torch.equal(before[k], v) for k, v in model.momentum_model.named_parameters())


def test_sinkhorn_matches_the_official_code_and_the_reference_values():
    S = torch.tensor([[.9, .1, .2], [.3, .8, .1], [.2, .4, .7]], dtype=torch.float64)
    T = train.sinkhorn_targets(S)
    # losses-wave2.md §1.6 reference (DERIVED from the official algorithm)
    expected = torch.tensor([[0.999954, 8.30614e-7, 4.54181e-5], [6.15062e-6, 0.999988, 6.15337e-6],
                             [8.30879e-7, 3.34847e-4, 0.999664]], dtype=torch.float64)
    assert torch.allclose(T, expected, rtol=1e-4, atol=1e-9)
    assert math.isclose(float(-(T * torch.log_softmax(10 * S, 1)).sum(1).mean()), 0.0217532, rel_tol=1e-4)
    g = torch.Generator().manual_seed(2)
    scores = F.normalize(torch.randn(8, 4, generator=g, dtype=torch.float64), dim=1) @ \
        F.normalize(torch.randn(8, 4, generator=g, dtype=torch.float64), dim=1).T
    assert torch.allclose(train.sinkhorn_targets(scores), official_sinkhorn(scores.clone()))
    assert torch.allclose(train.sinkhorn_targets(scores).sum(1), torch.ones(8, dtype=torch.float64))
    assert not train.sinkhorn_targets(scores.requires_grad_()).requires_grad  # no grad (losses.py L293, L352)


def test_swalip_term_equals_the_official_loop_and_its_targets_carry_no_gradient():
    g = torch.Generator().manual_seed(3)
    h = [torch.randn(10, 6, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    value = ssl_recipes.swalip_term(h[:2], h[2:], 10.0)
    assert torch.allclose(value, official_swalip(h[:2], h[2:], 10.0))
    # the swap: each pair is taught the OTHER pair's assignment, so the term is not the unswapped one
    unswapped = sum(-(train.sinkhorn_targets(F.normalize(a) @ F.normalize(b).T)
                      * torch.log_softmax(10 * F.normalize(a) @ F.normalize(b).T, 1)).sum(1).mean()
                    for a in h[:2] for b in h[2:])
    assert not torch.isclose(value, unswapped / 8)
    (grad,) = torch.autograd.grad(value, h[0])

    def sinkhorn_with_grad(Q, eps=0.05, iters=3):  # the same algorithm, but letting the gradient through
        Q = torch.exp(Q / eps).t()
        Q = Q / Q.sum()
        for _ in range(iters):
            Q = Q / Q.sum(1, keepdim=True) / Q.shape[0]
            Q = Q / Q.sum(0, keepdim=True) / Q.shape[1]
        return (Q * Q.shape[1]).t()

    def attached(h_img, h_txt, scale):  # official_swalip with targets computed from the live logits
        hi, ht = [F.normalize(x) for x in h_img], [F.normalize(x) for x in h_txt]
        total = 0
        for l1 in range(2):
            for l2 in range(2):
                t1, t2 = 1 - l1, 1 - l2
                ti, tt = sinkhorn_with_grad(hi[t1] @ ht[t2].T), sinkhorn_with_grad(ht[t1] @ hi[t2].T)
                total += (-(ti * torch.log_softmax(scale * hi[l1] @ ht[l2].T, 1)).sum(1).mean()
                          - (tt * torch.log_softmax(scale * ht[l1] @ hi[l2].T, 1)).sum(1).mean()) / 2
        return total / 4
    (grad_attached,) = torch.autograd.grad(attached(h[:2], h[2:], 10.0), h[0])
    assert torch.allclose(attached(h[:2], h[2:], 10.0), value)  # same value ...
    assert not torch.allclose(grad, grad_attached, atol=1e-6)  # ... but the official gradient stops at the targets
    with pytest.raises(ValueError, match="2 augmentations"):
        ssl_recipes.swalip_term(h[:1], h[2:], 10.0)


def test_swalip_batch_loss_is_clip_plus_weighted_term_on_two_augmentations_per_modality():
    paired, model = paired_model("swalip")
    clip = losses.get("clip")
    x = paired.X_train[:32]
    augment = data.DigitAugment()
    value = train.swalip_batch_loss(augment, code_noise)(model, clip, x, None, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)  # the recipe draws image view 1, image view 2, code view 1, code view 2
    h_img = [model.dual.encoder(augment(x[:, :64], g)) for _ in range(2)]
    h_txt = [model.dual.reference(code_noise(x[:, 64:], g)) for _ in range(2)]
    expected = clip(*model(x)) + 0.2 * official_swalip(h_img, h_txt, model.scale)
    assert torch.allclose(value, expected)
    value.backward()
    assert model.log_scale.grad is not None and model.log_scale.grad != 0  # the local scale is learned
    with pytest.raises(ValueError, match="SwALIPDual"):
        train.swalip_batch_loss(augment, code_noise)(model.dual, clip, x, None, torch.Generator())
    with pytest.raises(ValueError, match="weight"):
        train.swalip_batch_loss(augment, code_noise, weight=-1.0)
    with pytest.raises(ValueError, match="epsilon"):
        train.swalip_batch_loss(augment, code_noise, epsilon=0.0)


def test_recipes_refuse_the_wrong_model_and_bad_arguments():
    paired, model = paired_model("swalip")
    with pytest.raises(ValueError, match="SiamLIPDual"):
        train.siamlip_batch_loss()(model, losses.get("clip"), paired.X_train[:8], None, torch.Generator())
    with pytest.raises(ValueError, match="weight"):
        train.siamlip_batch_loss(weight=float("nan"))
    with pytest.raises(ValueError, match="momentum"):
        paired_model(momentum=1.5)
    with pytest.raises(ValueError, match="proj_dim"):
        models.SiamLIPDual(model.dual, 16, proj_dim=0)


@pytest.mark.parametrize("recipe", ["siamlip", "byolip", "swalip"])
def test_a_short_fit_runs_finite(recipe):
    paired, model = paired_model("swalip" if recipe == "swalip" else "siamlip",
                                 momentum=0.99 if recipe == "byolip" else None)
    batch_loss = {"siamlip": train.siamlip_batch_loss(), "byolip": train.byolip_batch_loss(),
                  "swalip": train.swalip_batch_loss(data.DigitAugment(), code_noise)}[recipe]
    hist = train.fit(model, losses.get("clip", learn_temperature=True), paired, epochs=2, batch_size=256, lr=3e-3,
                     batch_loss=batch_loss, verbose=False)
    assert math.isfinite(hist.last["loss"]) and hist.last["test_acc"] > 0.3  # kNN of the digit tower
    if recipe == "byolip":  # the momentum model moved with the online one, but lags it
        online = dict(model._online().named_parameters())
        moved = [not torch.equal(p, online[k]) for k, p in model.momentum_model.named_parameters()
                 if online[k].requires_grad]
        assert all(moved)


def test_the_wrappers_embed_like_their_dual_encoder_and_cap_the_scale():
    paired, siam = paired_model(momentum=0.5)
    _, swa = paired_model("swalip")
    x = paired.X_train[:16]
    siam.eval(), swa.eval()
    for model in (siam, swa):
        a, b = model(x)
        da, db = model.dual(x)
        assert torch.equal(a, da) and torch.equal(b, db) and torch.equal(model.embed(x), da)
        assert torch.equal(model.embed_reference(x[:, 64:]), db)
    with torch.no_grad():
        swa.log_scale.fill_(10.0)
    assert math.isclose(float(swa.scale.detach()), 100.0, rel_tol=1e-6)  # clip-rocket clamps at log 100
    with pytest.raises(ValueError, match="scale_init"):
        models.SwALIPDual(swa.dual, scale_init=0.5)
    # the momentum model holds towers and projectors only, frozen
    assert set(siam.momentum_model.keys()) == {"dual", "projector_a", "projector_b"}
    assert not any(p.requires_grad for p in siam.momentum_model.parameters())
