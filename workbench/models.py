"""Small encoders that train in seconds on a laptop CPU, plus heads.

Every model maps inputs to outputs in one ``forward``; models that carry an embedding below their
output (a classifier, a projection head) also expose ``embed(x)``, which is what the analysis and the
plots look at.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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


# --- multiple-instance learning: pooling over bags ---------------------------------------------------

MIL_POOLINGS = ("attention", "gated", "mean", "max", "instance")


@dataclass
class MILOutput:
    """What a :class:`MILModel` returns for a padded batch of B bags with up to N instances.

    ``logits``: bag scores ``[B]`` (``num_classes=1``, binary) or ``[B, C]``. ``attention_logits``:
    ``[B, K, N]`` pre-softmax attention of the K branches, ``-inf`` on padding (``-1e9`` where STKIM
    masked an instance), None for max and instance pooling (mean pooling reports the uniform attention it
    uses). ``attention``: ``[B, N]`` the weights the bag representation used (mean over branches).
    ``instance_scores``: ``[B, N]`` how much each instance drives the bag score (attention weight, instance
    logit, or the share of embedding dimensions whose max the instance supplies), for localisation.
    ``branch_logits``: ``[B, K]`` / ``[B, K, C]`` per-branch predictions when K > 1, else None.
    """

    logits: Tensor
    attention_logits: Tensor | None
    attention: Tensor | None
    instance_scores: Tensor
    branch_logits: Tensor | None
    mask: Tensor


class MILModel(nn.Module):
    r"""Multiple-instance classifier: an instance encoder, a pooling over the bag, a bag classifier.

    ``pooling``:

    - ``"attention"`` / ``"gated"``: Ilse et al. (2018) attention pooling,
      :math:`a = \operatorname{softmax}_N(w^\top \tanh(V h_n))` (gated:
      :math:`w^\top(\tanh(V h_n) \odot \sigma(U h_n))`), :math:`z = \sum_n a_n h_n`.
      ``branches`` K > 1 gives ACMIL's multiple-branch attention (Zhang et al. 2024): K attention maps,
      a classifier per branch (``branch_logits``) and the bag classifier on the mean attention.
      ``n_masked`` > 0 turns on stochastic top-K instance masking (STKIM) in training mode: per branch,
      ``int(min(n_masked, n) * mask_drop)`` of the ``min(n_masked, n)`` highest-attention instances, chosen
      at random, get logit -1e9 (as the official code). Eval mode never masks.
    - ``"mean"`` / ``"max"``: mean or feature-wise max of the instance embeddings (baselines; max pooling is
      MI-Net's).
    - ``"instance"``: an instance-level classifier, bag score = max of the instance scores (mi-Net). The
      only pooling here whose score can never drop when an instance is added: the standard MIL assumption.

    ``forward(x, mask=None, generator=None)`` takes a padded batch ``x[B, N, *features]`` with
    ``mask[B, N]`` (True = real instance) or one bag of flat instances ``x[N, F]``; padding never changes the result.
    Returns a :class:`MILOutput`.
    """

    def __init__(self, in_features: int, pooling: str = "attention", *, embedding_dim: int = 32,
                 hidden: Sequence[int] = (64,), attention_dim: int = 32, num_classes: int = 1, branches: int = 1,
                 n_masked: int = 0, mask_drop: float = 0.6, encoder: nn.Module | None = None,
                 seed: int | None = None):
        super().__init__()
        if pooling not in MIL_POOLINGS:
            raise ValueError(f"pooling must be one of {MIL_POOLINGS}, got {pooling!r}")
        if branches < 1 or (branches > 1 and pooling not in ("attention", "gated")):
            raise ValueError(f"branches must be >= 1, and > 1 only for attention pooling; got {branches} "
                             f"with pooling={pooling!r}")
        if n_masked < 0 or not 0.0 <= mask_drop <= 1.0:
            raise ValueError(f"n_masked must be >= 0 and mask_drop in [0, 1], got {n_masked}, {mask_drop}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.pooling, self.branches, self.num_classes = pooling, branches, num_classes
        self.n_masked, self.mask_drop = int(n_masked), float(mask_drop)
        with seeded(seed):
            self.encoder = encoder if encoder is not None else MLP(in_features, embedding_dim, hidden)
            M = self.encoder.embedding_dim
            if pooling in ("attention", "gated"):
                self.V = nn.Linear(M, attention_dim)
                self.U = nn.Linear(M, attention_dim) if pooling == "gated" else None
                self.w = nn.Linear(attention_dim, branches)
            if branches > 1:  # one classifier per branch, as a batched weight
                bound = 1 / math.sqrt(M)
                self.branch_weight = nn.Parameter(torch.empty(branches, M, num_classes).uniform_(-bound, bound))
                self.branch_bias = nn.Parameter(torch.empty(branches, num_classes).uniform_(-bound, bound))
            self.classifier = nn.Linear(M, num_classes)

    def _out(self, z: Tensor) -> Tensor:
        return z.squeeze(-1) if self.num_classes == 1 else z

    def _stkim(self, A: Tensor, generator: torch.Generator | None) -> Tensor:
        """Stochastic top-K instance masking of attention logits ``A[B, K, N]`` (-inf on padding)."""
        k = min(self.n_masked, A.shape[-1])
        top, idx = A.topk(k, dim=-1)
        real_top = torch.isfinite(top)  # top entries that are real instances: min(n_masked, n_b) of them
        n_drop = (real_top.sum(-1, keepdim=True).double() * self.mask_drop).floor()
        r = torch.rand(top.shape, generator=generator, device=A.device, dtype=torch.float64).masked_fill(~real_top, 2)
        chosen = r.argsort(-1).argsort(-1) < n_drop  # the n_drop lowest random draws among the real top-k
        drop = torch.zeros_like(A, dtype=torch.bool).scatter(-1, idx, chosen)
        return A.masked_fill(drop, -1e9)

    def forward(self, x: Tensor, mask: Tensor | None = None, generator: torch.Generator | None = None) -> MILOutput:
        if x.dim() < 2:
            raise ValueError(f"x must have shape [B, N, *features] or [N, *features], got {tuple(x.shape)}")
        if x.dim() == 2:  # one bag of flat instances [N, F]
            x = x[None]
            mask = None if mask is None else mask[None]
        B, N = x.shape[:2]
        if mask is None:
            mask = torch.ones(B, N, dtype=torch.bool, device=x.device)
        if mask.shape != (B, N) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape [B, N] = [{B}, {N}], got {mask.dtype} "
                             f"{tuple(mask.shape)}")
        H = self.encoder(x.flatten(0, 1)).view(B, N, -1)  # [B, N, M]
        pad = ~mask
        attention_logits = attention = branch_logits = None
        if self.pooling in ("attention", "gated"):
            hidden = torch.tanh(self.V(H))
            if self.U is not None:
                hidden = hidden * torch.sigmoid(self.U(H))
            A = self.w(hidden).transpose(1, 2).masked_fill(pad[:, None], float("-inf"))  # [B, K, N]
            if self.training and self.n_masked > 0:
                A = self._stkim(A, generator)
            a = torch.softmax(A, dim=-1)
            attention_logits, attention = A, a.mean(1)
            if self.branches > 1:
                feats = a @ H  # [B, K, M]
                branch_logits = self._out(torch.einsum("bkm,kmc->bkc", feats, self.branch_weight) + self.branch_bias)
            logits = self._out(self.classifier((attention[:, None] @ H)[:, 0]))
            scores = attention
        elif self.pooling == "mean":
            attention_logits = torch.zeros(B, 1, N, dtype=H.dtype, device=H.device).masked_fill(pad[:, None], -math.inf)
            attention = mask.to(H.dtype) / mask.sum(1, keepdim=True)
            logits = self._out(self.classifier((attention[:, None] @ H)[:, 0]))
            scores = attention
        elif self.pooling == "max":
            Hm = H.masked_fill(pad[..., None], float("-inf"))
            z, arg = Hm.max(1)  # [B, M]
            logits = self._out(self.classifier(z))
            scores = F.one_hot(arg, N).to(H.dtype).mean(1)  # share of dimensions each instance supplies
        else:  # instance
            s = self.classifier(H).masked_fill(pad[..., None], float("-inf"))  # [B, N, C]
            logits = self._out(s.max(1).values)
            scores = s.mean(-1).masked_fill(pad, float("-inf")) if self.num_classes > 1 else s[..., 0]
        return MILOutput(logits, attention_logits, attention, scores, branch_logits, mask)
