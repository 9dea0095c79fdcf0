"""Models for the hard-instance MIL methods: MHIM-MIL's hard-instance masking and EMA teacher, and INS's
instance classifier with a projection head (MIL pooling itself lives in :mod:`workbench.models.mil`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_number
from .encoders import MLP, seeded
from .mil import MILOutput


def hard_instance_mask(scores: Tensor, mask: Tensor, *, high: float = 0.1, high_random: float = 0.5,
                       random: float = 0.0, low: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
    r"""MHIM-MIL's masked hard instance mining: which instances the student still sees, ``[B, N]`` bool.

    Per bag of n real instances ranked by the teacher's ``scores`` (attention), as ``get_mask`` /
    ``select_mask_fn`` in DearCaat/MHIM-MIL (v1 ``modules/mhim*.py``):

    - ``high`` (``mask_ratio_h``): take the top :math:`\lceil n\,h / h_r \rceil` instances and mask a random
      :math:`\lceil \cdot\,h_r \rceil` of them (``high_random`` = ``mask_ratio_hr``), about :math:`n h`
      masked: the most salient, easiest instances are hidden, so the student must use the harder ones.
      When :math:`h / h_r > 1`, :math:`\lceil n h \rceil` random instances among all (as the official code).
    - ``random`` (``mask_ratio``): :math:`\lceil n\,r \rceil` instances masked uniformly at random.
    - ``low`` (``mask_ratio_l``): the :math:`\lceil n\,l \rceil` lowest-score instances.

    The union is masked; a ratio of 0 masks nothing, any ratio > 0 masks at least one instance. Departure
    (the spec's edge case): at least one instance always stays, the lowest-scored of the masked ones, so a bag
    is never empty. Padding (``mask`` False) is never chosen and stays False.
    """
    for value, name in ((high, "high"), (random, "random"), (low, "low")):
        check_number(value, name, low=0.0, high=1.0)
    check_number(high_random, "high_random", low=0.0, high=1.0, low_open=True)
    if scores.shape != mask.shape or scores.dim() != 2:
        raise ValueError(f"scores and mask must both be [B, N], got {tuple(scores.shape)}, {tuple(mask.shape)}")
    keep = mask.clone()
    device = scores.device
    for b in range(scores.shape[0]):
        real = mask[b].nonzero().flatten()
        n = len(real)
        s = scores[b, real].detach()
        drop = torch.zeros(n, dtype=torch.bool, device=device)

        def rand(k: int, among: int) -> Tensor:  # k random positions among the first `among` of a list
            return torch.randperm(among, generator=generator)[:k].to(device)

        if random > 0:
            drop[rand(math.ceil(n * random), n)] = True
        if low > 0:
            drop[s.topk(math.ceil(n * low), largest=False).indices] = True
        if high > 0:
            ratio, chance = high / high_random, high_random
            if ratio > 1:
                ratio, chance = 1.0, high
            top = s.topk(min(n, math.ceil(n * ratio))).indices
            drop[top[rand(math.ceil(len(top) * chance), len(top))]] = True
        if drop.all():
            drop[s.argmin()] = False
        keep[b, real[drop]] = False
    return keep


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    r""":math:`\theta_t \leftarrow m\,\theta_t + (1 - m)\,\theta_s` for every parameter (buffers copied), the
    update MHIM-MIL (and MoCo, INS's key encoder) applies after each optimiser step."""
    check_number(momentum, "momentum", low=0.0, high=1.0)
    for pt, ps in zip(teacher.parameters(), student.parameters()):
        pt.mul_(momentum).add_(ps.detach(), alpha=1 - momentum)
    for bt, bs in zip(teacher.buffers(), student.buffers()):
        bt.copy_(bs)


class INSModel(nn.Module):
    r"""INS (Qu et al.): an instance classifier, with a projection head for the instance contrastive loss.

    An MLP encoder embeds every instance; ``classifier`` gives two logits per instance (negative, positive)
    and ``projector`` an L2-normalised ``projection_dim`` vector for :func:`workbench.losses.ins_contrastive`.
    The bag score aggregates the instances' positive probabilities :math:`p_i`: ``bag_score="mean"`` (the
    official evaluation's main score, ``output_res``) or ``"max"`` (also logged there; the one that respects
    the standard MIL assumption). ``forward(x, mask=None)`` returns a :class:`MILOutput` whose ``logits`` are
    ``logit(bag score)`` and whose ``instance_scores`` are :math:`p_i` (no attention).
    ``instances(x) -> (logits[R, 2], projections[R, projection_dim])`` for flat instances.
    """

    def __init__(self, in_features: int, *, embedding_dim: int = 32, hidden: Sequence[int] = (64,),
                 projection_dim: int = 16, bag_score: str = "mean", seed: int | None = None):
        super().__init__()
        self.bag_score = check_choice(bag_score, "bag_score", ("mean", "max"))
        self.num_classes, self.pooling = 1, "instance"
        with seeded(seed):
            self.encoder = MLP(in_features, embedding_dim, hidden)
            self.classifier = nn.Linear(embedding_dim, 2)
            self.projector = nn.Linear(embedding_dim, projection_dim)

    def instances(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)
        return self.classifier(h), F.normalize(self.projector(h), dim=-1)

    def forward(self, x: Tensor, mask: Tensor | None = None, generator: torch.Generator | None = None) -> MILOutput:
        if x.dim() == 2:
            x, mask = x[None], None if mask is None else mask[None]
        B, N = x.shape[:2]
        mask = torch.ones(B, N, dtype=torch.bool, device=x.device) if mask is None else mask
        if mask.shape != (B, N) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape [B, N] = [{B}, {N}], got {mask.dtype} "
                             f"{tuple(mask.shape)}")
        p = self.classifier(self.encoder(x.flatten(0, 1))).softmax(-1)[:, 1].view(B, N)
        if self.bag_score == "mean":
            bag = (p * mask).sum(1) / mask.sum(1)
        else:
            bag = p.masked_fill(~mask, 0.0).max(1).values
        return MILOutput(torch.logit(bag, eps=1e-6), None, None, p.masked_fill(~mask, float("-inf")), None, mask)
