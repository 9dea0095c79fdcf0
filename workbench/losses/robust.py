"""Noise-robust losses on logits: the comp-sum family (Mao, Mohri & Zhong 2023), GCE and MAE.

Every loss here is a function of the per-sample cross-entropy ``l = logsumexp(z) - z_y`` (so ``p_y = e^{-l}``):

    comp-sum    Phi^tau(l) = -expm1(-(tau - 1) l) / (tau - 1)      (= l at tau = 1)
    GCE         L_q = (1 - p_y^q) / q = -expm1(-q l) / q            (= comp-sum at tau = 1 + q)
    MAE         1 - p_y = -expm1(-l)                                (= comp-sum at tau = 2)

Writing them through ``expm1`` of ``l`` (never a power of a tiny probability) keeps logits of 1e4 finite.
The gradient is ``p_y^(tau-1)`` times that of cross-entropy: tau > 1 listens less to samples the model
finds hard, which is why these losses resist noisy labels (and why MAE learns slowly).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import NONNEGATIVE, Range, check_in_range, check_reduction, reduce
from .classification import per_sample_ce
from .registry import Paper, Param, register

COMP_SUM_PAPER = Paper("Cross-Entropy Loss Functions: Theoretical Analysis and Applications", 2023,
                       "Mao, Mohri, Zhong")
GCE_PAPER = Paper("Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy Labels", 2018,
                  "Zhang, Sabuncu")


def _phi(ce: Tensor, tau: float) -> Tensor:
    """Phi^tau of the cross-entropy ``ce``; tau = 1 is the limit (the cross-entropy itself)."""
    if abs(tau - 1.0) < 1e-6:
        return ce
    return -(-(tau - 1.0) * ce).expm1() / (tau - 1.0)


def _check_q(q: float) -> float:
    return check_in_range(q, "q (use cross_entropy for the q -> 0 limit)", 0.0, 1.0, low_open=True)


def comp_sum(logits: Tensor, target: Tensor, *, tau: float = 1.0, reduction: str = "mean") -> Tensor:
    r"""Comp-sum loss :math:`\Phi^\tau\big(\sum_{k\ne y} e^{z_k - z_y}\big)` (Mao, Mohri & Zhong, ICML 2023).

    .. math::
        \Phi^\tau(u) = \frac{(1+u)^{1-\tau} - 1}{1-\tau}\ (\tau \ne 1), \qquad \Phi^1(u) = \log(1+u),

    and since :math:`1 + u = 1/p_y = e^{\ell_{CE}}` it is computed as
    :math:`-\operatorname{expm1}(-(\tau-1)\ell_{CE})/(\tau-1)`.
    ``tau`` = 0: sum-exponential loss :math:`1/p_y - 1`; 1: cross-entropy; 1 < tau < 2: GCE with
    q = tau - 1; 2: MAE :math:`1 - p_y`. tau > 1 is bounded by 1/(tau - 1); tau < 1 is unbounded and grows
    like :math:`e^{(1-\tau)\ell_{CE}}`, so it overflows once that exceeds the dtype (float32: about 88 nats
    of cross-entropy at tau = 0): a ValueError naming the logits then, rather than an inf loss.

    The paper's *smooth adversarial* comp-sum losses are not implemented. What blocks them: their
    definition is in the body of the paper (its adversarial-robustness section: the smooth term added to
    the comp-sum loss, its weight, the perturbation set and norm, and the PGD settings of the ADV-COMP-SUM
    algorithm), and none of it could be read here: only the abstract is available (arXiv 2304.07288, ICML
    2023 proceedings page), the authors published no code (Papers with Code lists none) and no
    implementation exists in the repositories we can search. The abstract confirms only that they are
    "derived from their comp-sum counterparts by adding in a related smooth term". They also need the model
    and its inputs (a supremum over an input ball), so they would be a training objective in
    ``workbench.train`` rather than a loss of kind ``logits``.
    """
    tau = check_in_range(tau, "tau", 0.0, math.inf)
    check_reduction(reduction)
    ce = per_sample_ce(logits, target)
    values = _phi(ce, tau)
    if tau < 1 and not torch.isfinite(values).all():  # only the unbounded branch can overflow
        raise ValueError(f"logits give comp_sum(tau={tau:g}) values that overflow {values.dtype}: the loss grows "
                         f"like exp((1 - tau) * cross-entropy) and the largest cross-entropy here is "
                         f"{float(ce.detach().max()):.3g}; use smaller logits or a tau closer to 1")
    return reduce(values, reduction)


def gce(logits: Tensor, target: Tensor, *, q: float = 0.7, k: float = 0.0, reduction: str = "mean") -> Tensor:
    r"""Generalized cross-entropy :math:`L_q = (1 - p_y^q)/q` (Zhang & Sabuncu, NeurIPS 2018), optionally truncated.

    .. math::
        L_q = \frac{1 - p_y^q}{q} = -\frac{\operatorname{expm1}(-q\,\ell_{CE})}{q}, \qquad
        L_{trunc} = L_q(\max(p_y, k))

    ``q`` in (0, 1]: q -> 0 is cross-entropy, q = 1 is MAE (1 - p_y); default 0.7 (the paper's). ``k`` in
    [0, 1): the truncated L_q gives every sample with :math:`p_y \le k` the constant :math:`L_q(k)` and so no
    gradient (default 0: no truncation; the paper uses k = 0.5). The paper realises the truncation as 0/1
    weights per training sample refreshed every few epochs ("pruning"); here it is applied to every batch as
    it comes, which is the same loss evaluated with up-to-date probabilities.
    """
    _check_q(q)
    check_in_range(k, "k", 0.0, 1.0, high_open=True)
    check_reduction(reduction)
    ce = per_sample_ce(logits, target)
    if k > 0:
        ce = ce.clamp_max(-math.log(k))  # p_y <= k  <=>  ce >= -log k: constant L_q(k), zero gradient
    return reduce(_phi(ce, 1.0 + float(q)), reduction)


def mae(logits: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Mean absolute error between the one-hot target and the softmax, halved: :math:`1 - p_y`.

    .. math:: \ell = \tfrac12 \lVert e_y - \operatorname{softmax}(z) \rVert_1 = 1 - p_y

    Bounded and symmetric (losses over all classes sum to a constant), hence robust to symmetric label
    noise (Ghosh et al. 2017), but its gradient :math:`p_y` times that of CE makes it slow to start.
    Same as ``comp_sum(tau=2)`` and ``gce(q=1)``.
    """
    check_reduction(reduction)
    return reduce(_phi(per_sample_ce(logits, target), 2.0), reduction)


@register(
    "comp_sum", family="classification", kind="logits", reduces_over="sample", paper=COMP_SUM_PAPER,
    formula=r"\ell = \Phi^\tau\!\Big(\sum_{k\ne y} e^{z_k - z_y}\Big),\;"
            r"\Phi^\tau(u) = \frac{(1+u)^{1-\tau}-1}{1-\tau},\; \Phi^1(u) = \log(1+u)",
    params={"tau": Param(1.0, 0.0, 2.0, "0 sum-exp, 1 cross-entropy, (1,2) GCE with q = tau-1, 2 MAE",
                         valid=NONNEGATIVE)},
)
class CompSum(nn.Module):
    """Module form of :func:`comp_sum`; ``forward(logits[B, C], target[B])``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, tau: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.tau = check_in_range(tau, "tau", 0.0, math.inf)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return comp_sum(logits, target, tau=self.tau, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"tau={self.tau}"


@register(
    "gce", family="classification", kind="logits", reduces_over="sample", paper=GCE_PAPER,
    formula=r"\ell = \frac{1 - \max(p_y, k)^q}{q}",
    params={"q": Param(0.7, 0.05, 1.0, "0 -> cross-entropy, 1 -> MAE", valid=Range(0.0, 1.0, low_open=True)),
            "k": Param(0.0, 0.0, 0.9, "truncation: samples with p_y <= k get no gradient (0 = off)",
                       valid=Range(0.0, 1.0, high_open=True))},
)
class GCE(nn.Module):
    """Module form of :func:`gce`; ``forward(logits[B, C], target[B])``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, q: float = 0.7, k: float = 0.0, reduction: str = "mean"):
        super().__init__()
        self.q, self.k = _check_q(q), check_in_range(k, "k", 0.0, 1.0, high_open=True)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return gce(logits, target, q=self.q, k=self.k, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"q={self.q}, k={self.k}"


@register(
    "mae", family="classification", kind="logits", reduces_over="sample", paper=Paper(
        "Robust Loss Functions under Label Noise for Deep Neural Networks", 2017, "Ghosh, Kumar, Sastry"),
    formula=r"\ell = \tfrac12\lVert e_y - \mathrm{softmax}(z)\rVert_1 = 1 - p_y",
    params={},
)
class MAE(nn.Module):
    """Module form of :func:`mae`; ``forward(logits[B, C], target[B])``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return mae(logits, target, reduction=self.reduction)
