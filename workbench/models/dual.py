"""Two modalities: a dual encoder with a frozen reference tower (cross-modal losses such as CLIP)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DualEncoder(nn.Module):
    """Two encoders for paired inputs stored side by side, ``x = [modality A (split) | modality B]``
    (as ``data.paired_digits`` stores them).

    ``forward(x)`` gives ``(encoder(x_A), reference(x_B))`` -- the ``(x, y)`` a crossmodal loss takes;
    ``embed(x)`` gives modality A's embedding only (what probes and plots look at), ``embed_reference(b)``
    the reference embedding of modality-B inputs (e.g. class prototypes). ``freeze_reference=True``
    turns the reference's gradients off: a pre-trained, locked tower as in LiT and CWCL.
    """

    def __init__(self, encoder: nn.Module, reference: nn.Module, split: int, freeze_reference: bool = True):
        super().__init__()
        if split < 1:
            raise ValueError(f"split must be >= 1 (columns of modality A), got {split}")
        self.encoder, self.reference, self.split = encoder, reference, split
        self.embedding_dim = getattr(encoder, "embedding_dim", None)
        if freeze_reference:
            self.reference.requires_grad_(False)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] <= self.split:
            raise ValueError(f"x must have shape [B, {self.split} + d_B] (both modalities side by side), "
                             f"got {tuple(x.shape)}")

    def embed(self, x: Tensor) -> Tensor:
        self._check(x)
        return self.encoder(x[:, :self.split])

    def embed_reference(self, b: Tensor) -> Tensor:
        return self.reference(b)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check(x)
        return self.encoder(x[:, :self.split]), self.reference(x[:, self.split:])


def pca_encoder(X: Tensor, dim: int | None = None, whiten: bool = True) -> nn.Linear:
    """A frozen linear encoder "pre-trained" without labels on ``X[N, d]``: centre, project on the top
    ``dim`` principal directions and (``whiten``) scale each to unit variance. Centred outputs make cosine
    similarities meaningful (unrelated inputs near 0), which CWCL's weights from the frozen modality need."""
    X = X.detach().double()
    mean = X.mean(0)
    _, s, vt = torch.linalg.svd(X - mean, full_matrices=False)
    dim = dim or X.shape[1]
    if not 1 <= dim <= len(s):
        raise ValueError(f"dim must be in [1, {len(s)}], got {dim}")
    W = vt[:dim]
    if whiten:
        W = W / (s[:dim, None] / max(len(X) - 1, 1) ** 0.5).clamp(min=1e-12)
    layer = nn.Linear(X.shape[1], dim)
    with torch.no_grad():
        layer.weight.copy_(W)
        layer.bias.copy_(-(W @ mean))
    return layer.requires_grad_(False)
