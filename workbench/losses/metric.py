"""Pair-based metric-learning losses (kind ``pairs``) beyond the plain contrastive loss: triplet with
mining, lifted structure, binomial deviance, Multi-Similarity, Orthogonal Projection Loss and Metrix.

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

from .._checks import check_nonnegative, check_positive, check_reduction, reduce
from .pairs import _distance_backward, _unit_distance
from .registry import Paper, Param, get, register
from .similarity import check_embeddings, check_similarity, cosine_similarity_matrix, pair_masks

MINING = ("all", "semi-hard", "hardest")


def _masked_logsumexp(x: Tensor, mask: Tensor, add_one: bool = False) -> Tensor:
    """Row-wise ``log Σ_{mask} e^x`` (``log(1 + Σ e^x)`` with ``add_one``); rows with an empty mask give 0.

    Empty rows are filled with zeros before the logsumexp so their (unused) gradient stays finite.
    """
    empty = ~mask.any(1, keepdim=True)
    x = torch.where(mask, x, -math.inf).masked_fill(empty & ~mask, 0.0)
    if add_one:
        x = torch.cat([x.new_zeros(x.shape[0], 1), x], dim=1)
    return torch.logsumexp(x, dim=1).masked_fill(empty.squeeze(1), 0.0)


# --- triplet ----------------------------------------------------------------------------------------

class _TripletFromSimilarity(torch.autograd.Function):
    """Triplet loss over every (anchor, positive, negative) of the batch without building the B³ cube.

    For an anchor a and positive p, the negatives with a positive hinge ``d_ap - d_an + m > 0`` are the
    ones with ``d_an < d_ap + m``: after sorting each anchor's negative distances, their number k and
    sum come from a binary search and a prefix sum, and the pair (a, p) contributes
    ``k (d_ap + m) - Σ d_an``. The gradient is a count per pair: dL/dd_ap = #active triplets through
    (a, p), dL/dd_an = -#active triplets through (a, n). O(B² log B) time and O(B²) memory.
    """

    @staticmethod
    def forward(ctx, similarity, positive, negative, margin, squared, mining, reduction):
        d = _unit_distance(similarity, squared)
        inf = torch.tensor(math.inf, dtype=d.dtype, device=d.device)
        if mining == "hardest":  # batch-hard: the farthest positive and the closest negative per anchor
            far_p, p_idx = torch.where(positive, d, -inf).max(1)
            near_n, n_idx = torch.where(negative, d, inf).min(1)
            valid = positive.any(1) & negative.any(1)
            hinge = torch.where(valid, far_p - near_n + margin, 0.0).clamp_(min=0)
            active = (hinge > 0).to(d.dtype)
            per_anchor, n_active = hinge, active.sum()
            count_p = torch.zeros_like(d).scatter_(1, p_idx[:, None], active[:, None])
            count_n = torch.zeros_like(d).scatter_(1, n_idx[:, None], active[:, None])
        else:
            sorted_neg = torch.where(negative, d, inf).sort(1).values  # invalid entries sort last, never counted
            sorted_pos = torch.where(positive, d, inf).sort(1).values
            prefix = torch.cat([d.new_zeros(d.shape[0], 1),
                                torch.where(sorted_neg.isfinite(), sorted_neg, 0.0).cumsum(1)], dim=1)
            hi = torch.searchsorted(sorted_neg, d + margin, side="left")   # negatives with d_an < d_ap + m
            if mining == "all":
                lo = torch.zeros_like(hi)
                # positives with d_ap > d_an - m
                count_n = positive.sum(1, keepdim=True) - torch.searchsorted(sorted_pos, d - margin, side="right")
            else:  # semi-hard: d_ap < d_an < d_ap + m
                lo = torch.searchsorted(sorted_neg, d, side="right")
                count_n = (torch.searchsorted(sorted_pos, d, side="left")
                           - torch.searchsorted(sorted_pos, d - margin, side="right"))
            count_p = (hi - lo).clamp_(min=0).to(d.dtype).mul_(positive)
            count_n = count_n.clamp_(min=0).to(d.dtype).mul_(negative)
            neg_sum = prefix.gather(1, hi) - prefix.gather(1, lo)
            per_pair = (count_p * (d + margin) - neg_sum).mul_(positive)
            per_anchor, n_active = per_pair.sum(1), count_p.sum()
        grad_d = count_p.sub_(count_n)
        if reduction == "none":
            out = per_anchor
        elif reduction == "sum":
            out = per_anchor.sum()
        else:  # mean over the triplets with non-zero loss (0 when there are none)
            n_active = n_active.clamp(min=1)
            out = per_anchor.sum() / n_active
            grad_d = grad_d.div_(n_active)
        ctx.save_for_backward(d, grad_d)
        ctx.squared, ctx.per_anchor = squared, reduction == "none"
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        d, grad_d = ctx.saved_tensors
        grad_d = grad_d * (grad_out[:, None] if ctx.per_anchor else grad_out)
        return _distance_backward(grad_d, d, ctx.squared), None, None, None, None, None, None


def triplet_from_similarity(similarity: Tensor, labels: Tensor, *, margin: float = 0.2, mining: str = "all",
                            squared: bool = False, reduction: str = "mean") -> Tensor:
    """Triplet margin loss from a cosine-similarity matrix; see :class:`TripletLoss`."""
    check_similarity(similarity, labels)
    return _triplet(similarity, labels, float(margin), _check_mining(mining), bool(squared),
                    check_reduction(reduction))


def _check_mining(mining: str) -> str:
    if mining not in MINING:
        raise ValueError(f"mining must be one of {MINING}, got {mining!r}")
    return mining


def _triplet(similarity, labels, margin, mining, squared, reduction):
    positive, negative = pair_masks(labels)
    return _TripletFromSimilarity.apply(similarity, positive, negative, margin, squared, mining, reduction)


@register(
    "triplet", family="pairs", kind="pairs", reduces_over="anchor",
    paper=Paper("FaceNet: A Unified Embedding for Face Recognition and Clustering", 2015,
                "Schroff, Kalenichenko, Philbin"),
    formula=r"\ell = \overline{[D_{ap} - D_{an} + m]_+}^{\,\text{active triplets}},"
            r"\; D_{ij} = \lVert \hat z_i - \hat z_j\rVert_2",
    params={"margin": Param(0.2, 0.0, 1.0, "how much closer the positive must be than the negative")},
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

    Reduction: ``"none"`` gives one value per anchor [B], the sum over its triplets; ``"sum"`` their total;
    ``"mean"`` divides that total by the number of triplets with non-zero loss (so it is not the mean of the
    anchors' values).
    """

    def __init__(self, margin: float = 0.2, mining: str = "all", squared: bool = False, reduction: str = "mean"):
        super().__init__()
        if not isinstance(margin, (int, float)):
            raise ValueError(f"margin must be a number, got {margin!r}")
        self.margin, self.mining, self.squared = float(margin), _check_mining(mining), bool(squared)
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return triplet_from_similarity(similarity, labels, margin=self.margin, mining=self.mining,
                                       squared=self.squared, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        return _triplet(cosine_similarity_matrix(embeddings), labels, self.margin, self.mining, self.squared,
                        self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, squared={self.squared}"


# --- lifted structure -------------------------------------------------------------------------------

def lifted_structure_from_similarity(similarity: Tensor, labels: Tensor, *, margin: float = 1.0,
                                     reduction: str = "mean") -> Tensor:
    r"""Lifted structure loss (MS-paper form) from a similarity matrix; see :class:`LiftedStructureLoss`."""
    check_similarity(similarity, labels)
    check_reduction(reduction)
    positive, negative = pair_masks(labels)
    pos = _masked_logsumexp(margin - similarity, positive)
    neg = _masked_logsumexp(similarity, negative)
    per_anchor = torch.where(positive.any(1) & negative.any(1), (pos + neg).relu(), 0.0)
    return reduce(per_anchor, reduction)


@register(
    "lifted_structure", family="pairs", kind="pairs", reduces_over="anchor",
    paper=Paper("Deep Metric Learning via Lifted Structured Feature Embedding", 2016,
                "Song, Xiang, Jegelka, Savarese"),
    formula=r"\ell_i = \Big[\log\sum_{k\in P_i} e^{\lambda - S_{ik}} + \log\sum_{k\in N_i} e^{S_{ik}}\Big]_+",
    params={"margin": Param(1.0, 0.0, 2.0, "λ: how far positives must lead the soft-max negative")},
)
class LiftedStructureLoss(nn.Module):
    r"""Lifted structure loss in the cosine form of the Multi-Similarity paper's GPW analysis:

    .. math:: \ell_i = \Big[\log\sum_{k\in P_i} e^{\lambda - S_{ik}} + \log\sum_{k\in N_i} e^{S_{ik}}\Big]_+

    averaged over anchors (anchors without a positive or a negative give 0). The log-sum-exps make
    every weight relative: a negative's weight is its softmax share among the anchor's negatives,
    :math:`e^{S_{ij}}/\sum_{k\in N_i} e^{S_{ik}}` (the "N" of GPW), a positive's the softmax share of
    :math:`\lambda - S` among the positives. Song et al.'s original uses distances per positive pair;
    this anchor-wise form is the generalised one (PML's ``GeneralizedLiftedStructureLoss`` with
    similarities). ``reduction="none"`` gives the per-anchor losses.

    Reduction: ``"none"`` gives one value per anchor [B]; ``"mean"`` averages over all B anchors (an anchor
    without a positive or a negative counts, with 0).
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean"):
        super().__init__()
        if not isinstance(margin, (int, float)):
            raise ValueError(f"margin must be a number, got {margin!r}")
        self.margin, self.reduction = float(margin), check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return lifted_structure_from_similarity(similarity, labels, margin=self.margin, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


# --- binomial deviance ------------------------------------------------------------------------------

def binomial_deviance_from_similarity(similarity: Tensor, labels: Tensor, *, alpha: float = 2.0,
                                      beta: float = 50.0, base: float = 0.5, reduction: str = "mean") -> Tensor:
    """Binomial deviance loss from a similarity matrix; see :class:`BinomialDevianceLoss`."""
    check_similarity(similarity, labels)
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
        "alpha": Param(2.0, 0.1, 20.0, "slope of the positive-pair softplus", log=True),
        "beta": Param(50.0, 1.0, 100.0, "slope of the negative-pair softplus", log=True),
        "base": Param(0.5, 0.0, 1.0, "λ: the similarity where a pair's weight is one half"),
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

    Reduction: ``"none"`` gives the per-pair matrix [B, B] (0 on the diagonal); ``"mean"`` averages the positive
    pairs' values over all positive pairs and the negative pairs' over all negative pairs, and adds the two.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, reduction: str = "mean"):
        super().__init__()
        self.alpha, self.beta = check_positive(alpha, "alpha"), check_positive(beta, "beta")
        if not isinstance(base, (int, float)):
            raise ValueError(f"base must be a number, got {base!r}")
        self.base, self.reduction = float(base), check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return binomial_deviance_from_similarity(similarity, labels, alpha=self.alpha, beta=self.beta,
                                                 base=self.base, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
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
        "alpha": Param(2.0, 0.1, 20.0, "positive-pair scale: how sharply the hardest positives dominate", log=True),
        "beta": Param(50.0, 1.0, 100.0, "negative-pair scale: how sharply the hardest negatives dominate",
                      log=True),
        "base": Param(0.5, 0.0, 1.0, "λ: similarity threshold; negatives above it weigh more than half"),
        "epsilon": Param(0.1, 0.0, 0.5, "mining margin ε (None switches mining off)"),
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

    Reduction: ``"none"`` gives one value per anchor [B]; ``"mean"`` averages over all B anchors (an anchor
    dropped by mining counts, with 0).
    """

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float | None = 0.1,
                 reduction: str = "mean"):
        super().__init__()
        self.alpha, self.beta = check_positive(alpha, "alpha"), check_positive(beta, "beta")
        if not isinstance(base, (int, float)):
            raise ValueError(f"base must be a number, got {base!r}")
        self.base = float(base)
        self.epsilon = None if epsilon is None else check_nonnegative(epsilon, "epsilon (None: no mining)")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return multi_similarity_from_similarity(similarity, labels, alpha=self.alpha, beta=self.beta,
                                                base=self.base, epsilon=self.epsilon, reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
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
    positive, negative = pair_masks(labels, dtype=similarity.dtype)
    s = (similarity * positive).sum() / (positive.sum() + 1e-6)
    neg = similarity.abs() if abs_neg else similarity
    d = (neg * negative).sum() / (negative.sum() + 1e-6)
    return (1 - s) + gamma * d


@register(
    "opl", family="pairs", kind="pairs", reduces_over="batch",
    paper=Paper("Orthogonal Projection Loss", 2021, "Ranasinghe, Naseer, Hayat, Khan, Khan"),
    formula=r"\mathcal L_{OPL} = (1 - \overline{S_{ij}}^{\,\mathrm{pos}})"
            r" + \gamma\,\overline{|S_{ij}|}^{\,\mathrm{neg}}",
    params={"gamma": Param(0.5, 0.0, 2.0, "weight of the orthogonality (negative) term")},
)
class OrthogonalProjectionLoss(nn.Module):
    r"""Orthogonal Projection Loss (Ranasinghe et al., ICCV 2021), added to cross-entropy on the
    penultimate features F (the total is :math:`CE + \lambda\,\mathcal L_{OPL}`, see :func:`opl_batch_loss`):

    .. math:: \mathcal L_{OPL} = (1 - s) + \gamma\,|d|, \quad
              s = \frac{\sum_{pos}\hat f_i^\top\hat f_j}{|pos| + 10^{-6}}, \quad
              d = \frac{\sum_{neg}|\hat f_i^\top\hat f_j|}{|neg| + 10^{-6}}

    Same-class features are pulled together and different classes pushed to *orthogonal* (not
    opposite) directions. Defaults γ = 0.5 with the absolute value on the negative term, as the spec
    recommends; the official repository's root ``loss.py`` drops the abs (``abs_neg=False``, then
    anti-aligned classes lower the loss) and its CIFAR/ImageNet code uses γ = 2. Batch-level: no
    per-sample reduction. No positive pair gives s = 0 (a constant 1); no negative pair gives d = 0.

    Reduces over the batch (means over all pairs of the batch): no ``reduction``.
    """

    def __init__(self, gamma: float = 0.5, abs_neg: bool = True):
        super().__init__()
        if not (isinstance(gamma, (int, float)) and gamma >= 0):
            raise ValueError(f"gamma must be a number >= 0, got {gamma!r}")
        self.gamma, self.abs_neg = float(gamma), bool(abs_neg)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return opl_from_similarity(similarity, labels, gamma=self.gamma, abs_neg=self.abs_neg)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, abs_neg={self.abs_neg}"


def opl_batch_loss(opl: nn.Module, lam: float = 1.0):
    """A ``batch_loss`` for :func:`workbench.train.fit` that trains a classifier with ``CE + lam·OPL``.

    The model must have ``encoder`` (to the penultimate features, where OPL acts) and ``head`` (to the
    logits), as :func:`workbench.models.classifier` builds. Train with a ``cross_entropy`` loss as
    ``loss=`` (it scores the logits) and this as ``batch_loss=``.
    """
    def batch_loss(model, loss, x, y, generator):
        features = model.encoder(x)
        return loss(model.head(features), y) + lam * opl(features, y)
    return batch_loss


# --- metrix -----------------------------------------------------------------------------------------

METRIX_LOSSES = ("contrastive", "multi_similarity")


@register(
    "metrix", family="pairs", kind="pairs", reduces_over="batch",
    paper=Paper("It Takes Two to Tango: Mixup for Deep Metric Learning", 2022,
                "Venkataramanan, Psomas, Kijak, Amsaleg, Karantzalos, Avrithis"),
    formula=r"\mathcal L = \ell(S, y) + w\,\tilde\ell(S, y; \lambda),\;"
            r" u = \frac{\lambda\hat z_p + (1-\lambda)\hat z_n}"
            r"{\lVert\lambda\hat z_p + (1-\lambda)\hat z_n\rVert},\; \lambda\sim\mathrm{Beta}(\alpha,\alpha)",
    params={
        "weight": Param(0.4, 0.0, 1.0, "w: weight of the mixed loss"),
        "alpha": Param(2.0, 0.1, 10.0, "Beta(α, α) parameter of the mixing factor λ", log=True),
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

    Reduces over the batch (the sum of two batch means, one random draw per call): no ``reduction``.
    """

    def __init__(self, loss: str = "multi_similarity", weight: float = 0.4, alpha: float = 2.0,
                 lam: float | None = None, loss_params: dict | None = None, generator: torch.Generator | None = None):
        super().__init__()
        if loss not in METRIX_LOSSES:
            raise ValueError(f"loss must be one of {METRIX_LOSSES}, got {loss!r}")
        if not (isinstance(weight, (int, float)) and weight >= 0):
            raise ValueError(f"weight must be a number >= 0, got {weight!r}")
        if lam is not None and not (isinstance(lam, (int, float)) and 0 <= lam <= 1):
            raise ValueError(f"lam must be in [0, 1] or None (drawn from Beta(alpha, alpha)), got {lam!r}")
        self.base_loss = get(loss, **(loss_params or {}))
        if getattr(self.base_loss, "reduction", "mean") != "mean":
            raise ValueError("loss_params must keep reduction='mean' (Metrix adds two averaged losses)")
        self.weight, self.alpha = float(weight), check_positive(alpha, "alpha")
        self.lam = None if lam is None else float(lam)
        self.generator = generator

    def draw(self, labels: Tensor) -> tuple[float, Tensor]:
        """λ and the partner row p(a) of every anchor (a random positive, or the anchor itself)."""
        g = self.generator
        if self.lam is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
            lam = float(np.random.default_rng(seed).beta(self.alpha, self.alpha))
        else:
            lam = self.lam
        positive, _ = pair_masks(labels)
        scores = torch.rand(positive.shape, generator=g).to(labels.device).masked_fill_(~positive, -1.0)
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
        z = F.normalize(embeddings.detach(), dim=1)
        lam, partner = self.draw(labels)
        _, negative = pair_masks(labels)
        a, n = negative.nonzero(as_tuple=True)
        return F.normalize(lam * z[partner[a]] + (1 - lam) * z[n], dim=1)

    def mixed_loss(self, similarity: Tensor, labels: Tensor, lam: float, partner: Tensor) -> Tensor:
        """The mixed term :math:`\\tilde\\ell` alone."""
        _, negative = pair_masks(labels)
        mixed = self.mixed_similarity(similarity, labels, lam, partner)
        base = self.base_loss
        if isinstance(base, MultiSimilarityLoss):
            shifted = mixed - base.base
            pos = _masked_logsumexp(-base.alpha * shifted + math.log(max(lam, 1e-300)), negative, add_one=True)
            neg = _masked_logsumexp(base.beta * shifted + math.log(max(1 - lam, 1e-300)), negative, add_one=True)
            return (pos / base.alpha + neg / base.beta).mean()
        distance = torch.rsub(mixed, 2.0, alpha=2.0).clamp(min=1e-12).sqrt()
        pos = lam * (distance - base.pos_margin).relu() * negative
        neg = (1 - lam) * (base.neg_margin - distance).relu() * negative
        return pos.sum() / (pos > 0).sum().clamp(min=1) + neg.sum() / (neg > 0).sum().clamp(min=1)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        clean = self.base_loss.from_similarity(similarity, labels)
        if self.weight == 0:
            return clean
        lam, partner = self.draw(labels)
        return clean + self.weight * self.mixed_loss(similarity, labels, lam, partner)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, alpha={self.alpha}, lam={self.lam}"
