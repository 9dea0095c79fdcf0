"""Heads on top of an encoder: linear classifier, projection head, multi-sample dropout (Inoue 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoders import seeded


class ProjectionHead(nn.Module):
    """SimCLR-style MLP head ``in_dim -> hidden -> out_dim`` used only by the loss during training."""

    def __init__(self, in_dim: int, out_dim: int = 32, hidden: int = 64, seed: int | None = None):
        super().__init__()
        with seeded(seed):
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class WithHead(nn.Module):
    """An encoder followed by a head: ``forward`` gives the head's output (what the loss sees),
    ``embed`` the encoder's (what probes and plots usually look at)."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))


def classifier(encoder: nn.Module, num_classes: int, seed: int | None = None) -> WithHead:
    """Encoder + linear layer to logits, for losses of kind ``logits``."""
    with seeded(seed):
        head = nn.Linear(encoder.embedding_dim, num_classes)
    return WithHead(encoder, head)


def with_projection(encoder: nn.Module, out_dim: int = 32, hidden: int = 64, seed: int | None = None) -> WithHead:
    """Encoder + projection head, for contrastive training (pre- vs post-projection probes)."""
    return WithHead(encoder, ProjectionHead(encoder.embedding_dim, out_dim, hidden, seed=seed))


class MultiSampleDropout(nn.Module):
    """A linear head behind dropout, trained on M dropout samples at once (Inoue 2019, "Multi-Sample
    Dropout for Accelerated Training and Better Generalization").

    In training, :meth:`loss` draws M independent dropout masks of the same features, passes each through
    the SAME linear layer and averages the M losses (the mean of the losses, not the loss of the mean
    logits); a larger M lowers the variance of the gradient at the cost of M head calls (cheap: the
    encoder runs once). ``forward`` is the ordinary one-sample head (dropout in training, none in eval),
    so in eval mode everything equals the plain loss of the plain head. Defaults M = 8, p = 0.5 are the
    paper's main experiments as remembered, unverified: only the paper's abstract was available and there is
    no official code to read them from (reference notes §12).
    """

    def __init__(self, in_features: int, out_features: int, samples: int = 8, p: float = 0.5,
                 seed: int | None = None):
        super().__init__()
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be an int >= 1, got {samples!r}")
        if not (isinstance(p, (int, float)) and 0 <= p < 1):
            raise ValueError(f"p must be in [0, 1), got {p!r}")
        self.samples, self.p = samples, float(p)
        with seeded(seed):
            self.fc = nn.Linear(in_features, out_features)

    def _masks(self, features: Tensor, generator: torch.Generator | None) -> Tensor:
        """M inverted-dropout masks [M, *features.shape] (drawn on the CPU generator when one is given)."""
        shape = (self.samples, *features.shape)
        if generator is None:
            u = torch.rand(shape, dtype=features.dtype, device=features.device)
        else:
            u = torch.rand(shape, generator=generator, dtype=features.dtype).to(features.device)
        return (u >= self.p).to(features.dtype) / (1 - self.p)

    def sample_logits(self, features: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """[M, B, out] logits of the M dropout samples (M copies of the plain logits in eval mode)."""
        if not self.training or self.p == 0:
            return self.fc(features).expand(self.samples, *features.shape[:-1], self.fc.out_features)
        return self.fc(self._masks(features, generator) * features)

    def forward(self, features: Tensor) -> Tensor:
        return self.fc(F.dropout(features, self.p, self.training))

    def loss(self, loss_fn, features: Tensor, target: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Mean over the M samples of ``loss_fn(logits_m, target)``."""
        logits = self.sample_logits(features, generator)
        return torch.stack([loss_fn(logits[m], target) for m in range(self.samples)]).mean()


def multi_sample_dropout_classifier(encoder: nn.Module, num_classes: int, samples: int = 8, p: float = 0.5,
                                    seed: int | None = None) -> WithHead:
    """Encoder + :class:`MultiSampleDropout` head; train it with
    ``fit(..., batch_loss=multi_sample_batch_loss)``."""
    return WithHead(encoder, MultiSampleDropout(encoder.embedding_dim, num_classes, samples, p, seed=seed))
