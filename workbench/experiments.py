"""The only analysis that trains: grids of training runs compared over seeds and settings
(``compare_losses``, ``summarise``), the MIL algorithmic unit tests over poolings, and the teacher that
knowledge distillation starts from (``train_teacher``).

Everything here calls ``train`` and then measures with ``analysis``; the measurement functions themselves
never train."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from .analysis.mil import mil_metrics
from .data import MIL_UNIT_TESTS, Dataset, digit_style, mil_unit_test, style_relevance
from .losses import decoupled_softmax_scores
from .losses import get as get_loss
from .models import MIL_POOLINGS, MLP, MILModel, classifier
from .train import fit, fit_bags


def compare_losses(make_loss, make_data, make_model, score, *, seeds: Sequence[int] = (0, 1, 2),
                   settings: dict[str, Sequence] | None = None, keep: dict | None = None,
                   pretrain: dict | None = None, pretrain_epochs: int = 0, verbose: bool = True,
                   **fit_kwargs) -> pd.DataFrame:
    """Train one model per (loss, setting, seed) and score it: the grid behind a "which loss wins" table.

    Args:
        make_loss: ``{label: callable() -> loss module}`` (a fresh loss per run: some keep state).
        make_data: ``callable(seed, **setting) -> Dataset``.
        make_model: ``callable(data, seed) -> model``.
        score: ``callable(model, data) -> {metric: value}`` (e.g. :func:`binary_metrics` of
            :func:`outputs_on_test`).
        settings: ``{name: values}``, every combination is a setting (e.g. ``{"noise": [0, 0.2, 0.4]}``).
        pretrain: ``{label: callable() -> loss}``: those runs first train ``pretrain_epochs`` epochs with
            that loss, then ``epochs - pretrain_epochs`` with their own (e.g. AUC-M after cross-entropy,
            as its authors recommend), so every run sees the same number of epochs.
        keep: a dict to receive the trained models (and their data), keyed ``(loss, *setting values, seed)``
            -> ``(model, dataset)``, e.g. for ROC curves.
        fit_kwargs: passed to :func:`workbench.train.fit` (epochs, lr, batch_size, batch_loss, ...).

    Returns a DataFrame with one row per run: ``loss``, the setting columns, ``seed``, the metrics and
    ``seconds``. One tqdm bar over all runs (silent with ``verbose=False``).
    """
    import itertools
    import time



    settings = dict(settings or {})
    combos = [dict(zip(settings, values)) for values in itertools.product(*settings.values())]
    runs = [(label, combo, seed) for combo in combos for seed in seeds for label in make_loss]
    rows, cache = [], {}
    for label, combo, seed in tqdm(runs, desc="compare losses", disable=not verbose):
        key = (tuple(combo.items()), seed)
        if key not in cache:
            cache = {key: make_data(seed, **combo)}  # runs are ordered so that each dataset is built once
        ds = cache[key]
        start = time.perf_counter()
        model = make_model(ds, seed)
        kwargs = dict(fit_kwargs)
        if pretrain and label in pretrain:
            warm = {**kwargs, "epochs": pretrain_epochs}
            fit(model, pretrain[label](), ds, seed=seed, verbose=False, record=(), **warm)
            kwargs["epochs"] = kwargs.get("epochs", 10) - pretrain_epochs
        fit(model, make_loss[label](), ds, seed=seed, verbose=False, record=(), **kwargs)
        rows.append({"loss": label, **combo, "seed": seed, **score(model, ds),
                     "seconds": time.perf_counter() - start})
        if keep is not None:
            keep[(label, *combo.values(), seed)] = (model, ds)
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame, metric: str, by: Sequence[str] = ("loss",)) -> pd.DataFrame:
    """Mean and standard deviation of ``metric`` over seeds, one row per ``by`` group."""
    return frame.groupby(list(by), sort=False)[metric].agg(["mean", "std"]).reset_index()


def mil_unit_tests(poolings: Sequence[str] | None = None, tests: Sequence[str] | None = None, *,
                   seeds: Sequence[int] = (0,), n_train: int = 100, n_test: int = 100, dim: int = 16,
                   epochs: int = 15, lr: float = 3e-3, batch_size: int = 10, pass_auc: float = 0.6,
                   verbose: bool = True) -> pd.DataFrame:
    """Raff & Holt's algorithmic unit tests: train every pooling on every test's (poisoned) train bags and
    score the bag ROC AUC on its test bags, which break the shortcut a model that violates the MIL
    assumption would learn.

    Every pooling gets the same small encoder (32 hidden units, 16-dimensional embedding) and budget.
    Returns one row per (pooling, test, seed) with ``train_auc``, ``test_auc`` and ``passed``
    (``test_auc >= pass_auc``; our threshold: the paper's criterion was not checked against its code).
    A test AUC far BELOW 0.5 means the model learned the forbidden rule (poison => negative, many copies
    => positive); near 0.5 means it could not express the rule at all.
    """


    poolings, tests = list(poolings or MIL_POOLINGS), list(tests or MIL_UNIT_TESTS)
    rows = []
    jobs = [(t, s, p) for t in tests for s in seeds for p in poolings]
    for test, seed, pooling in tqdm(jobs, desc="MIL unit tests", disable=not verbose):
        bags = mil_unit_test(test, dim=dim, n_train=n_train, n_test=n_test, seed=seed)
        model = MILModel(dim, pooling, embedding_dim=16, hidden=(32,), seed=seed)
        fit_bags(model, bags, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, verbose=False)
        train_auc = mil_metrics(model, bags, "train")["train_auc"]
        test_auc = mil_metrics(model, bags, "test")["test_auc"]
        rows.append({"pooling": pooling, "test": test, "seed": seed, "train_auc": train_auc, "test_auc": test_auc,
                     "passed": test_auc >= pass_auc})
    return pd.DataFrame(rows)


def train_teacher(data: Dataset, *, hidden: Sequence[int] = (256, 128), embedding_dim: int = 32, epochs: int = 30,
                  lr: float = 3e-3, batch_size: int = 128, seed: int = 0, verbose: bool = False):
    """A seeded teacher for knowledge distillation: an MLP classifier (``models.classifier``; its
    ``embed`` gives the ``embedding_dim`` features KD++'s ND loss compares) trained with cross-entropy on
    ``data``'s training rows, returned in eval mode with its parameters frozen. The same arguments give
    the same teacher on the same machine.

    Pair it with a student of the same ``embedding_dim`` for ``nd``:
    ``train.fit(models.StudentTeacher(student, teacher), losses.get("kd"), data, ...)``.
    """
    in_features = data.X_train[0].numel()
    teacher = classifier(MLP(in_features, embedding_dim, tuple(hidden), seed=seed), data.num_classes, seed=seed)
    fit(teacher, get_loss("cross_entropy"), data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
        record=(), verbose=verbose)
    return teacher.eval().requires_grad_(False)


# --- several labels, continuous labels (issue 18) ------------------------------------------------------------

class LabelRetrievalLoss(nn.Module):
    """DEXML's decoupled softmax (or, ``decoupled=False``, the multi-positive softmax) on the cosine scores of a
    :class:`models.LabelDualEncoder` against all labels, divided by ``temperature``. Kind ``multilabel``, so
    :func:`workbench.train.fit` trains it on multi-hot targets and reports mAP and P@1 of the scores."""

    kind = "multilabel"

    def __init__(self, decoupled: bool = True, temperature: float = 0.05):
        super().__init__()
        self.decoupled, self.temperature = decoupled, temperature
        self.name = "decoupled_softmax" if decoupled else "multi_positive_softmax"

    def forward(self, scores, targets):
        return decoupled_softmax_scores(scores / self.temperature, targets, decoupled=self.decoupled)


class L1Regression(nn.Module):
    """The plain regression baseline for kind ``regression``: ``mean |f(x)_0 - y|`` on a model whose first
    output is the prediction (an encoder with ``embedding_dim=1``); fit reports its ridge-probe MAE."""

    kind = "regression"
    name = "l1_regression"

    def forward(self, outputs, targets):
        return (outputs[:, 0] - targets).abs().mean()


def style_relevance_step(bandwidth: float = 1.0):
    """A ``fit`` batch loss for cross-modal losses that take a relevance matrix (``sms``, ``decoupled_softmax``) on
    :func:`data.paired_digits`: the batch's graded relevance is :func:`data.style_relevance` of the digits' classes
    and their :func:`data.digit_style` (from the 64 pixels, standardised within the batch)."""

    def step(model, loss, x, y, generator):
        return loss(*model(x), relevance=pixel_style_relevance(x, y, bandwidth).to(x.dtype))
    return step


def pixel_style_relevance(x, y, bandwidth: float = 1.0):
    """:func:`data.style_relevance` of paired-digit rows ``x`` (pixels first) with classes ``y``."""
    import torch

    style = torch.as_tensor(digit_style(x[:, :64].detach().cpu().numpy()), dtype=torch.float32)
    style = (style - style.mean(0)) / style.std(0).clamp(min=1e-6)
    return style_relevance(y.cpu(), style, bandwidth=bandwidth).to(x.device)
