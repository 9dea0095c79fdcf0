"""Do the kinds' default recipes train? Every registered loss of a kind that `python -m workbench train`
can train, run exactly as the command line runs it (the kind's dataset, model and recipe, seed 0), with
its final test score. The target is >= 0.90 on digits for every logits, margin, pairs and views loss.

    python benchmarks/recipes.py [--kinds logits margin ...] [--epochs N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import tempfile
import time

import torch

from workbench import kinds, losses
from workbench.__main__ import main as cli


def run(name: str, epochs: int | None) -> tuple[str, float]:
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()) as printed:
        argv = ["train", "--loss", name, "--out", out, "--quiet"] + (["--epochs", str(epochs)] if epochs else [])
        if cli(argv) != 0:
            return "error", float("nan")
    line = printed.getvalue().strip()
    score = re.search(r"(accuracy|auc|mse)[^=]*?([0-9.]+) after|test_auc=([0-9.]+)|test_bag_mse=([0-9.]+)", line)
    value = next((float(g) for g in (score.groups()[1:] if score else ()) if g), float("nan"))
    return line, value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", nargs="*", default=[k for k, v in kinds.KINDS.items() if v.trainer])
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"{'loss':24s} {'kind':10s} {'score':>7s} {'seconds':>8s}")
    for name in losses.available():
        kind = losses.info(name).kind
        if kind not in args.kinds:
            continue
        start = time.perf_counter()
        line, value = run(name, args.epochs)
        print(f"{name:24s} {kind:10s} {value:7.3f} {time.perf_counter() - start:8.1f}", flush=True)
        if line == "error":
            print(f"  {name}: the command line failed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
