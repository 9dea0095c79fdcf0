"""MHIM-MIL v2 (Tang et al., IJCV 2025): class-aware instance scores from attention (``--attn2score``) and
instance merging (``--merge_enable``), the parts v2 adds to v1's hard-instance masking
(:func:`workbench.models.hard_instance_mask`). Source: DearCaat/MHIM-MIL master@9d0c91a,
``modules/mhim.py``, ``modules/mhim_modules/{scoring,merge}.py``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int, check_number
from .encoders import seeded
from .mil import MILModel, MILOutput


def attention_to_score(classifier: nn.Linear, H: Tensor, attention: Tensor, mask: Tensor | None = None) -> Tensor:
    r"""MHIM-MIL v2's ``--attn2score`` (``get_pseudo_score``): the bag classifier applied to each
    attention-weighted instance, :math:`c_n = W(a_n h_n) + b_0`, softmax over the classes, max over the classes:
    :math:`s_n = \max_c \operatorname{softmax}(c_n)_c`, ``[B, N]`` (``-inf`` on padding).

    An instance that draws little attention gets :math:`c_n \approx b_0` in every class, hence the lowest score
    1/C; a high score needs attention *and* a confident class. The official code adds the first class's bias
    :math:`b_0` to every class, which cancels in the softmax: the bias plays no part. A one-logit binary
    classifier :math:`z = w^\top f + b` is the two-class one with rows :math:`(0, w)`, so there
    :math:`s_n = \max(\sigma(w^\top a_n h_n), 1 - \sigma(w^\top a_n h_n))`.
    ``H[B, N, M]``: the instance embeddings the attention pooled; ``attention[B, N]`` (softmaxed)."""
    if H.dim() != 3 or attention.shape != H.shape[:2]:
        raise ValueError(f"H must be [B, N, M] and attention [B, N], got {tuple(H.shape)}, {tuple(attention.shape)}")
    cam = (attention[..., None] * H) @ classifier.weight.T  # [B, N, C]
    if cam.shape[-1] == 1:
        p = torch.sigmoid(cam[..., 0])
        score = torch.maximum(p, 1 - p)
    else:
        score = torch.softmax(cam + classifier.bias[0], dim=-1).max(-1).values
    return score if mask is None else score.masked_fill(~mask, float("-inf"))


class InstanceMerge(nn.Module):
    r"""MHIM-MIL v2's instance merging (``Merge`` with ``mask_type="random"``): in training, of the L instances
    the student still sees (after hard-instance masking) a random ``int(L * ratio)`` are kept and the rest
    are *recycled*, not discarded: merged into ``k`` tokens by multi-head cross-attention from ``k`` global
    queries,

    .. math:: z = \mathrm{MCA}(\mathrm{LN}(H_{\text{merged}}), \mathrm{LN}(q)),\qquad
              q \leftarrow m\,q + (1-m)\,z \ \text{(after each bag, no gradient)},

    and the tokens join the kept instances. ``forward(H[B, N, M], mask[B, N], generator)`` returns
    ``(H', mask')`` with the ``k`` tokens appended (``[B, N + k, M]``, merged instances masked out).
    Official defaults: ``k`` 1 (``--merge_k``), ratio 0.2 (README grid 0.8, 0.9), momentum 0.9998 (README
    0.9999, ``--merge_mm``), 8 heads of 64 (inner 512 = the feature width), dropout 0.1; the queries are a
    non-trainable parameter, uniform in :math:`\pm\sqrt{6/(3\cdot256 + M)}`, so the teacher's EMA copies
    them. Departure: a batch of B bags all use the queries of the batch's start (the official code has batch
    size 1 and updates after every bag); the B updates are then applied in bag order. Evaluation does not merge
    (official ``merge_test`` False).
    """

    def __init__(self, dim: int, *, k: int = 1, ratio: float = 0.9, momentum: float = 0.9999, heads: int = 4,
                 head_dim: int | None = None, dropout: float = 0.1):
        super().__init__()
        self.k = check_int(k, "k", low=1)
        self.ratio = check_number(ratio, "ratio", low=0.0, high=1.0, high_open=True)
        self.momentum = check_number(momentum, "momentum", low=0.0, high=1.0)
        self.heads = check_int(heads, "heads", low=1)
        self.head_dim = check_int(head_dim if head_dim is not None else max(dim // heads, 1), "head_dim", low=1)
        self.dropout = check_number(dropout, "dropout", low=0.0, high=1.0, high_open=True)
        inner = self.heads * self.head_dim
        self.norm = nn.LayerNorm(dim)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim) if not (self.heads == 1 and self.head_dim == dim) else None
        for m in (self.to_kv, self.to_q, self.to_out):  # official initialize_weights: xavier normal, zero bias
            if m is not None:
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        bound = math.sqrt(6.0 / (3 * 16 * 16 + dim))  # "VPT" init of the official code
        self.global_q = nn.Parameter(torch.empty(1, self.k, dim).uniform_(-bound, bound), requires_grad=False)

    def tokens(self, H: Tensor, members: Tensor) -> Tensor:
        """The ``k`` merged tokens ``[B, k, M]`` of the instances ``members[B, N]`` (official ``MCA``)."""
        B, N, _ = H.shape
        h, d = self.heads, self.head_dim
        k_, v = self.to_kv(self.norm(H)).chunk(2, dim=-1)
        k_, v = (t.view(B, N, h, d).transpose(1, 2) for t in (k_, v))  # [B, h, N, d]
        q = self.global_q.to(H.dtype).clone()  # a copy: the EMA updates the queries in place after this
        q = self.to_q(self.norm(q)).view(1, self.k, h, d).transpose(1, 2)  # [1, h, k, d]
        dots = (q @ k_.transpose(-1, -2)) * d ** -0.5  # [B, h, k, N]
        attn = torch.softmax(dots.masked_fill(~members[:, None, None, :], float("-inf")), dim=-1)
        attn = torch.where(members.any(-1)[:, None, None, None], attn, 0.0)  # a bag with nothing to merge
        attn = F.dropout(attn, self.dropout, self.training)
        out = (attn @ v).transpose(1, 2).reshape(B, self.k, h * d)
        if self.to_out is not None:
            out = F.dropout(self.to_out(out), self.dropout, self.training)
        return out

    def split(self, mask: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(keep, merged)`` masks: per bag, ``int(L * ratio)`` of its L instances kept, in the order of
        ``argsort(rand(L))`` (official ``masking``), the rest merged."""
        keep, merged = torch.zeros_like(mask), torch.zeros_like(mask)
        for b in range(mask.shape[0]):
            real = mask[b].nonzero().flatten()
            L = len(real)
            order = real[torch.rand(L, generator=generator).argsort().to(real.device)]
            n_keep = int(L * self.ratio)
            keep[b, order[:n_keep]], merged[b, order[n_keep:]] = True, True
        return keep, merged

    @torch.no_grad()
    def update_queries(self, z: Tensor) -> None:
        r"""The queries' EMA over the bags of a batch in order, in closed form:
        :math:`q \leftarrow m^B q + \sum_j (1-m) m^{B-1-j} z_j`."""
        m, B = self.momentum, z.shape[0]
        powers = m ** torch.arange(B - 1, -1, -1, dtype=z.dtype, device=z.device)
        new = m ** B * self.global_q + ((1 - m) * powers[:, None, None] * z.detach()).sum(0, keepdim=True)
        self.global_q.copy_(new.to(self.global_q.dtype))

    def forward(self, H: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        keep, merged = self.split(mask, generator)
        z = self.tokens(H, merged)
        if self.training and self.momentum < 1:
            self.update_queries(z)
        ones = torch.ones(mask.shape[0], self.k, dtype=torch.bool, device=mask.device)
        return torch.cat([H, z], dim=1), torch.cat([keep, ones], dim=1)


class MHIMModel(MILModel):
    r"""An attention-MIL model (:class:`workbench.models.MILModel`) with MHIM-MIL v2's instance merging between
    the encoder and the pooling, in training mode only: the student of MHIM-MIL v2 (``--merge_enable``).

    ``merge_k``, ``merge_ratio``, ``merge_momentum``, ``merge_heads``, ``merge_dropout``: the
    :class:`InstanceMerge` (digit-scale defaults: 1 token, keep 0.9, momentum 0.9999 as the README recipe,
    4 heads of ``embedding_dim / 4``). Evaluation mode is exactly the plain model (no merging), so the
    standard-MIL tests and permutation/padding invariance of :class:`MILModel` hold at test time. In training,
    the output holds the ``merge_k`` tokens after the N instances (``mask``, ``instance_scores`` are
    ``[B, N + k]``).
    """

    def __init__(self, in_features: int, pooling: str = "attention", *, embedding_dim: int = 32,
                 hidden: Sequence[int] = (64,), merge_k: int = 1, merge_ratio: float = 0.9,
                 merge_momentum: float = 0.9999, merge_heads: int = 4, merge_dropout: float = 0.1,
                 seed: int | None = None, **kwargs):
        super().__init__(in_features, pooling, embedding_dim=embedding_dim, hidden=hidden, seed=seed, **kwargs)
        with seeded(None if seed is None else seed + 1):
            self.merge = InstanceMerge(self.encoder.embedding_dim, k=merge_k, ratio=merge_ratio,
                                       momentum=merge_momentum, heads=merge_heads, dropout=merge_dropout)

    def pool(self, H: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> MILOutput:
        if self.training:
            H, mask = self.merge(H, mask, generator)
        return super().pool(H, mask, generator)
