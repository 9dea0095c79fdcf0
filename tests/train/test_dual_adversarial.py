"""Dual adversarial training (reference losses-wave2.md §6.4): the L2 PGD attack, the DAT energy loss and the
training recipe, pinned to a transcription of the official code xuwangyin/DAT@fb2ffc7 on fixed tensors
(``rebm/attacks/adv_attacks.py::pgd_attack``, ``rebm/attacks/attack_steps.py::L2Step``,
``rebm/training/metrics.py::compute_ebm_metrics``, ``rebm/eval/eval_utils.py::get_auc``)."""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench import analysis, losses, train
from workbench.train import adversarial


def mlp(seed: int = 0, dim: int = 6, classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(dim, 16), nn.Tanh(), nn.Linear(16, classes)).double()


def batch(seed: int = 0, n: int = 8, dim: int = 6):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, dim, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def official_pgd_l2(objective, x, eps, step_size, steps):
    """Transcription of ``pgd_attack`` with ``L2Step`` (no random start): ascend ``objective(x).sum()``."""
    x0 = x.clone().detach()
    for _ in range(steps):
        x = x.clone().detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(x).sum(), [x])
        with torch.no_grad():
            # L2Step.step
            g_norm = torch.norm(grad.reshape(grad.shape[0], -1), dim=1).reshape(-1, *([1] * (x.dim() - 1)))
            x = x + grad / (g_norm + 1e-10) * step_size
            # L2Step.project
            diff = (x - x0).renorm(p=2, dim=0, maxnorm=eps)
            x = torch.clamp(x0 + diff, 0, 1)
    return x.clone().detach()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.5, 0.05, math.inf])
def test_pgd_matches_the_official_l2_step_on_fixed_tensors(seed, eps):
    model, (x, y) = mlp(seed), batch(seed)
    for objective in (lambda z: F.cross_entropy(model(z), y, reduction="none"),  # pgd_attack_xent
                      lambda z: torch.logsumexp(model(z), 1),  # logsumexp energy
                      lambda z: model(z).gather(1, y[:, None]).squeeze(1)):  # class-conditional f_y(x)
        ours = train.pgd_l2(objective, x, eps=eps, step_size=0.1, steps=10)
        theirs = official_pgd_l2(objective, x, eps, 0.1, 10)
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
        assert not torch.equal(ours, x)


