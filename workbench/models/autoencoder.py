"""An MLP autoencoder: the embedding that deep clustering (DEC, DEPICT) starts from."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .encoders import MLP


class Autoencoder(nn.Module):
    """``encoder``: an :class:`MLP` ``in_features -> hidden... -> embedding_dim``; ``decoder``: the mirror image
    ``embedding_dim -> reversed(hidden)... -> in_features``. ``forward`` reconstructs; ``embed`` encodes (the
    model the clustering losses train after pre-training, as DEC discards the decoder)."""

    def __init__(self, in_features: int, embedding_dim: int = 10, hidden: Sequence[int] = (128, 64),
                 seed: int | None = None):
        super().__init__()
        self.encoder = MLP(in_features, embedding_dim, hidden, seed=seed)
        self.decoder = MLP(embedding_dim, in_features, tuple(reversed(tuple(hidden))),
                           seed=None if seed is None else seed + 1)

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))
