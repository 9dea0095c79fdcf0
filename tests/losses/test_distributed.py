"""``gather=True`` under torch.distributed: 2 CPU processes (gloo), each holding a shard of the batch, give the
single-process loss of the concatenated batch, and gradients that DDP's averaging turns into the single-process
gradient (the gather's backward sums over ranks: each rank's rows get world_size x their single-process gradient;
see workbench/losses/distributed.py). The expected values come from the same losses run in ONE process on the
whole batch with ``gather=False``, an independent path (no gather, no rectangular [n, N] logits, no combine).
The loss's own parameters (SigLIP's t and b, CLIP's learned temperature, AMCL's φ) get, averaged over the ranks as
DDP does, the single-process gradient; its buffers (iSogCLR's per-sample state) end equal to the single-process
ones on every rank. All cases run in one pool of 2 processes per module (one spawn: ~17 s of CPU, mostly imports)."""

from __future__ import annotations

import inspect
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import make_inputs

from workbench import kinds, losses

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
    ("clip", {"learn_temperature": True}, "pair", 4),  # a learned temperature: its DDP-averaged gradient
    # own anchors: this rank's anchors against every rank's candidates
    ("siglip", {}, "pair", 4),
    ("siglip", {"reduction": "none"}, "pair", 3),
    ("decoupled_softmax", {}, "pair+relevance", 3),
    ("decoupled_softmax", {"reduction": "sum"}, "pair", 4),
    ("rank_n_contrast", {}, "regression", 3),
    ("rank_n_contrast", {"reduction": "none"}, "regression", 4),
    # the whole gathered batch on every rank
    ("dcl", {}, "views", 3),
    ("dcl", {"reduction": "none"}, "views", 4),
    ("dclw", {}, "views", 4),
    ("barlow_twins", {}, "views", 4),
    ("vicreg", {}, "views", 3),
    ("groco", {"topk_neg": 3}, "views3", 3),
    ("sbcl", {}, "views+labels", 3),
    ("sbcl", {}, "views+subclasses", 4),
    ("sms", {}, "pair+relevance", 3),
    ("contrastive", {}, "embeddings", 3),
    ("contrastive", {"reduction": "none"}, "embeddings", 4),
    ("triplet", {}, "embeddings", 3),
    ("triplet", {"mining": "hardest"}, "embeddings", 4),
    ("multi_similarity", {}, "embeddings", 3),
    ("circle", {}, "embeddings", 3),
    ("npairs", {}, "embeddings", 4),
    ("lifted_structure", {}, "embeddings", 3),
    ("generalized_lifted_structure", {}, "embeddings", 3),
    ("binomial_deviance", {}, "embeddings", 3),
    ("opl", {}, "embeddings", 3),
    ("isogclr", {}, "views", 3),
    ("isogclr", {"reduction": "none"}, "views+index", 4),  # the per-sample state of the whole batch on every rank
    ("amcl", {"num_heads": 1}, "views+labels", 3),  # φ starts equal everywhere: build() seeds it
    ("supremix", {"generator": 0}, "regression", 3),  # the same draws on every rank: a generator seeded alike
    ("metrix", {"generator": 0}, "embeddings", 4),
    ("proxy_anchor", {"num_classes": 3, "embedding_dim": 5}, "embeddings", 3),  # the proxies: build() seeds them
    # the partners drawn from a generator seeded alike; the gate and the classifier seeded by build()
    ("simlap", {"num_classes": 3, "embedding_dim": 5, "label_dim": 4, "hidden_dim": 6, "generator": 0}, "embeddings",
     4),
]
# The losses that compute only this rank's anchors (their "none" returns this rank's values; see distributed.py).
OWN_ANCHORS = {"ntxent", "hard_contrastive", "supcon", "siglip", "decoupled_softmax", "rank_n_contrast"}
# How many leading inputs are embeddings (differentiated); the rest are labels, targets, relevance.
EMBEDDINGS = {"pair": 2, "pair+relevance": 2}


def inputs(kind: str) -> tuple:
    """The whole batch (6 instances, float64), the same in every process."""
    gen = torch.Generator().manual_seed(7)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    if kind.startswith("pair"):
        x, y = torch.randn(6, 5, generator=gen, dtype=torch.float64), torch.randn(6, 5, generator=gen,
                                                                                  dtype=torch.float64)
        if kind == "pair":
            return x, y
        # graded relevance in steps of 1/240 (SMS's storage), a few partly relevant pairs; rank r holds its x rows
        relevance = (torch.rand(6, 6, generator=gen) < 0.3) * torch.randint(1, 240, (6, 6), generator=gen) / 240
        return x, y, relevance.fill_diagonal_(1.0).to(torch.float64)
    if kind == "embeddings":
        return torch.randn(6, 5, generator=gen, dtype=torch.float64), labels
    if kind == "regression":
        return torch.randn(6, 5, generator=gen, dtype=torch.float64), torch.tensor([0.5, 2.0, 1.0, 0.5, 3.0, 1.5],
                                                                                   dtype=torch.float64)
    views = torch.randn(6, 3 if kind.startswith("views3") else 2, 5, generator=gen, dtype=torch.float64)
    if kind == "views+labels":
        return views, labels
    if kind == "views+subclasses":  # SBCL: two subclasses of class 0
        return views, labels, torch.tensor([0, 1, 3, 2, 1, 0])
    if kind == "views+index":  # iSogCLR's sample ids: the per-sample temperatures and moving averages
        return views, None, torch.tensor([4, 9, 0, 7, 2, 5])
    return (views,)


