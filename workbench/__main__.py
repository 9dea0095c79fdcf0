"""Command line: ``python -m workbench list`` and ``python -m workbench train --loss NAME ...``.

``train`` asks the loss's kind (``workbench.kinds``) for everything it does not get on the command line: the
dataset, the model, the training step, how the model is scored and the recipe (epochs, learning rate,
batch size, embedding width). Errors are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the command line only writes files
import matplotlib.pyplot as plt  # noqa: E402

from . import _checks, analysis, data, experiments, kinds, losses, models, train, viz  # noqa: E402


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def cmd_list(args) -> int:
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
        if not sep or not key:
            raise ValueError(f"--param must look like name=value, got {pair!r}")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def _out_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a directory, got the file {path!r}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out: cannot create directory {path!r} ({err.strerror})") from None
    return out


def _save(figure, path: Path) -> None:
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def _supervised(loss) -> bool:
    """Views losses get the labels (SupCon-style) unless they are self-supervised by definition."""
    return not getattr(loss, "self_supervised", False)


def _train_bags(args, entry, kind: kinds.Kind, recipe: dict, out: Path) -> str:
    """Multiple-instance kinds: a bag model trained with ``fit_bags``; the summary is bag AUC (attention)
    or the mean absolute error of the bag responses (aggregate)."""
    bags = data.load(args.data or kind.dataset, seed=args.seed)
    params = _parse_params(args.param)
    loss = losses.get(args.loss, **params)
    features = math.prod(bags.bags_train[0].shape[1:])
    branches = getattr(loss, "branches", 1)
    model = models.for_kind(kind.name, features, 1, recipe["dim"], seed=args.seed, branches=branches)
    history = train.fit_bags(model, bags, loss=loss, epochs=recipe["epochs"], lr=recipe["lr"],
                             batch_size=recipe["batch_size"], seed=args.seed, metrics=analysis.mil_metrics,
                             verbose=not args.quiet)
    history.to_csv(out / "history.csv")
    _save(viz.training_curves(history, tuple(history.frame.columns)), out / "curves.png")
    last = ", ".join(f"{k}={v:.3f}" for k, v in history.last.items())
    return f"{args.loss} on {bags.name}: {last}; wrote history.csv, curves.png to {out}/"


def cmd_train(args) -> int:
    entry = losses.info(args.loss)  # ValueError listing the valid names
    kind = kinds.get(entry.kind)
    if kind.trainer is None:
        raise ValueError(f"kind {kind.name!r} has no default training step yet; train {args.loss!r} in Python")
    base = kind.recipe
    given = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "dim": args.dim}
    recipe = {"epochs": base.epochs, "lr": base.lr, "batch_size": base.batch_size, "dim": base.embedding_dim}
    recipe.update({k: v for k, v in given.items() if v is not None})
    _checks.check_int(recipe["epochs"], "--epochs", low=1)
    _checks.check_int(recipe["batch_size"], "--batch-size", low=1)
    _checks.check_int(recipe["dim"], "--dim", low=2)
    _checks.check_number(recipe["lr"], "--lr", low=0.0, low_open=True)
    out = _out_dir(args.out)
    if kind.trainer == "fit_bags":
        print(_train_bags(args, entry, kind, recipe, out))
        return 0

    name = args.data or kind.dataset
    if kind.name == "views":
        name = data.WITH_VIEWS.get(name, name)  # a views loss needs augmentations to make its views
    ds = data.load(name, seed=args.seed, **({"image": False} if kind.name == "views" else {}))
    params = _parse_params(args.param)
    params.update(kind.loss_args(classes=ds.num_classes, dim=recipe["dim"]))
    loss = losses.get(args.loss, **params)
    in_features = math.prod(ds.input_shape)
    model = models.for_kind(kind.name, in_features, ds.num_classes, recipe["dim"], base.hidden, seed=args.seed,
                            data=ds)
    if kind.name == "distill":  # the student learns from a wider teacher, trained first with the same seed
        teacher = experiments.train_teacher(ds, hidden=tuple(2 * h for h in base.hidden), embedding_dim=recipe["dim"],
                                            epochs=recipe["epochs"], lr=recipe["lr"], batch_size=recipe["batch_size"],
                                            seed=args.seed)
        if getattr(loss, "heads", 1) == 2:  # dhkd: a second head on the same encoder
            model = models.dual_head_classifier(model.encoder, ds.num_classes, seed=args.seed)
        model = models.StudentTeacher(model, teacher)
    history = train.fit(model, loss, ds, epochs=recipe["epochs"], lr=recipe["lr"], batch_size=recipe["batch_size"],
                        seed=args.seed, record=("embeddings", "grad_norm"), probe=base.probe,
                        supervised=_supervised(loss), verbose=not args.quiet)
    history.to_csv(out / "history.csv")
    _save(viz.training_curves(history, ("loss", kind.headline, "grad_norm")), out / "curves.png")
    wrote = "history.csv, curves.png"
    if ds.y_test.dim() == 1 and not ds.y_test.is_floating_point():  # coloured by class: class ids only
        _save(viz.embedding_snapshots(history, method=args.projection), out / "embeddings.png")
        wrote += ", embeddings.png"
    scored = ("accuracy" if kind.predict is not None else f"{base.probe} probe accuracy") \
        if kind.evaluate is None else kind.headline.removeprefix("test_")
    print(f"{args.loss} on {ds.name}: test {scored} {history.last[kind.headline]:.3f} after {recipe['epochs']} "
          f"epochs (lr {recipe['lr']:g}, batch {recipe['batch_size']}, dim {recipe['dim']}); wrote {wrote} to {out}/")
    return 0


def _recipes_epilog() -> str:
    rows = [(k.name, k.dataset or "-", str(k.recipe.epochs), f"{k.recipe.lr:g}", str(k.recipe.batch_size),
             str(k.recipe.embedding_dim)) for k in kinds.KINDS.values() if k.trainer is not None]
    return ("Defaults come from the loss's kind (workbench.kinds); any option given overrides them:\n\n"
            + _table(rows, ("kind", "--data", "--epochs", "--lr", "--batch-size", "--dim")))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workbench", description="Loss Lab command line")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="print the loss registry as a table")
    ls.add_argument("--family", default=None, help="only this family")
    ls.set_defaults(func=cmd_list)
    tr = sub.add_parser("train", help="train one loss, write history.csv and figures",
                        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_recipes_epilog())
    tr.add_argument("--loss", required=True, help="a registered loss name (see `list`)")
    tr.add_argument("--data", default=None, help="a dataset name from workbench.data.available() "
                                                 "(default: the kind's, see below)")
    tr.add_argument("--epochs", type=int, default=None, help="default: the kind's recipe")
    tr.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the kind's recipe)")
    tr.add_argument("--batch-size", type=int, default=None, help="default: the kind's recipe")
    tr.add_argument("--dim", type=int, default=None, help="embedding dimension (default: the kind's recipe)")
    tr.add_argument("--projection", choices=viz.PROJECTIONS, default="pca",
                    help="how embeddings wider than 3 are drawn (default: pca)")
    tr.add_argument("--seed", type=int, default=0, help="seeds data split, model and training (default: 0)")
    tr.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="loss hyper-parameter (repeatable; default: the registry's)")
    tr.add_argument("--out", default="out", help="output directory (default: out)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, ImportError) as err:  # bad names, values, paths, a missing optional package: one line
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
