"""``gather=True`` under torch.distributed: 2 CPU processes (gloo), each holding a shard of the batch, give the
single-process loss of the concatenated batch, and gradients that DDP's averaging turns into the single-process
gradient (the gather's backward sums over ranks: each rank's rows get world_size x their single-process gradient;
see workbench/losses/distributed.py). The expected values come from the same losses run in ONE process on the
whole batch with ``gather=False``, an independent path (no gather, no rectangular [n, N] logits, no combine)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from workbench import losses

WORLD = 2
# (loss, constructor kwargs, input kind, rows held by rank 0 out of the batch): the uneven splits check that ranks
# may hold different numbers of rows; "sum"/"none" check the other reductions.
CASES = [
    ("ntxent", {}, "views", 3),
    ("ntxent", {"reduction": "sum"}, "views", 3),
    ("ntxent", {"reduction": "none"}, "views", 3),
    ("ntxent", {}, "views+labels", 4),  # supervised: the ranks hold different numbers of positive pairs
    ("ntxent", {}, "views", 4),          # uneven: 4 + 2 instances
    ("hard_contrastive", {"k": 3}, "views", 3),
    ("supcon", {}, "views+labels", 3),
    ("supcon", {}, "views", 2),
    ("supcon", {"reduction": "sum"}, "views+labels", 3),
    ("dhel", {}, "views", 3),
    ("mv_infonce", {}, "views3", 3),
    ("mv_dhel", {}, "views3", 3),
    ("align_uniform", {}, "views", 3),
    ("clip", {}, "pair", 3),
    ("cwcl", {}, "pair", 4),
]


def inputs(kind: str) -> tuple:
    """The whole batch (6 instances, float64), the same in every process."""
    gen = torch.Generator().manual_seed(7)
    if kind == "pair":
        return torch.randn(6, 5, generator=gen, dtype=torch.float64), torch.randn(6, 5, generator=gen,
                                                                                   dtype=torch.float64)
    views = torch.randn(6, 3 if kind == "views3" else 2, 5, generator=gen, dtype=torch.float64)
    if kind == "views+labels":
        return views, torch.tensor([0, 1, 0, 2, 1, 0])
    return (views,)


def shard(tensors: tuple, rank: int, first: int) -> tuple:
    return tuple(t[:first] if rank == 0 else t[first:] for t in tensors)


def _worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    results = []
    for name, kwargs, kind, first in CASES:
        loss = losses.get(name, gather=True, **kwargs)
        local = list(shard(inputs(kind), rank, first))
        floats = [t.requires_grad_() for t in local if t.is_floating_point()]
        value = loss(*local)
        value.sum().backward()  # "none": the sum of this rank's own values
        results.append((value.detach(), [t.grad for t in floats]))
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gathered(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ranks"))
    mp.spawn(_worker, args=(_free_port(), out), nprocs=WORLD, join=True)
    return [torch.load(os.path.join(out, f"rank{r}.pt")) for r in range(WORLD)]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{c[0]}-{c[2]}-{c[1]}" for c in CASES])
def test_gather_gives_the_single_process_loss_of_the_whole_batch(gathered, case):
    name, kwargs, kind, first = CASES[case]
    whole = [t.clone() for t in inputs(kind)]
    floats = [t.requires_grad_() for t in whole if t.is_floating_point()]
    expected = losses.get(name, **kwargs)(*whole)
    rows_per_unit = 1
    if kwargs.get("reduction") == "none":
        # Per-anchor losses return this rank's anchors' rows [n, N]: rank 0 holds the first `first` instances.
        rows_per_unit = whole[0].shape[1]
    expected.sum().backward()
    for rank, results in enumerate(gathered):
        value, grads = results[case]
        if kwargs.get("reduction") == "none":
            cut = first * rows_per_unit
            own = expected[:cut] if rank == 0 else expected[cut:]
            torch.testing.assert_close(value, own.detach())
        else:
            torch.testing.assert_close(value, expected.detach())  # the same value on every rank
        # The summed all-gather backward gives WORLD x the gradient of the combined loss, which DDP's average over
        # WORLD ranks divides out; with "none" each rank differentiates only its own values, so the sum over ranks
        # is already the gradient of the whole batch's values.
        factor = 1 if kwargs.get("reduction") == "none" else WORLD
        for grad, full in zip(grads, floats):
            own = full.grad[:first] if rank == 0 else full.grad[first:]
            torch.testing.assert_close(grad / factor, own)


def test_gather_needs_a_bool():
    with pytest.raises(ValueError, match="gather must be a bool"):
        losses.get("ntxent", gather=1)


def test_gather_without_a_process_group_is_the_plain_loss():
    (views,) = inputs("views")
    assert losses.get("ntxent", gather=True)(views) == losses.get("ntxent")(views)
