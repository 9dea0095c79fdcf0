"""Contrastive (InfoNCE-type) losses on several views of each instance (kind ``views``):
``forward(views[B, V, D], labels[B] or None)`` and ``from_similarity(S[N, N], labels[N])``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._checks import check_positive, check_reduction
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


def _ntxent(similarity: Tensor, labels: Tensor, temperature: float, reduction: str) -> Tensor:
    positive, negative = pair_masks(labels)
    logits = similarity / temperature
    # Log of the negatives' share of the denominator; -inf for an anchor without negatives (loss 0).
    neg_lse = torch.logsumexp(logits.masked_fill(~negative, float("-inf")), dim=1, keepdim=True)
    per_pair = torch.nn.functional.softplus(neg_lse - logits)
    per_pair = torch.where(positive, per_pair, torch.zeros_like(per_pair))
    if reduction == "none":
        return per_pair
    if reduction == "sum":
        return per_pair.sum()
    return per_pair.sum() / positive.sum().clamp(min=1)


@register(
    "ntxent", family="contrastive", kind="views",
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
