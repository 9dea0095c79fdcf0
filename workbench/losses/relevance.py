"""Cross-modal losses with several or graded positives (kind ``crossmodal``): ``forward(x[B, D], y[B, D],
relevance=None)``. Row i of x pairs with row i of y; ``relevance[B, B]`` (rows x, columns y, values in [0, 1])
says how relevant y_j is to x_i. Without it, the identity: only the matching row is relevant.

DEXML's decoupled softmax (several positives per query) and EVA02-AT's Symmetric Multi-Similarity (graded
relevance).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import POSITIVE, UNIT, Range, check_flag, check_float_tensor, check_paired, check_reduction, reduce
from . import distributed
from .registry import Paper, Param, register
from .similarity import normalize


def check_relevance(relevance: Tensor | None, n: int, like: Tensor, columns: int | None = None,
                    offset: int = 0) -> Tensor:
    """``relevance[n, columns]`` (``columns`` None: n) in [0, 1] (float or bool), as ``like``'s dtype; None gives
    the identity (x_i relevant to y_{offset + i} only)."""
    m = n if columns is None else columns
    if relevance is None:
        eye = torch.zeros(n, m, dtype=like.dtype, device=like.device)
        rows = torch.arange(n, device=like.device)
        eye[rows, rows + offset] = 1
        return eye
    if not isinstance(relevance, Tensor):
        raise ValueError(f"relevance must be a torch.Tensor [{n}, {m}] or None, got {type(relevance).__name__}")
    if relevance.dtype == torch.bool:
        relevance = relevance.to(like.dtype)
    check_float_tensor(relevance, "relevance", 2, f"[{n}, {m}]")
    if tuple(relevance.shape) != (n, m):
        where = "" if columns is None else " with gather=True: this rank's x against every rank's y"
        raise ValueError(f"relevance must have shape [{n}, {m}] (rows x, columns y{where}), got "
                         f"{tuple(relevance.shape)}")
    if n and ((relevance < 0).any() or (relevance > 1).any()):
        raise ValueError("relevance must hold values in [0, 1]")
    return relevance.to(like.dtype)


def _check_pair(x: Tensor, y: Tensor) -> None:
    check_float_tensor(x, "x", 2, "[B, D]", nonempty=True)
    check_float_tensor(y, "y", 2, "[B, D]")
    check_paired(x, y, ("x", "y"))


def _cosines(x: Tensor, y: Tensor) -> Tensor:
    return normalize(x, dim=1) @ normalize(y, dim=1).T


# --- DEXML decoupled softmax ---------------------------------------------------------------------------------

def decoupled_softmax_loss(x: Tensor, y: Tensor, relevance: Tensor | None = None, *, temperature: float = 0.05,
                           decoupled: bool = True, reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`DecoupledSoftmax`."""
    _check_pair(x, y)
    temperature = POSITIVE.check(temperature, "temperature")
    check_flag(decoupled, "decoupled")
    positive = check_relevance(relevance, len(x), x) > 0
    return reduce(_decoupled(_cosines(x, y) / temperature, positive, decoupled), check_reduction(reduction))


def check_score_relevance(relevance: Tensor, scores: Tensor) -> Tensor:
    """``relevance[B, L]`` for scores against all L labels: the shape of ``scores``, finite, >= 0."""
    if not isinstance(relevance, Tensor) or tuple(relevance.shape) != tuple(scores.shape):
        raise ValueError(f"relevance must be a tensor of shape {tuple(scores.shape)} like scores, got "
                         f"{getattr(relevance, 'shape', type(relevance).__name__)}")
    if relevance.is_floating_point() and not torch.isfinite(relevance).all():
        raise ValueError("relevance must be finite")
    if (relevance < 0).any():
        raise ValueError("relevance must be >= 0")
    return relevance


