"""Training MIL models on a padded batch of bags versus looping bag by bag.

What is measured: the wall time of one training step's forward + backward (CPU, float32) for B digit
bags (``data.digit_bags``, ~10 instances each, sizes varying) with the bag loss plus an attention loss:

    padded   one forward of ``MILModel`` on ``X[B, N_max, 64]`` with ``mask[B, N_max]`` (``fit_bags(padded=True)``)
    loop     B forwards, one bag ``[1, n_b, 64]`` each, losses averaged, one backward (``padded=False``)

Both compute the same loss and the same gradient (checked before timing: the losses agree to 1e-5 and
so do the gradients). The two are timed interleaved (the one going first alternates) and the table
reports the median over ``--repeats``. ``loop/padded`` above 1 means the padded batch is faster; the
target is >= 5 (the speed-up that batching padded bags is for).

    python benchmarks/mil.py [--batches 16 64] [--repeats 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from workbench import data, losses, models
from workbench.train.bags import _bags_loss

MODELS = {
    "attention + aem": (dict(pooling="attention"), "aem"),
    "gated x5 (ACMIL) + acmil": (dict(pooling="gated", branches=5), "acmil"),
}


def step(model, loss, X, mask, y, padded: bool) -> torch.Tensor:
    """One step's loss (same code path as ``train.fit_bags``)."""
    return _bags_loss(model, loss, X, mask, y, torch.Generator().manual_seed(0), padded)


def timed(model, loss, batch, padded: bool) -> float:
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    step(model, loss, *batch, padded).backward()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64], help="bags per step (B)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave)")
    parser.add_argument("--target", type=float, default=5.0, help="required loop/padded ratio")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32 CPU, "
          f"median of {args.repeats} (warm-up {args.warmup})")

    bags = data.digit_bags(n_train=max(args.batches), seed=0)
    rows, agree = [], True
    for label, (kw, loss_name) in MODELS.items():
        model, loss = models.MILModel(64, seed=0, **kw), losses.get(loss_name)
        for B in args.batches:
            X, mask, y, _ = bags.padded("train", range(B))
            batch = (X, mask, y)
            grads = []
            for padded in (True, False):
                model.zero_grad(set_to_none=True)
                value = step(model, loss, *batch, padded)
                value.backward()
                grads.append((value.detach(), [p.grad.clone() for p in model.parameters()]))
            ok = torch.allclose(grads[0][0], grads[1][0], atol=1e-5) and all(
                torch.allclose(a, b, atol=1e-5) for a, b in zip(grads[0][1], grads[1][1]))
            agree &= ok
            print(f"check {label:<26} B={B:<4} loss padded={grads[0][0]:.6f} loop={grads[1][0]:.6f} "
                  f"gradients {'agree' if ok else 'DIFFER'}", flush=True)
            for _ in range(args.warmup):
                timed(model, loss, batch, True), timed(model, loss, batch, False)
            times = {True: [], False: []}
            for i in range(args.repeats):
                for padded in ((True, False) if i % 2 == 0 else (False, True)):
                    times[padded].append(timed(model, loss, batch, padded))
            padded_ms, loop_ms = (1e3 * statistics.median(times[p]) for p in (True, False))
            rows.append((label, B, padded_ms, loop_ms, loop_ms / padded_ms))

    print()
    print(f"{'model':<28}{'B':>5}{'padded ms':>11}{'loop ms':>10}{'loop/padded':>13}")
    for label, B, padded_ms, loop_ms, ratio in rows:
        print(f"{label:<28}{B:>5}{padded_ms:>11.2f}{loop_ms:>10.2f}{ratio:>13.1f}"
              f"{'' if ratio >= args.target else '  < target'}")
    slow = [f"{label} B={B}" for label, B, *_, ratio in rows if ratio < args.target]
    print()
    print("values: padded and loop give the same loss and gradients" if agree else "values: MISMATCH (see checks)")
    print(f"speed: every loop/padded ratio >= {args.target:g} (target met)" if not slow
          else f"speed: ratio < {args.target:g} for {', '.join(slow)} (target missed)")
    return 0 if agree and not slow else 1


if __name__ == "__main__":
    sys.exit(main())
