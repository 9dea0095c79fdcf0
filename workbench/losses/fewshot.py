"""Few-shot episode losses (kind ``pairs``): Proto-Triplet and ICNN, from "SuSana Distancia is all you
need: Enforcing class separability in metric learning via two novel distance-based loss functions for
few-shot image classification" (Mendez-Ruiz et al., 2023).

A batch is one N-way K-shot episode: ``embeddings[B, D]`` with ``labels[B]``; within each class the
first ``shot`` rows (in batch order) are the support set, the rest are queries. Both losses only need
inner products, so ``from_similarity`` takes any Gram matrix: the cosine matrix (``normalize=True``,
the default, distances between unit vectors) or ``z zᵀ`` of raw embeddings (``normalize=False``, the
ProtoNet geometry of the author code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE_INT,
    check_flag,
    check_int,
    check_nonnegative,
    check_not_float16,
    check_reduction,
)
from .registry import Paper, Param, register
from .similarity import check_embeddings, check_similarity, cosine_similarity_matrix

PAPER = Paper("SuSana Distancia is all you need: Enforcing class separability in metric learning via two novel "
              "distance-based loss functions for few-shot image classification", 2023,
              "Mendez-Ruiz, Gonzalez-Zapata, Reyes-Amezcua, Flores-Araiza, Lopez-Tiro, Ochoa-Ruiz, Hinojosa")
EPS = 1e-6  # inside the square root, as the author code: d = sqrt(Σ(x - y)² + 1e-6)


def _gram(embeddings: Tensor, normalize: bool) -> Tensor:
    return cosine_similarity_matrix(embeddings) if normalize else embeddings @ embeddings.T


def gram_distances(gram: Tensor) -> Tensor:
    """``sqrt(‖x_i - x_j‖² + 1e-6)`` from a Gram matrix ``G = X Xᵀ``."""
    diag = gram.diagonal()
    return (diag[:, None] + diag[None, :] - 2 * gram).clamp(min=0).add(EPS).sqrt()


def support_mask(labels: Tensor, shot: int) -> Tensor:
    """True for the first ``shot`` rows of each class in batch order (the support set of the episode)."""
    same_before = (labels[:, None] == labels[None, :]).tril(-1).sum(1)  # earlier rows of the same class
    return same_before < shot


def proto_triplet_from_similarity(gram: Tensor, labels: Tensor, *, margin: float = 0.5, shot: int = 1,
                                  reduction: str = "mean") -> Tensor:
    """Proto-Triplet loss from a Gram matrix; see :class:`ProtoTripletLoss`."""
    check_similarity(gram, labels)
    check_nonnegative(margin, "margin")
    check_int(shot, "shot", 1)
    check_reduction(reduction)
    support = support_mask(labels, shot)
    classes, cls = labels.unique(return_inverse=True)
    onehot = F.one_hot(cls, len(classes)).to(gram.dtype) * support[:, None]
    average = onehot / onehot.sum(0).clamp(min=1)            # [B, C]: prototype = Xᵀ average
    q_dot_c = gram @ average                                 # x_q · c_k
    c_dot_c = (average.T @ gram @ average).diagonal()        # ‖c_k‖²
    dist = (gram.diagonal()[:, None] - 2 * q_dot_c + c_dot_c[None, :]).clamp(min=0).add(EPS).sqrt()
    own = dist.gather(1, cls[:, None]).squeeze(1)
    other = dist.masked_fill(F.one_hot(cls, len(classes)).bool(), torch.inf).amin(1)
    query = ~support
    per_row = torch.where(query & other.isfinite(), (own - other + margin).relu(), 0.0)
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.sum() / query.sum().clamp(min=1)


@register(
    "proto_triplet", family="pairs", kind="pairs", reduces_over="anchor", paper=PAPER,
    formula=r"\ell_q = \big[d(q, c_{y_q}) - \min_{k\neq y_q} d(q, c_k) + m\big]_+,\;"
            r"c_k = \tfrac{1}{K}\textstyle\sum_{s\in S_k} z_s",
    params={"margin": Param(0.5, 0.0, 2.0, "how much nearer the own prototype must be than the nearest other",
                            valid=NONNEGATIVE)},
)
class ProtoTripletLoss(nn.Module):
    r"""Proto-Triplet loss (Mendez-Ruiz et al. 2023): a triplet loss on few-shot prototypes.

    .. math:: \ell_q = \big[d(q, c_{y_q}) - \min_{k\neq y_q} d(q, c_k) + m\big]_+

    for every query q of the episode, with prototypes :math:`c_k` = mean of the ``shot`` support
    embeddings of class k and :math:`d(x, y) = \sqrt{\lVert x-y\rVert^2 + 10^{-6}}` (the author code's
    eps). Default margin 0.5 (author code). ``reduction="mean"`` averages over queries, ``"none"``
    gives one value per row (0 for supports). The author code ignores a wrong prototype at distance
    exactly 0; with the eps inside the root no distance is 0, so we do not copy that quirk.

    Default ``normalize=True``: distances between unit vectors. The authors train on the raw ProtoNet
    features (``normalize=False``, their recipe, one keyword away). Why not the default: an absolute margin
    of 0.5 on unbounded features can be met by scaling the embedding up, and Loss Lab's other pair losses
    and its prototype accuracy (``analysis.prototype_accuracy``) work on the unit sphere, so comparisons
    stay on one geometry.

    Reduction: ``"none"`` gives one value per row [B] (0 for the support rows); ``"mean"`` averages over the
    query rows only.
    """

    def __init__(self, margin: float = 0.5, shot: int = 1, normalize: bool = True, reduction: str = "mean"):
        super().__init__()
        self.margin, self.shot = check_nonnegative(margin, "margin"), check_int(shot, "shot", 1)
        self.normalize = check_flag(normalize, "normalize")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return proto_triplet_from_similarity(similarity, labels, margin=self.margin, shot=self.shot,
                                             reduction=self.reduction)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        return self.from_similarity(_gram(embeddings, self.normalize), labels)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, shot={self.shot}, normalize={self.normalize}"


def icnn_score(gram: Tensor, labels: Tensor, *, k: int = 4, ipc: int | None = None) -> Tensor:
    r"""The ICNN score in (0, 1] of a labelled set against itself (the author's ``modified_score``).

    With n samples, ``k`` drops to n - 2 when k + 2 >= n, and ``ipc`` (neighbours looked at) defaults
    to k + 1. From the ipc nearest other samples of each point: the distance to the nearest
    different-class neighbour ``nn_dc`` normalises the k nearest distances (``nd = d / nn_dc``, each
    row then divided by max(1, row max)); ``sclamb = 1 - mean_i(mean of nd over same-class neighbours)``;
    ``dclamb`` = mean over points of the mean different-class distance / its batch maximum (1 when no
    point has a different-class neighbour); ``γ`` = mean share of same-class points among the k
    nearest (1 when k + 2 >= n). Score = ((sclamb + dclamb)/2 + γ)/2. The neighbour ranks are not
    differentiated; the distances are.
    """
    n = gram.shape[0]
    k = n - 2 if k + 2 >= n else k
    ipc = min(k + 1 if ipc is None else ipc, n - 1)
    tiny = 1e-7  # the author code's eps in the divisions
    dist = gram_distances(gram)
    order = dist.detach().topk(ipc + 1, dim=1, largest=False).indices[:, 1:]  # drop the nearest: itself
    d = dist.gather(1, order)
    same = labels[order] == labels[:, None]
    diff_d = torch.where(same, 0.0, d)
    nn_dc = torch.where(same, torch.inf, d).amin(1)                             # inf without a different neighbour
    nd = d[:, :k] / (nn_dc[:, None] + tiny)
    nd = nd / nd.amax(1, keepdim=True).clamp(min=1.0)
    same_k = same[:, :k].to(d.dtype)
    sc_counts = same_k.sum(1)
    sc_mean = (nd * same_k).sum(1) / (sc_counts + tiny)
    sclamb = 1 - sc_mean.sum() / ((sc_counts > 0).sum() + tiny)
    diff_k = diff_d[:, :k]
    diff_k = diff_k / (diff_k.max() + tiny)
    dc_counts = (1 - same_k).sum(1)
    dc_mean = diff_k.sum(1) / (dc_counts + tiny)
    dclamb = dc_mean.sum() / ((dc_counts > 0).sum() + tiny)
    if not bool((dc_counts > 0).any()):
        dclamb = (dclamb - 1).abs()
    gamma = sc_counts.sum() / (k * n) if k + 2 < n else torch.ones((), dtype=d.dtype, device=d.device)
    return ((sclamb + dclamb) / 2 + gamma) / 2


@register(
    "icnn", family="pairs", kind="pairs", reduces_over="batch", paper=PAPER,
    formula=r"\mathcal L_{ICNN} = -\log\Big(\tfrac12\big(\tfrac{\lambda_{sc} + \lambda_{dc}}{2} + \gamma\big)\Big)",
    params={"k": Param(4, 2, 10, "neighbours per sample in the score", valid=POSITIVE_INT)},
)
class ICNNLoss(nn.Module):
    r"""ICNN loss (Mendez-Ruiz et al. 2023): :math:`-\log` of the inter- and intra-class nearest-neighbour
    score of the episode (:func:`icnn_score`), computed over all its samples (the author's ``fullicnn``
    option, with ``ipc`` = k + 1 by default as in ``modified_score``; the author passes
    ipc = shot + query).

    The score rewards same-class neighbours that are close relative to the nearest other-class point
    (λ_sc), different-class neighbours that are far (λ_dc) and neighbourhoods that are pure (γ). It is
    a batch-level quantity: no per-sample reduction. The author trains with ``(CE + Σ extra losses) /
    number of losses``.

    The authors' ``fullicnn`` recipe is ``ipc="class"`` (ipc = shot + query, the rows per class of the
    episode: here the largest class count of the batch) with ``normalize=False`` (raw ProtoNet features).
    Defaults ``ipc=None`` (k + 1, ``modified_score``'s own default) and ``normalize=True`` (unit vectors).
    Why: the score uses distances relative to the nearest other-class point and to the batch's largest
    one, so it is scale-free anyway, and with ipc = k + 1 the score reads the same neighbourhood size
    whatever the episode's shot and query counts, which keeps notebook episodes of different sizes comparable.

    Reduces over the batch (a neighbourhood score of the whole episode): no ``reduction``.
    """

    def __init__(self, k: int = 4, ipc: int | str | None = None, normalize: bool = True):
        super().__init__()
        self.k = check_int(k, "k", 1)
        if ipc is not None and ipc != "class":
            check_int(ipc, "ipc (or 'class', or None: inferred from the labels)", 1)
        self.ipc = ipc
        self.normalize = check_flag(normalize, "normalize")

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        check_not_float16(similarity, "similarity", ICNN_FLOAT16)
        if len(labels) < 3:
            raise ValueError(f"labels must hold at least 3 samples for neighbour scores, got {len(labels)}")
        ipc = int(torch.unique(labels, return_counts=True)[1].max()) if self.ipc == "class" else self.ipc
        # The score divides by the author code's eps of 1e-7, below float16's normal range (NaN gradients
        # there): half-precision inputs are scored in float32 and the loss returned in their dtype.
        work = similarity.float() if similarity.dtype in (torch.float16, torch.bfloat16) else similarity
        return -icnn_score(work, labels, k=self.k, ipc=ipc).log().to(similarity.dtype)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        check_embeddings(embeddings, labels)
        check_not_float16(embeddings, "embeddings", ICNN_FLOAT16)
        return self.from_similarity(_gram(embeddings, self.normalize), labels)

    def extra_repr(self) -> str:
        return f"k={self.k}, ipc={self.ipc}, normalize={self.normalize}"


# Its distances sqrt(d^2 + 1e-6) and the ratios to the nearest other-class distance give gradients near 1e5 on
# the Gram matrix for coincident points, beyond float16's 65504 once through the normalisation.
ICNN_FLOAT16 = "its gradient for coincident points exceeds float16's range (65504)"