def decoupled_softmax_scores(scores: Tensor, relevance: Tensor, *, decoupled: bool = True,
                             reduction: str = "mean") -> Tensor:
    """The decoupled softmax on given scores ``[B, L]`` (already divided by τ) against *all* L labels, as DEXML
    trains it: ``relevance[B, L]`` (> 0 marks a positive; 0/1 multi-hot targets work). Same per-query value as
    :class:`DecoupledSoftmax`; ``decoupled=False`` puts every label in the denominator."""
    check_float_tensor(scores, "scores", 2, "[B, L]", nonempty=True)
    check_flag(decoupled, "decoupled")
    check_score_relevance(relevance, scores)
    return reduce(_decoupled(scores, relevance > 0, decoupled), check_reduction(reduction))


def _decoupled(scores: Tensor, positive: Tensor, decoupled: bool) -> Tensor:
    """Per query: the mean over its positives j of -log e^{s_ij} / (e^{s_ij} + Σ_{k ∉ P_i} e^{s_ik}) (decoupled) or
    of -log softmax_j(s_i) (every label in the denominator)."""
    low = torch.finfo(scores.dtype).min  # not -inf: logsumexp's backward is NaN on a row of -inf
    if decoupled:
        negatives = torch.logsumexp(scores.masked_fill(positive, low), 1, keepdim=True)
        log_denominator = torch.logaddexp(scores, negatives)  # each positive with the negatives only
    else:
        log_denominator = torch.logsumexp(scores, 1, keepdim=True).expand_as(scores)
    per_pair = (log_denominator - scores) * positive
    count = positive.sum(1)
    return per_pair.sum(1) / count.clamp(min=1).to(scores.dtype)


