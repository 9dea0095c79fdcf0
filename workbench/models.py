"""Small encoders that train in seconds on a laptop CPU, plus heads.

Every model maps inputs to outputs in one ``forward``; models that carry an embedding below their
output (a classifier, a projection head) also expose ``embed(x)``, which is what the analysis and the
plots look at.
"""

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


def embed(model: nn.Module, x: Tensor) -> Tensor:
    """The model's embedding of ``x``: ``model.embed(x)`` when it has one, else ``model(x)``."""
    return model.embed(x) if hasattr(model, "embed") else model(x)


def for_kind(kind: str, in_features: int, num_classes: int, embedding_dim: int = 2,
             hidden: Sequence[int] = (128, 64), seed: int | None = 0) -> nn.Module:
    """The default MLP for a loss kind: a classifier (logits) for ``logits``, one output for ``binary``,
    a bare encoder (embeddings) for ``margin``, ``pairs`` and ``views``."""
    encoder = MLP(in_features, embedding_dim, hidden, seed=seed)
    if kind == "logits":
        return classifier(encoder, num_classes, seed=seed)
    if kind == "binary":
        return classifier(encoder, 1, seed=seed)
    if kind in ("margin", "pairs", "views"):
        return encoder
    raise ValueError(f"no default model for kind {kind!r}; expected logits, binary, margin, pairs or views")


# --- multi-sample dropout (Inoue 2019) --------------------------------------------------------------


class MultiSampleDropout(nn.Module):
    """A linear head behind dropout, trained on M dropout samples at once (Inoue 2019, "Multi-Sample
    Dropout for Accelerated Training and Better Generalization").

    In training, :meth:`loss` draws M independent dropout masks of the same features, passes each through
    the SAME linear layer and averages the M losses (the mean of the losses, not the loss of the mean
    logits); a larger M lowers the variance of the gradient at the cost of M head calls (cheap: the
    encoder runs once). ``forward`` is the ordinary one-sample head (dropout in training, none in eval),
    so in eval mode everything equals the plain loss of the plain head. Paper defaults (from memory,
    unverified): M = 8, p = 0.5.
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


def multi_sample_batch_loss(model: WithHead, loss, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
    """``batch_loss`` for ``train.fit``: the encoder once, the M-sample head loss on its output."""
    if not isinstance(getattr(model, "head", None), MultiSampleDropout):
        raise ValueError("multi_sample_batch_loss needs a model whose head is a MultiSampleDropout "
                         "(see multi_sample_dropout_classifier)")
    return model.head.loss(loss, model.encoder(x), y, generator)
# --- two modalities (contrastive, issue 4) ---


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
