"""``fit``: the one training loop for every kind but the multiple-instance ones (see ``fit_bags``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import analysis, kinds
from .._checks import check_flag, check_int
from ..analysis.probes import knn_probe, linear_probe
from ..data import Dataset
from ..models import embed
from .history import History
from .loop import _check_schedule, _start, _train_epoch

RECORDABLE = ("embeddings", "grad_norm", "views")
PROBES = {"knn": knn_probe, "linear": linear_probe}


def _batch_loss(kind: kinds.Kind, augment, n_views: int, supervised: bool) -> kinds.BatchLoss:
    """The kind's training step; a kind ``fit`` cannot train is refused by name."""
    if kind.trainer != "fit":
        how = "train.fit_bags" if kind.trainer == "fit_bags" else "batch_loss= (no default step yet)"
        raise ValueError(f"fit() cannot train losses of kind {kind.name!r} by itself; use {how}")
    return kind.step(augment, n_views, supervised)


@torch.no_grad()
def _evaluate(model: nn.Module, loss: nn.Module, kind: kinds.Kind | None, data: Dataset, device, probe: str) -> dict:
    """Accuracy the way the kind allows: the model's own predictions (train and test), or a probe fitted
    on the embedding of the training rows where the kind only shapes an embedding."""
    model.eval()
    x_train, x_test = data.X_train.to(device), data.X_test.to(device)
    y_train, y_test = data.y_train.to(device), data.y_test.to(device)
    if kind is not None and kind.evaluate is not None:  # several or continuous labels: the kind's own scores
        scores = getattr(analysis, kind.evaluate)(model(x_train).cpu(), y_train.cpu(), model(x_test).cpu(),
                                                 y_test.cpu())
        return {f"test_{key}": value for key, value in scores.items()}
    if kind is not None and kind.predict is not None:
        return {"train_acc": _acc(kind.predict(model, loss, x_train), y_train),
                "test_acc": _acc(kind.predict(model, loss, x_test), y_test)}
    return {"test_acc": PROBES[probe](embed(model, x_train), y_train, embed(model, x_test), y_test)}


def _acc(pred: Tensor, y: Tensor) -> float:
    return float((pred == y).double().mean())