@register(
    "decoupled_softmax", family="multilabel", kind="crossmodal", reduces_over="sample",
    paper=Paper("Dual-Encoders for Extreme Multi-Label Classification (DEXML)", 2024,
                "Gupta et al."),
    formula=r"\ell_i = \frac{1}{|P_i|}\sum_{j\in P_i} -\log\frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k\notin P_i} "
            r"e^{s_{ik}}},\; s_{ij} = \cos(x_i, y_j)/\tau",
    params={"temperature": Param(0.05, 0.01, 1.0, "τ (DEXML configs: 0.05)", log=True, valid=POSITIVE)},
)
class DecoupledSoftmax(nn.Module):
    r"""DEXML's decoupled softmax (Gupta et al., ICLR 2024): InfoNCE for a query with several positive labels,
    where each positive competes only with the negatives, not with the other positives:

    .. math:: \ell_i = \frac{1}{|P_i|}\sum_{j\in P_i} -\log\frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k\notin P_i}
              e^{s_{ik}}},\qquad s_{ij} = \cos(x_i, y_j)/\tau

    :math:`P_i = \{j : \text{relevance}_{ij} > 0\}`; without ``relevance`` only the matching row (CLIP's
    x→y direction with τ). ``decoupled=False`` puts every label in the denominator (DEXML's ``'softmax'``
    criterion, the usual multi-positive InfoNCE), which penalises the model for scoring one positive above another.
    Defaults (nilesh2797/DEXML@7690769 ``losses.py`` ``SimLoss``, configs): τ = 0.05, cosine scores
    (``norm_embs=True``), mean over the batch. Departure: DEXML samples one positive per query and step
    (``loss_sample=True``, multinomial over the relevance values); we average over all positives (the expectation of
    that draw for 0/1 relevance), so the loss is deterministic. DEXML's labels are *all* labels (gathered over
    GPUs); here the columns are the batch's y rows. Edge cases: a query with no positive contributes 0 (counted
    in the mean, as DEXML divides by the batch); every label positive gives 0.

    ``gather=True``: under torch.distributed, this rank's queries x against every rank's labels y (the own-anchor
    semantics of :mod:`workbench.losses.distributed`: a [n, N] score matrix per rank; the value, and the
    DDP-averaged gradient, of the whole batch; ``"none"`` gives this rank's queries' values). DEXML splits the
    other way (nilesh2797/DEXML@9d23d16 ``losses.py``, ``'decoupled-softmax'``): each GPU scores the queries
    against its own shard of the labels, and the per-query log-denominators over the negatives are gathered
    (``GatherLayer``) and combined by a log-sum-exp over GPUs; the same value when every label is somewhere.
    ``relevance`` is then this rank's rows of the whole batch's relevance, [n, N] (columns: every rank's y in
    rank order); None: each query's own y only.

    Reduction: ``"none"`` gives one value per query x_i [B]; ``"mean"`` averages over all B.
    """

    def __init__(self, temperature: float = 0.05, decoupled: bool = True, reduction: str = "mean",
                 gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.temperature = POSITIVE.check(temperature, "temperature")
        self.decoupled = check_flag(decoupled, "decoupled")
        self.reduction = check_reduction(reduction)

    def forward(self, x: Tensor, y: Tensor, relevance: Tensor | None = None) -> Tensor:
        _check_pair(x, y)
        if not distributed.active(self.gather):
            positive = check_relevance(relevance, len(x), x) > 0
            return reduce(_decoupled(_cosines(x, y) / self.temperature, positive, self.decoupled), self.reduction)
        everyone, start = distributed.gather_rows(y)  # this rank's queries against every rank's labels
        positive = check_relevance(relevance, len(x), x, columns=len(everyone), offset=start) > 0
        per_query = _decoupled(_cosines(x, everyone) / self.temperature, positive, self.decoupled)
        if self.reduction == "none":
            return per_query
        return distributed.combine(per_query.sum(), len(per_query) if self.reduction == "mean" else None)


# --- Symmetric Multi-Similarity -------------------------------------------------------------------------------

def sms_loss(x: Tensor, y: Tensor, relevance: Tensor | None = None, *, margin: float = 0.6, threshold: float = 0.1,
             eps: float = 1.1 / 240, reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`SMS`."""
    _check_pair(x, y)
    _check_sms(margin, threshold, eps)
    r = check_relevance(relevance, len(x), x)
    return reduce(_sms(_cosines(x, y), r, margin, threshold, eps), check_reduction(reduction))


def _sms_direction(s: Tensor, r: Tensor, margin: float, threshold: float, eps: float) -> Tensor:
    """[n, n] hinge values of the pairs (s_ii, s_ij) with Δw = r_ii - r_ij (0 on the diagonal)."""
    delta_w = r.diagonal()[:, None] - r
    d = delta_w * margin - (s.diagonal()[:, None] - s)
    more = torch.relu(d)  # the diagonal is more relevant: push s_ij below s_ii by Δw m
    less = torch.relu(-d)  # the off-diagonal pair is more relevant: pull it above
    # equally relevant: keep the two within the threshold; |d| written as sqrt(d² + tiny) would bias the band, so
    # abs() it is (its kink at d = 0 lies inside the zero band, where relu(|d| - τ) is flat anyway)
    equal = torch.relu(d.abs() - threshold)
    value = torch.where(delta_w > eps, more, torch.where(delta_w < -eps, less, equal))
    off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    return value * off


def _sms(s: Tensor, r: Tensor, margin: float, threshold: float, eps: float) -> Tensor:
    n = len(s)
    if n < 2:  # no off-diagonal pair: the official mean of an empty tensor is NaN; we return 0
        return s.diagonal() * 0
    rows = _sms_direction(s, r, margin, threshold, eps).sum(1)  # x_i against every y_j
    cols = _sms_direction(s.T, r.T, margin, threshold, eps).sum(1)  # y_i against every x_j
    return (rows + cols) / (2 * (n - 1))


def _check_sms(margin, threshold, eps) -> None:
    UNIT.check(margin, "margin")
    Range(0.0, 2.0).check(threshold, "threshold")
    Range(0.0, 1.0, high_open=True).check(eps, "eps")


@register(
    "sms", family="multilabel", kind="crossmodal", reduces_over="sample",
    paper=Paper("EVA02-AT: Egocentric Video-Language Understanding with Spatial-Temporal Rotary Positional "
                "Embeddings and Symmetric Optimization (Symmetric Multi-Similarity loss)", 2025,
                "Wang, Wang, Chau"),
    formula=r"d_{ij} = (w_i - R_{ij})\,m - (s_{ii} - s_{ij}),\; \ell = \begin{cases}[d]_+ & \Delta w > \epsilon\\"
            r"[|d| - \tau]_+ & |\Delta w|\le\epsilon\\ [-d]_+ & \Delta w < -\epsilon\end{cases}",
    params={
        "margin": Param(0.6, 0.1, 1.0, "m: similarity gap per unit of relevance gap", valid=UNIT),
        "threshold": Param(0.1, 0.0, 0.5, "τ: band within which equally relevant pairs may differ",
                           valid=Range(0.0, 2.0)),
        "eps": Param(1.1 / 240, 0.0, 0.1, "ε: relevance gaps below it count as equal (relevance is stored in "
                     "steps of 1/240)", valid=Range(0.0, 1.0, high_open=True)),
    },
)
class SMS(nn.Module):
    r"""Symmetric Multi-Similarity loss (EVA02-AT; Wang, Wang & Chau): a margin ranking loss for *graded*
    relevance. For every off-diagonal pair, in both directions (:math:`(s_{ii}, s_{ij})` and :math:`(s_{ii},
    s_{ji})`), with :math:`s` the cosine matrix of x (rows) and y (columns), :math:`w_i = R_{ii}` and
    :math:`\Delta w = w_i - R_{ij}`:

    .. math:: d = \Delta w\, m - (s_{ii} - s_{ij}),\qquad \ell = \begin{cases} [d]_+ & \Delta w > \epsilon
              \text{ (push } s_{ij} \text{ below } s_{ii} \text{ by } \Delta w\, m)\\ [|d| - \tau]_+ & |\Delta w|
              \le \epsilon \text{ (keep them within } \tau)\\ [-d]_+ & \Delta w < -\epsilon \text{ (pull } s_{ij}
              \text{ above)}\end{cases}

    and the mean over the :math:`2n(n-1)` entries. A partly relevant pair is pushed only part of the way, so
    it ends at an intermediate similarity instead of at the bottom with the irrelevant ones. Defaults
    (xqwang14/SMS-Loss@8728c51 ``avion/losses/losses.py``, ``scripts/dirtrain.py``): ``margin=0.6``
    (``--loss-margin``), ``threshold=0.1`` (``--loss-thres``), ``eps=1.1/240`` (relevance stored as uint8 R·240).
    ``relevance`` is R[x, y] explicitly (the code's orientation is convention-dependent; with a symmetric R it
    does not matter); None gives the identity, where SMS is a symmetric max-margin ranking loss with margin m.
    Edge case: n = 1 has no off-diagonal pair: 0 (the code's mean of an empty tensor is NaN).

    ``gather=True``: under torch.distributed, every rank's x, y and relevance rows are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`: SMS
    needs each pair in both directions, rows and columns of R; ``"none"`` gives the whole batch's values).
    ``relevance`` is then this rank's rows of the whole batch's R, [n, N] (columns: every rank's y in rank
    order); None: the identity. (We did not check whether the official code gathers.)

    Reduction: ``"none"`` gives one value per matched pair i [B] (the mean of its 2(n-1) entries, both
    directions); ``"mean"`` averages over all B, the code's mean over all entries.
    """

    def __init__(self, margin: float = 0.6, threshold: float = 0.1, eps: float = 1.1 / 240, reduction: str = "mean",
                 gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        _check_sms(margin, threshold, eps)
        self.margin, self.threshold, self.eps = float(margin), float(threshold), float(eps)
        self.reduction = check_reduction(reduction)

    def forward(self, x: Tensor, y: Tensor, relevance: Tensor | None = None) -> Tensor:
        _check_pair(x, y)
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            total = int(distributed.all_reduce_sum(torch.tensor(len(x), device=x.device)))
            if relevance is not None:
                relevance = check_relevance(relevance, len(x), x, columns=total)
            x, y, relevance = distributed.gather_batch(x, y, relevance)
        r = check_relevance(relevance, len(x), x)
        return reduce(_sms(_cosines(x, y), r, self.margin, self.threshold, self.eps), self.reduction)
