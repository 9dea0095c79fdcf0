"""The similarity-matrix lens shared by pair-based and view-based losses.

Every pairs/views loss is computed from ``S[N, N]`` (cosine similarities) and the row labels, so the
same autograd call gives dL/dS, the pair weights of the General Pair Weighting view
(Wang et al., "Multi-Similarity Loss with General Pair Weighting", CVPR 2019).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_float_tensor, check_labels


def cosine_similarity_matrix(embeddings: Tensor) -> Tensor:
    """``S = ẑ ẑᵀ`` with ``ẑ = z / max(‖z‖, 1e-12)``; a zero vector has cosine 0 with everything."""
    z = F.normalize(embeddings, dim=1)
    return z @ z.T


def pair_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Boolean masks ``(positive, negative)`` of shape [N, N]: same label off the diagonal, and different label."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def safe_sqrt(x: Tensor) -> Tensor:
    """sqrt with the subgradient 0 at 0, so coincident points give a finite gradient (sqrt'(0) = inf)."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).sqrt(), torch.zeros_like(x))


def check_similarity(similarity: Tensor, labels: Tensor) -> None:
    check_float_tensor(similarity, "similarity", 2, "[N, N]")
    n = similarity.shape[0]
    if similarity.shape != (n, n):
        raise ValueError(f"similarity must be square [N, N], got shape {tuple(similarity.shape)}")
    check_labels(labels, "labels", n)


def check_embeddings(embeddings: Tensor, labels: Tensor) -> None:
    check_float_tensor(embeddings, "embeddings", 2, "[B, D]")
    check_labels(labels, "labels", embeddings.shape[0])


def views_to_rows(views: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
    """Flatten ``views[B, V, D]`` to rows ``[B·V, D]`` (row ``b·V + v``) with one label per row.

    Without labels every instance is its own class, so the positives are the other views of the same
    instance (self-supervised); with labels, every view of a same-label instance is a positive.
    """
    check_float_tensor(views, "views", 3, "[B, V, D] with V >= 2 views")
    b, v, d = views.shape
    if v < 2:
        raise ValueError(f"views must have shape [B, V, D] with V >= 2 views, got V={v}")
    if labels is None:
        labels = torch.arange(b, device=views.device)
    else:
        check_labels(labels, "labels", b)
    return views.reshape(b * v, d), labels.repeat_interleave(v)
