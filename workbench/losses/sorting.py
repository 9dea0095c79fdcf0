"""GroCo, "Learning by Sorting: Self-supervised Learning with Group Ordering Constraints" (Shvetsova, Petersen,
Kukleva, Schiele, Kuehne; ICCV 2023): a views loss that asks a differentiable sorting network to rank every
positive above the hardest negatives, with a loss on the group (positive block / negative block) only.

Written from the official code, ninatu/learning_by_sorting ``learning_by_sorting/losses/groco.py`` (commit
108f501), and the sorting network it calls, Felix-Petersen/diffsort (``networks.odd_even_network``,
``functional.execute_sort`` with the ``cauchy`` distribution, commit 6d583c7).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import POSITIVE, POSITIVE_INT, check_flag
from . import distributed
from .multiview import _self_supervised_rows, instance_views
from .registry import Paper, Param, register
from .similarity import check_similarity, vector_norm


def soft_sort_permutation(values: Tensor, steepness: float = 1.0) -> Tensor:
    r"""The relaxed permutation ``P[B, n, n]`` of diffsort's odd-even sorting network with the Cauchy
    interpolation (Petersen et al. 2022): n layers of neighbour comparators, alternately on pairs (0, 1), (2, 3),
    ... and (1, 2), (3, 4), ...; a comparator mixes its two wires with :math:`\alpha = \arctan(s(b - a))/\pi + 1/2`
    (min = αa + (1-α)b, max = (1-α)a + αb) and P records where each input goes. ``P[b, i, r]`` ≈ probability
    that input i lands at rank r (ascending); rows and columns sum to 1."""
    b, n = values.shape
    x = values
    perm = torch.eye(n, dtype=values.dtype, device=values.device).expand(b, n, n)
    for layer in range(n):
        lo = torch.arange(layer % 2, n - 1, 2, device=values.device)
        if len(lo) == 0:
            continue
        hi = lo + 1
        xa, xb = x[:, lo], x[:, hi]
        alpha = torch.atan(steepness * (xb - xa)) / math.pi + 0.5
        x = x.index_copy(1, lo, alpha * xa + (1 - alpha) * xb).index_copy(1, hi, (1 - alpha) * xa + alpha * xb)
        pa, pb, w = perm[:, :, lo], perm[:, :, hi], alpha[:, None, :]
        perm = perm.index_copy(2, lo, w * pa + (1 - w) * pb).index_copy(2, hi, (1 - w) * pa + w * pb)
    return perm


@register(
    "groco", family="contrastive", kind="views", reduces_over="batch",
    paper=Paper("Learning by Sorting: Self-supervised Learning with Group Ordering Constraints", 2023,
                "Shvetsova, Petersen, Kukleva, Schiele, Kuehne"),
    formula=r"L = \tfrac12\big(\mathrm{BCE}(\textstyle\sum_{r\geq k} P_{ir}, [i \geq k]) + "
            r"\mathrm{BCE}(\sum_{r<k} P_{ir}, [i < k])\big),\; P = \mathrm{diffsort}"
            r"([\text{top-}k\ s^-\uparrow \,\|\, s^+\uparrow])",
    params={"topk_neg": Param(10, 1, 32, "k, the hardest negatives each anchor is sorted against",
                              valid=POSITIVE_INT),
            "steepness": Param(1.0, 0.25, 16.0, "steepness of the sorting network's Cauchy comparator", log=True,
                               valid=POSITIVE),
            "stop_grad": Param(True, doc="detach the positives and negatives (only the anchor is trained)")},
)
class GroCo(nn.Module):
    r"""GroCo (Shvetsova et al., ICCV 2023), as the official code computes it.

    For every view a of every instance i (the anchor), the scores are cosine similarities: to the instance's
    other views (the positives, n_pos = V - 1 of them) and to view a of the other instances (the negatives), of
    which the k = ``topk_neg`` largest are kept. Each list is sorted ascending and concatenated,
    ``[negatives ‖ positives]``, so the right order is the identity. A differentiable odd-even sorting network
    (:func:`soft_sort_permutation`, Cauchy comparator, ``steepness``) gives the relaxed permutation P, and only
    the groups are supervised: :math:`p^+_j = \sum_{r \geq k} P_{jr}` (input j lands in the positive block)
    with target [j >= k], :math:`p^-_j = \sum_{r<k} P_{jr}` with target [j < k],

    .. math:: L = \tfrac12\big(\mathrm{BCE}(p^+, t^+) + \mathrm{BCE}(p^-, t^-)\big)

    each BCE a mean over the batch and the k + n_pos inputs (torch's BCE, log clamped at -100), averaged over the
    V anchor views. Defaults from the official class and ``configs/2views_100ep.yaml``: k = 10, steepness 1,
    ``stop_grad=True`` (the positive and negative embeddings are detached: only the anchor receives gradient;
    the cosines use eps 1e-8 as the official ``CosineSimilarity``), art_lambda 0.25 is not used by the Cauchy
    comparator. Any V >= 2 views (the official multicrop variant, where only some views are positives, is not
    offered). Self-supervised (``labels`` None).

    Departure: the official code needs B - 1 >= k (with fewer negatives, -inf scores enter the sorter and give
    NaN); here k is capped at B - 1, so small batches sort against every other instance. Identical for
    B > k. ``from_similarity`` computes the loss from the cosine matrix of the rows (the stop-gradient acts on
    embeddings, not on S). In float32 internally for half precision (the official code computes in float32).

    ``gather=True``: under torch.distributed, every rank's views are gathered and every rank computes the loss of
    the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`): each anchor's top-k
    negatives are then chosen among every rank's instances. (We did not check whether the official code gathers.)

    Reduction: no ``reduction``; one value for the batch (BCE means over anchors and ranks).
    """

    self_supervised = True

    def __init__(self, topk_neg: int = 10, steepness: float = 1.0, stop_grad: bool = True, gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.topk_neg = POSITIVE_INT.check(topk_neg, "topk_neg")
        self.steepness = POSITIVE.check(steepness, "steepness")
        self.stop_grad = check_flag(stop_grad, "stop_grad")

    def _anchor_loss(self, positives: Tensor, negatives: Tensor) -> Tensor:
        """``positives[B, P]`` and ``negatives[B, B]`` (-inf on each anchor itself) for one anchor view."""
        k = min(self.topk_neg, negatives.shape[1] - 1)
        neg = torch.topk(negatives, k, dim=1).values.flip(1)  # the k hardest, ascending
        scores = torch.cat([neg, torch.sort(positives, dim=1).values], dim=1)
        perm = soft_sort_permutation(scores, self.steepness)
        n = scores.shape[1]
        target = (torch.arange(n, device=scores.device) >= k).to(scores.dtype).expand(len(scores), n)
        p_pos = perm[:, :, k:].sum(2).clamp(0, 1)
        p_neg = perm[:, :, :k].sum(2).clamp(0, 1)
        bce = nn.functional.binary_cross_entropy
        return (bce(p_pos, target) + bce(p_neg, 1 - target)) / 2

    def _check_batch(self, b: int) -> None:
        if b < 2:
            raise ValueError(f"views must hold B >= 2 instances for groco (each anchor needs a negative), got B={b}")

    def _loss(self, sim_to: callable, v: int, b: int, dtype) -> Tensor:
        total = 0
        for a in range(v):
            pos = torch.stack([sim_to(a, p, True) for p in range(v) if p != a], dim=1)
            neg = sim_to(a, a, False).masked_fill(torch.eye(b, dtype=torch.bool, device=pos.device), -math.inf)
            total = total + self._anchor_loss(pos, neg)
        return (total / v).to(dtype)

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        _self_supervised_rows(views, labels, "groco")
        self._check_batch(views.shape[0])
        (views,) = distributed.whole_batch(self.gather, views)  # the whole gathered batch on every rank
        b, v, _ = views.shape
        z = views.float() if views.dtype in (torch.float16, torch.bfloat16) else views
        unit = z / vector_norm(z, dim=2).clamp(min=1e-8)  # the official cosine's eps; no overflow of the squares
        other = unit.detach() if self.stop_grad else unit

        def sim_to(a, p, paired):
            if paired:
                return (unit[:, a] * other[:, p]).sum(1)
            return unit[:, a] @ other[:, p].T
        return self._loss(sim_to, v, b, views.dtype)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        instance, view, v = instance_views(labels)
        b = int(instance.max()) + 1
        self._check_batch(b)
        order = torch.argsort(instance * v + view)
        s = similarity[order][:, order].view(b, v, b, v)

        def sim_to(a, p, paired):
            return s[:, a, :, p].diagonal() if paired else s[:, a, :, p]
        return self._loss(sim_to, v, b, similarity.dtype)

    def extra_repr(self) -> str:
        return f"topk_neg={self.topk_neg}, steepness={self.steepness}, stop_grad={self.stop_grad}"


__all__ = ["GroCo", "soft_sort_permutation"]