def test_pgd_images_are_projected_per_sample():
    """[B, C, H, W] inputs: the ball and the gradient normalisation are per sample, as L2Step's renorm(dim=0)."""
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4)).double()
    x = torch.rand(5, 2, 3, 3, dtype=torch.float64)
    y = torch.arange(5) % 4
    objective = lambda z: F.cross_entropy(conv(z), y, reduction="none")  # noqa: E731
    ours = train.pgd_l2(objective, x, eps=0.3, step_size=0.2, steps=4)
    assert torch.allclose(ours, official_pgd_l2(objective, x, 0.3, 0.2, 4), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_the_l2_ball_and_the_box(seed, random_start):
    model, (x, y) = mlp(seed), batch(seed)
    g = torch.Generator().manual_seed(seed)
    adv = train.adversarial_examples(model, x, y, eps=0.5, step_size=0.3, steps=7, random_start=random_start,
                                     generator=g)
    assert ((adv - x).norm(dim=1) <= 0.5 + 1e-9).all()
    assert (adv >= 0).all() and (adv <= 1).all()
    assert ((adv - x).norm(dim=1) > 0.4).any()  # the attack moved to (near) the boundary somewhere


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pgd_increases_the_attacked_objective_and_descent_decreases_it(seed):
    model, (x, y) = mlp(seed), batch(seed, n=32)
    ce = lambda z: F.cross_entropy(model(z), y, reduction="none")  # noqa: E731
    up = train.pgd_l2(ce, x, eps=0.5, step_size=0.1, steps=10)
    down = train.pgd_l2(ce, x, eps=0.5, step_size=0.1, steps=10, descent=True)
    with torch.no_grad():
        before, after_up, after_down = ce(x), ce(up), ce(down)
    assert (after_up > before).float().mean() >= 0.9 and after_up.mean() > before.mean()
    assert (after_down < before).float().mean() >= 0.9 and after_down.mean() < before.mean()
    # the energy sampler ascends the log-sum-exp score
    samples = train.energy_samples(model, x, steps=10)
    with torch.no_grad():
        assert (torch.logsumexp(model(samples), 1) > torch.logsumexp(model(x), 1)).all()


def test_pgd_is_deterministic_with_a_generator_and_leaves_the_model_without_gradients():
    model, (x, y) = mlp(0), batch(0)
    runs = [train.adversarial_examples(model, x, y, random_start=True, generator=torch.Generator().manual_seed(s))
            for s in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    assert all(p.grad is None for p in model.parameters())
    assert not runs[0].requires_grad
    assert torch.equal(train.pgd_l2(lambda z: model(z).sum(1), x, eps=0.5, step_size=0.1, steps=0), x)


@pytest.mark.parametrize("bad", [dict(eps=0.0), dict(eps=float("nan")), dict(eps=-1.0), dict(eps=True),
                                 dict(step_size=0.0), dict(steps=-1), dict(steps=1.5), dict(steps=True)])
def test_pgd_refuses_bad_arguments_by_name(bad):
    model, (x, _) = mlp(0), batch(0)
    kwargs = dict(eps=0.5, step_size=0.1, steps=2) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        train.pgd_l2(lambda z: model(z).sum(1), x, **kwargs)
    with pytest.raises(ValueError, match="x"):
        train.pgd_l2(lambda z: z.sum(), x[:, 0], eps=0.5, step_size=0.1, steps=1)
    with pytest.raises(ValueError, match="x"):
        train.pgd_l2(lambda z: z.sum(1), x.clone().fill_(math.nan), eps=0.5, step_size=0.1, steps=1)


def test_dat_bce_matches_the_official_bce_with_logits_of_logsumexp_scores():
    """``compute_ebm_metrics`` with ``logsumexp: true``: BCEWithLogits(mean) of cat(lse(f(x_in)), lse(f(x_adv)))
    against cat(ones, zeros)."""
    g = torch.Generator().manual_seed(0)
    for b, m in ((4, 4), (5, 3)):
        logits_in = 3 * torch.randn(b, 10, generator=g, dtype=torch.float64)
        logits_adv = 3 * torch.randn(m, 10, generator=g, dtype=torch.float64)
        indist, adv = torch.logsumexp(logits_in, 1), torch.logsumexp(logits_adv, 1)
        official = nn.BCEWithLogitsLoss(reduction="mean")(torch.cat([indist, adv]),
                                                          torch.cat([torch.ones(b), torch.zeros(m)]).double())
        assert torch.allclose(losses.get("dat_bce")(indist, adv), official, rtol=1e-12)
        assert torch.allclose(losses.dat_bce_loss(indist, adv), official, rtol=1e-12)


def test_dat_bce_reference_value_and_its_relation_to_nce():
    # reference losses-wave2.md §6.4 [DERIVED]: E_in = [2, 0.5], E_adv = [-1, 1] -> 0.556882
    value = losses.get("dat_bce")(torch.tensor([2.0, 0.5], dtype=torch.float64), torch.tensor([-1.0, 1.0]).double())
    assert abs(float(value) - 0.556882) < 5e-7
    # by hand: B = M and log q = 0 make NCE (nu = 1) twice the mean BCE over the 2B samples
    s_in, s_adv = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    assert torch.allclose(2 * losses.get("dat_bce")(s_in, s_adv), losses.get("nce")(s_in, s_adv), rtol=1e-12)


def test_rank_auc_is_sklearns_roc_auc_with_ties():
    from sklearn.metrics import roc_auc_score  # what the official get_auc (roc_curve + auc) computes

    pos, neg = torch.tensor([0.3, 0.9, 0.5, 0.5]), torch.tensor([0.5, 0.1, 0.7])
    expected = roc_auc_score([1] * 4 + [0] * 3, torch.cat([pos, neg]).numpy())
    assert adversarial.rank_auc(pos, neg) == pytest.approx(expected, abs=1e-12)


def digits_like(n: int = 96, dim: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[0.8, 0.2], [0.2, 0.8], [0.5, 0.5]], dtype=torch.float64).repeat(1, dim // 2)
    return (centres[y] + 0.05 * torch.randn(n, dim, generator=g, dtype=torch.float64)).clamp(0, 1), y


def test_fit_dat_is_deterministic_and_records_the_official_terms():
    x, y = digits_like()
    runs = []
    for _ in range(2):
        model = mlp(0)
        runs.append((train.fit_dat(model, x, y, epochs=2, batch_size=32, seed=3, max_steps=3), model))
    (h1, m1), (h2, m2) = runs
    assert h1.equals(h2)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert {"step", "epoch", "T", "clf_loss", "ebm_loss", "auc", "clean_auc"} <= set(h1.columns)
    assert len(h1) == 2 * 3 and ((h1.auc >= 0) & (h1.auc <= 1)).all()


def test_the_curriculum_raises_the_attack_steps_once_per_full_window_above_the_threshold():
    x, y = digits_like(n=128)
    # threshold 0: reached by every full window, so T rises every ceil(64 / 16) = 4 steps, up to max_steps
    h = train.fit_dat(mlp(0), x, y, epochs=3, batch_size=16, seed=0, clf_steps=0, auc_threshold=0.0,
                      min_samples_per_threshold=64, start_step=1, max_steps=4)
    expected = [min(1 + (s - 1) // 4, 4) for s in h.step]
    assert h["T"].tolist() == expected
    # seeds drawn from the data itself: real and "adversarial" scores overlap, the AUC stays below 0.99, T stays
    h = train.fit_dat(mlp(0), x, y, epochs=2, batch_size=16, seed=0, clf_steps=0, auc_threshold=0.99,
                      min_samples_per_threshold=32, start_step=0,
                      outdist=lambda n, g: x[torch.randperm(128, generator=g)[:n]])
    assert (h.auc < 0.99).all() and (h["T"] == 0).all()


def test_fit_dat_without_the_energy_term_is_adversarial_training():
    """ebm=False, one full batch, one step: the update is Adam's first step on CE(model(PGD(x)), y)."""
    x, y = digits_like(n=32)
    model, twin = mlp(1), mlp(1)
    train.fit_dat(model, x, y, epochs=1, batch_size=32, lr=0.01, ebm=False, seed=0)
    adv = official_pgd_l2(lambda z: F.cross_entropy(twin(z), y, reduction="none"), x, 0.5, 0.1, 10)
    opt = torch.optim.Adam(twin.parameters(), lr=0.01)
    F.cross_entropy(twin(adv), y).backward()
    opt.step()
    # the batch order differs (shuffled), the mean CE over the same full batch does not
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(model.parameters(), twin.parameters()))


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=-1.0), dict(auc_threshold=1.5), dict(max_steps=-1),
                                 dict(start_step=5, max_steps=2), dict(clf_steps=True)])
