"""Time Loss Lab's losses against their fastest peer, the bare torch expression, and plain autograd.

For every benchmarked loss, at B = ``--sizes`` (256 and 1024) rows of D = 128 (float32, CPU, torch pinned to
``--threads`` 1 thread by default), the wall time of one forward + backward pass of

    ours      ``losses.get(name, ...)`` on the loss's own input layout
    peer      the fastest library that has the loss, on the same numbers:
              lightly's ``NTXentLoss`` for ntxent (PML's NTXentLoss builds a [positive pairs x negative pairs]
              matrix: seconds and > 10 GB at B = 1024, far slower), pytorch-metric-learning (PML) otherwise;
              ``F.cross_entropy`` for cross_entropy; none for z_loss and ldr_kl (no library has them)
    bare      the loss written plainly in torch (normalise, one matmul, masks, the formula, autograd), e.g.
              NT-Xent = normalise, ``z @ z.T / τ`` with the diagonal masked, ``F.cross_entropy`` on the
              other view's index. See the ``bare_*`` functions.
    autograd  only for losses with a hand-written backward (``torch.autograd.Function`` in workbench/losses):
              the same loss with that Function swapped for its plain-autograd forward (``autograd_*``), so
              the column says whether the custom backward pays.

and prints ``ours/peer`` (target <= 1.0), ``ours/bare`` (target <= 1.3) and ``ours/autograd`` (< 1.0: the
custom backward pays). Before timing, every value must agree (rtol 1e-4): ours with the peer, the bare
expression and the autograd twin; ours' gradient with the autograd twin's (rtol 1e-3). A mismatch raises
AssertionError before anything is timed.

Inputs: ``embeddings[B, D]`` with labels from ``--classes`` classes (pairs and margin losses);
``views[B/2, 2, D]`` (ours) flattened to ``[B, D]`` with the instance or class label per row (PML), or split
into its two views (lightly). Margin heads share one weight matrix (copied into PML's ``W[D, C]``). Logits
losses (cross_entropy, z_loss, ldr_kl) take ``logits[--logits-batch, C]`` for C in ``--logits-classes``.

lightly: ``pip install --no-deps lightly`` (its ``lightly.loss`` package imports torchvision, which this
torch cannot take); when ``lightly.loss`` does not import, lightly's own ``loss/ntx_ent_loss.py`` is loaded
from the installed package with its memory bank (disabled at size 0) stubbed out, so lightly's forward runs
unchanged. Without lightly the ntxent row falls back to PML.

Timing: each repeat makes a fresh ``requires_grad_()`` leaf, runs forward and backward, and is timed with
the process's CPU time (``time.process_time``; ``--clock wall`` for ``time.perf_counter``): with one thread
that is the work done, and it does not count the time other processes on a shared machine take the core away
(the wall clock does: on a busy 2-core box it doubled some medians from run to run). The columns' repeats
are interleaved (order alternating) so that machine drift hits all alike; after ``--warmup`` runs the table
reports the MEDIAN of ``--repeats`` (or fewer when a case spends ``--budget`` s).

    python benchmarks/losses.py [--threads 1] [--sizes 256 1024] [--repeats 20] [--losses ntxent supcon]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import statistics
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytorch_metric_learning
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from torch import nn

from workbench import losses
from workbench.losses import contrastive, metric, pairs, similarity

# --- lightly's NTXentLoss ------------------------------------------------------------------------------


def lightly_ntxent_class():
    """lightly's ``NTXentLoss`` class and how it was loaded, or (None, reason)."""
    try:
        from lightly.loss import NTXentLoss
        return NTXentLoss, "lightly.loss"
    except ImportError as error:
        reason = str(error)
    spec = importlib.util.find_spec("lightly")
    if spec is None:
        return None, "lightly not installed"
    path = Path(spec.submodule_search_locations[0]) / "loss" / "ntx_ent_loss.py"
    import lightly  # noqa: F401  (the package itself and lightly.utils.dist import without torchvision)

    class MemoryBankModule(nn.Module):  # lightly's bank with size=0 returns (output, None): no bank
        def __init__(self, size=0, gather_distributed=False):
            super().__init__()
            if size != 0:
                raise ValueError("the stubbed memory bank only supports size=0")

        def forward(self, output, labels=None, update=False):
            return output, None

    stubs = {name: types.ModuleType(name) for name in
             ("lightly.models", "lightly.models.modules", "lightly.models.modules.memory_bank")}
    stubs["lightly.models.modules.memory_bank"].MemoryBankModule = MemoryBankModule
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        module_spec = importlib.util.spec_from_file_location("lightly_ntx_ent_loss", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module.NTXentLoss, f"lightly {lightly.__version__} ({path.name} loaded directly: {reason})"


# --- bare torch expressions ----------------------------------------------------------------------------


def _unit_gram(x: torch.Tensor) -> torch.Tensor:
    z = F.normalize(x, dim=1)
    return z @ z.T


def bare_ntxent(views, temperature):
    """Normalise, one matmul, the diagonal masked, cross-entropy on the other view's row (rows b*2 + v)."""
    b, v, d = views.shape
    logits = (_unit_gram(views.reshape(b * v, d)) / temperature).fill_diagonal_(-math.inf)
    return F.cross_entropy(logits, torch.arange(b * v, device=views.device) ^ 1)


def bare_supcon(views, labels, temperature, base_temperature):
    """The official SupContrast expression (contrast_mode 'all') on normalised rows."""
    b, v, d = views.shape
    logits = (_unit_gram(views.reshape(b * v, d)) / temperature).fill_diagonal_(-math.inf)
    row_labels = labels.repeat_interleave(v)
    positive = (row_labels[:, None] == row_labels[None, :]).fill_diagonal_(False)
    log_prob = logits - logits.logsumexp(1, keepdim=True)
    mean_pos = log_prob.masked_fill(~positive, 0).sum(1) / positive.sum(1)
    return -(temperature / base_temperature) * mean_pos.mean()


def _masks(labels):
    same = labels[:, None] == labels[None, :]
    return same.clone().fill_diagonal_(False), ~same


def bare_contrastive(x, labels, pos_margin=0.0, neg_margin=1.0):
    positive, negative = _masks(labels)
    d = (2 - 2 * _unit_gram(x)).clamp(min=1e-12).sqrt()
    pos = (d - pos_margin).relu() * positive
    neg = (neg_margin - d).relu() * negative
    return pos.sum() / (pos > 0).sum().clamp(min=1) + neg.sum() / (neg > 0).sum().clamp(min=1)


def bare_triplet(x, labels, margin):
    """Every (a, p, n): the positive pairs' distances against every negative of the anchor."""
    positive, negative = _masks(labels)
    d = (2 - 2 * _unit_gram(x)).clamp(min=1e-12).sqrt()
    a, p = positive.nonzero(as_tuple=True)
    hinge = ((d[a, p][:, None] - d[a] + margin).relu() * negative[a])
    return hinge.sum() / (hinge > 0).sum().clamp(min=1)


def bare_multi_similarity(x, labels, alpha, beta, base):
    positive, negative = _masks(labels)
    s = _unit_gram(x)
    zero = s.new_zeros(len(s), 1)
    pos = torch.cat([zero, (-alpha * (s - base)).masked_fill(~positive, -math.inf)], 1).logsumexp(1) / alpha
    neg = torch.cat([zero, (beta * (s - base)).masked_fill(~negative, -math.inf)], 1).logsumexp(1) / beta
    return (pos + neg).mean()


def _cosine_head(x, weight):
    return F.normalize(x, dim=1) @ F.normalize(weight, dim=1).T


def bare_arcface(x, labels, weight, scale, margin):
    cosine = _cosine_head(x, weight)
    theta = cosine.gather(1, labels[:, None]).clamp(-1 + 1e-7, 1 - 1e-7).acos()
    return F.cross_entropy(scale * cosine.scatter(1, labels[:, None], torch.cos(theta + margin)), labels)


def bare_cosface(x, labels, weight, scale, margin):
    cosine = _cosine_head(x, weight)
    return F.cross_entropy(scale * (cosine - margin * F.one_hot(labels, cosine.shape[1])), labels)


def bare_z_loss(logits, target, a=1.0, b=2.0):
    centred = logits - logits.mean(1, keepdim=True)
    z = centred.gather(1, target[:, None]).squeeze(1) / centred.square().mean(1).sqrt()
    return (F.softplus(a * (b - z)) / a).mean()


def bare_ldr_kl(logits, target, lam=10.0, margin=0.1):
    shifted = logits + margin * (1 - F.one_hot(target, logits.shape[1]))
    return (lam * (torch.logsumexp(shifted / lam, 1) - logits.gather(1, target[:, None]).squeeze(1) / lam
                   - math.log(logits.shape[1]))).mean()


# --- plain-autograd twins of the hand-written backwards -----------------------------------------------


def autograd_contrastive(similarity, positive, negative, pos_margin, neg_margin, squared, reduction):
    """``pairs._ContrastiveFromSimilarity`` written with out-of-place ops (mean reduction, unsquared)."""
    assert reduction == "mean" and not squared
    d = (2 - 2 * similarity).clamp(min=1e-12).sqrt()  # clamp: zero gradient at coincident points, as ours
    pos = (d - pos_margin).relu() * positive
    neg = (neg_margin - d).relu() * negative
    return pos.sum() / (pos > 0).sum().clamp(min=1) + neg.sum() / (neg > 0).sum().clamp(min=1)


def autograd_multi_similarity(similarity, positive, negative, alpha, beta, base, reduction):
    """``metric._MultiSimilarityFromSimilarity`` through autograd (mean reduction)."""
    assert reduction == "mean"
    zero = similarity.new_zeros(len(similarity), 1)
    shifted = similarity - base
    pos = torch.cat([zero, torch.where(positive, -alpha * shifted, -math.inf)], 1).logsumexp(1) / alpha
    neg = torch.cat([zero, torch.where(negative, beta * shifted, -math.inf)], 1).logsumexp(1) / beta
    return (pos + neg).mean()


def autograd_triplet(similarity, positive, negative, margin, squared, mining, reduction):
    """``metric._TripletFromSimilarity`` ("all", mean) through autograd: sort, prefix sums, searchsorted."""
    assert mining == "all" and reduction == "mean" and not squared
    d = (2 - 2 * similarity).clamp(min=1e-12).sqrt()  # clamp: zero gradient at coincident points, as ours
    sorted_neg = torch.where(negative, d, math.inf).sort(1).values
    prefix = torch.cat([d.new_zeros(len(d), 1), torch.where(sorted_neg.isfinite(), sorted_neg, 0.0).cumsum(1)], 1)
    hi = torch.searchsorted(sorted_neg.detach(), (d + margin).detach(), side="left")
    count = hi.to(d.dtype) * positive
    per_pair = (count * (d + margin) - prefix.gather(1, hi)) * positive
    return per_pair.sum() / count.sum().clamp(min=1)


def autograd_ntxent(logits, excluded, rows, cols, reduction):
    """``contrastive._NTXentFromLogits`` through autograd: masked logsumexp, per-pair softplus (mean)."""
    assert reduction == "mean"
    if isinstance(excluded, tuple):
        neg_lse = logits.index_put(excluded, logits.new_tensor(-math.inf)).logsumexp(1)
    else:
        neg_lse = logits.masked_fill(excluded, -math.inf).logsumexp(1)
    return F.softplus(neg_lse[rows] - logits[rows, cols]).sum() / max(len(rows), 1)


AUTOGRAD_TWINS = {  # (module, name of the Function, plain-autograd twin of its apply)
    "gram": (similarity, "_Gram", lambda z: z @ z.T),
    "contrastive": (pairs, "_ContrastiveFromSimilarity", autograd_contrastive),
    "ntxent": (contrastive, "_NTXentFromLogits", autograd_ntxent),
    "multi_similarity": (metric, "_MultiSimilarityFromSimilarity", autograd_multi_similarity),
    "triplet": (metric, "_TripletFromSimilarity", autograd_triplet),
}


@contextlib.contextmanager
def plain_autograd(names):
    """Swap each named Function's ``apply`` for its plain-autograd twin (restored on exit)."""
    saved = []
    for name in names:
        module, attr, twin = AUTOGRAD_TWINS[name]
        function = getattr(module, attr, None)
        if function is None:  # the library no longer has this Function: nothing to swap
            continue
        saved.append((function, function.__dict__.get("apply")))
        function.apply = twin  # a plain function on the class: Function.apply(...) now calls the twin
    try:
        yield
    finally:
        for function, apply in saved:
            if apply is None:
                del function.apply
            else:
                function.apply = apply


def with_plain_autograd(names, fn):
    def run(*args):
        with plain_autograd(names):
            return fn(*args)
    return run


def hand_written(names):
    """The names whose Function still exists in the library (the ones an autograd column is for)."""
    return [n for n in names if getattr(AUTOGRAD_TWINS[n][0], AUTOGRAD_TWINS[n][1], None) is not None]


# --- cases ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    batch: int
    ours: Callable
    ours_in: tuple
    peer_name: str | None
    peer: Callable | None
    peer_in: tuple
    bare: Callable
    bare_in: tuple
    twins: tuple = ()  # hand-written Functions this loss goes through (autograd column when non-empty)


def embedding_cases(batch, dim, classes, temperature, gen, lightly_cls):
    embeddings = torch.randn(batch, dim, generator=gen)
    labels = torch.randint(0, classes, (batch,), generator=gen)
    pair = (embeddings, labels)

    yield Case("contrastive", batch, losses.get("contrastive"), pair,
               "PML", pml_losses.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0), pair,
               bare_contrastive, pair, ("gram", "contrastive"))

    instances = batch // 2  # two views each, so every side sees exactly `batch` rows
    views = torch.randn(instances, 2, dim, generator=gen)
    if lightly_cls is not None:
        theirs = lightly_cls(temperature=temperature)
        peer, peer_in, peer_name = (lambda v: theirs(v[:, 0], v[:, 1])), (views,), "lightly"
    else:
        peer = pml_losses.NTXentLoss(temperature=temperature)
        peer_in, peer_name = (views.reshape(-1, dim), torch.arange(instances).repeat_interleave(2)), "PML"
    yield Case("ntxent", batch, losses.get("ntxent", temperature=temperature), (views,), peer_name, peer, peer_in,
               partial(bare_ntxent, temperature=temperature), (views,), ("gram", "ntxent"))

    view_labels = torch.randint(0, classes, (instances,), generator=gen)
    ours = losses.get("supcon", temperature=temperature, base_temperature=temperature)
    # Every anchor has a positive (its other view), so PML's mean over non-zero anchors equals the official mean.
    yield Case("supcon", batch, ours, (views, view_labels),
               "PML", pml_losses.SupConLoss(temperature=temperature), (views.reshape(-1, dim),
                                                                        view_labels.repeat_interleave(2)),
               partial(bare_supcon, temperature=temperature, base_temperature=temperature), (views, view_labels),
               ("gram",))

    yield Case("multi_similarity", batch, losses.get("multi_similarity", alpha=2.0, beta=50.0, base=0.5,
                                                     epsilon=None), pair,
               "PML", pml_losses.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5), pair,
               partial(bare_multi_similarity, alpha=2.0, beta=50.0, base=0.5), pair, ("gram", "multi_similarity"))
    yield Case("triplet", batch, losses.get("triplet", margin=0.05), pair,
               "PML", pml_losses.TripletMarginLoss(margin=0.05), pair,
               partial(bare_triplet, margin=0.05), pair, ("gram", "triplet"))
    for name, theirs, bare in (
            ("arcface", pml_losses.ArcFaceLoss(classes, dim, margin=math.degrees(0.5), scale=64),
             partial(bare_arcface, scale=64.0, margin=0.5)),
            ("cosface", pml_losses.CosFaceLoss(classes, dim, margin=0.35, scale=64),
             partial(bare_cosface, scale=64.0, margin=0.35))):
        ours = losses.get(name, num_classes=classes, embedding_dim=dim)
        with torch.no_grad():
            theirs.W.copy_(ours.weight.T)
        yield Case(name, batch, ours, pair, "PML", theirs, pair,
                   lambda x, y, bare=bare, w=ours.weight: bare(x, y, w), pair)


