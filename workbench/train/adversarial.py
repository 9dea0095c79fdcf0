r"""Adversarial training and dual adversarial training (DAT) of a classifier whose logits are also an energy.

Sources: the official code xuwangyin/DAT@fb2ffc7 -- ``rebm/attacks/adv_attacks.py`` (``pgd_attack``,
``pgd_attack_xent``), ``rebm/attacks/attack_steps.py`` (``L2Step``), ``rebm/training/metrics.py``
(``compute_ebm_metrics``, ``compute_clf_adv_loss``), ``rebm/training/train.py`` (the curriculum on the attack
steps) and ``experiments/cifar10/*_seed1.yaml`` (the values). Reference losses-wave2.md §6.4.

* :func:`pgd_l2` -- projected gradient *ascent* in an L2 ball, the official ``L2Step``: a step of length
  ``step_size`` along the per-sample normalised gradient, then projection onto the ball of radius ``eps``
  around the start and onto the box [0, 1].
* :func:`adversarial_examples` -- PGD on the cross-entropy (``pgd_attack_xent``): the attack of adversarial
  training and of the robust accuracy (L2, eps 0.5, 10 steps of 0.1, no random start).
* :func:`energy_samples` -- PGD ascent on the score :math:`s(x)=\log\sum_y e^{f_y(x)}` or on a class logit
  :math:`f_y(x)` with ``eps = inf``: the negatives of the energy term, and the generator.
* :func:`fit_dat` -- one loop for both recipes: adversarial training (``ebm=False``: CE on PGD examples) and DAT
  (``ebm=True``: that CE plus :class:`~workbench.losses.DATBCE` of real data against PGD samples, with the number
  of PGD steps T raised whenever the running AUC of real vs adversarial scores reaches ``auc_threshold``).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, REAL, UNIT, check_flag, check_float_tensor
from ..losses import DATBCE
from .adam import Adam


def _check_eps(eps, name: str = "eps") -> float:
    """The radius of the L2 ball: a number > 0, or ``math.inf`` for no ball (only the box)."""
    if isinstance(eps, float) and eps == math.inf:
        return eps
    return POSITIVE.check(eps, name)


def _check_box(low, high) -> tuple[float, float]:
    """The pixel box [low, high] the samples are clamped to: two finite numbers, low < high."""
    low, high = REAL.check(low, "low"), REAL.check(high, "high")
    if not low < high:
        raise ValueError(f"low must be < high, got low={low}, high={high}")
    return low, high


def _l2_norms(t: Tensor) -> Tensor:
    """Per-sample L2 norms, shaped to broadcast over ``t`` (``[B, 1, ..., 1]``)."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def project_l2(x: Tensor, x0: Tensor, eps: float, low: float = 0.0, high: float = 1.0) -> Tensor:
    """The official ``L2Step.project``: the difference to ``x0`` scaled into the L2 ball of radius ``eps`` (per
    sample; ``Tensor.renorm(p=2, dim=0, maxnorm=eps)``), then the result clamped to the box [low, high]."""
    eps = _check_eps(eps)
    low, high = _check_box(low, high)
    diff = x - x0
    if math.isfinite(eps):
        # renorm's rule: rows with a norm above maxnorm are scaled by maxnorm / (norm + 1e-7)
        norms = _l2_norms(diff)
        diff = torch.where(norms > eps, diff * (eps / (norms + 1e-7)), diff)
    return (x0 + diff).clamp(low, high)


def pgd_l2(objective: Callable[[Tensor], Tensor], x: Tensor, *, eps: float, step_size: float, steps: int,
           random_start: bool = False, generator: torch.Generator | None = None, descent: bool = False,
           low: float = 0.0, high: float = 1.0) -> Tensor:
    r"""L2 projected gradient ascent on ``objective`` from ``x`` (``rebm/attacks``: ``pgd_attack`` with ``L2Step``).

    .. math::
        x_{t+1} = \Pi_{B_2(x_0,\varepsilon)\cap[0,1]^d}\Big(x_t + \eta\,\frac{g_t}{\lVert g_t\rVert_2 + 10^{-10}}\Big),
        \qquad g_t = \nabla_x \sum_i \text{objective}(x_t)_i,

    per sample. ``objective(x)`` returns one value per sample (``[B]``) or their sum; the samples do not interact, so
    the ascent of the sum is the ascent of each. ``eps = inf`` leaves only the box (the official generator and
    out-of-distribution attack). ``descent=True`` minimises. ``random_start`` starts from a uniform draw of
    :math:`[-\frac12, \frac12]^d` scaled into the ball (drawn from ``generator``; a departure: the official
    ``L2Step.random_perturb`` renormalises over dim 1, and no released config uses a random start). Returns a
    detached tensor; ``steps = 0`` returns a copy of ``x``. The model's parameters get no gradient.
    """
    check_float_tensor(x, "x", None, "[B, ...]", nonempty=True)
    if x.dim() < 2:
        raise ValueError(f"x must have a batch dimension and feature dimensions [B, ...], got shape {tuple(x.shape)}")
    eps = _check_eps(eps)
    step_size = POSITIVE.check(step_size, "step_size")
    steps = NONNEGATIVE_INT.check(steps, "steps")
    random_start, descent = check_flag(random_start, "random_start"), check_flag(descent, "descent")
    low, high = _check_box(low, high)
    x0 = x.detach().clone()
    x = x0.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device) - 0.5
        if math.isfinite(eps):
            noise = noise * (eps / _l2_norms(noise).clamp_min(1e-12)).clamp(max=1.0)
        x = project_l2(x + noise, x0, eps, low, high)
    sign = -1.0 if descent else 1.0
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(sign * objective(x).sum(), [x])
        with torch.no_grad():
            x = x + step_size * grad / (_l2_norms(grad) + 1e-10)
            x = project_l2(x, x0, eps, low, high)
    return x.detach()


