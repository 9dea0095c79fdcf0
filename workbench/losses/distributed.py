"""Negatives from every process: the ``gather=True`` of the contrastive losses under ``torch.distributed``.

With data parallelism each process holds a shard of the batch; a contrastive loss that draws its negatives from
the batch then sees only the shard's. ``gather=True`` concatenates the embeddings (and labels) of every rank so
that the loss is the one of the whole batch. The contract, for every loss that takes ``gather``:

* value: every rank returns the single-process loss of the concatenated batch (rank order), for
  ``reduction="mean"`` and ``"sum"``; ``"none"`` returns the values of this rank's own units (anchors, pairs or
  instances, in the order of its shard) where the loss computes per anchor, the whole batch's otherwise.
* gradient: the gather's backward SUMS the gradient over ranks (an all-reduce), so the gradient reaching this
  rank's embeddings is ``world_size`` times the single-process gradient of its rows. DistributedDataParallel
  AVERAGES parameter gradients over ranks, which divides that factor out: the model's gradient is the
  single-process gradient on the concatenated batch. (Without DDP, divide by ``world_size`` yourself.)
  This is the convention of lightly's and solo-learn's ``GatherLayer``. With a per-anchor loss's
  ``reduction="none"`` nothing is scaled: the gradient of this rank's values reaches every rank's rows, summed
  over ranks (a whole-batch loss's ``"none"`` returns the whole batch's values on every rank: scaled as above).
* the loss's own parameters (learned temperatures, SigLIP's bias, proxies, AMCL's φ) get, averaged over ranks as
  DDP does, their single-process gradient; they must start equal on every rank. Its buffers (iSogCLR's
  per-sample state) are updated alike on every rank. Random draws (SupReMix, Metrix) agree across ranks only
  with a ``generator`` seeded alike on every rank.

Two semantics. *Own anchors*: the losses computed per anchor (NT-Xent, the hard contrastive loss, SupCon, SigLIP,
DEXML's decoupled softmax, Rank-N-Contrast) compute only this rank's anchors against all candidates (``[n, N]``
logits instead of ``[N, N]``) and :func:`combine` the ranks' sums. *Whole batch* (:func:`whole_batch`): the others
compute the whole gathered batch on every rank (the same numbers everywhere), either because a term couples
the whole batch (batch statistics, per-proxy or per-feature sums, a softmax over all positives, mining) or as
pytorch-metric-learning's ``DistributedLossWrapper`` does by default for the pair losses. Every rank must call
the loss and ``backward()`` (both communicate), with the same optional inputs (labels, index, relevance).
Without an initialised process group, or with one process, ``gather=True`` changes nothing.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from .._checks import check_flag


def check_gather(gather) -> bool:
    """``gather`` as a real bool (``_checks.check_flag``: 0, 1, None or "yes" are refused)."""
    return check_flag(gather, "gather (use every process's negatives under torch.distributed)")


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group; ``(0, 1)`` when there is none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def active(gather: bool) -> bool:
    """Whether ``gather=True`` has other processes to gather from."""
    return gather and world()[1] > 1


class _AllGather(torch.autograd.Function):
    """All ranks' ``x`` concatenated along dim 0; backward: all-reduce (sum) the gradient, keep this rank's rows."""

    @staticmethod
    def forward(ctx, x, sizes, rank):
        ctx.sizes, ctx.rank = sizes, rank
        longest = max(sizes)
        padded = x.new_zeros((longest, *x.shape[1:]))  # all_gather needs one shape on every rank
        padded[: len(x)] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every rank's loss depends on these rows: sum their gradients
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


def gather_rows(x: Tensor) -> tuple[Tensor, int]:
    """``(all ranks' x concatenated along dim 0, the index of this rank's first row in it)``.

    Gradient-preserving when ``x`` requires grad (see the module docstring for the scaling); ranks may hold
    different numbers of rows, the other dimensions must agree. The identity ``(x, 0)`` without other ranks.
    """
    rank, size = world()
    if size == 1:
        return x, 0
    counts = torch.tensor([len(x)], device=x.device)
    all_counts = [torch.empty_like(counts) for _ in range(size)]
    dist.all_gather(all_counts, counts)
    sizes = [int(c) for c in all_counts]
    start = sum(sizes[:rank])
    if x.requires_grad:
        return _AllGather.apply(x, sizes, rank), start
    with torch.no_grad():
        return _AllGather.apply(x, sizes, rank), start


def gather_batch(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """Every tensor gathered along dim 0 (labels, indices and embeddings alike); None stays None."""
    return tuple(None if t is None else gather_rows(t)[0] for t in tensors)


def whole_batch(gather: bool, *tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """The whole-batch semantics: with ``gather`` active, every tensor replaced by every rank's rows concatenated
    (rank order; None stays None), so that each rank computes the loss of the whole batch; the tensors as given
    otherwise. Validate the local inputs first: a rank that raises leaves the others waiting in the gather."""
    return gather_batch(*tensors) if active(gather) else tensors


def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum over ranks of a tensor that carries no gradient (counts, detached values)."""
    x = x.detach().clone()
    if world()[1] > 1:
        dist.all_reduce(x)
    return x


def combine(total: Tensor, count: int | None = None) -> Tensor:
    """The whole batch's loss from this rank's part of it.

    ``total`` is the sum of this rank's terms; with ``count`` (its number of terms) the result is the mean over
    every rank's terms, else their sum. The value is the same on every rank; the gradient is ``world_size`` x
    this rank's share, so that after the gather's summed backward and DDP's averaging the model's gradient is
    the single-process one (module docstring).
    """
    _, size = world()
    if count is not None:
        n = all_reduce_sum(torch.tensor(float(count), dtype=total.dtype, device=total.device))
        total = total / n.clamp(min=1)
    scaled = total * size
    return scaled + (all_reduce_sum(total) - scaled.detach())
