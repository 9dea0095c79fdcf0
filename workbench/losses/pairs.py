"""Pair-based metric-learning losses (kind ``pairs``): ``forward(embeddings[B, D], labels[B])`` and
``from_similarity(S[B, B], labels[B])``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import NONNEGATIVE, check_flag, check_nonnegative, check_reduction
from . import distributed
from .registry import Paper, Param, register
from .similarity import check_embeddings, check_similarity, cosine_similarity_matrix, pair_masks


def _unit_distance(similarity: Tensor, squared: bool = False) -> Tensor:
    """Euclidean distance of unit vectors from their cosine, ``sqrt(2 - 2S)`` (or its square)."""
    squared_distance = torch.rsub(similarity, 2.0, alpha=2.0).clamp_(min=0)
    return squared_distance if squared else squared_distance.sqrt_()


def _distance_backward(grad_distance: Tensor, distance: Tensor, squared: bool = False) -> Tensor:
    """dL/dS from dL/dD with D = sqrt(2 - 2S) (dD/dS = -1/D; 0 at coincident points) or D² = 2 - 2S."""
    if squared:
        return grad_distance.mul_(-2.0)
    inv = torch.where(distance > 0, distance.reciprocal(), 0.0)
    return grad_distance.mul_(inv).neg_()


class _ContrastiveFromSimilarity(torch.autograd.Function):
    """The contrastive loss from S with a hand-written backward.

    Autograd through the dozen elementwise ops over B×B pairs costs more than the loss itself; one
    forward and one backward pass over the matrix keep us faster than the index-based reference
    (benchmarks/losses.py). gradcheck in the tests holds this backward to the autograd definition.
    """

    @staticmethod
    def forward(ctx, similarity, positive, negative, pos_margin, neg_margin, squared, reduction):
        distance = _unit_distance(similarity)
        pos = (distance - pos_margin).relu_().mul_(positive)   # [D - m+]_+ on positive pairs
        neg = torch.rsub(distance, neg_margin).relu_().mul_(negative)  # [m- - D]_+ on negative pairs
        pos_active, neg_active = pos > 0, neg > 0
        pos_value, neg_value = (0.5 * pos * pos, 0.5 * neg * neg) if squared else (pos, neg)
        # dL/dD per pair, before the reduction's scale: squared terms give [.]_+, plain ones 1[. > 0]
        d_pos, d_neg = (pos, neg) if squared else (pos_active.to(pos.dtype), neg_active.to(neg.dtype))
        if reduction == "none":
            out = pos_value + neg_value
        elif reduction == "sum":
            out = pos_value.sum() + neg_value.sum()
        else:  # each part averaged over its pairs with non-zero loss (0 when there are none)
            n_pos, n_neg = pos_active.sum().clamp(min=1), neg_active.sum().clamp(min=1)
            out = pos_value.sum() / n_pos + neg_value.sum() / n_neg
            d_pos, d_neg = d_pos / n_pos, d_neg / n_neg
        ctx.save_for_backward(distance, d_pos, d_neg)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        distance, d_pos, d_neg = ctx.saved_tensors
        grad_distance = (d_pos - d_neg).mul_(grad_out)
        return _distance_backward(grad_distance, distance), None, None, None, None, None, None


def contrastive_from_similarity(similarity: Tensor, labels: Tensor, *, pos_margin: float = 0.0,
                                neg_margin: float = 1.0, squared: bool = False,
                                reduction: str = "mean") -> Tensor:
    r"""Contrastive loss from a cosine-similarity matrix; see :class:`ContrastiveLoss`.

    The distance of unit vectors is recovered as :math:`D_{ij} = \sqrt{2 - 2S_{ij}}`.
    ``reduction="none"`` returns the per-pair loss matrix [N, N] (0 off the positive and negative pairs).
    """
    check_similarity(similarity, labels)
    check_reduction(reduction)
    return _contrastive(similarity, labels, check_nonnegative(pos_margin, "pos_margin"),
                        check_nonnegative(neg_margin, "neg_margin"), check_flag(squared, "squared"), reduction)


def _contrastive(similarity: Tensor, labels: Tensor, pos_margin: float, neg_margin: float, squared: bool,
                 reduction: str) -> Tensor:
    positive, negative = pair_masks(labels, dtype=similarity.dtype)
    return _ContrastiveFromSimilarity.apply(similarity, positive, negative, pos_margin, neg_margin, squared,
                                            reduction)


@register(
    "contrastive", family="pairs", kind="pairs", reduces_over="pair",
    paper=Paper("Dimensionality Reduction by Learning an Invariant Mapping", 2006, "Hadsell, Chopra, LeCun"),
    formula=r"\ell = \overline{[D_{ij}-m_+]_+}^{\,\mathrm{pos}} + \overline{[m_- - D_{ij}]_+}^{\,\mathrm{neg}},"
            r"\; D_{ij} = \lVert \hat z_i - \hat z_j \rVert_2",
    params={
        "pos_margin": Param(0.0, 0.0, 1.0, "positives closer than this are left alone", valid=NONNEGATIVE),
        "neg_margin": Param(1.0, 0.0, 2.0, "negatives farther than this are left alone", valid=NONNEGATIVE),
    },
)
class ContrastiveLoss(nn.Module):
    r"""Contrastive loss (Hadsell, Chopra & LeCun 2006) on L2-normalised embeddings.

    For every ordered pair i ≠ j with distance :math:`D_{ij} = \lVert\hat z_i - \hat z_j\rVert_2`:

    .. math::
        \ell^+_{ij} = [D_{ij} - m_+]_+ \;(\text{same label}), \qquad
        \ell^-_{ij} = [m_- - D_{ij}]_+ \;(\text{different label})

    Default (``squared=False``, ``reduction="mean"``): the positive and the negative parts are each
    averaged over their pairs with non-zero loss, then added. This is the value of
    pytorch-metric-learning's ``ContrastiveLoss(pos_margin, neg_margin)``. ``squared=True`` gives
    Hadsell's halved squared form :math:`\tfrac12[D-m_+]_+^2` and :math:`\tfrac12[m_- - D]_+^2`.

    Tips: on the unit sphere distances lie in [0, 2], so ``neg_margin`` near 1 (orthogonality) is a
    sensible start; the loss ignores negatives beyond the margin, which is why it needs no mining
    to stop pushing well separated classes. A batch with no positive (or no negative) pair gives 0 for
    that part, never NaN.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives the whole batch's values), as pytorch-metric-learning's ``DistributedLossWrapper`` does by
    default (``efficient=False``).

    Reduction: ``"none"`` gives the per-pair matrix [B, B] (the positive-pair term on same-label pairs, the
    negative-pair term on different-label pairs, 0 on the diagonal); ``"sum"`` its sum; ``"mean"`` is not one
    mean over it: the positive and the negative pairs are each averaged over their pairs with non-zero loss and
    the two means are added.
    """

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0, squared: bool = False,
                 reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.pos_margin = check_nonnegative(pos_margin, "pos_margin")
        self.neg_margin = check_nonnegative(neg_margin, "neg_margin")
        self.squared = check_flag(squared, "squared")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return contrastive_from_similarity(similarity, labels, pos_margin=self.pos_margin,
                                           neg_margin=self.neg_margin, squared=self.squared,
                                           reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)  # S built here needs no second check
        embeddings, labels = distributed.whole_batch(self.gather, embeddings, labels)
        return _contrastive(cosine_similarity_matrix(embeddings), labels, self.pos_margin, self.neg_margin,
                            self.squared, self.reduction)

    def extra_repr(self) -> str:
        return f"pos_margin={self.pos_margin}, neg_margin={self.neg_margin}, squared={self.squared}"