def adversarial_examples(model: nn.Module, x: Tensor, y: Tensor, *, eps: float = 0.5, step_size: float = 0.1,
                         steps: int = 10, random_start: bool = False,
                         generator: torch.Generator | None = None) -> Tensor:
    """Untargeted L2 PGD on the cross-entropy of the true labels (``pgd_attack_xent``; defaults: the official
    ``indist_attack_clf`` and ``eval_robust_acc``: eps 0.5, step 0.1, 10 steps, no random start)."""
    return pgd_l2(lambda z: F.cross_entropy(model(z), y, reduction="none"), x, eps=eps, step_size=step_size,
                  steps=steps, random_start=random_start, generator=generator)


def score(logits: Tensor, labels: Tensor | None = None) -> Tensor:
    r"""The model's score (minus its energy): :math:`\log\sum_y e^{f_y(x)}`, or the class logit :math:`f_y(x)`
    where ``labels`` are given (the official ``model(x, y)``)."""
    if labels is None:
        return torch.logsumexp(logits, dim=1)
    return logits.gather(1, labels.view(-1, 1)).squeeze(1)


def energy_samples(model: nn.Module, x: Tensor, *, steps: int, step_size: float = 0.1, eps: float = math.inf,
                   labels: Tensor | None = None) -> Tensor:
    r"""PGD ascent on the score from the seeds ``x`` (``generate_images`` with ``attack_type="pgd"``): on
    :math:`\log\sum_y e^{f_y}` when ``labels`` is None, on :math:`f_y` for the given labels otherwise (what the
    official training does, ``logsumexp_sampling: false``, and its class-conditional generator)."""
    return pgd_l2(lambda z: score(model(z), labels), x, eps=eps, step_size=step_size, steps=steps)


def rank_auc(pos: Tensor, neg: Tensor) -> float:
    """Area under the ROC curve of ``pos`` (label 1) against ``neg`` (label 0): P(pos > neg) + P(tie)/2, the value
    of ``sklearn.metrics.roc_curve`` + ``auc`` that the official ``get_auc`` computes."""
    diff = pos.detach().reshape(-1, 1) - neg.detach().reshape(1, -1)
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