LOGITS_LOSSES = ("cross_entropy", "z_loss", "ldr_kl")


def logits_cases(batch, classes, gen):
    logits = torch.randn(batch, classes, generator=gen)
    target = torch.randint(0, classes, (batch,), generator=gen)
    inputs = (logits, target)
    yield Case("cross_entropy", batch, losses.get("cross_entropy"), inputs, "torch", F.cross_entropy, inputs,
               F.cross_entropy, inputs)
    yield Case("z_loss", batch, losses.get("z_loss"), inputs, None, None, (), bare_z_loss, inputs)
    yield Case("ldr_kl", batch, losses.get("ldr_kl"), inputs, None, None, (), bare_ldr_kl, inputs)


# --- timing --------------------------------------------------------------------------------------------


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def time_once(fn, base: torch.Tensor, *args) -> float:
    """Seconds for one forward + backward on a fresh leaf (so no gradient accumulates across repeats)."""
    x = base.detach().requires_grad_()
    start = clock()
    fn(x, *args).backward()
    return clock() - start


def median_ms(timers, repeats: int, warmup: int, budget: float) -> tuple[list[float], int]:
    """Median ms of each zero-argument timer, interleaved (order alternating), and the repeats done: timing
    stops once ``budget`` seconds are spent (after at least one repeat)."""
    for _ in range(warmup):
        for timer in timers:
            timer()
    times = [[] for _ in timers]
    start = time.perf_counter()
    for i in range(repeats):
        order = range(len(timers)) if i % 2 == 0 else reversed(range(len(timers)))
        for k in order:
            times[k].append(timers[k]())
        if time.perf_counter() - start > budget:
            break
    return [1e3 * statistics.median(t) for t in times], len(times[0])


