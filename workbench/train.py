"""``fit``: the one training loop of Loss Lab, and the ``History`` it returns.

The loop knows how to feed each loss kind (see DESIGN.md, "Kinds"): logits and margin heads get
``(outputs, labels)``, pair losses ``(embeddings, labels)``, view losses ``V`` augmented views of each
instance. Accuracy is measured the way the kind allows: argmax of the logits, or a kNN / linear
probe on the embeddings for losses that only shape an embedding.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data import Dataset
from .models import embed

RECORDABLE = ("embeddings", "grad_norm", "views")
TRAINABLE_KINDS = ("logits", "binary", "margin", "pairs", "views", "crossmodal")


def knn_probe(train_emb: Tensor, train_y: Tensor, test_emb: Tensor, test_y: Tensor, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier (cosine distance) fitted on the train embeddings."""
    knn = KNeighborsClassifier(n_neighbors=min(k, len(train_y)), metric="cosine")
    knn.fit(train_emb.detach().cpu().double().numpy(), train_y.cpu().numpy())
    return float(knn.score(test_emb.detach().cpu().double().numpy(), test_y.cpu().numpy()))


def linear_probe(train_emb: Tensor, train_y: Tensor, test_emb: Tensor, test_y: Tensor) -> float:
    """Accuracy of a logistic-regression probe fitted on the (frozen) train embeddings."""
    clf = LogisticRegression(max_iter=2000)
    clf.fit(train_emb.detach().cpu().double().numpy(), train_y.cpu().numpy())
    return float(clf.score(test_emb.detach().cpu().double().numpy(), test_y.cpu().numpy()))


@dataclass
class History:
    """Per-epoch metrics (``frame``, a DataFrame indexed by epoch) plus optional snapshots.

    ``snapshots["embeddings"][e]`` holds the test-set embeddings after epoch ``e`` (entry 0 is before
    training); ``labels`` are the matching test labels. ``history["test_acc"]`` reads a column.
    """

    frame: pd.DataFrame
    snapshots: dict[str, list[Tensor]] = field(default_factory=dict)
    labels: Tensor | None = None

    def __getitem__(self, column: str) -> pd.Series:
        return self.frame[column]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def last(self) -> dict:
        """The metrics of the final epoch."""
        return self.frame.iloc[-1].to_dict()

    def equals(self, other: History) -> bool:
        """Exactly the same metrics and snapshots (what the same seed must give)."""
        if not self.frame.equals(other.frame) or self.snapshots.keys() != other.snapshots.keys():
            return False
        return all(len(mine) == len(theirs) and all(torch.equal(a, b) for a, b in zip(mine, theirs))
                   for mine, theirs in ((self.snapshots[k], other.snapshots[k]) for k in self.snapshots))

    def to_csv(self, path) -> None:
        self.frame.to_csv(path)

    def _repr_html_(self) -> str:
        return self.frame._repr_html_()

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, columns={list(self.frame.columns)}, snapshots={list(self.snapshots)})"


BatchLoss = Callable[[nn.Module, nn.Module, Tensor, Tensor, torch.Generator], Tensor]


def _views(model: nn.Module, x: Tensor, augment, n_views: int, generator: torch.Generator) -> Tensor:
    """``V`` random augmentations of every instance, embedded: [B, V, D]."""
    stacked = torch.stack([augment(x, generator) for _ in range(n_views)], dim=1)
    flat = model(stacked.flatten(0, 1))
    return flat.view(x.shape[0], n_views, -1)


def _default_batch_loss(kind: str, augment, n_views: int, supervised: bool) -> BatchLoss:
    if kind not in TRAINABLE_KINDS:
        raise ValueError(f"fit() trains losses of kind {TRAINABLE_KINDS}; for kind {kind!r} pass batch_loss=")
    if kind == "views":
        if augment is None:
            raise ValueError("a views loss needs data with an augment (e.g. data.digit_views())")

        def views_loss(model, loss, x, y, generator):
            return loss(_views(model, x, augment, n_views, generator), y if supervised else None)
        return views_loss
    if kind == "binary":
        return lambda model, loss, x, y, generator: loss(model(x).squeeze(-1), y)
    if kind == "crossmodal":  # the model gives both modalities' embeddings (e.g. models.DualEncoder)
        return lambda model, loss, x, y, generator: loss(*model(x))
    return lambda model, loss, x, y, generator: loss(model(x), y)


@torch.no_grad()
def _evaluate(model: nn.Module, loss: nn.Module, kind: str, data: Dataset, device, probe: str) -> dict:
    model.eval()
    x_train, x_test = data.X_train.to(device), data.X_test.to(device)
    y_train, y_test = data.y_train.to(device), data.y_test.to(device)
    predictors = {  # kinds whose model (or head) predicts a class directly
        "logits": lambda x: model(x).argmax(1),
        "binary": lambda x: (model(x).squeeze(-1) > 0).long(),
        "margin": lambda x: loss.logits(model(x)).argmax(1),  # margin-free logits
    }
    if kind in predictors:
        predict = predictors[kind]
        return {"train_acc": _acc(predict(x_train), y_train), "test_acc": _acc(predict(x_test), y_test)}
    probe_fn = knn_probe if probe == "knn" else linear_probe
    return {"test_acc": probe_fn(embed(model, x_train), y_train, embed(model, x_test), y_test)}