def fit_dat(model: nn.Module, x: Tensor, y: Tensor, *, epochs: int = 10, lr: float = 1e-3, batch_size: int = 128,
            seed: int = 0, ebm: bool = True, clf_eps: float = 0.5, clf_steps: int = 10, clf_step_size: float = 0.1,
            start_step: int = 0, max_steps: int = 50, step_size: float = 0.1, auc_threshold: float = 0.8,
            min_samples_per_threshold: int = 1000, logsumexp_sampling: bool = False,
            outdist: Callable[[int, torch.Generator], Tensor] | None = None) -> pd.DataFrame:
    r"""Adversarial training (``ebm=False``) or dual adversarial training (``ebm=True``) of the classifier
    ``model`` (logits ``[B, C]``) on ``(x, y)`` with Adam, in place. Returns one row per step.

    Each step (``rebm/training/train.py``, ``metrics.py``):

    1. ``ebm``: draw B out-of-distribution seeds (``outdist(B, generator)``; default uniform noise in [0, 1]^d, a
       substitute for the 80M Tiny Images of the paper), push them by T steps of :func:`energy_samples` (model in
       eval mode; on the class logits of the batch's labels, as the official ``logsumexp_sampling: false``, or on
       the log-sum-exp), record the AUC of real vs adversarial class logits (``compute_auc_metrics`` scores with
       ``model(x, y)``), and take :class:`~workbench.losses.DATBCE` of the log-sum-exp scores of real vs adversarial.
    2. the classification term: cross-entropy on :func:`adversarial_examples` of a second batch (``clf_steps = 0``:
       plain cross-entropy, a standard classifier).
    3. one optimiser step on their sum (weights 1 and 1, ``total_loss = ebm_total_loss + clf_loss``).

    Curriculum: T starts at ``start_step``; the AUCs of the last ``ceil(min_samples_per_threshold / batch_size)``
    steps are kept, and T rises by one when the window is full and its mean reaches ``auc_threshold``, up to
    ``max_steps`` (the official loop restarts the window at every T). Training stops after ``epochs`` passes over
    the data. Defaults: the official CIFAR-10 config (step 0.1, eps inf, AUC_th 0.8, ``max_steps`` 50,
    ``min_imgs_per_threshold`` 1000, clf attack L2 eps 0.5 / 10 steps of 0.1, batch 128); Adam and ``lr`` are ours
    (the paper fine-tunes with SGD lr 0.001 from an adversarially trained checkpoint: pass such a model in).
    Same seed, same result (batches, seeds and the model's updates all come from ``seed``).

    Columns: ``step, epoch, T, clf_loss`` and, with ``ebm``, ``ebm_loss, auc`` (real vs adversarial) and
    ``clean_auc`` (real vs the seeds before the attack).
    """
    check_float_tensor(x, "x", None, "[N, ...]", nonempty=True)
    if y.shape != x.shape[:1] or y.dtype != torch.long:
        raise ValueError(f"y must be integer class ids of shape [{x.shape[0]}], got {tuple(y.shape)} {y.dtype}")
    epochs, batch_size = POSITIVE_INT.check(epochs, "epochs"), POSITIVE_INT.check(batch_size, "batch_size")
    lr = POSITIVE.check(lr, "lr")
    clf_steps, start_step, max_steps = (NONNEGATIVE_INT.check(v, n) for v, n in (
        (clf_steps, "clf_steps"), (start_step, "start_step"), (max_steps, "max_steps")))
    if start_step > max_steps:
        raise ValueError(f"start_step must be <= max_steps ({max_steps}), got {start_step}")
    auc_threshold = UNIT.check(auc_threshold, "auc_threshold")
    clf_eps, clf_step_size = _check_eps(clf_eps, "clf_eps"), POSITIVE.check(clf_step_size, "clf_step_size")
    seed = NONNEGATIVE_INT.check(seed, "seed")
    ebm, logsumexp_sampling = check_flag(ebm, "ebm"), check_flag(logsumexp_sampling, "logsumexp_sampling")
    window = math.ceil(POSITIVE_INT.check(min_samples_per_threshold, "min_samples_per_threshold") / batch_size)
    g = torch.Generator().manual_seed(seed)
    if outdist is None:
        def outdist(n, generator):
            return torch.rand((n, *x.shape[1:]), generator=generator, dtype=x.dtype)
    bce = DATBCE()
    optimiser = Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    per_epoch = math.ceil(n / batch_size)
    order_ebm, order_clf = torch.randperm(n, generator=g), torch.randperm(n, generator=g)
    T, aucs, rows = start_step, collections.deque(maxlen=window), []
    for step in range(epochs * per_epoch):
        i = step % per_epoch
        if i == 0 and step:
            order_ebm, order_clf = torch.randperm(n, generator=g), torch.randperm(n, generator=g)
        idx_clf = order_clf[i * batch_size:(i + 1) * batch_size]
        row = dict(step=step + 1, epoch=step // per_epoch, T=T)
        optimiser.zero_grad()
        total = 0.0
        if ebm:
            idx = order_ebm[i * batch_size:(i + 1) * batch_size]
            real, labels = x[idx], y[idx]
            seeds = outdist(len(idx), g).to(x.device)
            model.eval()
            adv = energy_samples(model, seeds, steps=T, step_size=step_size,
                                 labels=None if logsumexp_sampling else labels)
            with torch.no_grad():
                s_real, s_adv, s_seed = (score(model(z), labels) for z in (real, adv, seeds))
            row["auc"], row["clean_auc"] = rank_auc(s_real, s_adv), rank_auc(s_real, s_seed)
            model.train()
            ebm_loss = bce(score(model(real)), score(model(adv)))
            row["ebm_loss"] = float(ebm_loss.detach())
            total = total + ebm_loss
        model.train()
        x_clf, y_clf = x[idx_clf], y[idx_clf]
        if clf_steps:
            x_clf = adversarial_examples(model, x_clf, y_clf, eps=clf_eps, step_size=clf_step_size, steps=clf_steps)
        clf_loss = F.cross_entropy(model(x_clf), y_clf)
        row["clf_loss"] = float(clf_loss.detach())
        (total + clf_loss).backward()
        optimiser.step()
        rows.append(row)
        if ebm:
            aucs.append(row["auc"])
            if T < max_steps and len(aucs) == window and sum(aucs) / window >= auc_threshold:
                T, aucs = T + 1, collections.deque(maxlen=window)
    model.eval()
    return pd.DataFrame(rows)
