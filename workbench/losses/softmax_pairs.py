"""Pair losses built on a softmax over pairs (kind ``pairs``): Circle loss and the N-pair loss.

Both are functions of the cosine-similarity matrix ``S`` and the labels, so each has
``from_similarity(S, labels)`` and :func:`workbench.analysis.pair_weights` shows their gradient as pair weights
(Circle's are the textbook case of self-paced weighting: each similarity is weighted by its distance from its
optimum). Each equals pytorch-metric-learning's (PML 2.9) class of the same name (tests/losses/test_proxies.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import POSITIVE, UNIT, check_flag, check_reduction
from . import distributed
from .registry import Paper, Param, register
from .similarity import check_embeddings, check_similarity, cosine_similarity_matrix, masked_logsumexp, pair_masks

# --- Circle loss --------------------------------------------------------------------------------------

def circle_from_similarity(similarity: Tensor, labels: Tensor, *, margin: float = 0.25, gamma: float = 256.0,
                           detach_weights: bool = True, reduction: str = "mean") -> Tensor:
    """Circle loss from a cosine-similarity matrix; see :class:`CircleLoss`."""
    check_similarity(similarity, labels)  # a float [N, N], N >= 1, no NaN or ±inf
    return _circle(similarity, labels, _circle_margin(margin), _gamma(gamma), check_flag(detach_weights,
                   "detach_weights"), check_reduction(reduction))


def _circle(similarity, labels, margin, gamma, detach_weights, reduction):
    positive, negative = pair_masks(labels)
    weights = similarity.detach() if detach_weights else similarity
    alpha_p = (1 + margin - weights).clamp(min=0)  # [O_p - s_p]_+ with O_p = 1 + m
    alpha_n = (weights + margin).clamp(min=0)      # [s_n - O_n]_+ with O_n = -m
    pos = masked_logsumexp(-gamma * alpha_p * (similarity - (1 - margin)), positive, empty=0.0)  # Δ_p = 1 - m
    neg = masked_logsumexp(gamma * alpha_n * (similarity - margin), negative, empty=0.0)  # Δ_n = m
    valid = positive.any(1) & negative.any(1)
    per_anchor = torch.where(valid, F.softplus(pos + neg), 0.0)
    if reduction == "none":
        return per_anchor
    if reduction == "sum":
        return per_anchor.sum()
    return per_anchor.sum() / (per_anchor > 0).sum().clamp(min=1)  # PML's AvgNonZeroReducer


def _circle_margin(margin) -> float:
    return UNIT.check(margin, "margin")


def _gamma(gamma) -> float:
    return POSITIVE.check(gamma, "gamma")


@register(
    "circle", family="pairs", kind="pairs", reduces_over="anchor",
    paper=Paper("Circle Loss: A Unified Perspective of Pair Similarity Optimization", 2020,
                "Sun, Cheng, Zhang, Zhang, Zheng, Wang, Wei"),
    formula=r"\ell_i = \log\Big(1 + \sum_{n}\sum_{p} e^{\gamma(\alpha_n(s_n-\Delta_n) - \alpha_p(s_p-\Delta_p))}\Big),"
            r"\;\alpha_p=[1+m-s_p]_+,\;\alpha_n=[s_n+m]_+,\;\Delta_p=1-m,\;\Delta_n=m",
    params={"margin": Param(0.25, 0.0, 0.6, "m: relaxation; the decision boundary is a circle of radius √2·m",
                            valid=UNIT),
            "gamma": Param(256.0, 1.0, 512.0, "γ: scale of the similarities", log=True, valid=POSITIVE)},
)
class CircleLoss(nn.Module):
    r"""Circle loss (Sun et al., CVPR 2020) on cosine similarities, per anchor i:

    .. math::
        \ell_i = \mathrm{softplus}\Big(\operatorname{LSE}_{p\in P_i}\big(-\gamma\alpha_p(s_p-\Delta_p)\big)
                 + \operatorname{LSE}_{n\in N_i}\big(\gamma\alpha_n(s_n-\Delta_n)\big)\Big)

    with :math:`\alpha_p = [1+m-s_p]_+`, :math:`\alpha_n = [s_n+m]_+`, :math:`\Delta_p = 1-m`, :math:`\Delta_n = m`.
    The weights α are held constant in the backward pass (``detach_weights=True``, the paper's "self-paced"
    weighting, as PML): the gradient on a pair is γα times its softmax share, so a similarity far from its
    optimum (1 + m for positives, -m for negatives) is pushed harder. Because of that, the gradient is on
    purpose *not* the derivative of the value; ``detach_weights=False`` differentiates through α as well.

    Defaults m = 0.25, γ = 256: the paper's face-recognition setting (re-ID: 0.25, 128; fine-grained retrieval:
    0.4, 80), as quoted by PML's docstring. **PML's ``CircleLoss()`` defaults differ: m = 0.4, γ = 80.**
    With equal settings the value equals PML's ``CircleLoss(m, gamma)``. Stable: the exponent γα·s reaches
    ~600, so everything stays in log-sum-exp form.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives one value per anchor row [N] (0 for an anchor without a positive or a
    negative); ``"mean"`` averages the non-zero ones (PML's ``AvgNonZeroReducer``), ``"sum"`` adds them all.
    """

    def __init__(self, margin: float = 0.25, gamma: float = 256.0, detach_weights: bool = True,
                 reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.margin, self.gamma = _circle_margin(margin), _gamma(gamma)
        self.detach_weights = check_flag(detach_weights, "detach_weights")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return circle_from_similarity(similarity, labels, margin=self.margin, gamma=self.gamma,
                                      detach_weights=self.detach_weights, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)  # a float [B, D], B >= 1, no NaN or ±inf
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return _circle(cosine_similarity_matrix(embeddings), labels, self.margin, self.gamma, self.detach_weights,
                       self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, gamma={self.gamma}, detach_weights={self.detach_weights}"


# --- N-pair loss --------------------------------------------------------------------------------------

def npair_indices(labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(anchors, positives)``: for every label with two or more samples, in increasing label order, its first
    sample (the anchor) and its second (the positive), as PML's ``convert_to_pos_pairs_with_unique_labels``
    picks them from all positive pairs."""
    ordered, order = torch.sort(labels, stable=True)  # by label, then by position
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    has_second = starts.clone()
    has_second[:-1] &= ordered[1:] == ordered[:-1]
    has_second[-1:] = False
    first = torch.nonzero(has_second).flatten()
    return order[first], order[first + 1]


def npairs_from_similarity(similarity: Tensor, labels: Tensor, *, reduction: str = "mean") -> Tensor:
    """N-pair loss from a cosine-similarity matrix; see :class:`NPairsLoss`."""
    check_similarity(similarity, labels)  # a float [N, N], N >= 1, no NaN or ±inf
    return _npairs(similarity, labels, check_reduction(reduction))


def _npairs(similarity, labels, reduction):
    anchors, positives = npair_indices(labels)
    logits = similarity[anchors][:, positives]  # row i: anchor i against every class's positive
    per_pair = F.cross_entropy(logits, torch.arange(len(anchors), device=logits.device), reduction="none")
    if reduction == "none":
        return similarity.new_zeros(len(similarity)).index_put((anchors,), per_pair)
    if reduction == "sum" or len(anchors) == 0:
        return per_pair.sum() + 0.0 * similarity.sum()  # 0 with a graph when there is no pair
    return per_pair.mean()


@register(
    "npairs", family="pairs", kind="pairs", reduces_over="anchor",
    paper=Paper("Improved Deep Metric Learning with Multi-class N-pair Loss Objective", 2016, "Sohn"),
    formula=r"\ell_i = -\log\frac{e^{\hat f_i^\top\hat f_i^+}}{\sum_{j=1}^{N} e^{\hat f_i^\top\hat f_j^+}}",
    params={},
)
class NPairsLoss(nn.Module):
    r"""Multi-class N-pair loss (Sohn, NeurIPS 2016): one (anchor, positive) pair per class; every other
    class's positive is a negative of the anchor,

    .. math:: \ell_i = -\log\frac{e^{\hat f_i^\top\hat f_i^+}}{\sum_{j=1}^{N} e^{\hat f_i^\top\hat f_j^+}}

    a softmax over the N classes' positives (:func:`npair_indices` says which samples). As PML's
    ``NPairsLoss()``: cosine similarities (PML's ``DotProductSimilarity`` normalises by default), no
    temperature, the mean over the N pairs; classes with a single sample take no part, and a batch without
    any positive pair gives 0.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives one value per row [N]: each N-pair anchor's value at its row, 0 for the other
    rows; ``"mean"`` averages over the N-pair anchors only (one per class with two or more samples), ``"sum"``
    adds them.

    Departure from the paper: Sohn uses raw inner products plus an L2 penalty on the embeddings (weight
    from memory, not verified here); cosine logits live in [-1, 1], so the softmax never becomes confident and
    the gradients stay small, which is why N-pairs trains slowly on the default recipe.
    """

    def __init__(self, reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return npairs_from_similarity(similarity, labels, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)  # a float [B, D], B >= 1, no NaN or ±inf
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return _npairs(cosine_similarity_matrix(embeddings), labels, self.reduction)
