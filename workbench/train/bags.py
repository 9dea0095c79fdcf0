"""``fit_bags``: training on multiple-instance bags (attention losses, aggregate responses)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import kinds
from .._checks import check_flag
from ..losses import available, info
from .history import History
from .loop import _check_schedule, _start, _train_epoch


def _bag_step(model: nn.Module, loss: nn.Module | None, X: Tensor, mask: Tensor, y: Tensor,
              generator: torch.Generator) -> Tensor:
    """Loss of one padded batch of bags: the bag loss plus the attention loss (classification), or the
    aggregate-response loss on the instance predictions (regression)."""
    if y.is_floating_point():
        return loss(model(X.flatten(0, 1)).reshape(mask.shape), y, mask)
    out = model(X, mask, generator=generator)
    if out.logits.dim() == 1:
        value = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, y.to(out.logits.dtype))
    else:
        value = torch.nn.functional.cross_entropy(out.logits, y)
    if loss is not None:
        if out.attention_logits is None:
            raise ValueError(f"loss {getattr(loss, 'name', loss)!r} needs attention logits; "
                             f"pooling {getattr(model, 'pooling', '?')!r} has none")
        extra = {}
        if out.branch_logits is not None and "branch_logits" in inspect.signature(loss.forward).parameters:
            extra = {"branch_logits": out.branch_logits, "target": y}
        value = value + loss(out.attention_logits, out.mask, **extra)
    return value


def _bags_loss(model: nn.Module, loss: nn.Module | None, X: Tensor, mask: Tensor, y: Tensor,
               generator: torch.Generator, padded: bool = True) -> Tensor:
    """One training step's loss on a padded batch of bags: :func:`_bag_step` on the whole batch
    (``padded``), or on each bag cut to its own size and averaged (the same loss, B forwards)."""
    if padded:
        return _bag_step(model, loss, X, mask, y, generator)
    return torch.stack([_bag_step(model, loss, X[b:b + 1, :n], mask[b:b + 1, :n], y[b:b + 1], generator)
                        for b, n in enumerate(mask.sum(1).tolist())]).mean()


def fit_bags(model: nn.Module, data, *, loss: nn.Module | None = None, epochs: int = 20, lr: float = 1e-3,
             batch_size: int = 16, seed: int = 0, weight_decay: float = 0.0, padded: bool = True,
             metrics: Callable | None = None, device: str | torch.device = "cpu", verbose: bool = True) -> History:
    """Train a multiple-instance model with Adam on :class:`workbench.data.Bags`, ``batch_size`` bags a step.

    Classification (integer bag labels): ``model`` is a :class:`workbench.models.MILModel`; the bag loss is
    binary cross-entropy on its logits (cross-entropy for ``num_classes > 1``), plus ``loss`` when given:
    an attention loss (``aem``, ``acmil``) called as ``loss(attention_logits, mask)``; ACMIL also gets the
    branch logits and the labels. Regression from aggregate responses (float bag labels): ``model`` maps
    instances ``[rows, F]`` to predictions and ``loss`` (kind ``aggregate``) compares them with the bag means.

    ``padded=True`` runs each step's bags as one padded batch with a mask; ``padded=False`` loops bag by bag
    and averages (the same loss and gradient, B times the Python overhead; kept for comparison).
    ``metrics(model, data) -> dict`` is measured after every epoch (e.g. ``analysis.mil_metrics``); the
    History always has the mean training ``loss``. The same ``seed`` (and a model built with a seed) gives
    the same History.
    """
    _check_schedule(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, weight_decay=weight_decay)
    check_flag(padded, "padded")
    check_flag(verbose, "verbose")
    regression = data.y_train.is_floating_point()
    # Bag labels say the task: aggregate (float) responses need an aggregate loss, class labels an
    # optional attention loss; the kinds say which loss is which.
    expected = "aggregate" if regression else "attention"
    got = None if loss is None else kinds.of(loss).name
    if (regression or loss is not None) and got != expected:
        task = "aggregate (float) responses" if regression else "bag classification"
        raise ValueError(f"{task} needs a loss of kind {expected!r} "
                         f"({', '.join(n for n in available() if info(n).kind == expected)}), got {got!r}")
    generator, _, optimizer = _start(model, loss, seed=seed, device=device, lr=lr, weight_decay=weight_decay)
    rows = []
    name = getattr(loss, "name", "bag loss")  # None has no name either
    bar = tqdm(range(1, epochs + 1), desc=f"fit_bags {name}", disable=not verbose)

    def batch_value(idx: Tensor) -> Tensor:
        X, mask, y, _ = data.padded("train", idx)
        return _bags_loss(model, loss, X.to(device), mask.to(device), y.to(device), generator, padded)

    for epoch in bar:
        row = {"epoch": epoch, "loss": _train_epoch(model, optimizer, data.n_train, batch_size, generator,
                                                    batch_value)[0]}
        if metrics is not None:
            row.update(metrics(model, data))
        rows.append(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k != "epoch"})
    return History(pd.DataFrame(rows).set_index("epoch"))