def test_fit_dat_refuses_bad_arguments_by_name(bad):
    x, y = digits_like(n=16)
    with pytest.raises(ValueError, match=next(iter(bad))):
        train.fit_dat(mlp(0), x, y, **bad)
    with pytest.raises(ValueError, match="y"):
        train.fit_dat(mlp(0), x, y.double())


@pytest.mark.parametrize("function", [analysis.robust_accuracy, train.adversarial_examples])
def test_attack_defaults_are_the_official_evaluation(function):
    # xuwangyin/DAT@fb2ffc7 rebm/eval/eval_utils.py, eval_robust_acc: L2 eps 0.5, 10 steps of 0.1, no random start
    defaults = {k: p.default for k, p in inspect.signature(function).parameters.items()}
    assert {k: defaults[k] for k in ("eps", "step_size", "steps")} == {"eps": 0.5, "step_size": 0.1, "steps": 10}
    assert defaults.get("random_start", False) is False


def test_robust_accuracy_and_nearest_distance():
    x, y = digits_like(n=60)
    model = mlp(2)
    train.fit_dat(model, x, y, epochs=20, batch_size=20, lr=0.01, ebm=False, clf_steps=0, seed=0)
    clean = analysis.robust_accuracy(model, x, y, steps=0)
    with torch.no_grad():
        assert clean == pytest.approx(float((model(x).argmax(1) == y).double().mean()))
    # the attack costs accuracy, and a ball 20 times wider costs more on this model
    small, large = (analysis.robust_accuracy(model, x, y, eps=e, steps=10) for e in (0.05, 1.0))
    assert large < small <= clean and large < clean - 0.2
    # nearest distance by hand: (0, 0) and (3, 4) against {(0, 1), (3, 0)} -> 1 and 4
    d = analysis.nearest_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.tensor([[0.0, 1.0], [3.0, 0.0]]))
    assert torch.allclose(d, torch.tensor([1.0, 4.0]))
    with pytest.raises(ValueError, match="features"):
        analysis.nearest_distance(torch.zeros(2, 3), torch.zeros(2, 4))


def test_one_dat_step_is_the_official_total_loss():
    """One full batch, one step: Adam's first step on BCE(lse scores of real vs PGD samples) + CE(PGD examples), the
    samples by T ascent steps on the class logit of the batch's labels (``logsumexp_sampling: false``). One label for
    every sample, so the shuffled order cannot pair seeds with other labels."""
    x, _ = digits_like(n=24)
    y = torch.zeros(24, dtype=torch.long)
    seeds = torch.rand(24, 6, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    model, twin = mlp(4), mlp(4)
    h = train.fit_dat(model, x, y, epochs=1, batch_size=24, lr=0.01, seed=0, start_step=3, max_steps=3,
                      outdist=lambda n, g: seeds)
    adv_out = official_pgd_l2(lambda z: twin(z)[:, 0], seeds, math.inf, 0.1, 3)
    lse = lambda z: torch.logsumexp(twin(z), 1)  # noqa: E731
    targets = torch.cat([torch.ones(24), torch.zeros(24)]).double()
    ebm = nn.BCEWithLogitsLoss()(torch.cat([lse(x), lse(adv_out)]), targets)
    adv_in = official_pgd_l2(lambda z: F.cross_entropy(twin(z), y, reduction="none"), x, 0.5, 0.1, 10)
    opt = torch.optim.Adam(twin.parameters(), lr=0.01)
    (ebm + F.cross_entropy(twin(adv_in), y)).backward()
    opt.step()
    assert h.ebm_loss.iloc[0] == pytest.approx(float(ebm.detach()), rel=1e-10)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(model.parameters(), twin.parameters()))


def test_fit_dat_names_bad_inputs():
    model = nn.Linear(4, 3)
    y = torch.arange(6) % 3
    for bad in (torch.full((6, 4), math.nan), torch.zeros(0, 4), torch.ones(6, 4, dtype=torch.long)):
        with pytest.raises(ValueError, match=r"\bx\b"):
            train.fit_dat(model, bad, y if len(bad) else y[:0], epochs=1)