def _acc(pred: Tensor, y: Tensor) -> float:
    return float((pred == y).double().mean())


def _start(model: nn.Module, loss: nn.Module | None, *, seed: int, device, lr: float,
           weight_decay: float) -> tuple[torch.Generator, list[nn.Parameter], torch.optim.Optimizer]:
    """What every training loop does first: seed the global RNG (dropout and anything else drawing from it)
    and a generator (batch order, augmentations), move model and loss to ``device``, and build Adam over
    their parameters, each once (a loss may hold the model's). Returns ``(generator, params, optimizer)``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    modules = [model] if loss is None else [model, loss.to(device)]
    params = list(dict.fromkeys(p for m in modules for p in m.parameters()))
    return generator, params, torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, n: int, batch_size: int,
                 generator: torch.Generator, batch_value: Callable[[Tensor], Tensor],
                 grad_params: list[nn.Parameter] | None = None) -> tuple[float, float | None]:
    """One epoch in train mode: shuffle the ``n`` training rows with ``generator`` and take an optimiser
    step on ``batch_value(idx)`` for every ``batch_size`` of them. Returns the epoch's loss (batch means
    weighted by batch size) and, when ``grad_params`` is given, the mean norm of their gradient per step."""
    model.train()
    order = torch.randperm(n, generator=generator)
    losses, grad_norms, sizes = [], [], []
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        value = batch_value(idx)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        if grad_params is not None:
            grads = [p.grad.norm() for p in grad_params if p.grad is not None]
            grad_norms.append(float(torch.stack(grads).norm()) if grads else 0.0)
        optimizer.step()
        losses.append(float(value.detach()))
        sizes.append(len(idx))
    return float(np.average(losses, weights=sizes)), None if grad_params is None else float(np.mean(grad_norms))


def fit(model: nn.Module, loss: nn.Module, data: Dataset, *, epochs: int = 10, lr: float = 1e-2,
        batch_size: int = 128, seed: int = 0, device: str | torch.device = "cpu",
        record: Sequence[str] = ("grad_norm",), probe: str = "knn", n_views: int = 2, supervised: bool = False,
        weight_decay: float = 0.0, batch_loss: BatchLoss | None = None, verbose: bool = True) -> History:
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
        verbose: show a tqdm progress bar over epochs.
    """
    unknown = set(record) - set(RECORDABLE)
    if unknown:
        raise ValueError(f"record must be a subset of {RECORDABLE}, got {sorted(unknown)}")
    if probe not in ("knn", "linear"):
        raise ValueError(f"probe must be 'knn' or 'linear', got {probe!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got epochs={epochs}, batch_size={batch_size}")
    kind = getattr(loss, "kind", "logits")
    step_loss = batch_loss or _default_batch_loss(kind, data.augment, n_views, supervised)

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
        row.update(_evaluate(model, loss, kind, data, device, probe))
        if grad_norm is not None:
            row["grad_norm"] = grad_norm
        rows.append(row)
        _take_snapshots(snapshots, model, data, device, n_views)
        bar.set_postfix(loss=f"{row['loss']:.3f}", test_acc=f"{row['test_acc']:.3f}")
    frame = pd.DataFrame(rows).set_index("epoch")
    return History(frame, snapshots, data.y_test.clone() if snapshots else None)


@torch.no_grad()
def _snapshot(model: nn.Module, data: Dataset, device) -> Tensor:
    model.eval()
    return embed(model, data.X_test.to(device)).detach().cpu().clone()


# --- view snapshots (contrastive, issue 4) ---

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


# --- multiple-instance learning: training on bags ----------------------------------------------------


@torch.no_grad()
def predict_bags(model: nn.Module, data, split: str = "test", device: str | torch.device = "cpu"):
    """The model's output on every bag of ``split`` as one padded batch, in eval mode (no STKIM):
    a :class:`workbench.models.MILOutput`, or ``[B, N]`` instance predictions for a regression model."""
    model.eval()
    X, mask, _, _ = data.padded(split)
    X, mask = X.to(device), mask.to(device)
    if data.y_train.is_floating_point():
        return model(X.flatten(0, 1)).reshape(mask.shape).masked_fill(~mask, 0.0)
    return model(X, mask)


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
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got epochs={epochs}, batch_size={batch_size}")
    regression = data.y_train.is_floating_point()
    if regression and getattr(loss, "kind", None) != "aggregate":
        raise ValueError("bags with aggregate (float) responses need a loss of kind 'aggregate', "
                         "e.g. losses.get('aggregate_response')")
    if not regression and loss is not None and getattr(loss, "kind", None) != "attention":
        raise ValueError(f"loss must be of kind 'attention' (aem, acmil) for bag classification, "
                         f"got {getattr(loss, 'kind', type(loss).__name__)!r}")
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