def fit(model: nn.Module, loss: nn.Module, data: Dataset, *, epochs: int = 10, lr: float = 1e-2,
        batch_size: int = 128, seed: int = 0, device: str | torch.device = "cpu",
        record: Sequence[str] = ("grad_norm",), probe: str = "knn", n_views: int = 2, supervised: bool = False,
        weight_decay: float = 0.0, batch_loss: kinds.BatchLoss | None = None, evaluate_every: int | None = 1,
        verbose: bool = True) -> History:
    """Train ``model`` (and the loss's own parameters, if any) with Adam on ``data`` and measure each epoch.

    Args:
        loss: a registered loss module; its ``kind`` decides what the model output is fed to.
        data: a :class:`workbench.data.Dataset`; views losses use its ``augment`` to make ``n_views`` views.
        seed: seeds batch order, augmentations and dropout. Build the model with a seed too
            (``MLP(..., seed=0)``) and the same call gives an identical History.
        record: any of ``"embeddings"`` (test embeddings after every epoch), ``"grad_norm"``
            (mean norm of the parameter gradient per epoch) and ``"views"`` (embeddings ``[n, n_views, D]``
            of the same augmented views of the first 256 test samples after every epoch, the model's
            output as the loss sees it, for the positive/negative similarity distributions of views losses).
        probe: ``"knn"`` or ``"linear"``: how embedding-only losses (pairs, views) are scored.
        supervised: for views losses, pass the labels (SupCon-style) instead of None.
        batch_loss: ``f(model, loss, x, y, generator) -> scalar`` to train a kind the loop does not know.
            A loss whose ``uses_index`` is true is called with ``index=`` (the rows of ``data.X_train`` in
            the batch) added, so per-sample state follows each sample across epochs.
        evaluate_every: score the model (``test_acc`` or the kind's scores) after every ``n``-th epoch and after
            the last one; the other rows hold NaN there. ``None``: never (the rows hold the training loss only),
            for a caller that scores the trained model itself. Scoring every epoch was 9-19 % of the training time
            of notebooks 09 and 13; skipping it changes nothing else (it draws no random numbers).
        verbose: show a tqdm progress bar over epochs.
    """
    unknown = set(record) - set(RECORDABLE)
    if unknown:
        raise ValueError(f"record must be a subset of {RECORDABLE}, got {sorted(unknown)}")
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {tuple(PROBES)}, got {probe!r}")
    _check_schedule(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, weight_decay=weight_decay)
    check_int(n_views, "n_views", low=2)
    check_flag(supervised, "supervised")
    check_flag(verbose, "verbose")
    if evaluate_every is not None:
        check_int(evaluate_every, "evaluate_every", low=1)
    # The loss's kind says how to feed and score it. A module of no known kind is refused, not guessed,
    # unless batch_loss= feeds it; it is then scored with a probe on the model's embedding.
    kind = kinds.KINDS.get(getattr(loss, "kind", None))
    if batch_loss is None and kind is None:
        raise ValueError(f"fit() cannot feed {type(loss).__name__} (kind {getattr(loss, 'kind', None)!r}; known "
                         f"kinds: {', '.join(kinds.KINDS)}): build it with losses.get(name), or pass "
                         "batch_loss=f(model, loss, x, y, generator)")
    step_loss = batch_loss or _batch_loss(kind, data.augment, n_views, supervised)

    generator, params, optimizer = _start(model, loss, seed=seed, device=device, lr=lr, weight_decay=weight_decay)

    snapshots: dict[str, list[Tensor]] = {k: [] for k in ("embeddings", "views") if k in record}
    _take_snapshots(snapshots, model, data, device, n_views)
    rows = []
    bar = tqdm(range(1, epochs + 1), desc=f"fit {getattr(loss, 'name', type(loss).__name__)}", disable=not verbose)

    def batch_value(idx: Tensor) -> Tensor:
        x, y = data.X_train[idx].to(device), data.y_train[idx].to(device)
        # Losses with per-sample state (ALDR-KL, iSogCLR) say so with ``uses_index`` and get the sample ids.
        call = partial(loss, index=idx.to(device)) if getattr(loss, "uses_index", False) else loss
        return step_loss(model, call, x, y, generator)

    for epoch in bar:
        mean_loss, grad_norm = _train_epoch(model, optimizer, data.n_train, batch_size, generator, batch_value,
                                            params if "grad_norm" in record else None)
        row = {"epoch": epoch, "loss": mean_loss}
        if evaluate_every is not None and (epoch % evaluate_every == 0 or epoch == epochs):
            row.update(_evaluate(model, loss, kind, data, device, probe))
        if grad_norm is not None:
            row["grad_norm"] = grad_norm
        rows.append(row)
        _take_snapshots(snapshots, model, data, device, n_views)
        headline = kind.headline if kind is not None else "test_acc"
        bar.set_postfix({key: f"{row[key]:.3f}" for key in ("loss", headline) if key in row})
    model.eval()  # as after a scored last epoch, whether or not it was scored
    # columns in the order of the last row (scored unless evaluate_every is None), not of first appearance
    frame = pd.DataFrame(rows)[list(rows[-1])].set_index("epoch")
    return History(frame, snapshots, data.y_test.clone() if snapshots else None)


@torch.no_grad()
def _snapshot(model: nn.Module, data: Dataset, device) -> Tensor:
    model.eval()
    return embed(model, data.X_test.to(device)).detach().cpu().clone()


VIEW_SNAPSHOT_SIZE = 256


def _take_snapshots(snapshots: dict, model: nn.Module, data: Dataset, device, n_views: int) -> None:
    if "embeddings" in snapshots:
        snapshots["embeddings"].append(_snapshot(model, data, device))
    if "views" in snapshots:
        if data.augment is None:
            raise ValueError("record=('views',) needs data with an augment (e.g. data.digit_views())")
        x = data.X_test[:VIEW_SNAPSHOT_SIZE]
        # The same views every epoch (fixed seed, own generator): only the model changes between snapshots.
        views = torch.stack([data.augment(x, torch.Generator().manual_seed(v)) for v in range(n_views)], dim=1)
        model.eval()
        with torch.no_grad():
            flat = model(views.flatten(0, 1).to(device))  # what the loss sees (after any projection head)
        snapshots["views"].append(flat.view(len(x), n_views, -1).detach().cpu().clone())