def shard(tensors: tuple, rank: int, first: int) -> tuple:
    return tuple(None if t is None else t[:first] if rank == 0 else t[first:] for t in tensors)


def build(name: str, kwargs: dict, **extra) -> torch.nn.Module:
    """The loss, its random parts seeded alike in every process: ``generator`` (a seed here) becomes a generator,
    and the global seed fixes parameters drawn at construction or at the first call (AMCL's φ)."""
    kwargs = dict(kwargs)
    if "generator" in kwargs:
        kwargs["generator"] = torch.Generator().manual_seed(kwargs["generator"])
    torch.manual_seed(0)
    return losses.get(name, **kwargs, **extra)


def _worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    results = []
    for name, kwargs, kind, first in CASES:
        loss = build(name, kwargs, gather=True)
        local = list(shard(inputs(kind), rank, first))
        floats = [t.requires_grad_() for t in local[:EMBEDDINGS.get(kind, 1)]]
        value = loss(*local)
        value.sum().backward()  # "none": the sum of this rank's values
        state = {k: b.clone() for k, b in loss.named_buffers()}  # iSogCLR's per-sample state after the step
        params = {k: p.grad for k, p in loss.named_parameters()}  # SigLIP's t and b, AMCL's φ
        results.append((value.detach(), [t.grad for t in floats], state, params))
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
    whole = [None if t is None else t.clone() for t in inputs(kind)]
    floats = [t.requires_grad_() for t in whole[:EMBEDDINGS.get(kind, 1)]]
    single = build(name, kwargs)
    expected = single(*whole)
    expected.sum().backward()
    own = kwargs.get("reduction") == "none" and name in OWN_ANCHORS
    for rank, results in enumerate(gathered):
        value, grads, state, _ = results[case]
        if own:
            # Per-anchor losses return this rank's anchors' values: rank 0 holds the first `first` instances, whose
            # views are the first `first * V` rows (the rows of the per-pair matrix for NT-Xent).
            cut = first * (whole[0].shape[1] if whole[0].dim() == 3 else 1)
            torch.testing.assert_close(value, (expected[:cut] if rank == 0 else expected[cut:]).detach())
        else:
            torch.testing.assert_close(value, expected.detach())  # the same value on every rank
        # The summed all-gather backward gives WORLD x the gradient of the combined loss (of the whole batch's
        # values, for whole-batch "none"), which DDP's average over WORLD ranks divides out; with own-anchor
        # "none" each rank differentiates only its own values, so the sum over ranks is already the gradient of
        # the whole batch's values.
        factor = 1 if own else WORLD
        for grad, full in zip(grads, floats):
            mine = full.grad[:first] if rank == 0 else full.grad[first:]
            torch.testing.assert_close(grad / factor, mine)
        # Buffers (iSogCLR's per-sample τ, u, momentum): every rank holds the single-process state of the whole batch.
        assert state.keys() == dict(single.named_buffers()).keys()
        for key, buffer in single.named_buffers():
            torch.testing.assert_close(state[key], buffer)
    # The loss's own parameters: DDP averages their gradients over the ranks, which must give the single-process
    # gradient (own-anchor "none": each rank differentiates its own values, so their sum).
    for key, param in single.named_parameters():
        ranks = [results[case][3][key] for results in gathered]
        torch.testing.assert_close(sum(ranks) / (1 if own else WORLD), param.grad)


GATHERING = sorted({case[0] for case in CASES})


def test_every_loss_with_gather_is_tested_under_two_processes():
    takes_gather = [n for n in losses.available() if "gather" in inspect.signature(losses.info(n).cls).parameters]
    assert sorted(takes_gather) == GATHERING
    # and says which semantics it follows (own anchors or the whole batch) and how that relates to its official code
    assert [n for n in takes_gather if "``gather=True``" not in losses.info(n).cls.__doc__] == []


@pytest.mark.parametrize("name", GATHERING)
@pytest.mark.parametrize("bad", [1, None, "yes"])
def test_gather_needs_a_bool(name, bad):
    with pytest.raises(ValueError, match=r"gather \(use every process's negatives .*\) must be True or False"):
        losses.get(name, gather=bad, **kinds.get(losses.info(name).kind).loss_args(classes=3, dim=4))


@pytest.mark.parametrize("name", GATHERING)
def test_gather_without_a_process_group_is_the_plain_loss(name):
    _, args = make_inputs(name)  # its defaults: 3 classes in 4 dimensions
    sizes = kinds.get(losses.info(name).kind).loss_args(classes=3, dim=4)  # a margin head's num_classes, ...
    plain = build(name, sizes)(*args)  # each built and called right after the same seed: the same random draws
    torch.testing.assert_close(build(name, sizes, gather=True)(*args), plain, rtol=0, atol=0)