def value_and_grad(fn, base, *args):
    x = base.detach().requires_grad_()
    value = fn(x, *args)
    value.backward()
    return value.item(), x.grad


def check_case(case: Case, autograd: Callable | None) -> str:
    """Assert that ours agrees with the peer, the bare expression and the autograd twin; a one-line summary."""
    ours, ours_grad = value_and_grad(case.ours, *case.ours_in)
    notes = [f"ours={ours:.7f}"]

    def close(a, b, rtol=1e-4):
        return abs(a - b) <= rtol * abs(b) + 1e-7  # the tiny atol only guards a zero loss

    others = [("bare", case.bare, case.bare_in)]
    if case.peer is not None:
        others.insert(0, (case.peer_name, case.peer, case.peer_in))
    for label, fn, inputs in others:
        with torch.no_grad():
            theirs = fn(*inputs).item()
        assert close(ours, theirs), f"{case.name} B={case.batch}: ours {ours} != {label} {theirs}"
        notes.append(f"{label}={theirs:.7f}")
    if autograd is not None:
        value, grad = value_and_grad(autograd, *case.ours_in)
        assert close(ours, value), f"{case.name} B={case.batch}: ours {ours} != autograd twin {value}"
        assert torch.allclose(ours_grad, grad, rtol=1e-3, atol=1e-6 * grad.abs().max().item()), \
            f"{case.name} B={case.batch}: gradient differs from the autograd twin's"
        notes.append("autograd twin: same value and gradient")
    return "  ".join(notes)


