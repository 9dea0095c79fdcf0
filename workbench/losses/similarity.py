"""The similarity-matrix lens shared by pair-based and view-based losses.

Every pairs/views loss is computed from ``S[N, N]`` (cosine similarities) and the row labels, so the
same autograd call gives dL/dS, the pair weights of the General Pair Weighting view
(Wang et al., "Multi-Similarity Loss with General Pair Weighting", CVPR 2019).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import check_float_tensor, check_labels


class _Gram(torch.autograd.Function):
    """``z zᵀ`` whose backward is one matrix product, ``(G + Gᵀ) z``, where autograd would do two."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z @ z.T

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return (grad + grad.T) @ z


def norm_eps(dtype: torch.dtype) -> float:
    """The floor under a vector norm: 1e-12 (torch's default) in float32/64 and bfloat16; in float16, where 1e-12
    underflows to 0 (0/0 for a zero vector), the square root of its smallest normal number, below which a
    squared norm is not even representable (and the 1/eps gradient at a zero vector stays finite)."""
    return max(1e-12, torch.finfo(dtype).tiny ** 0.5)


def vector_norm(x: Tensor, dim: int = -1) -> Tensor:
    """``‖x‖`` along ``dim`` (kept) without overflow or underflow of the squares: each vector is divided by its
    largest entry first (a detached factor, so the gradient is the usual x / ‖x‖). ``x.norm()`` overflows
    for entries above about 1e19 in float32 and 256 in float16."""
    scale = x.detach().abs().amax(dim, keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return (x / scale).norm(dim=dim, keepdim=True) * scale


def normalize(x: Tensor, dim: int = -1) -> Tensor:
    """``x / max(‖x‖, eps)`` as ``F.normalize``, with :func:`vector_norm` and :func:`norm_eps`: finite for huge
    vectors, zero for zero vectors, in every floating dtype."""
    return x / vector_norm(x, dim).clamp(min=norm_eps(x.dtype))


def float32_if_half(x: Tensor) -> Tensor:
    """``x`` in float32 when it is float16 or bfloat16, else ``x``: for batch-level losses whose small constants
    (1e-6 counts, 1e-12 floors) underflow in half precision; their result goes back to the input's dtype."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def cosine_similarity_matrix(embeddings: Tensor, *, temperature: float = 1.0) -> Tensor:
    """``S = ẑ ẑᵀ`` with ``ẑ = z / max(‖z‖, eps)`` (:func:`normalize`); a zero vector has cosine 0 with everything.

    ``temperature`` τ gives ``S/τ`` with the scale applied to the [N, D] rows (by 1/√τ), not to the [N, N]
    result: one pass over N·D numbers instead of N² forward and backward.
    """
    unit = normalize(embeddings, dim=1)
    if temperature != 1.0:
        unit = unit * (1.0 / math.sqrt(temperature))
    return _Gram.apply(unit)


def pair_masks(labels: Tensor, dtype: torch.dtype = torch.bool) -> tuple[Tensor, Tensor]:
    """Masks ``(positive, negative)`` of shape [N, N]: same label off the diagonal, and different label.

    Boolean by default; a floating ``dtype`` gives 0/1 masks ready to multiply a loss matrix with.
    """
    same = labels[:, None] == labels[None, :]
    negative = ~same
    positive = same.fill_diagonal_(False)
    return (positive, negative) if dtype == torch.bool else (positive.to(dtype), negative.to(dtype))


def check_similarity(similarity: Tensor, labels: Tensor) -> Tensor:
    """Checks a square ``similarity[N, N]`` (N >= 1) and ``labels[N]``; returns the labels as ``torch.long``."""
    check_float_tensor(similarity, "similarity", 2, "[N, N]", nonempty=True)
    n = similarity.shape[0]
    if similarity.shape != (n, n):
        raise ValueError(f"similarity must be square [N, N], got shape {tuple(similarity.shape)}")
    return check_labels(labels, "labels", n)


def check_embeddings(embeddings: Tensor, labels: Tensor) -> Tensor:
    """Checks ``embeddings[B, D]`` (B >= 1) and ``labels[B]``; returns the labels as ``torch.long``."""
    check_float_tensor(embeddings, "embeddings", 2, "[B, D]", nonempty=True)
    return check_labels(labels, "labels", embeddings.shape[0])


def views_to_rows(views: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
    """Flatten ``views[B, V, D]`` to rows ``[B·V, D]`` (row ``b·V + v``) with one label per row.

    Without labels every instance is its own class, so the positives are the other views of the same
    instance (self-supervised); with labels, every view of a same-label instance is a positive.
    """
    check_float_tensor(views, "views", 3, "[B, V, D] with V >= 2 views", nonempty=True)
    b, v, d = views.shape
    if v < 2:
        raise ValueError(f"views must have shape [B, V, D] with V >= 2 views, got V={v}")
    if labels is None:
        labels = torch.arange(b, device=views.device)
    else:
        labels = check_labels(labels, "labels", b)
    return views.reshape(b * v, d), labels.repeat_interleave(v)


def masked_logsumexp(x: Tensor, mask: Tensor, *, add_one: bool = False, empty: float = -math.inf) -> Tensor:
    """Row-wise ``log Σ_{k: mask_ik} e^{x_ik}`` (``log(1 + Σ ...)`` with ``add_one``), the one masked
    log-sum-exp of the losses. A row whose mask is empty gives ``empty`` (-inf, the log of an empty sum, or 0
    where a loss counts such a row as no term) with a zero gradient, never NaN: its entries are zero-filled
    before the log-sum-exp."""
    none = ~mask.any(1, keepdim=True)
    x = torch.where(mask, x, -math.inf).masked_fill(none & ~mask, 0.0)
    if add_one:
        x = torch.cat([x.new_zeros(x.shape[0], 1), x], dim=1)
    return torch.logsumexp(x, dim=1).masked_fill(none.squeeze(1), empty)
