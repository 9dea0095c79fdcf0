"""Pair-based metric-learning losses (kind ``pairs``) beyond the plain contrastive loss: triplet with
mining, lifted structure (Song et al.'s and the generalized form), binomial deviance, Multi-Similarity,
Orthogonal Projection Loss and Metrix.

Every loss here is a function of the similarity matrix ``S`` and the labels, so each has
``from_similarity(S, labels)`` and :func:`workbench.analysis.pair_weights` draws its gradient as pair
weights (the General Pair Weighting view of Wang et al., CVPR 2019).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    REAL,
    check_choice,
    check_flag,
    check_in_range,
    check_nonnegative,
    check_not_float16,
    check_number,
    check_positive,
    check_reduction,
    reduce,
)
from . import distributed
from .registry import Paper, Param, get, register
from .similarity import (
    check_embeddings,
    check_similarity,
    cosine_similarity_matrix,
    float32_if_half,
    masked_logsumexp,
    normalize,
    pair_masks,
)

MINING = ("all", "semi-hard", "hardest")


# --- triplet ----------------------------------------------------------------------------------------

def _triplet_loss(similarity: Tensor, positive: Tensor, negative: Tensor, margin: float, squared: bool, mining: str,
                  reduction: str) -> Tensor:
    """Triplet loss over every (anchor, positive, negative) of the batch without building the B³ cube.

    For an anchor a and positive p, the negatives with a positive hinge ``d_ap - d_an + m > 0`` are the
    ones with ``d_an < d_ap + m``: after sorting each anchor's negative distances, their number k and
    sum come from a binary search and a prefix sum, and the pair (a, p) contributes
    ``k (d_ap + m) - Σ d_an``. O(B² log B) time and O(B²) memory. Plain autograd: through the sort's values,
    the prefix sums and the gathers it gives the count per pair (dL/dd_ap = #active triplets through (a, p),
    dL/dd_an = -#active triplets through (a, n)); a hand-written backward of that was 1.2-1.3x slower
    (benchmarks/losses.py).
    """
    squared_distance = torch.rsub(similarity, 2.0, alpha=2.0).clamp(min=0)
    if squared:
        d = squared_distance
    else:  # sqrt with a zero (not infinite) slope at coincident points
        coincident = squared_distance == 0
        d = squared_distance.masked_fill(coincident, 1.0).sqrt().masked_fill(coincident, 0.0)
    if mining == "hardest":  # batch-hard: the farthest positive and the closest negative per anchor
        # max/min (not amax/amin): a tie sends the whole gradient to one pair, not shares of it.
        far_p = d.masked_fill(~positive, -math.inf).max(1).values
        near_n = d.masked_fill(~negative, math.inf).min(1).values
        valid = positive.any(1) & negative.any(1)
        per_anchor = torch.where(valid, far_p - near_n + margin, 0.0).clamp(min=0)
        n_active = (per_anchor > 0).sum()
    else:
        sorted_neg = d.masked_fill(~negative, math.inf).sort(1).values  # invalid entries sort last, never counted
        keys = sorted_neg.detach()
        prefix = torch.cat([d.new_zeros(d.shape[0], 1), sorted_neg.masked_fill(keys.isinf(), 0.0).cumsum(1)], dim=1)
        plain = d.detach()
        hi = torch.searchsorted(keys, plain + margin, side="left")   # negatives with d_an < d_ap + m
        # semi-hard: also d_an > d_ap; capped at hi so that margin 0 with a tie d_an = d_ap selects nothing (the
        # hand-written version summed that tied negative with the wrong sign)
        lo = torch.zeros_like(hi) if mining == "all" else torch.searchsorted(keys, plain, side="right").minimum(hi)
        count = (hi - lo).to(d.dtype).mul_(positive)  # active triplets per pair (a, p)
        per_pair = (count * (d + margin) - (prefix.gather(1, hi) - prefix.gather(1, lo))) * positive
        per_anchor, n_active = per_pair.sum(1), count.sum()
    if reduction == "none":
        return per_anchor
    if reduction == "sum":
        return per_anchor.sum()
    return per_anchor.sum() / n_active.clamp(min=1)  # mean over the triplets with non-zero loss (0 when none)


def triplet_from_similarity(similarity: Tensor, labels: Tensor, *, margin: float = 0.2, mining: str = "all",
                            squared: bool = False, reduction: str = "mean") -> Tensor:
    """Triplet margin loss from a cosine-similarity matrix; see :class:`TripletLoss`."""
    check_similarity(similarity, labels)
    return _triplet(similarity, labels, check_nonnegative(margin, "margin"), _check_mining(mining),
                    check_flag(squared, "squared"), check_reduction(reduction))


def _check_mining(mining: str) -> str:
    return check_choice(mining, "mining", MINING)


def _triplet(similarity, labels, margin, mining, squared, reduction):
    positive, negative = pair_masks(labels)
    return _triplet_loss(similarity, positive, negative, margin, squared, mining, reduction)


@register(
    "triplet", family="pairs", kind="pairs", reduces_over="anchor",
    paper=Paper("FaceNet: A Unified Embedding for Face Recognition and Clustering", 2015,
                "Schroff, Kalenichenko, Philbin"),
    formula=r"\ell = \overline{[D_{ap} - D_{an} + m]_+}^{\,\text{active triplets}},"
            r"\; D_{ij} = \lVert \hat z_i - \hat z_j\rVert_2",
    params={"margin": Param(0.2, 0.0, 1.0, "how much closer the positive must be than the negative",
                            valid=NONNEGATIVE)},
)
class TripletLoss(nn.Module):
    r"""Triplet margin loss on L2-normalised embeddings, with mining.

    .. math:: \ell_{apn} = [D_{ap} - D_{an} + m]_+, \qquad D_{ij} = \lVert\hat z_i - \hat z_j\rVert_2

    ``mining`` picks the triplets (a, p, n) with ``y_a = y_p != y_n``:

    * ``"all"``: every triplet of the batch (pytorch-metric-learning's ``triplets_per_anchor="all"``);
    * ``"semi-hard"``: FaceNet's semi-hard negatives, ``D_ap < D_an < D_ap + m`` (every such triplet, as
      PML's ``TripletMarginMiner("semihard")``, not one per pair as in FaceNet);
    * ``"hardest"``: batch-hard (Hermans et al. 2017), the farthest positive and the closest negative
      of every anchor.

    ``reduction="mean"`` averages over the triplets whose loss is non-zero (PML's ``AvgNonZeroReducer``;
    with ``margin=0.05`` the value equals PML's ``TripletMarginLoss()``), ``"sum"`` adds them, ``"none"``
    gives each anchor's sum over its triplets. ``squared=True`` uses squared distances (FaceNet, with
    ``margin=0.2``). The loss and its gradient are computed from sorted distances (no B³ tensor), so
    "all" stays cheap at B = 1024. Anchors without a positive or a negative form no triplet; a batch
    without any valid triplet gives 0, never NaN.

    Defaults (margin 0.2 on non-squared distances, every triplet) are neither recipe: FaceNet's is
    ``squared=True, mining="semi-hard"`` (with the default margin 0.2, its α), pytorch-metric-learning's
    ``TripletMarginLoss()`` is ``margin=0.05``. Why: on the unit sphere distances run from 0 to 2, and the
    notebooks draw triplet weights against the same distances as the contrastive loss; a margin of 0.2 in
    those units still acts on well-separated classes, where PML's 0.05 is met almost at once, and
    non-squared distances keep the pull on close positives (squaring scales it by 2D).

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives one value per anchor [B], the sum over its triplets; ``"sum"`` their total;
    ``"mean"`` divides that total by the number of triplets with non-zero loss (so it is not the mean of the
    anchors' values).
    """

    def __init__(self, margin: float = 0.2, mining: str = "all", squared: bool = False, reduction: str = "mean",
                 gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.margin, self.mining = check_nonnegative(margin, "margin"), _check_mining(mining)
        self.squared = check_flag(squared, "squared")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return triplet_from_similarity(similarity, labels, margin=self.margin, mining=self.mining,
                                       squared=self.squared, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return _triplet(cosine_similarity_matrix(embeddings), labels, self.margin, self.mining, self.squared,
                        self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, squared={self.squared}"


# --- lifted structure -------------------------------------------------------------------------------

DISTANCES = ("euclidean", "cosine")


def _unit_distance_autograd(similarity: Tensor) -> Tensor:
    """``sqrt(2 - 2S)`` through autograd, with a zero gradient where the distance is 0 (the diagonal,
    coincident points) instead of the NaN of ``sqrt``'s derivative at 0."""
    squared = torch.rsub(similarity, 2.0, alpha=2.0).clamp(min=0)
    return torch.where(squared > 0, squared.clamp(min=torch.finfo(squared.dtype).tiny).sqrt(), 0.0)


def lifted_structure_from_similarity(similarity: Tensor, labels: Tensor, *, neg_margin: float = 1.0,
                                     pos_margin: float = 0.0, reduction: str = "mean") -> Tensor:
    r"""Song et al.'s lifted structure loss from a cosine-similarity matrix; see :class:`LiftedStructureLoss`."""
    check_similarity(similarity, labels)
    neg_margin, pos_margin = _lifted_margins(neg_margin, pos_margin)
    check_reduction(reduction)
    positive, negative = pair_masks(labels)
    d = _unit_distance_autograd(similarity)
    neg = masked_logsumexp(neg_margin - d, negative, empty=0.0)  # log Σ_{k∈N(i)} e^{α - D_ik} per row
    # J_ij = log(Σ_{k∈N(i)} e^{α - D_ik} + Σ_{l∈N(j)} e^{α - D_jl}) + D_ij - m+; a batch of one class has
    # no negative at all (with two classes every row has one), so it has no term.
    j = torch.logaddexp(neg[:, None], neg[None, :]) + d - pos_margin
    per_pair = torch.where(positive & negative.any(), j.relu().square() / 2, 0.0)
    if reduction == "none":
        return per_pair
    if reduction == "sum":
        return per_pair.sum()
    return per_pair.sum() / positive.sum().clamp(min=1)


def _lifted_margins(neg_margin, pos_margin) -> tuple[float, float]:
    return check_nonnegative(neg_margin, "neg_margin"), check_nonnegative(pos_margin, "pos_margin")


@register(
    "lifted_structure", family="pairs", kind="pairs", reduces_over="pair",
    paper=Paper("Deep Metric Learning via Lifted Structured Feature Embedding", 2016,
                "Song, Xiang, Jegelka, Savarese"),
    formula=r"L = \frac{1}{2|P|}\sum_{(i,j)\in P}\Big[\log\Big(\sum_{k\in N_i} e^{\alpha - D_{ik}}"
            r" + \sum_{l\in N_j} e^{\alpha - D_{jl}}\Big) + D_{ij}\Big]_+^2",
    params={"neg_margin": Param(1.0, 0.0, 2.0, "α: how far beyond the positive distance negatives are pushed",
                                  valid=NONNEGATIVE),
            "pos_margin": Param(0.0, 0.0, 1.0, "positives closer than this pay nothing of their own distance",
                                  valid=NONNEGATIVE)},
)
class LiftedStructureLoss(nn.Module):
    r"""Lifted structure loss of Song, Xiang, Jegelka & Savarese (CVPR 2016), eq. 4, one term per positive pair:

    .. math:: J_{ij} = \log\Big(\sum_{k\in N_i} e^{\alpha - D_{ik}} + \sum_{l\in N_j} e^{\alpha - D_{jl}}\Big)
              + D_{ij} - m_+, \qquad L = \frac{1}{2|P|}\sum_{(i,j)\in P} [J_{ij}]_+^2

    with :math:`D` the Euclidean distance of the L2-normalised embeddings (:math:`\sqrt{2-2S}` of the
    cosine similarity S), P the positive pairs and :math:`N_i` the negatives of i: every positive pair is
    pushed against the negatives of *both* its ends (the "lifted" batch). Defaults α = ``neg_margin`` = 1
    (the paper's α) and ``pos_margin`` = 0 (the paper has none) are pytorch-metric-learning's
    ``LiftedStructureLoss()``, which this equals on the same embeddings (PML sums over ordered pairs with
    ``relu(J)²/2`` and averages: the same number). ``reduction="none"`` gives the [B, B] matrix of ordered
    positive pairs' ``[J]_+²/2`` (0 elsewhere), ``"mean"`` its mean over the ordered positive pairs,
    ``"sum"`` its sum. A batch without a positive pair or without a negative gives 0.

    The paper trains on raw embeddings with an L2 penalty; like PML we normalise. The anchor-wise form
    of Hermans et al. (and the one the Multi-Similarity paper's GPW table analyses) is
    :class:`GeneralizedLiftedStructureLoss`.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives the per-pair matrix [B, B] (a term per positive pair, 0 elsewhere); ``"mean"``
    averages over all positive pairs.
    """

    def __init__(self, neg_margin: float = 1.0, pos_margin: float = 0.0, reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.neg_margin, self.pos_margin = _lifted_margins(neg_margin, pos_margin)
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return lifted_structure_from_similarity(similarity, labels, neg_margin=self.neg_margin,
                                                pos_margin=self.pos_margin, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"neg_margin={self.neg_margin}, pos_margin={self.pos_margin}"


def generalized_lifted_structure_from_similarity(similarity: Tensor, labels: Tensor, *, neg_margin: float = 1.0,
                                                 pos_margin: float = 0.0, distance: str = "euclidean",
                                                 skip_incomplete: bool = True, reduction: str = "mean") -> Tensor:
    r"""Generalized (anchor-wise) lifted structure loss from a cosine-similarity matrix; see
    :class:`GeneralizedLiftedStructureLoss`."""
    check_similarity(similarity, labels)
    neg_margin, pos_margin = _lifted_margins(neg_margin, pos_margin)
    check_flag(skip_incomplete, "skip_incomplete")
    check_reduction(reduction)
    positive, negative = pair_masks(labels)
    if _check_distance(distance) == "euclidean":
        d = _unit_distance_autograd(similarity)
        pos_terms, neg_terms = d - pos_margin, neg_margin - d
    else:
        pos_terms, neg_terms = pos_margin - similarity, similarity - neg_margin
    per_anchor = (masked_logsumexp(pos_terms, positive, empty=0.0)
                  + masked_logsumexp(neg_terms, negative, empty=0.0)).relu()
    if skip_incomplete:
        per_anchor = torch.where(positive.any(1) & negative.any(1), per_anchor, 0.0)
    return reduce(per_anchor, reduction)


def _check_distance(distance: str) -> str:
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    return distance


@register(
    "generalized_lifted_structure", family="pairs", kind="pairs", reduces_over="anchor",
    paper=Paper("In Defense of the Triplet Loss for Person Re-Identification", 2017, "Hermans, Beyer, Leibe"),
    formula=r"\ell_i = \Big[\log\sum_{p\in P_i} e^{D_{ip} - m_+} + \log\sum_{n\in N_i} e^{m_- - D_{in}}\Big]_+",
    params={"neg_margin": Param(1.0, 0.0, 2.0, "m-: how far negatives are pushed (in the soft-max)",
                                valid=NONNEGATIVE),
            "pos_margin": Param(0.0, 0.0, 1.0, "m+: subtracted from the positives' distances", valid=NONNEGATIVE)},
)
class GeneralizedLiftedStructureLoss(nn.Module):
    r"""Generalized lifted structure loss (Hermans, Beyer & Leibe 2017, §2), one term per anchor:

    .. math:: \ell_i = \Big[\log\sum_{p\in P_i} e^{D_{ip} - m_+} + \log\sum_{n\in N_i} e^{m_- - D_{in}}\Big]_+

    averaged over all anchors, with :math:`D` the Euclidean distance of the L2-normalised embeddings.
    Defaults ``neg_margin`` = 1, ``pos_margin`` = 0 are pytorch-metric-learning's
    ``GeneralizedLiftedStructureLoss()``, which this equals whenever every anchor has a positive and a
    negative. Anchors without a positive or a negative give 0 (the paper's reading: the log of an empty
    sum is -∞ and the hinge clips it); ``skip_incomplete=False`` follows PML, which replaces an empty
    log-sum-exp by 0, so such an anchor still pays ``[log Σ_n e^{m_- - D_in}]_+`` (and equals PML on every
    batch).

    ``distance="cosine"`` uses the similarity itself, :math:`\ell_i = [\log\sum_P e^{m_+ - S_{ip}} +
    \log\sum_N e^{S_{in} - m_-}]_+` (PML with ``CosineSimilarity()``); with ``pos_margin=1, neg_margin=0``
    it is the form of the Multi-Similarity paper's GPW analysis (its λ = 1), whose weights are softmax
    shares: a negative's :math:`e^{S_{ij}}/\sum_{k\in N_i} e^{S_{ik}}` (the "N" of GPW), a positive's the
    share of :math:`\lambda - S` among the positives. This was Loss Lab's ``lifted_structure`` before it
    became Song et al.'s per-pair loss (:class:`LiftedStructureLoss`). ``reduction="none"`` gives the
    per-anchor losses.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives one value per anchor [B]; ``"mean"`` averages over all B anchors (an anchor
    without a positive or a negative counts, with 0).
    """

    def __init__(self, neg_margin: float = 1.0, pos_margin: float = 0.0, distance: str = "euclidean",
                 skip_incomplete: bool = True, reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.neg_margin, self.pos_margin = _lifted_margins(neg_margin, pos_margin)
        if not isinstance(skip_incomplete, bool):
            raise ValueError(f"skip_incomplete must be a bool, got {skip_incomplete!r}")
        self.distance, self.skip_incomplete = _check_distance(distance), skip_incomplete
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return generalized_lifted_structure_from_similarity(
            similarity, labels, neg_margin=self.neg_margin, pos_margin=self.pos_margin, distance=self.distance,
            skip_incomplete=self.skip_incomplete, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return (f"neg_margin={self.neg_margin}, pos_margin={self.pos_margin}, distance={self.distance!r}, "
                f"skip_incomplete={self.skip_incomplete}")


# --- binomial deviance ------------------------------------------------------------------------------

def binomial_deviance_from_similarity(similarity: Tensor, labels: Tensor, *, alpha: float = 2.0,
                                      beta: float = 50.0, base: float = 0.5, reduction: str = "mean") -> Tensor:
    """Binomial deviance loss from a similarity matrix; see :class:`BinomialDevianceLoss`."""
    check_similarity(similarity, labels)
    check_positive(alpha, "alpha")
    check_positive(beta, "beta")
    check_number(base, "base")
    check_reduction(reduction)
    positive, negative = pair_masks(labels, dtype=similarity.dtype)
    pos = F.softplus(-alpha * (similarity - base)) * positive
    neg = F.softplus(beta * (similarity - base)) * negative
    if reduction == "none":
        return pos + neg
    if reduction == "sum":
        return pos.sum() + neg.sum()
    return pos.sum() / positive.sum().clamp(min=1) + neg.sum() / negative.sum().clamp(min=1)


@register(
    "binomial_deviance", family="pairs", kind="pairs", reduces_over="pair",
    paper=Paper("Deep Metric Learning for Person Re-Identification", 2014, "Yi, Lei, Liao, Li"),
    formula=r"\ell = \overline{\log(1+e^{-\alpha(S_{ij}-\lambda)})}^{\,\mathrm{pos}}"
            r" + \overline{\log(1+e^{\beta(S_{ij}-\lambda)})}^{\,\mathrm{neg}}",
    params={
        "alpha": Param(2.0, 0.1, 20.0, "slope of the positive-pair softplus", log=True, valid=POSITIVE),
        "beta": Param(50.0, 1.0, 100.0, "slope of the negative-pair softplus", log=True, valid=POSITIVE),
        "base": Param(0.5, 0.0, 1.0, "λ: the similarity where a pair's weight is one half", valid=REAL),
    },
)
class BinomialDevianceLoss(nn.Module):
    r"""Binomial deviance (Yi et al. 2014) in the Multi-Similarity paper's parametrisation:

    .. math:: \ell = \frac{1}{|P|}\sum_{P}\log(1+e^{-\alpha(S_{ij}-\lambda)})
                   + \frac{1}{|N|}\sum_{N}\log(1+e^{\beta(S_{ij}-\lambda)})

    A soft version of the contrastive loss: each pair's weight is a sigmoid of its own similarity
    only (the "S" of GPW), :math:`\beta\sigma(\beta(S_{ij}-\lambda))` for negatives. Averaging the two
    parts separately balances the many negatives against the few positives (the role of Yi et al.'s
    cost ``C``). Defaults α = 2, β = 50, λ = 0.5 match the Multi-Similarity loss so the two can be
    compared. ``reduction="none"``: the per-pair matrix; ``"sum"``: its sum.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives the per-pair matrix [B, B] (0 on the diagonal); ``"mean"`` averages the positive
    pairs' values over all positive pairs and the negative pairs' over all negative pairs, and adds the two.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, reduction: str = "mean",
                 gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.alpha, self.beta = check_positive(alpha, "alpha"), check_positive(beta, "beta")
        self.base, self.reduction = check_number(base, "base"), check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return binomial_deviance_from_similarity(similarity, labels, alpha=self.alpha, beta=self.beta,
                                                 base=self.base, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, base={self.base}"


# --- multi-similarity -------------------------------------------------------------------------------

def ms_mining(similarity: Tensor, positive: Tensor, negative: Tensor, epsilon: float) -> tuple[Tensor, Tensor]:
    r"""Multi-Similarity mining: the kept ``(positive, negative)`` masks.

    :math:`\tilde N_i = \{j\in N_i: S_{ij} + \epsilon > \min_{k\in P_i} S_{ik}\}`,
    :math:`\tilde P_i = \{j\in P_i: S_{ij} - \epsilon < \max_{k\in N_i} S_{ik}\}` (strict, as the
    official code); an anchor whose mined positives or negatives are empty is dropped entirely (the
    official code skips it; it would crash on an anchor without any positive or negative).
    """
    hardest_pos = torch.where(positive, similarity, math.inf).amin(1, keepdim=True)
    hardest_neg = torch.where(negative, similarity, -math.inf).amax(1, keepdim=True)
    neg_keep = negative & (similarity + epsilon > hardest_pos)
    pos_keep = positive & (similarity - epsilon < hardest_neg)
    keep = (neg_keep.any(1) & pos_keep.any(1))[:, None]
    return pos_keep & keep, neg_keep & keep


def _softplus_lse(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``log(1 + Σ_mask e^x)`` per row and the weights ``e^{x}/(1 + Σ e^x)`` (0 off the mask)."""
    x = torch.where(mask, x, -math.inf)
    top = x.amax(1, keepdim=True).clamp_(min=0)  # shift by max(0, max x): no overflow at large beta
    e = (x - top).exp_()
    denom = e.sum(1, keepdim=True).add_(torch.exp(-top))
    return top.squeeze(1) + denom.log().squeeze(1), e.div_(denom)


class _MultiSimilarityFromSimilarity(torch.autograd.Function):
    """MS loss with a hand-written backward: the gradient is the closed-form pair weights,
    dL/dS_ij = w⁻_ij - w⁺_ij (the softmax shares inside each log(1 + Σ)), so no autograd graph is kept."""

    @staticmethod
    def forward(ctx, similarity, positive, negative, alpha, beta, base, reduction):
        shifted = similarity - base
        pos_term, w_pos = _softplus_lse(shifted * -alpha, positive)
        neg_term, w_neg = _softplus_lse(shifted.mul_(beta), negative)
        per_anchor = pos_term / alpha + neg_term / beta
        grad = w_neg.sub_(w_pos)
        if reduction == "none":
            out = per_anchor
        elif reduction == "sum":
            out = per_anchor.sum()
        else:
            out = per_anchor.mean()
            grad = grad.div_(similarity.shape[0])
        ctx.save_for_backward(grad)
        ctx.per_anchor = reduction == "none"
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        return grad * (grad_out[:, None] if ctx.per_anchor else grad_out), None, None, None, None, None, None


def multi_similarity_from_similarity(similarity: Tensor, labels: Tensor, *, alpha: float = 2.0, beta: float = 50.0,
                                     base: float = 0.5, epsilon: float | None = 0.1,
                                     reduction: str = "mean") -> Tensor:
    """Multi-Similarity loss (with MS mining unless ``epsilon=None``); see :class:`MultiSimilarityLoss`."""
    check_similarity(similarity, labels)
    check_positive(alpha, "alpha")
    check_positive(beta, "beta")
    check_number(base, "base")
    if epsilon is not None:
        check_nonnegative(epsilon, "epsilon (None: no mining)")
    return _multi_similarity(similarity, labels, alpha, beta, base, epsilon, check_reduction(reduction))


def _multi_similarity(similarity, labels, alpha, beta, base, epsilon, reduction):
    positive, negative = pair_masks(labels)
    if epsilon is not None:
        positive, negative = ms_mining(similarity.detach(), positive, negative, epsilon)
    return _MultiSimilarityFromSimilarity.apply(similarity, positive, negative, alpha, beta, base, reduction)


@register(
    "multi_similarity", family="pairs", kind="pairs", reduces_over="anchor",
    paper=Paper("Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning", 2019,
                "Wang, Han, Huang, Dong, Scott"),
    formula=r"\ell_i = \frac{1}{\alpha}\log\Big[1+\sum_{k\in\tilde P_i} e^{-\alpha(S_{ik}-\lambda)}\Big]"
            r" + \frac{1}{\beta}\log\Big[1+\sum_{k\in\tilde N_i} e^{\beta(S_{ik}-\lambda)}\Big]",
    params={
        "alpha": Param(2.0, 0.1, 20.0, "positive-pair scale: how sharply the hardest positives dominate", log=True,
                       valid=POSITIVE),
        "beta": Param(50.0, 1.0, 100.0, "negative-pair scale: how sharply the hardest negatives dominate",
                      log=True, valid=POSITIVE),
        "base": Param(0.5, 0.0, 1.0, "λ: similarity threshold; negatives above it weigh more than half", valid=REAL),
        "epsilon": Param(0.1, 0.0, 0.5, "mining margin ε (None switches mining off)", valid=NONNEGATIVE),
    },
)
class MultiSimilarityLoss(nn.Module):
    r"""Multi-Similarity loss (Wang et al., CVPR 2019) with its pair mining.

    .. math::
        \ell_i = \frac{1}{\alpha}\log\Big[1+\sum_{k\in\tilde P_i} e^{-\alpha(S_{ik}-\lambda)}\Big]
               + \frac{1}{\beta}\log\Big[1+\sum_{k\in\tilde N_i} e^{\beta(S_{ik}-\lambda)}\Big]

    averaged over all B anchors. The mined sets (see :func:`ms_mining`) keep negatives more similar
    than the hardest positive minus ε and positives less similar than the hardest negative plus ε;
    ``epsilon=None`` keeps every pair. The gradient is the paper's closed-form weights: a negative
    weighs :math:`1/(e^{\beta(\lambda-S_{ij})} + \sum_{k\in\tilde N_i} e^{\beta(S_{ik}-S_{ij})})`, which
    uses its own similarity (S), the other negatives (N) and, through mining, the positives (P).

    Defaults α = 2, β = 50, λ = 0.5, ε = 0.1: PML's ``MultiSimilarityLoss`` + ``MultiSimilarityMiner``
    (the paper states λ = 1; the official code uses λ = 0.5 and β = 40). Departures from the official
    code: positives are the same-label entries off the diagonal (the code also drops exact duplicates,
    ``S > 1 - 1e-5``), anchors without a positive or a negative give 0 instead of crashing, and an
    all-skipped batch gives a 0 that is connected to the graph. ``reduction="none"``: per-anchor loss.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives one value per anchor [B]; ``"mean"`` averages over all B anchors (an anchor
    dropped by mining counts, with 0).
    """

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float | None = 0.1,
                 reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.alpha, self.beta = check_positive(alpha, "alpha"), check_positive(beta, "beta")
        self.base = check_number(base, "base")
        self.epsilon = None if epsilon is None else check_nonnegative(epsilon, "epsilon (None: no mining)")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return multi_similarity_from_similarity(similarity, labels, alpha=self.alpha, beta=self.beta,
                                                base=self.base, epsilon=self.epsilon, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return _multi_similarity(cosine_similarity_matrix(embeddings), labels, self.alpha, self.beta, self.base,
                                 self.epsilon, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, base={self.base}, epsilon={self.epsilon}"


def multi_similarity_weights(similarity: Tensor, positive: Tensor, negative: Tensor, *, alpha: float = 2.0,
                             beta: float = 50.0, base: float = 0.5) -> tuple[Tensor, Tensor]:
    r"""The paper's closed-form MS pair weights (eq. 11-12 of Wang et al.), ``(w_pos, w_neg)`` [N, N]:

    :math:`w^+_{ij} = 1/(e^{-\alpha(\lambda-S_{ij})} + \sum_{k\in P_i} e^{-\alpha(S_{ik}-S_{ij})})`,
    :math:`w^-_{ij} = 1/(e^{\beta(\lambda-S_{ij})} + \sum_{k\in N_i} e^{\beta(S_{ik}-S_{ij})})`, 0 off the masks.
    Written from the formulas (not from the loss), so tests can hold autograd's dL/dS to them.
    """
    s = similarity[:, None, :] - similarity[:, :, None]  # s[i, j, k] = S_ik - S_ij
    pos_sum = (torch.exp(-alpha * s) * positive[:, None, :]).sum(2)
    neg_sum = (torch.exp(beta * s) * negative[:, None, :]).sum(2)
    w_pos = positive / (torch.exp(-alpha * (base - similarity)) + pos_sum)
    w_neg = negative / (torch.exp(beta * (base - similarity)) + neg_sum)
    return w_pos, w_neg


# --- orthogonal projection loss ---------------------------------------------------------------------

def opl_from_similarity(similarity: Tensor, labels: Tensor, *, gamma: float = 0.5, abs_neg: bool = True) -> Tensor:
    """Orthogonal Projection Loss from a cosine-similarity matrix; see :class:`OrthogonalProjectionLoss`."""
    check_similarity(similarity, labels)
    check_nonnegative(gamma, "gamma")
    check_flag(abs_neg, "abs_neg")
    dtype, similarity = similarity.dtype, float32_if_half(similarity)  # the 1e-6 below underflows in float16
    positive, negative = pair_masks(labels, dtype=similarity.dtype)
    s = (similarity * positive).sum() / (positive.sum() + 1e-6)
    neg = similarity.abs() if abs_neg else similarity
    d = (neg * negative).sum() / (negative.sum() + 1e-6)
    return ((1 - s) + gamma * d).to(dtype)


@register(
    "opl", family="pairs", kind="pairs", reduces_over="batch",
    paper=Paper("Orthogonal Projection Loss", 2021, "Ranasinghe, Naseer, Hayat, Khan, Khan"),
    formula=r"\mathcal L_{OPL} = (1 - \overline{S_{ij}}^{\,\mathrm{pos}})"
            r" + \gamma\,\overline{|S_{ij}|}^{\,\mathrm{neg}}",
    params={"gamma": Param(0.5, 0.0, 2.0, "weight of the orthogonality (negative) term", valid=NONNEGATIVE)},
)
class OrthogonalProjectionLoss(nn.Module):
    r"""Orthogonal Projection Loss (Ranasinghe et al., ICCV 2021), added to cross-entropy on the
    penultimate features F (the total is :math:`CE + \lambda\,\mathcal L_{OPL}`, see
    :func:`workbench.train.opl_batch_loss`):

    .. math:: \mathcal L_{OPL} = (1 - s) + \gamma\,|d|, \quad
              s = \frac{\sum_{pos}\hat f_i^\top\hat f_j}{|pos| + 10^{-6}}, \quad
              d = \frac{\sum_{neg}|\hat f_i^\top\hat f_j|}{|neg| + 10^{-6}}

    Same-class features are pulled together and different classes pushed to *orthogonal* (not
    opposite) directions. Defaults γ = 0.5 with the absolute value on the negative term, as the spec
    recommends; the official repository's root ``loss.py`` drops the abs (``abs_neg=False``, then
    anti-aligned classes lower the loss) and its CIFAR/ImageNet code uses γ = 2. Batch-level: no
    per-sample reduction. No positive pair gives s = 0 (a constant 1); no negative pair gives d = 0.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduces over the batch (means over all pairs of the batch): no ``reduction``.
    """

    def __init__(self, gamma: float = 0.5, abs_neg: bool = True, gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.gamma, self.abs_neg = check_nonnegative(gamma, "gamma"), check_flag(abs_neg, "abs_neg")

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return opl_from_similarity(similarity, labels, gamma=self.gamma, abs_neg=self.abs_neg)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, abs_neg={self.abs_neg}"


# --- metrix -----------------------------------------------------------------------------------------

METRIX_LOSSES = ("contrastive", "multi_similarity")


# Mixed points of nearly opposite rows have norms near 0; their cosine's gradient then exceeds float16's range.
METRIX_FLOAT16 = "the gradient of a mixed point's cosine near a zero norm exceeds float16's range (65504)"


@register(
    "metrix", family="pairs", kind="pairs", reduces_over="batch",
    paper=Paper("It Takes Two to Tango: Mixup for Deep Metric Learning", 2022,
                "Venkataramanan, Psomas, Kijak, Amsaleg, Karantzalos, Avrithis"),
    formula=r"\mathcal L = \ell(S, y) + w\,\tilde\ell(S, y; \lambda),\;"
            r" u = \frac{\lambda\hat z_p + (1-\lambda)\hat z_n}"
            r"{\lVert\lambda\hat z_p + (1-\lambda)\hat z_n\rVert},\; \lambda\sim\mathrm{Beta}(\alpha,\alpha)",
    params={
        "weight": Param(0.4, 0.0, 1.0, "w: weight of the mixed loss", valid=NONNEGATIVE),
        "alpha": Param(2.0, 0.1, 10.0, "Beta(α, α) parameter of the mixing factor λ", log=True, valid=POSITIVE),
    },
)
class Metrix(nn.Module):
    r"""Metrix (Venkataramanan, Psomas et al., ICLR 2022): mixup for metric learning, at the embedding level.

    For each anchor a, a positive p(a) (drawn at random) is mixed with every negative n of a,
    :math:`u_{an} = \mathrm{normalize}(\lambda\hat z_{p(a)} + (1-\lambda)\hat z_n)`, and u carries
    "positivity" λ; an anchor without positives mixes itself with its negatives (anchor-negative
    mixing). The mixed loss uses the wrapped loss's skeleton with every mixed pair counted λ times as a
    positive and (1-λ) times as a negative:

    * ``multi_similarity``: :math:`\frac1\alpha\log(1+\sum_u\lambda e^{-\alpha(s_{au}-b)})
      + \frac1\beta\log(1+\sum_u(1-\lambda)e^{\beta(s_{au}-b)})`, averaged over anchors (no mining);
    * ``contrastive``: :math:`\lambda[D_{au}-m_+]_+` and :math:`(1-\lambda)[m_- - D_{au}]_+`, each averaged
      over its non-zero terms, as the official code.

    :math:`\mathcal L = \ell + w\,\tilde\ell` with λ ~ Beta(α, α), one λ per call (``lam`` fixes it).
    Every similarity :math:`s_{au}` follows from S (``‖λp + (1-λ)n‖² = λ²S_pp + (1-λ)²S_nn + 2λ(1-λ)S_pn``),
    so ``from_similarity`` and the pair-weight lens work. Departures from the official code, which
    mixes ResNet feature maps (its best "feature" mode) and picks the pairing type at random per
    iteration: we mix embeddings, choose the pairing by whether the anchor has a positive, and
    implement the paper's formula for MS (the code multiplies the clean sums by λ and overwrites the
    clean negative mask, a bug). ``loss_params`` go to the wrapped loss (e.g. Metrix's tuned MS
    ``alpha=17.97, beta=75.66, base=0.77, epsilon=0.39``). Random: pass a ``generator``.

    ``official_embed=True`` follows the official code's embedding-level mode (``train.py``
    ``embed_metrix_contrastive``, ``mixup/utils.py``): each call picks one pairing at random, either
    positive-negative mixing for the anchors that have a positive, with the anchor's *first* positive
    (lowest row) and every (anchor, negative) pair counted once per positive of the anchor (the code loops
    over positive pairs), weighted ``weight`` (0.4); or anchor-negative mixing for the anchors without a
    positive, weighted 0.3 (``weight`` × 0.3/0.4; the feature mode uses 0.4 for both). Why not the default:
    on small batches a random pairing type leaves half the calls without mixing for most anchors, and the
    duplication by the number of positives weights anchors by their class size; the default mixes every
    anchor in every call with the paper's single w.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss, mixing included, of the whole batch (the whole-batch semantics of
    :mod:`workbench.losses.distributed`). Pass a ``generator`` seeded the same on every rank, so that every rank
    draws the same λ and partners (otherwise each rank mixes its own way and the ranks' values differ).

    Reduces over the batch (the sum of two batch means, one random draw per call): no ``reduction``.
    """

    def __init__(self, loss: str = "multi_similarity", weight: float = 0.4, alpha: float = 2.0,
                 lam: float | None = None, loss_params: dict | None = None, generator: torch.Generator | None = None,
                 official_embed: bool = False, gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.official_embed = check_flag(official_embed, "official_embed")
        check_choice(loss, "loss", METRIX_LOSSES)
        weight = check_nonnegative(weight, "weight")
        if lam is not None:
            check_in_range(lam, "lam (None: drawn from Beta(alpha, alpha))", 0.0, 1.0)
        self.base_loss = get(loss, **(loss_params or {}))
        if getattr(self.base_loss, "reduction", "mean") != "mean":
            raise ValueError("loss_params must keep reduction='mean' (Metrix adds two averaged losses)")
        self.weight, self.alpha = float(weight), check_positive(alpha, "alpha")
        self.lam = None if lam is None else float(lam)
        self.generator = generator

    def draw(self, labels: Tensor) -> tuple[float, Tensor]:
        """λ and the partner row p(a) of every anchor (a random positive, or the anchor itself)."""
        g = self.generator
        device = g.device if g is not None else "cpu"  # draws on the generator's device: a CUDA one works too
        if self.lam is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g, device=device))
            lam = float(np.random.default_rng(seed).beta(self.alpha, self.alpha))
        else:
            lam = self.lam
        positive, _ = pair_masks(labels)
        scores = torch.rand(positive.shape, generator=g, device=device).to(labels.device).masked_fill_(~positive, -1.0)
        best, partner = scores.max(1)
        partner = torch.where(best >= 0, partner, torch.arange(len(labels), device=labels.device))
        return lam, partner

    def mixed_similarity(self, similarity: Tensor, labels: Tensor, lam: float, partner: Tensor) -> Tensor:
        """``M[a, n] = cos(ẑ_a, u_an)`` for every anchor a and column n (meaningful on the negatives of a)."""
        diag = similarity.diagonal()
        sq_norm = (lam**2 * diag[partner][:, None] + (1 - lam)**2 * diag[None, :]
                   + 2 * lam * (1 - lam) * similarity[partner])
        numerator = lam * similarity.gather(1, partner[:, None]) + (1 - lam) * similarity
        return numerator / sq_norm.clamp(min=1e-12).sqrt()

    def mixed_points(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """The mixed embeddings ``u_an`` of one draw, ``[#(a, n) pairs, D]`` (for :func:`analysis.utilization`)."""
        z = normalize(embeddings.detach(), dim=1)
        lam, partner = self.draw(labels)
        _, negative = pair_masks(labels)
        a, n = negative.nonzero(as_tuple=True)
        return normalize(lam * z[partner[a]] + (1 - lam) * z[n], dim=1)

    def mixed_loss(self, similarity: Tensor, labels: Tensor, lam: float, partner: Tensor,
                   pairs: Tensor | None = None, counts: Tensor | None = None) -> Tensor:
        """The mixed term :math:`\\tilde\\ell` alone, over the (anchor, negative) ``pairs`` (default: every
        negative pair), each counted ``counts[a]`` times (default once)."""
        _, negative = pair_masks(labels)
        pairs = negative if pairs is None else pairs
        counts = similarity.new_ones(len(labels)) if counts is None else counts.to(similarity.dtype)
        mixed = self.mixed_similarity(similarity, labels, lam, partner)
        base = self.base_loss
        if isinstance(base, MultiSimilarityLoss):
            shifted = mixed - base.base
            log_c = counts.clamp(min=1).log()[:, None]
            pos = masked_logsumexp(-base.alpha * shifted + math.log(max(lam, 1e-300)) + log_c, pairs, add_one=True,
                                   empty=0.0)
            neg = masked_logsumexp(base.beta * shifted + math.log(max(1 - lam, 1e-300)) + log_c, pairs,
                                   add_one=True, empty=0.0)
            anchors = pairs.any(1)
            return (pos / base.alpha + neg / base.beta)[anchors].sum() / anchors.sum().clamp(min=1)
        distance = torch.rsub(mixed, 2.0, alpha=2.0).clamp(min=1e-12).sqrt()
        weight = pairs * counts[:, None]
        pos = lam * (distance - base.pos_margin).relu() * weight
        neg = (1 - lam) * (base.neg_margin - distance).relu() * weight
        # PML's AvgNonZeroReducer over the (duplicated) pairs
        return (pos.sum() / (weight * (pos > 0)).sum().clamp(min=1)
                + neg.sum() / (weight * (neg > 0)).sum().clamp(min=1))

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        check_not_float16(similarity, "similarity", METRIX_FLOAT16)
        clean = self.base_loss.from_similarity(similarity, labels)
        if self.weight == 0:
            return clean
        if self.official_embed:
            return clean + self._official_embed_mixed(similarity, labels)
        lam, partner = self.draw(labels)
        # the mixed norms' 1e-12 floor underflows in float16 (0/0): mix in float32, return the input's dtype
        mixed = self.mixed_loss(float32_if_half(similarity), labels, lam, partner).to(similarity.dtype)
        return clean + self.weight * mixed

    def _official_embed_mixed(self, similarity: Tensor, labels: Tensor) -> Tensor:
        """One of the official embed mode's two pairings, chosen at random (see the class docstring)."""
        lam, _ = self.draw(labels)
        positive, negative = pair_masks(labels)
        has_pos = positive.any(1)
        rows = torch.arange(len(labels), device=labels.device)
        if bool(torch.randint(0, 2, (1,), generator=self.generator)) is False:  # positive-negative mixing
            first = torch.where(positive, rows[None, :], len(labels)).min(1).values
            partner = torch.where(has_pos, first, rows)
            pairs, counts, weight = negative & has_pos[:, None], positive.sum(1), self.weight
        else:  # anchor-negative mixing for the anchors without a positive
            partner, pairs, counts, weight = rows, negative & ~has_pos[:, None], None, self.weight * 0.3 / 0.4
        return weight * self.mixed_loss(similarity, labels, lam, partner, pairs, counts)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        check_not_float16(embeddings, "embeddings", METRIX_FLOAT16)
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, alpha={self.alpha}, lam={self.lam}, official_embed={self.official_embed}"
