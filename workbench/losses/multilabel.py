"""Multi-label losses (kind ``multilabel``): ``forward(logits[B, C], targets[B, C] in {0, 1})``, several labels per
sample. Binary cross-entropy per label (the baseline), the Asymmetric Loss (ASL) and ZLPR, the
positive/negative-separated multi-label softmax.

Every loss here gives one value per sample (the sum over its C labels); ``"mean"`` averages those over the
batch (timm's ``'batchmean'``), ``"sum"`` adds them (the official ASL reduction).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    UNIT,
    Range,
    check_flag,
    check_float_tensor,
    check_multilabel_targets,
    check_reduction,
    reduce,
)
from .registry import Paper, Param, register


def check_multilabel(logits: Tensor, targets: Tensor) -> Tensor:
    """``logits[B, C]`` (finite, at least one row) and multi-hot ``targets[B, C]``; the targets as the logits' dtype."""
    check_float_tensor(logits, "logits", 2, "[B, C]", nonempty=True)
    return check_multilabel_targets(targets, "targets", tuple(logits.shape)).to(logits.dtype)


def _in_float32(logits: Tensor) -> Tensor:
    # timm computes ASL in float32: "fp16 probabilities underflow the eps clamp" (1e-8 is 0 in float16).
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


@register(
    "multilabel_bce", family="multilabel", kind="multilabel", reduces_over="sample",
    paper=Paper("Binary cross-entropy per label (the multi-label baseline; torch.nn.BCEWithLogitsLoss)", 1958),
    formula=r"\ell_i = -\sum_c \big[y_{ic}\log\sigma(z_{ic}) + (1-y_{ic})\log(1-\sigma(z_{ic}))\big]",
    params={},
)
class MultilabelBCE(nn.Module):
    r"""Binary cross-entropy on every label, summed over the C labels of a sample:

    .. math:: \ell_i = -\sum_c \big[y_{ic}\log\sigma(z_{ic}) + (1-y_{ic})\log(1-\sigma(z_{ic}))\big]

    The baseline ASL is measured against: ``asymmetric`` with ``gamma_neg = gamma_pos = 0`` and ``clip = 0`` gives
    this value up to its ``eps`` floor. Registered as ``multilabel_bce`` because ``bce`` is the binary kind's name
    (``forward(logits[B], target[B])``); one name, one forward. torch's ``BCEWithLogitsLoss(reduction="mean")``
    averages over B*C entries, that is our ``"mean"`` divided by C.

    Reduction: ``"none"`` gives one value per sample [B] (the sum over its labels); ``"mean"`` averages over all B.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        y = check_multilabel(logits, targets)
        per_label = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
        return reduce(per_label.sum(1), self.reduction)


def _focus_weight(base: Tensor, gamma: Tensor) -> Tensor:
    """``base ** gamma`` with ``0 ** 0 = 1`` and a zero (not NaN) gradient where ``base = 0``: ASL's negatives
    below the clip have base exactly 0, and ``d/db b**g = g b**(g-1)`` is infinite there for g < 1."""
    positive = base > 0
    powered = torch.where(positive, base, torch.ones_like(base)) ** gamma
    return torch.where(positive, powered, (gamma == 0).to(base.dtype))


def asymmetric_loss(logits: Tensor, targets: Tensor, *, gamma_neg: float = 4.0, gamma_pos: float = 1.0,
                    clip: float = 0.05, eps: float = 1e-8, detach_weight: bool = False,
                    reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`AsymmetricLoss`."""
    _check_asl(gamma_neg, gamma_pos, clip, eps, detach_weight)
    y = check_multilabel(logits, targets)
    z, y = _in_float32(logits), y.to(_in_float32(logits).dtype)
    p = torch.sigmoid(z)
    p_neg = 1 - p
    if clip > 0:  # asymmetric probability shifting, negatives only
        p_neg = (p_neg + clip).clamp(max=1)
    log_pos = y * torch.log(p.clamp(min=eps))
    log_neg = (1 - y) * torch.log(p_neg.clamp(min=eps))
    gamma = gamma_pos * y + gamma_neg * (1 - y)
    base = 1 - (p * y + p_neg * (1 - y))  # 1 - p_t: (1 - p) for positives, max(p - clip, 0) for negatives
    with torch.set_grad_enabled(torch.is_grad_enabled() and not detach_weight):
        weight = _focus_weight(base, gamma)
    per_label = -(log_pos + log_neg) * weight
    return reduce(per_label.sum(1), check_reduction(reduction)).to(logits.dtype)


