"""What a loss costs: the wall-clock time of one forward and backward pass as the batch grows (proxy losses
compare B samples with C proxies, O(B·C); pair losses compare every pair of the batch, O(B²))."""

from __future__ import annotations

import time

import torch
from torch import nn

from .._checks import check_int


def loss_seconds(loss: nn.Module, batch_size: int, *, embedding_dim: int = 32, num_classes: int = 10,
                 repeats: int = 3, seed: int = 0) -> float:
    """Best of ``repeats`` wall-clock seconds of ``loss(x, y).backward()`` on a random batch: ``x`` [B, D] standard
    normal, ``y`` uniform over ``num_classes`` (seeded). For an ``(embeddings, labels)`` loss (kinds margin and
    pairs); a margin loss must have been built with the same ``num_classes`` and ``embedding_dim``. The minimum
    over repeats is the least disturbed by other processes on the machine.
    """
    batch_size = check_int(batch_size, "batch_size", low=2)
    repeats = check_int(repeats, "repeats", low=1)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
    x = torch.randn(batch_size, check_int(embedding_dim, "embedding_dim", low=1), generator=generator)
    y = torch.randint(0, check_int(num_classes, "num_classes", low=2), (batch_size,), generator=generator)
    best = float("inf")
    for _ in range(repeats):
        x.grad = None
        x.requires_grad_(True)
        start = time.perf_counter()
        loss(x, y).backward()
        best = min(best, time.perf_counter() - start)
    return best
