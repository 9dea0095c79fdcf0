"""Small encoders that train in seconds on a laptop CPU.

Models that carry an embedding below their output (a classifier, a projection head) expose ``embed(x)``,
which is what the analysis and the plots look at; :func:`embed` asks for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Initialise parameters from ``seed`` without touching the caller's global RNG state."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class L2Normalize(nn.Module):
    """Projects onto the unit sphere: ẑ = z / max(‖z‖, 1e-12)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=-1)


class MLP(nn.Module):
    """Fully connected encoder ``in_features -> hidden... -> embedding_dim`` with ReLU.

    ``embedding_dim`` 2 or 3 gives embeddings to plot directly; 16-128 for everything else.
    ``normalize=True`` puts the output on the unit sphere.
    """

    def __init__(self, in_features: int, embedding_dim: int = 2, hidden: Sequence[int] = (128, 64),
                 normalize: bool = False, dropout: float = 0.0, seed: int | None = None):
        super().__init__()
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        self.in_features, self.embedding_dim = in_features, embedding_dim
        widths = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        with seeded(seed):
            for a, b in zip(widths[:-1], widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
                if dropout:
                    layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(widths[-1], embedding_dim))
        if normalize:
            layers.append(L2Normalize())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two 3x3 conv blocks for 8x8 digit images ``[B, 1, 8, 8]`` -> ``[B, embedding_dim]``."""

    def __init__(self, embedding_dim: int = 32, channels: tuple[int, int] = (16, 32), normalize: bool = False,
                 seed: int | None = None):
        super().__init__()
        self.embedding_dim = embedding_dim
        c1, c2 = channels
        with seeded(seed):
            layers: list[nn.Module] = [
                nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 8x8 -> 4x4
                nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 4x4 -> 2x2
                nn.Flatten(), nn.Linear(c2 * 4, embedding_dim),
            ]
        if normalize:
            layers.append(L2Normalize())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2 and x.shape[1] == 64:  # flat digits are welcome too
            x = x.view(-1, 1, 8, 8)
        return self.net(x)


def embed(model: nn.Module, x: Tensor) -> Tensor:
    """The model's embedding of ``x``: ``model.embed(x)`` when it has one, else ``model(x)``."""
    return model.embed(x) if hasattr(model, "embed") else model(x)
