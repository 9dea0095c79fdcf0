"""Multiple-instance learning: instance encoder, pooling over a bag (attention, gated, mean, max,
instance classifier) and ACMIL's attention branches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoders import MLP, seeded

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
    ``features``: ``[B, M]`` the bag representation the classifier reads (the pooled embedding; None for
    instance pooling, which classifies instances before pooling), what MHIM-MIL's consistency loss and
    SC-MIL's SupCon compare.
    """

    logits: Tensor
    attention_logits: Tensor | None
    attention: Tensor | None
    instance_scores: Tensor
    branch_logits: Tensor | None
    mask: Tensor
    features: Tensor | None = None


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
        return self.pool(self.encoder(x.flatten(0, 1)).view(B, N, -1), mask, generator)

    def pool(self, H: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> MILOutput:
        """The pooling and classifiers on instance embeddings ``H[B, N, M]`` with ``mask[B, N]`` (what
        ``forward`` does after the encoder; MHIM-MIL v2's instance merging adds tokens in between)."""
        B, N = mask.shape
        pad = ~mask
        attention_logits = attention = branch_logits = z = None
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
            z = (attention[:, None] @ H)[:, 0]
            logits = self._out(self.classifier(z))
            scores = attention
        elif self.pooling == "mean":
            attention_logits = torch.zeros(B, 1, N, dtype=H.dtype, device=H.device).masked_fill(pad[:, None], -math.inf)
            attention = mask.to(H.dtype) / mask.sum(1, keepdim=True)
            z = (attention[:, None] @ H)[:, 0]
            logits = self._out(self.classifier(z))
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
        return MILOutput(logits, attention_logits, attention, scores, branch_logits, mask, z)


@torch.no_grad()
def predict_bags(model: nn.Module, data, split: str = "test", device: str | torch.device = "cpu"):
    """The model's output on every bag of ``split`` as one padded batch, in eval mode (no STKIM):
    a :class:`workbench.models.MILOutput`, or ``[B, N]`` instance predictions for a regression model."""
    model.eval()
    X, mask, _, _ = data.padded(split)
    X, mask = X.to(device), mask.to(device)
    if data.y_train.is_floating_point():
        return model(X.flatten(0, 1)).reshape(mask.shape).masked_fill(~mask, 0.0)
    return model(X, mask)
