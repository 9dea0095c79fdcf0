"""Command line: ``python -m workbench list`` and ``python -m workbench train --loss NAME ...``."""

from __future__ import annotations

import argparse
import ast
import math
import sys
from pathlib import Path


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def cmd_list(args) -> int:
    from . import losses
    rows = []
    for name in losses.available(args.family):
        entry = losses.info(name)
        rows.append((name, entry.family, entry.kind, f"{entry.paper.title} ({entry.paper.year})"))
    print(_table(rows, ("name", "family", "kind", "paper")))
    return 0


def _parse_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--param must look like name=value, got {pair!r}")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def cmd_train(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    from . import data, losses, models, train, viz

    entry = losses.info(args.loss)  # ValueError for an unknown name
    dataset_name = args.data
    if entry.kind == "views" and dataset_name == "digits":
        dataset_name = "digit_views"  # a views loss needs augmentations to make its views
    extra = {"image": False} if dataset_name == "digit_views" else {}  # the default MLP takes flat inputs
    ds = data.load(dataset_name, seed=args.seed, **extra)
    in_features = math.prod(ds.input_shape)
    params = _parse_params(args.param)
    if entry.kind == "margin":
        params.update(num_classes=ds.num_classes, embedding_dim=args.dim)
    loss = losses.get(args.loss, **params)
    model = models.for_kind(entry.kind, in_features, ds.num_classes, args.dim, seed=args.seed)
    history = train.fit(model, loss, ds, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                        seed=args.seed, record=("embeddings", "grad_norm"), verbose=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    history.to_csv(out / "history.csv")
    viz.training_curves(history, ("loss", "test_acc", "grad_norm")).savefig(out / "curves.png", dpi=100)
    viz.embedding_snapshots(history).savefig(out / "embeddings.png", dpi=100)
    print(f"{args.loss} on {dataset_name}: final test_acc={history.last['test_acc']:.3f}; wrote "
          f"{out / 'history.csv'}, curves.png, embeddings.png")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workbench", description="Loss Lab command line")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="print the loss registry as a table")
    ls.add_argument("--family", default=None, help="only this family")
    ls.set_defaults(func=cmd_list)
    tr = sub.add_parser("train", help="train one loss, write history.csv and figures")
    tr.add_argument("--loss", required=True, help="a registered loss name (see `list`)")
    tr.add_argument("--data", default="digits", help="a dataset name from workbench.data.available()")
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--lr", type=float, default=1e-2)
    tr.add_argument("--batch-size", type=int, default=128)
    tr.add_argument("--dim", type=int, default=2, help="embedding dimension (2 or 3 to plot directly)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="loss hyper-parameter")
    tr.add_argument("--out", default="out", help="output folder")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # unknown names, bad parameters: one line, exit code 2
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
