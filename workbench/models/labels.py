"""A dual encoder for labels: the input's embedding scored against one learned embedding per label (DEXML's
setting, with a label table in place of a label-text encoder)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int
from .encoders import seeded


class LabelDualEncoder(nn.Module):
    """``forward(x) -> cos(encoder(x), label_j)`` ``[B, L]``: cosine scores of every input against ``num_labels``
    learned label embeddings (initialised N(0, 1), seeded); ``embed(x)`` is the encoder's output."""

    def __init__(self, encoder: nn.Module, num_labels: int, seed: int | None = None):
        super().__init__()
        num_labels = check_int(num_labels, "num_labels", low=1)
        self.encoder = encoder
        with seeded(seed):
            self.labels = nn.Parameter(torch.randn(num_labels, encoder.embedding_dim))

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.encoder(x), dim=1) @ F.normalize(self.labels, dim=1).T