def run_case(case: Case, args) -> dict:
    twins = hand_written(case.twins)
    autograd = with_plain_autograd(twins, case.ours) if twins else None
    start = time.perf_counter()
    print(f"check {case.name:<17} B={case.batch:<5} {check_case(case, autograd)}", flush=True)
    warmup = args.warmup if time.perf_counter() - start < 1.0 else 0
    columns = {"ours": partial(time_once, case.ours, *case.ours_in),
               "bare": partial(time_once, case.bare, *case.bare_in)}
    if case.peer is not None:
        columns["peer"] = partial(time_once, case.peer, *case.peer_in)
    if autograd is not None:
        columns["autograd"] = partial(time_once, autograd, *case.ours_in)
    ms, n = median_ms(list(columns.values()), args.repeats, warmup, args.budget)
    return {"name": case.name, "batch": case.batch, "n": n, "peer_name": case.peer_name or "-",
            "twins": "+".join(twins), **dict(zip(columns, ms))}


def print_table(rows) -> list[str]:
    """The ratio table; returns the rows that miss a target."""
    head = (f"{'loss':<17}{'B':>6}{'n':>4}{'ours ms':>9}{'peer':>9}{'peer ms':>9}{'bare ms':>9}{'autograd ms':>12}"
            f"{'ours/peer':>10}{'ours/bare':>10}{'ours/autograd':>14}  custom backward")
    print(head)
    missed = []
    for r in rows:
        peer_ratio = r["ours"] / r["peer"] if "peer" in r else None
        bare_ratio = r["ours"] / r["bare"]
        auto_ratio = r["ours"] / r["autograd"] if "autograd" in r else None

        def fmt(value, width, spec=".3f"):
            return f"{value:>{width}{spec}}" if value is not None else f"{'-':>{width}}"

        flags = []
        if peer_ratio is not None and peer_ratio > 1.0:
            flags.append("> peer")
        if bare_ratio > 1.3:
            flags.append("> 1.3x bare")
        if flags:
            missed.append(f"{r['name']} B={r['batch']} ({', '.join(flags)})")
        print(f"{r['name']:<17}{r['batch']:>6}{r['n']:>4}{r['ours']:>9.3f}{r['peer_name']:>9}"
              f"{fmt(r.get('peer'), 9)}{r['bare']:>9.3f}{fmt(r.get('autograd'), 12)}"
              f"{fmt(peer_ratio, 10)}{bare_ratio:>10.3f}{fmt(auto_ratio, 14)}  {r['twins'] or '-'}"
              f"{'   <- ' + ', '.join(flags) if flags else ''}")
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = ["contrastive", "ntxent", "supcon", "multi_similarity", "triplet", "arcface", "cosface",
             *LOGITS_LOSSES]
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], help="rows per batch (B)")
    parser.add_argument("--losses", nargs="+", choices=names, default=names, help="which losses to time")
    parser.add_argument("--dim", type=int, default=128, help="embedding dimension (D)")
    parser.add_argument("--classes", type=int, default=16, help="label classes of the embeddings")
    parser.add_argument("--temperature", type=float, default=0.5, help="NT-Xent / SupCon temperature")
    parser.add_argument("--logits-batch", type=int, default=1024, help="B for the logits losses")
    parser.add_argument("--logits-classes", type=int, nargs="+", default=[10, 1000], help="C for the logits losses")
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats per loss (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--budget", type=float, default=30.0, help="stop timing a case after this many seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu",
                        help="cpu: process CPU time (robust on a shared machine); wall: elapsed time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]

    torch.set_num_threads(args.threads)
    lightly_cls, lightly_how = lightly_ntxent_class()
    print(f"workbench from {Path(losses.__file__).parents[1]}")
    print(f"torch {torch.__version__}, pytorch-metric-learning {pytorch_metric_learning.__version__}, "
          f"lightly: {lightly_how}")
    print(f"threads {torch.get_num_threads()}, {args.clock} clock, float32 CPU, D={args.dim}, "
          f"median of up to {args.repeats} (warm-up {args.warmup}, budget {args.budget:g} s per case)")

    gen = torch.Generator().manual_seed(args.seed)
    rows = []
    for classes in args.logits_classes:
        for case in logits_cases(args.logits_batch, classes, gen):
            if case.name in args.losses:
                case.name = f"{case.name} C={classes}"
                rows.append(run_case(case, args))
    for batch in args.sizes:
        for case in embedding_cases(batch, args.dim, args.classes, args.temperature, gen, lightly_cls):
            if case.name in args.losses:
                rows.append(run_case(case, args))
    print()
    missed = print_table(rows)
    same = [r for r in rows if r["name"].startswith("cross_entropy") and "peer" in r]
    if same:  # its peer and bare expression are the same call: their ratio is the measurement noise
        print("noise: torch/bare for cross_entropy (the same F.cross_entropy twice): "
              + ", ".join(f"{r['peer'] / r['bare']:.2f}" for r in same))
    print()
    print("values: every loss agrees with its peer, its bare expression and its autograd twin (rtol 1e-4)")
    print("speed: every loss at or below its peer and within 1.3x of its bare expression (target met)"
          if not missed else f"speed: target missed for {'; '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
