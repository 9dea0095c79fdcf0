"""Contrastive (InfoNCE-type) losses on several views of each instance (kind ``views``):
``forward(views[B, V, D], labels[B] or None)`` and ``from_similarity(S[N, N], labels[N])``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_positive, check_reduction, reduce
from .registry import Paper, Param, register
from .similarity import check_similarity, cosine_similarity_matrix, pair_masks, views_to_rows


def ntxent_from_similarity(similarity: Tensor, labels: Tensor, *, temperature: float = 0.5,
                           reduction: str = "mean") -> Tensor:
    r"""NT-Xent from a cosine-similarity matrix over N rows; see :class:`NTXent`.

    For every positive pair (i, p) (same label, i ≠ p), with :math:`N_i` the rows of another label:

    .. math:: \ell_{ip} = -\log \frac{e^{S_{ip}/\tau}}{e^{S_{ip}/\tau} + \sum_{k \in N_i} e^{S_{ik}/\tau}}
              = \operatorname{softplus}\big(\operatorname{LSE}_{k\in N_i}(S_{ik}/\tau) - S_{ip}/\tau\big)

    ``reduction="mean"`` averages over positive pairs (0 when there is none); ``"none"`` returns the
    per-pair matrix [N, N].
    """
    check_similarity(similarity, labels)
    return _ntxent(similarity, labels, check_positive(temperature, "temperature"), check_reduction(reduction))


def _ntxent(similarity: Tensor, labels: Tensor, temperature: float, reduction: str, k: int | None = None) -> Tensor:
    """Per positive pair softplus(LSE over the anchor's negatives - positive logit); ``k`` keeps only the
    k most similar negatives in the denominator (the hard contrastive loss of Wang & Liu)."""
    positive, negative = pair_masks(labels)
    logits = similarity / temperature
    negatives = logits.masked_fill(~negative, float("-inf"))
    if k is not None and k < negatives.shape[1]:
        negatives = negatives.topk(k, dim=1).values  # -inf fills rows with fewer than k negatives
    # Log of the negatives' share of the denominator; -inf for an anchor without negatives (loss 0).
    neg_lse = torch.logsumexp(negatives, dim=1, keepdim=True)
    per_pair = torch.nn.functional.softplus(neg_lse - logits)
    per_pair = torch.where(positive, per_pair, torch.zeros_like(per_pair))
    if reduction == "none":
        return per_pair
    if reduction == "sum":
        return per_pair.sum()
    return per_pair.sum() / positive.sum().clamp(min=1)


@register(
    "ntxent", family="contrastive", kind="views", reduces_over="pair",
    paper=Paper("A Simple Framework for Contrastive Learning of Visual Representations (SimCLR)", 2020,
                "Chen, Kornblith, Norouzi, Hinton"),
    formula=r"\ell_{i} = -\log\frac{e^{S_{i,j(i)}/\tau}}{\sum_{k\neq i} e^{S_{ik}/\tau}},\;"
            r"S_{ik} = \hat z_i^\top \hat z_k",
    params={"temperature": Param(0.5, 0.01, 2.0, "τ: small τ concentrates the push on the hardest negatives",
                                 log=True)},
)
class NTXent(nn.Module):
    r"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020).

    With two views of B instances (2B rows, L2-normalised) every row i has one positive j(i), the
    other view of its instance, and the 2B - 2 other rows as negatives:

    .. math:: \ell_i = -\log\frac{e^{S_{i,j(i)}/\tau}}{\sum_{k\neq i} e^{S_{ik}/\tau}}, \qquad
              L = \frac{1}{2B}\sum_i \ell_i

    This equals lightly's ``NTXentLoss`` (mean over 2B anchors) and half of the TensorFlow SimCLR
    objective (which adds the two directions). With V > 2 views, or with ``labels`` (supervised:
    every same-label row is a positive), each positive pair is a term whose denominator holds that
    positive and the anchor's negatives only, averaged over positive pairs: the semantics of
    pytorch-metric-learning's ``NTXentLoss``. (SupCon instead keeps every other row in the
    denominator and averages per anchor.)

    Tips: SimCLR used τ = 0.5 on CIFAR and 0.1 on ImageNet; small τ makes the loss hardness-aware
    (Wang & Liu 2021) but can break the semantic structure, large τ treats every negative alike.
    Edge cases: one instance (no negatives) gives 0; collapsed embeddings give log(2B - 1).

    Reduction: ``"none"`` gives the per-pair matrix [N, N] (one term per positive pair, 0 elsewhere); ``"mean"``
    averages over all positive pairs.
    """

    def __init__(self, temperature: float = 0.5, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return ntxent_from_similarity(similarity, labels, temperature=self.temperature,
                                      reduction=self.reduction)

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        rows, row_labels = views_to_rows(views, labels)  # validated here: S built below needs no check
        return _ntxent(cosine_similarity_matrix(rows), row_labels, self.temperature, self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


# --- SupCon and the hard contrastive loss -------------------------------------------------------


def supcon_from_similarity(similarity: Tensor, labels: Tensor, *, temperature: float = 0.07,
                           base_temperature: float = 0.07, reduction: str = "mean") -> Tensor:
    r"""SupCon ("L_out") from a cosine-similarity matrix over N rows; see :class:`SupCon`.

    ``reduction="none"`` returns the per-anchor losses [N] (0 for an anchor without a positive).
    """
    check_similarity(similarity, labels)
    return _supcon(similarity, labels, check_positive(temperature, "temperature"),
                   check_positive(base_temperature, "base_temperature"), check_reduction(reduction))


def _supcon(similarity: Tensor, labels: Tensor, temperature: float, base_temperature: float,
            reduction: str) -> Tensor:
    positive, _ = pair_masks(labels, dtype=similarity.dtype)
    logits = similarity / temperature
    # Denominator: every row but the anchor itself (positives included), as in the official code.
    self_mask = torch.eye(len(labels), dtype=torch.bool, device=similarity.device)
    log_denominator = torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1)
    n_pos = positive.sum(1)
    mean_pos_logit = (logits * positive).sum(1) / n_pos.clamp(min=1)
    # An anchor without a positive contributes 0 and still counts in the mean (official: count clamped to 1).
    per_anchor = torch.where(n_pos > 0, log_denominator - mean_pos_logit, torch.zeros_like(mean_pos_logit))
    return reduce(per_anchor * (temperature / base_temperature), reduction)


@register(
    "supcon", family="contrastive", kind="views", reduces_over="anchor",
    paper=Paper("Supervised Contrastive Learning", 2020,
                "Khosla, Teterwak, Wang, Sarna, Tian, Isola, Maschinot, Liu, Krishnan"),
    formula=r"\ell_i = -\frac{\tau}{\tau_b}\frac{1}{|P(i)|}\sum_{p\in P(i)}"
            r"\log\frac{e^{S_{ip}/\tau}}{\sum_{a\neq i} e^{S_{ia}/\tau}}",
    params={"temperature": Param(0.07, 0.01, 2.0, "τ of the softmax over all other rows", log=True),
            "base_temperature": Param(0.07, 0.01, 2.0, "the loss is scaled by τ/τ_base", log=True)},
)
class SupCon(nn.Module):
    r"""Supervised contrastive loss, the "L_out" form (Khosla et al. 2020; official HobbitLong/SupContrast).

    Every row i of the B·V views is an anchor (``contrast_mode='all'``); its positives P(i) are the other
    rows with the same label (without labels: the other views of the same instance, i.e. SimCLR), and the
    denominator holds every row but i itself, positives included:

    .. math:: \ell_i = -\frac{\tau}{\tau_b}\frac{1}{|P(i)|}\sum_{p\in P(i)}
              \log\frac{e^{S_{ip}/\tau}}{\sum_{a\neq i} e^{S_{ia}/\tau}}, \qquad L = \frac{1}{BV}\sum_i \ell_i

    Defaults τ = τ_b = 0.07 (the official code and CLI). As in the current official code, an anchor
    without any positive contributes 0 and still counts in the mean (pytorch-metric-learning's
    ``SupConLoss`` averages over the non-zero anchors instead: the same value when every anchor has a
    positive). Unlike the official code, rows are L2-normalised here (the official loss expects
    normalised features). ``reduction="none"`` gives the per-anchor losses [B·V].

    Tips: with all labels distinct and 2 views SupCon equals NT-Xent; collapsed embeddings give
    (τ/τ_b)·log(BV - 1) per anchor. ``contrast_mode='one'`` of the official code is not offered.

    Reduction: ``"none"`` gives one value per anchor row [B·V]; ``"mean"`` averages over all B·V anchors (an
    anchor without a positive counts, with 0).
    """

    def __init__(self, temperature: float = 0.07, base_temperature: float = 0.07, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.base_temperature = check_positive(base_temperature, "base_temperature")
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return supcon_from_similarity(similarity, labels, temperature=self.temperature,
                                      base_temperature=self.base_temperature, reduction=self.reduction)

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        rows, row_labels = views_to_rows(views, labels)
        return _supcon(cosine_similarity_matrix(rows), row_labels, self.temperature, self.base_temperature,
                       self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, base_temperature={self.base_temperature}"


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1 (negatives kept per anchor), got {k!r}")
    return k


def hard_contrastive_from_similarity(similarity: Tensor, labels: Tensor, *, temperature: float = 0.2,
                                     k: int = 128, reduction: str = "mean") -> Tensor:
    """The hard contrastive loss from a cosine-similarity matrix; see :class:`HardContrastive`."""
    check_similarity(similarity, labels)
    return _ntxent(similarity, labels, check_positive(temperature, "temperature"), check_reduction(reduction),
                   k=_check_k(k))


@register(
    "hard_contrastive", family="contrastive", kind="views", reduces_over="pair",
    paper=Paper("Understanding the Behaviour of Contrastive Loss", 2021, "Wang, Liu"),
    formula=r"\ell_{ip} = -\log\frac{e^{S_{ip}/\tau}}"
            r"{e^{S_{ip}/\tau} + \sum_{k\in \mathrm{top}_K(N_i)} e^{S_{ik}/\tau}}",
    params={"temperature": Param(0.2, 0.01, 2.0, "τ: with only hard negatives kept, large τ works well",
                                 log=True),
            "k": Param(128, 1, 512, "negatives kept per anchor: the K most similar ones")},
)
class HardContrastive(nn.Module):
    r"""The hard contrastive loss of Wang & Liu (CVPR 2021): NT-Xent whose denominator keeps only each
    anchor's ``k`` most similar negatives (the "informative interval"), the others are dropped:

    .. math:: \ell_{ip} = -\log\frac{e^{S_{ip}/\tau}}{e^{S_{ip}/\tau} + \sum_{k\in\mathrm{top}_K(N_i)} e^{S_{ik}/\tau}}

    Everything else is :class:`NTXent` (a term per positive pair, averaged over positive pairs; with two
    views that is the mean over the 2B anchors). ``k`` at least the number of negatives gives NT-Xent.
    The paper keeps K = 4095 of a 16384-sample queue (as we recall it; not verified); here ``k`` counts
    negatives in the batch, default 128 (half the 254 negatives of a 128-instance batch). The point of the
    loss: hardness comes from the truncation, so a large τ (0.7-1.0), which keeps semantically similar
    samples together (tolerance), no longer costs uniformity.

    Caution, measured on the digits (notebook 04): from a small MLP's near-collapsed initialisation, k <= 64
    of 254 negatives stalls at the collapsed saddle (loss log(1 + k), all embeddings nearly equal, zero
    gradient), while k = 128 and NT-Xent escape it. A queue of many negatives, as in the paper, avoids this.

    Reduction: ``"none"`` gives the per-pair matrix [N, N] (one term per positive pair, 0 elsewhere); ``"mean"``
    averages over all positive pairs.
    """

    def __init__(self, temperature: float = 0.2, k: int = 128, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.k = _check_k(k)
        self.reduction = check_reduction(reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        return hard_contrastive_from_similarity(similarity, labels, temperature=self.temperature, k=self.k,
                                                reduction=self.reduction)

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        rows, row_labels = views_to_rows(views, labels)
        return _ntxent(cosine_similarity_matrix(rows), row_labels, self.temperature, self.reduction, k=self.k)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, k={self.k}"
