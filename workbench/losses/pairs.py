"""Pair-based metric-learning losses (kind ``pairs``): ``forward(embeddings[B, D], labels[B])`` and
``from_similarity(S[B, B], labels[B])``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_reduction
from .registry import Paper, Param, register
from .similarity import check_embeddings, check_similarity, cosine_similarity_matrix, pair_masks, safe_sqrt


def mean_nonzero(values: Tensor) -> Tensor:
    """Mean over the entries that are > 0, and 0 when there are none (pytorch-metric-learning's
    AvgNonZeroReducer): pairs already satisfied do not dilute the average."""
    return values.sum() / (values > 0).sum().clamp(min=1)


def contrastive_from_similarity(similarity: Tensor, labels: Tensor, *, pos_margin: float = 0.0,
                                neg_margin: float = 1.0, squared: bool = False,
                                reduction: str = "mean") -> Tensor:
    r"""Contrastive loss from a cosine-similarity matrix; see :class:`ContrastiveLoss`.

    The distance of unit vectors is recovered as :math:`D_{ij} = \sqrt{2 - 2S_{ij}}`.
    ``reduction="none"`` returns the per-pair loss matrix [N, N] (0 off the positive and negative pairs).
    """
    check_similarity(similarity, labels)
    check_reduction(reduction)
    positive, negative = pair_masks(labels)
    distance = safe_sqrt((2 - 2 * similarity).clamp(min=0))
    pos_loss = F.relu(distance - pos_margin)
    neg_loss = F.relu(neg_margin - distance)
    if squared:
        pos_loss, neg_loss = 0.5 * pos_loss**2, 0.5 * neg_loss**2
    zero = torch.zeros_like(similarity)
    pos_loss, neg_loss = torch.where(positive, pos_loss, zero), torch.where(negative, neg_loss, zero)
    if reduction == "none":
        return pos_loss + neg_loss
    if reduction == "sum":
        return pos_loss.sum() + neg_loss.sum()
    return mean_nonzero(pos_loss) + mean_nonzero(neg_loss)


@register(
    "contrastive", family="pairs", kind="pairs",
    paper=Paper("Dimensionality Reduction by Learning an Invariant Mapping", 2006, "Hadsell, Chopra, LeCun"),
    formula=r"\ell = \overline{[D_{ij}-m_+]_+}^{\,\mathrm{pos}} + \overline{[m_- - D_{ij}]_+}^{\,\mathrm{neg}},"
            r"\; D_{ij} = \lVert \hat z_i - \hat z_j \rVert_2",
    params={
        "pos_margin": Param(0.0, 0.0, 1.0, "positives closer than this are left alone"),
        "neg_margin": Param(1.0, 0.0, 2.0, "negatives farther than this are left alone"),
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
    """

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0, squared: bool = False,
                 reduction: str = "mean"):
        super().__init__()
        if not (isinstance(pos_margin, (int, float)) and isinstance(neg_margin, (int, float))):
            raise ValueError(f"pos_margin and neg_margin must be numbers, got {pos_margin!r}, {neg_margin!r}")
        self.pos_margin, self.neg_margin = float(pos_margin), float(neg_margin)
        self.squared = bool(squared)
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return contrastive_from_similarity(similarity, labels, pos_margin=self.pos_margin,
                                           neg_margin=self.neg_margin, squared=self.squared,
                                           reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        return self.from_similarity(cosine_similarity_matrix(embeddings), labels)

    def extra_repr(self) -> str:
        return f"pos_margin={self.pos_margin}, neg_margin={self.neg_margin}, squared={self.squared}"
