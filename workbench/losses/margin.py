"""Margin-softmax heads on the hypersphere (kind ``margin``).

A head owns the class weights ``weight[C, D]`` and turns embeddings into scaled, margin-adjusted
logits with ``.logits(embeddings, labels)``; ``forward`` is plain cross-entropy on those logits.
The margin lives in the logits, cross-entropy stays cross-entropy (as in insightface).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_float_tensor, check_labels, check_positive, check_reduction
from .registry import Paper, Param, register


class MarginHead(nn.Module):
    """Shared plumbing: class weights, cosine logits, validation. Subclasses adjust the target logit."""

    def __init__(self, num_classes: int, embedding_dim: int, scale: float, reduction: str = "mean"):
        super().__init__()
        if not (isinstance(num_classes, int) and num_classes >= 2):
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if not (isinstance(embedding_dim, int) and embedding_dim >= 1):
            raise ValueError(f"embedding_dim must be a positive int, got {embedding_dim!r}")
        self.num_classes, self.embedding_dim = num_classes, embedding_dim
        self.scale = check_positive(scale, "scale")
        self.reduction = check_reduction(reduction)
        # Small random directions (std 0.01, as in the ElasticFace code); only directions matter, and
        # with Adam small rows re-orient fast early on, which spreads the classes evenly in angle.
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_dim) * 0.01)

    def cosine(self, embeddings: Tensor) -> Tensor:
        """cos θ between each embedding and each class weight, shape [B, C]."""
        check_float_tensor(embeddings, "embeddings", 2, f"[B, {self.embedding_dim}]")
        if embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have shape [B, {self.embedding_dim}] (embedding_dim), "
                             f"got shape {tuple(embeddings.shape)}")
        return F.normalize(embeddings, dim=1) @ F.normalize(self.weight.to(embeddings.dtype), dim=1).T

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        """Margin-adjusted cosines (before the scale); identity for heads without a margin."""
        return cosine

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scaled logits ``s · adjust(cos θ)``; ``labels=None`` gives the margin-free logits used to predict."""
        cosine = self.cosine(embeddings)
        if labels is not None:
            check_labels(labels, "labels", embeddings.shape[0], self.num_classes)
            cosine = self.adjust(cosine, labels)
        return self.scale * cosine

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        if labels is None:
            raise ValueError("labels must be a tensor of shape [B]; a margin head needs the targets")
        return F.cross_entropy(self.logits(embeddings, labels), labels, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, scale={self.scale}"


def normface_scale_bound(num_classes: int, probability: float) -> float:
    r"""NormFace's lower bound on the scale needed for softmax probability ``probability`` on the
    target when features sit on their class weights: :math:`s \ge \frac{C-1}{C}\log\frac{(C-1)P}{1-P}`."""
    c, p = num_classes, probability
    return (c - 1) / c * math.log((c - 1) * p / (1 - p))


@register(
    "normface", family="margin", kind="margin",
    paper=Paper("NormFace: L2 Hypersphere Embedding for Face Verification", 2017, "Wang, Xiang, Cheng, Yuille"),
    formula=r"\ell = -\log \frac{e^{s\cos\theta_y}}{\sum_j e^{s\cos\theta_j}},\;"
            r"\cos\theta_j = \frac{x^\top w_j}{\lVert x\rVert\,\lVert w_j\rVert}",
    params={"scale": Param(20.0, 1.0, 64.0, "s: logits are s·cos θ; too small caps the reachable probability",
                           log=True)},
)
class NormFace(MarginHead):
    r"""NormFace: cross-entropy on cosine logits :math:`s\cos\theta_j` (features and weights L2-normalised,
    no bias).

    Without the scale, cosine logits live in [-1, 1] and the softmax can never become confident;
    the paper's bound :func:`normface_scale_bound` gives the smallest useful ``scale`` (about 6 for 10
    classes at p = 0.99). Default ``scale=20`` matches pytorch-metric-learning's
    ``NormalizedSoftmaxLoss(temperature=0.05)``. ``learn_scale=True`` makes s a parameter.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 20.0, learn_scale: bool = False,
                 reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, reduction)
        if learn_scale:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