def _check_asl(gamma_neg, gamma_pos, clip, eps, detach_weight) -> None:
    NONNEGATIVE.check(gamma_neg, "gamma_neg")
    NONNEGATIVE.check(gamma_pos, "gamma_pos")
    UNIT.check(clip, "clip")
    EPS.check(eps, "eps")
    check_flag(detach_weight, "detach_weight")


EPS = Range(0.0, 0.5, low_open=True)


@register(
    "asymmetric", family="multilabel", kind="multilabel", reduces_over="sample",
    paper=Paper("Asymmetric Loss For Multi-Label Classification", 2021,
                "Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter, Zelnik-Manor"),
    formula=r"\ell_i = -\sum_c \big[y_{ic}(1-p_{ic})^{\gamma_+}\log p_{ic} + (1-y_{ic})\,p_{m,ic}^{\gamma_-}"
            r"\log(1-p_{m,ic})\big],\; p_m = \max(p - m, 0)",
    params={
        "gamma_neg": Param(4.0, 0.0, 8.0, "γ−: focusing of negatives (down-weights easy negatives)",
                           valid=NONNEGATIVE),
        "gamma_pos": Param(1.0, 0.0, 4.0, "γ+: focusing of positives (official train.py: 0)", valid=NONNEGATIVE),
        "clip": Param(0.05, 0.0, 0.3, "m: probability margin shifted onto negatives (p < m: no loss)", valid=UNIT),
        "eps": Param(1e-8, 1e-8, 1e-4, "floor of the probabilities before the log", log=True, valid=EPS),
    },
)
class AsymmetricLoss(nn.Module):
    r"""Asymmetric Loss, ASL (Ridnik et al., ICCV 2021): focal-style down-weighting with separate exponents for
    positives and negatives, and a hard "probability margin" that discards very easy negatives.

    With :math:`p = \sigma(z)` and the shifted negative probability :math:`p_m = \max(p - m, 0)`
    (:math:`m` = ``clip``):

    .. math:: \ell_i = -\sum_c \Big[y_{ic}\,(1-p_{ic})^{\gamma_+}\log\max(p_{ic},\epsilon)
              + (1-y_{ic})\,p_{m,ic}^{\gamma_-}\log\max(1-p_{m,ic},\epsilon)\Big]

    Defaults: ``gamma_neg=4``, ``gamma_pos=1``, ``clip=0.05``, ``eps=1e-8`` (the official ``AsymmetricLoss`` class
    and timm's ``AsymmetricLossMultiLabel``; the official MS-COCO ``train.py`` uses ``gamma_pos=0``). The focusing
    weight carries gradient by default, as timm and the official ``AsymmetricLossOptimized`` do;
    ``detach_weight=True`` is the official ``AsymmetricLoss`` class's ``disable_torch_grad_focal_loss=True``.
    ``reduction="sum"`` equals timm's ``AsymmetricLossMultiLabel(reduction="sum")`` and the official loss (a sum
    over batch and labels, so it grows with the batch); the default ``"mean"`` is timm's ``'batchmean'`` (sum / B).
    Computed in float32 for half-precision logits (as timm does), returned in the logits' dtype.

    Edge cases: a negative with :math:`p < m` has zero loss and zero gradient (the hard threshold);
    ``gamma_neg = gamma_pos = clip = 0`` gives binary cross-entropy (``multilabel_bce``), up to the ``eps`` floor.
    Tip: with many more negatives than positives per sample (the usual multi-label case), ``gamma_neg`` > ``gamma_pos``
    keeps the sea of easy negatives from dominating the gradient.

    Reduction: ``"none"`` gives one value per sample [B] (the sum over its labels); ``"mean"`` averages over all B.
    """

    def __init__(self, gamma_neg: float = 4.0, gamma_pos: float = 1.0, clip: float = 0.05, eps: float = 1e-8,
                 detach_weight: bool = False, reduction: str = "mean"):
        super().__init__()
        _check_asl(gamma_neg, gamma_pos, clip, eps, detach_weight)
        self.gamma_neg, self.gamma_pos = float(gamma_neg), float(gamma_pos)
        self.clip, self.eps, self.detach_weight = float(clip), float(eps), detach_weight
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return asymmetric_loss(logits, targets, gamma_neg=self.gamma_neg, gamma_pos=self.gamma_pos, clip=self.clip,
                               eps=self.eps, detach_weight=self.detach_weight, reduction=self.reduction)


