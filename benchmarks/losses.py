"""Time Loss Lab's losses against pytorch-metric-learning (PML) and torch on the same tensors.

What is measured: the wall time of one forward + backward pass (CPU, float32) of

    contrastive  ours ``losses.get("contrastive")``  vs  PML ``ContrastiveLoss(pos_margin=0, neg_margin=1)``
    ntxent       ours ``losses.get("ntxent", temperature=T)``  vs  PML ``NTXentLoss(temperature=T)``
    supcon       ours ``losses.get("supcon", temperature=T, base_temperature=T)``  vs  PML ``SupConLoss(T)``
    multi_similarity, triplet, arcface, cosface   vs  PML's loss of the same name, conventions set to ours
                 (MS without mining; triplet over all triplets, margin 0.05; margin heads share the weights)

on the SAME tensors. B counts rows, so both sides see exactly B rows of dimension D: the contrastive
loss gets ``embeddings[B, D]`` with labels from ``--classes`` classes; NT-Xent gets ``views[B/2, 2, D]``
(ours) and the same views flattened to ``[B, D]`` with the instance id as label (PML).

The losses on logits ``cross_entropy``, ``z_loss`` and ``ldr_kl`` are timed the same way against torch's
``F.cross_entropy`` on the same ``logits[B, C]`` (``--logits-batch`` 1024, ``--logits-classes`` 10 1000); only
``cross_entropy`` must also give the same value (z_loss and ldr_kl are other losses: the ratio says what their
extra arithmetic costs). They print their own table, first.

Before timing, each pair of losses is checked to give the same value (rtol 1e-4); the values are
printed, and a mismatch makes the exit status 1 (after the timings, so the report stays complete).
Each timed repeat makes a fresh ``requires_grad_()`` leaf, runs forward and backward, and is timed
with ``time.perf_counter``; ours and PML's repeats are interleaved (the one going first alternates)
so that machine drift hits both alike. After warm-up runs the table reports the MEDIAN over ``n``
repeats: ``--repeats``, or fewer when a case uses up ``--budget`` seconds. That happens for PML's
NTXentLoss at B=1024: it builds a [positive pairs x negative pairs] matrix (1024 x ~1M here), so
one call takes tens of seconds and > 10 GB of RAM; calls that slow also skip the warm-up, which
would only cost time.

Reading the output: ``ours/PML`` = ours ms / PML ms; below 1.0 means ours is faster (target <= 1.0).
The last lines say whether every value agreed and every ratio met the target.

    python benchmarks/losses.py [--repeats 20] [--budget 60] [--threads 1] [--sizes 256] [--losses ntxent]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time
from functools import partial

import pytorch_metric_learning
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses

from workbench import losses


def time_once(fn, base: torch.Tensor, *args) -> float:
    """Seconds for one forward + backward on a fresh leaf (so no gradient accumulates across repeats)."""
    x = base.detach().requires_grad_()
    start = time.perf_counter()
    fn(x, *args).backward()
    return time.perf_counter() - start


def median_ms(timers, repeats: int, warmup: int, budget: float) -> tuple[list[float], int]:
    """Median ms of each zero-argument timer (ours, theirs), interleaved A B / B A ..., and the number
    of repeats done: timing stops once ``budget`` seconds are spent (after at least one repeat), so a
    pathologically slow loss cannot stall the whole run."""
    for _ in range(warmup):  # allocator, thread pool and dispatcher caches warm up for both
        for timer in timers:
            timer()
    times = [[] for _ in timers]
    start = time.perf_counter()
    for i in range(repeats):
        # Alternating who goes first cancels both drift and any "second runs on a warm cache" bias.
        order = range(len(timers)) if i % 2 == 0 else reversed(range(len(timers)))
        for k in order:
            times[k].append(timers[k]())
        if time.perf_counter() - start > budget:
            break
    return [1e3 * statistics.median(t) for t in times], len(times[0])


def cases(batch: int, dim: int, classes: int, temperature: float, gen: torch.Generator):
    """(name, ours, our inputs, PML loss, PML inputs) for one batch size; tensors shared by both sides."""
    embeddings = torch.randn(batch, dim, generator=gen)
    labels = torch.randint(0, classes, (batch,), generator=gen)
    yield ("contrastive", losses.get("contrastive"), (embeddings, labels),
           pml_losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0), (embeddings, labels))

    instances = batch // 2  # two views each, so both sides get exactly `batch` rows
    views = torch.randn(instances, 2, dim, generator=gen)
    row_ids = torch.arange(instances).repeat_interleave(2)  # row b*2+v belongs to instance b
    # The leaf is `views` for ours and the flattened rows for PML: same numbers, each side's own layout.
    yield ("ntxent", losses.get("ntxent", temperature=temperature), (views,),
           pml_losses.NTXentLoss(temperature=temperature), (views.reshape(-1, dim), row_ids))


# --- losses on logits against torch's F.cross_entropy (issue 3) ------------------------------------------

LOGITS_LOSSES = ("cross_entropy", "z_loss", "ldr_kl")


def logits_cases(batch: int, classes: int, gen: torch.Generator):
    """(name, ours, peer, inputs) on the same logits[B, C] and targets; the peer is always ``F.cross_entropy``
    (for z_loss and ldr_kl a speed reference only: they are different losses, so their values differ)."""
    logits = torch.randn(batch, classes, generator=gen)
    target = torch.randint(0, classes, (batch,), generator=gen)
    for name in LOGITS_LOSSES:
        yield name, losses.get(name), F.cross_entropy, (logits, target)


def run_logits(args, names) -> bool:
    """Time the logits losses at B = ``--logits-batch`` for every C in ``--logits-classes``; print a table."""
    gen = torch.Generator().manual_seed(args.seed)
    rows, agree = [], True
    for classes in args.logits_classes:
        for name, ours, peer, inputs in logits_cases(args.logits_batch, classes, gen):
            if name not in names:
                continue
            if name == "cross_entropy":  # the one that must equal torch's
                with torch.no_grad():
                    a, b = ours(*inputs).item(), peer(*inputs).item()
                ok = abs(a - b) <= 1e-6 * abs(b) + 1e-7
                agree &= ok
                print(f"check cross_entropy C={classes:<5} ours={a:.7f}  torch={b:.7f}  {'OK' if ok else 'MISMATCH'}")
            timers = [partial(time_once, ours, *inputs), partial(time_once, peer, *inputs)]
            (ours_ms, peer_ms), n = median_ms(timers, args.repeats, args.warmup, args.budget)
            rows.append((name, args.logits_batch, classes, n, ours_ms, peer_ms, ours_ms / peer_ms))
    print()
    print(f"{'loss':<14}{'B':>6}{'C':>6}{'n':>4}{'ours ms':>10}{'torch ms':>10}{'ours/torch':>12}"
          "   (peer: F.cross_entropy)")
    for name, batch, classes, n, ours_ms, peer_ms, ratio in rows:
        print(f"{name:<14}{batch:>6}{classes:>6}{n:>4}{ours_ms:>10.3f}{peer_ms:>10.3f}{ratio:>12.3f}")
    print()
    return agree


# --- contrastive family (issue 4): SupCon ---------------------------------------------------------


def supcon_cases(batch: int, dim: int, classes: int, temperature: float, gen: torch.Generator):
    """SupCon on ``views[B/2, 2, D]`` with ``classes`` labels (ours) and the same rows flattened with the
    labels repeated per view (PML ``SupConLoss``). Every anchor has a positive (its other view), so PML's
    mean over non-zero anchors and the official mean over all anchors agree."""
    instances = batch // 2
    views = torch.randn(instances, 2, dim, generator=gen)
    labels = torch.randint(0, classes, (instances,), generator=gen)
    ours = losses.get("supcon", temperature=temperature, base_temperature=temperature)
    yield ("supcon", lambda v: ours(v, labels), (views,),
           pml_losses.SupConLoss(temperature=temperature), (views.reshape(-1, dim), labels.repeat_interleave(2)))


# --- metric learning and margin heads (issue 5) ---------------------------------------------------------
METRIC_LOSSES = ["multi_similarity", "triplet", "arcface", "cosface"]


def metric_cases(batch: int, dim: int, classes: int, gen: torch.Generator):
    """multi_similarity (no mining: PML's loss without a miner), triplet (all triplets, margin 0.05: PML's
    defaults) and the arcface / cosface heads (class weights copied into PML's ``W[D, C]``; PML's ArcFace
    margin is in degrees) on the same ``embeddings[B, D]`` and labels."""
    embeddings = torch.randn(batch, dim, generator=gen)
    labels = torch.randint(0, classes, (batch,), generator=gen)
    pair = (embeddings, labels)
    yield ("multi_similarity", losses.get("multi_similarity", alpha=2.0, beta=50.0, base=0.5, epsilon=None), pair,
           pml_losses.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5), pair)
    yield ("triplet", losses.get("triplet", margin=0.05), pair, pml_losses.TripletMarginLoss(margin=0.05), pair)
    for name, theirs in (("arcface", pml_losses.ArcFaceLoss(classes, dim, margin=math.degrees(0.5), scale=64)),
                         ("cosface", pml_losses.CosFaceLoss(classes, dim, margin=0.35, scale=64))):
        ours = losses.get(name, num_classes=classes, embedding_dim=dim)
        with torch.no_grad():
            theirs.W.copy_(ours.weight.T)
        yield name, ours, pair, theirs, pair


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], help="rows per batch (B)")
    parser.add_argument("--logits-batch", type=int, default=1024, help="B for the logits losses")
    parser.add_argument("--logits-classes", type=int, nargs="+", default=[10, 1000], help="C for the logits losses")
    names = ["contrastive", "ntxent", "supcon", *METRIC_LOSSES, *LOGITS_LOSSES]
    parser.add_argument("--losses", nargs="+", choices=names, default=names, help="which comparisons to run")
    parser.add_argument("--dim", type=int, default=128, help="embedding dimension (D)")
    parser.add_argument("--classes", type=int, default=16, help="label classes for the contrastive loss")
    parser.add_argument("--temperature", type=float, default=0.5, help="NT-Xent temperature")
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats per loss (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="stop timing a case after this many seconds (at least one repeat)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, pytorch-metric-learning {pytorch_metric_learning.__version__}, "
          f"threads {torch.get_num_threads()}, float32 CPU, median of up to {args.repeats} "
          f"(warm-up {args.warmup}, budget {args.budget:g} s per case)")

    logits_names = [n for n in args.losses if n in LOGITS_LOSSES]
    logits_agree = run_logits(args, logits_names) if logits_names else True

    gen = torch.Generator().manual_seed(args.seed)
    rows, agree = [], logits_agree
    for batch in args.sizes:
        all_cases = itertools.chain(cases(batch, args.dim, args.classes, args.temperature, gen),
                                    supcon_cases(batch, args.dim, args.classes, args.temperature, gen),
                                    metric_cases(batch, args.dim, args.classes, gen))
        for name, ours, ours_in, pml, pml_in in all_cases:
            if name not in args.losses:
                continue
            start = time.perf_counter()
            with torch.no_grad():
                a, b = ours(*ours_in).item(), pml(*pml_in).item()
            # Calls of a second or more gain nothing from warm-up (it saves microseconds), only cost time.
            warmup = args.warmup if time.perf_counter() - start < 1.0 else 0
            ok = abs(a - b) <= 1e-4 * abs(b) + 1e-7  # rtol 1e-4 (the tiny atol only guards a zero loss)
            agree &= ok
            print(f"check {name:<11} B={batch:<5} ours={a:.7f}  PML={b:.7f}  "
                  f"rel.diff={abs(a - b) / max(abs(b), 1e-12):.1e}  {'OK' if ok else 'MISMATCH'}", flush=True)
            timers = [partial(time_once, ours, *ours_in), partial(time_once, pml, *pml_in)]
            (ours_ms, pml_ms), n = median_ms(timers, args.repeats, warmup, args.budget)
            rows.append((name, batch, args.dim, n, ours_ms, pml_ms, ours_ms / pml_ms))

    print()
    print(f"{'loss':<17}{'B':>6}{'D':>5}{'n':>4}{'ours ms':>10}{'PML ms':>12}{'ours/PML':>10}")
    for name, batch, dim, n, ours_ms, pml_ms, ratio in rows:
        print(f"{name:<17}{batch:>6}{dim:>5}{n:>4}{ours_ms:>10.3f}{pml_ms:>12.3f}{ratio:>10.4f}"
              f"{'' if ratio <= 1.0 else '  > target'}")
    slow = [f"{name} B={batch}" for name, batch, *_, ratio in rows if ratio > 1.0]
    print()
    print("values: all agree with PML (rtol 1e-4)" if agree else "values: MISMATCH with PML (see checks)")
    print("speed: every ratio <= 1.0 (target met)" if not slow
          else f"speed: ratio > 1.0 for {', '.join(slow)} (target missed)")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