def zlpr(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`ZLPR`."""
    y = check_multilabel(logits, targets).bool()
    return reduce(_zlpr(logits, y), check_reduction(reduction))


def _zlpr(logits: Tensor, positive: Tensor) -> Tensor:
    # log(1 + Σ_{neg} e^{s}) = logsumexp([0, s_neg]); masked entries at the dtype's lowest value add e^{-huge} = 0
    # (not -inf: logsumexp's backward is NaN on a row of -inf).
    low = torch.finfo(logits.dtype).min
    zero = torch.zeros(len(logits), 1, dtype=logits.dtype, device=logits.device)
    neg = torch.logsumexp(torch.cat([zero, logits.masked_fill(positive, low)], 1), 1)
    pos = torch.logsumexp(torch.cat([zero, (-logits).masked_fill(~positive, low)], 1), 1)
    return neg + pos


@register(
    "zlpr", family="multilabel", kind="multilabel", reduces_over="sample",
    paper=Paper("ZLPR: A Novel Loss for Multi-label Classification", 2022, "Su et al."),
    formula=r"\ell_i = \log\Big(1 + \sum_{j\in\Omega^-_i} e^{s_{ij}}\Big) + \log\Big(1 + \sum_{k\in\Omega^+_i} "
            r"e^{-s_{ik}}\Big)",
    params={},
)
class ZLPR(nn.Module):
    r"""Zero-bounded log-sum-exp pairwise ranking (ZLPR; Su et al. 2022, "multilabel categorical cross-entropy"):
    a softmax-style multi-label loss with one term for the positive labels and one for the negative labels,
    each measured against the threshold 0:

    .. math:: \ell_i = \log\Big(1 + \sum_{j\in\Omega^-_i} e^{s_{ij}}\Big) + \log\Big(1 + \sum_{k\in\Omega^+_i}
              e^{-s_{ik}}\Big)

    It is the ``e^{0}`` in both logs that makes 0 the decision threshold: a label is predicted when its logit is
    positive, whatever the number of labels. Expanding the product of the two sums gives every (negative,
    positive) pair's :math:`e^{s_j - s_k}`: a pairwise ranking loss, computed in O(C).

    Why here: MLCD (An et al., ECCV 2024) describes its loss as "separating losses from positive classes and
    negative classes"; the form above is our *unverified* reading of it (the deepglint/unicom repository holds the
    MLCD model, not its training loss — none in any of its 322 commits up to ae71411, nor in the other deepglint
    repositories in our index — and the paper body was not available to us), which is why this loss is
    registered under its own name, not as ``mlcd``. MLCD would feed :math:`s = \text{scale}\cdot\cos(x, c)` over
    cluster centres with a sampled fraction of negatives; here the logits are given. No hyper-parameters.
    Edge cases: no positive label: the positive term is log 1 = 0; no negative label: the negative term is 0.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages over all B.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        y = check_multilabel(logits, targets).bool()
        return reduce(_zlpr(logits, y), self.reduction)
