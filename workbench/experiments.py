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


def contrastive_run(name: str, params: dict, data: Dataset, *, n_views: int = 2, supervised: bool = False,
                    epochs: int = 10, model=None, seed: int = 0):
    """One contrastive training run as notebooks 05 and 06 compare them: an MLP 64 -> 128 -> 32 (or ``model``)
    trained with the registered loss ``name(**params)`` on ``data``'s views (Adam 3e-3, batch 128), then measured
    on the test split. Returns ``(model, loss, test embeddings, metrics)``, the metrics being the kNN accuracy
    that ``fit`` records and :func:`workbench.analysis.contrastive_metrics`."""
    import torch

    from .analysis.geometry import contrastive_metrics

    model = model or MLP(64, 32, hidden=(128,), seed=seed)
    loss = get_loss(name, **params)
    history = fit(model, loss, data, epochs=epochs, lr=3e-3, batch_size=128, seed=seed, n_views=n_views,
                  supervised=supervised, record=(), verbose=False)
    with torch.no_grad():
        z = model(data.X_test)
    return model, loss, z, {"knn_acc": history.last["test_acc"], **contrastive_metrics(z, data.y_test)}


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


# --- energy, clustering, generative vs discriminative (issue 20) --------------------------------------------

def gaussian_mean_race(mu: float, *, noise_std: float = 1.0, seeds: Sequence[int] = (0, 1, 2), steps: int = 150,
                       lr: float = 0.1, tol: float = 0.5, objectives: Sequence[str] = ("nce", "compositional_nll"),
                       beta: float = 0.1) -> pd.DataFrame:
    """NCE against the compositional NLL on the 1-D Gaussian mean (``train.gaussian_mean_sgd``, same step size,
    same draws per seed): one row per (objective, seed) with ``first_within`` (the first step with
    ``|θ - μ| < tol``, NaN if never), ``final`` (θ averaged over the last 50 steps) and ``final_error``."""
    from .train.energy import gaussian_mean_sgd

    rows = []
    for name in objectives:
        for seed in seeds:
            loss = get_loss(name, beta=beta) if name == "compositional_nll" else get_loss(name)
            h = gaussian_mean_sgd(loss, mu, steps=steps, lr=lr, noise_std=noise_std, seed=seed)
            hits = h.step[(h.theta - mu).abs() < tol]
            final = float(h.theta.iloc[-50:].mean())
            rows.append({"objective": name, "seed": seed, "first_within": float(hits.iloc[0]) if len(hits) else
                         float("nan"), "final": final, "final_error": abs(final - mu)})
    return pd.DataFrame(rows)


def deep_clustering(X, y, loss: str = "dec", *, num_clusters: int = 10, embedding_dim: int = 10,
                    hidden: Sequence[int] = (64,), pretrain_epochs: int = 25, epochs: int = 10, lr: float = 1e-3,
                    reconstruction_weight: float | None = None, seed: int = 0, autoencoder=None,
                    **loss_kwargs) -> dict:
    """Deep clustering end to end: pre-train an autoencoder (unless a pre-trained ``autoencoder`` is given; it is
    copied, not changed), k-means on its embedding, then ``train.fit_clustering`` with ``loss`` ("dec" or
    "depict"); scored against the labels ``y`` with ``analysis.clustering_nmi`` / ``clustering_accuracy``.

    ``reconstruction_weight`` defaults to each paper's: 0 for DEC (decoder dropped), 1 for DEPICT (its code).
    Returns ``{"kmeans_nmi", "kmeans_acc"`` (k-means on the pre-trained embedding), ``"nmi", "acc"`` (after
    clustering), ``"fit"`` (what ``fit_clustering`` returns), ``"autoencoder", "loss"}``."""
    import copy

    import torch

    from .analysis.clustering import clustering_accuracy, clustering_nmi
    from .models import Autoencoder
    from .train.clustering import fit_clustering, kmeans_init, pretrain_autoencoder

    if autoencoder is None:
        autoencoder = Autoencoder(X.shape[1], embedding_dim, hidden, seed=seed)
        pretrain_autoencoder(autoencoder, X, epochs=pretrain_epochs, batch_size=256, lr=3e-3, seed=seed)
    autoencoder = copy.deepcopy(autoencoder)
    module = get_loss(loss, num_clusters=num_clusters, embedding_dim=embedding_dim, **loss_kwargs)
    with torch.no_grad():
        start = kmeans_init(module, autoencoder.encoder(X), seed)
    if reconstruction_weight is None:
        reconstruction_weight = 1.0 if loss == "depict" else 0.0
    out = fit_clustering(autoencoder, module, X, epochs=epochs, lr=lr, reconstruction_weight=reconstruction_weight,
                         init=False, seed=seed)
    return {"kmeans_nmi": clustering_nmi(y, start), "kmeans_acc": clustering_accuracy(y, start),
            "nmi": clustering_nmi(y, out["assignments"]), "acc": clustering_accuracy(y, out["assignments"]),
            "fit": out, "autoencoder": autoencoder, "loss": module}


def generative_vs_discriminative(train_features, train_y, test_features, test_y, sizes: Sequence[int], *,
                                 seeds: Sequence[int] = (0, 1, 2)) -> pd.DataFrame:
    """Test error of Gaussian naive Bayes (pooled variance, ``analysis.gaussian_nb_probe``) and of logistic
    regression (scikit-learn, C = 1, lbfgs, max_iter 1000, as the paper's code) on frozen features, against the
    number m of training samples (Zheng et al., ICML 2023: NB approaches its asymptotic error with fewer samples,
    LR reaches a lower one with many). Each (m, seed) draws m training rows without replacement, with at least
    one of every class when m allows. One row per (m, seed): ``m, seed, nb_error, lr_error``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from .analysis.probes import gaussian_nb_probe

    Xtr = np.asarray(train_features.detach().cpu().double() if hasattr(train_features, "detach") else train_features)
    Xte = np.asarray(test_features.detach().cpu().double() if hasattr(test_features, "detach") else test_features)
    ytr, yte = np.asarray(train_y), np.asarray(test_y)
    classes = np.unique(ytr)
    rows = []
    for m in sizes:
        if not 1 <= m <= len(ytr):
            raise ValueError(f"sizes must lie in [1, {len(ytr)}], got {m}")
        for seed in seeds:
            rng = np.random.default_rng(seed)
            first = [rng.choice(np.flatnonzero(ytr == k)) for k in classes] if m >= len(classes) else []
            rest = rng.permutation(np.setdiff1d(np.arange(len(ytr)), first))[:m - len(first)]
            idx = np.concatenate([np.asarray(first, dtype=int), rest])
            nb = 1 - gaussian_nb_probe(Xtr[idx], ytr[idx], Xte, yte)
            if len(np.unique(ytr[idx])) < 2:
                lr_error = float(np.mean(yte != ytr[idx][0]))
            else:
                clf = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000).fit(Xtr[idx], ytr[idx])
                lr_error = float(1 - clf.score(Xte, yte))
            rows.append({"m": int(m), "seed": seed, "nb_error": nb, "lr_error": lr_error})
    return pd.DataFrame(rows)


# --- MIL II: hard instances (MHIM-MIL, INS, SC-MIL) --------------------------------------------------------

HARD_INSTANCE_METHODS = ("attention", "mhim", "ins", "scmil")


def _noise_augment(x, generator):
    """INS's two views for non-image instances (the unit tests' vectors): gaussian noise of std 0.1."""
    import torch

    return x + 0.1 * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def train_hard_instance_method(method: str, bags, *, seed: int = 0, epochs: int = 6, lr: float = 3e-3,
                               embedding_dim: int = 32, hidden: Sequence[int] = (64,), image: bool = True,
                               ins_epochs: int | None = None):
    """Train one MIL method of notebook 16 on ``bags`` with the same encoder and budget; returns the model.

    - ``"attention"``: attention MIL (Ilse et al.) with ``fit_bags``, ``2 * epochs`` epochs.
    - ``"mhim"``: attention MIL trained ``epochs`` epochs, which initialises the EMA teacher and the student
      (official ``--teacher_init``, a trained baseline), then ``epochs`` epochs of ``fit_mhim``: the same
      total number of epochs as ``"attention"``.
    - ``"ins"``: :class:`models.INSModel` with ``fit_ins`` for ``ins_epochs`` epochs (default ``2 * epochs``);
      its views come from ``DigitAugment`` for digit images (``image``), gaussian noise otherwise.
    - ``"scmil"``: attention MIL with ``fit_scmil`` for ``2 * epochs`` epochs.
    """
    import copy

    from .models import INSModel
    from .train import fit_ins, fit_mhim, fit_scmil

    if method not in HARD_INSTANCE_METHODS:
        raise ValueError(f"method must be one of {HARD_INSTANCE_METHODS}, got {method!r}")
    features = bags.bags_train[0].shape[-1]
    if method == "ins":
        model = INSModel(features, embedding_dim=embedding_dim, hidden=tuple(hidden), seed=seed)
        fit_ins(model, bags, epochs=ins_epochs or 2 * epochs, lr=lr, seed=seed, verbose=False,
                augment=None if image else _noise_augment)
        return model.eval()
    model = MILModel(features, "attention", embedding_dim=embedding_dim, hidden=tuple(hidden), seed=seed)
    if method == "scmil":
        fit_scmil(model, bags, epochs=2 * epochs, lr=lr, seed=seed, verbose=False)
        return model.eval()
    fit_bags(model, bags, epochs=epochs, lr=lr, seed=seed, verbose=False)
    if method == "attention":
        fit_bags(model, bags, epochs=epochs, lr=lr, seed=seed + 1000, verbose=False)
        return model.eval()
    student = copy.deepcopy(model)
    fit_mhim(student, bags, teacher=model, epochs=epochs, lr=lr, seed=seed + 1000, verbose=False)
    return student.eval()


def hard_instance_scores(model, bags, split: str = "test") -> dict[str, float]:
    """Bag AUC, localisation AUC of the instance scores over all keys, the easy keys only and the hard keys
    only (``bags.meta["hard_*"]``: each compared with the bag's non-key instances), and the attention entropy
    where the model has attention (:func:`analysis.mil_metrics` plus the easy/hard split)."""
    from .analysis.mil import localisation_auc
    from .data import pad_bags
    from .models import predict_bags

    row = {k.replace(f"{split}_", ""): v for k, v in mil_metrics(model, bags, split).items()}
    hard = bags.meta.get(f"hard_{split}")
    if hard is not None:
        _, mask, _, inst = bags.padded(split)
        _, _, hard_pad = pad_bags(getattr(bags, f"bags_{split}"), [h.long() for h in hard])
        out = predict_bags(model, bags, split)
        easy_key = (inst == 1) & (hard_pad == 0)
        row["loc_auc_easy"] = localisation_auc(out.instance_scores, inst, mask & ~(hard_pad == 1))
        row["loc_auc_hard"] = localisation_auc(out.instance_scores, inst, mask & ~easy_key)
    return row


def compare_hard_instance_methods(methods: Sequence[str] = HARD_INSTANCE_METHODS, *, seeds: Sequence[int] = (0, 1, 2),
                                  n_train: int = 120, n_test: int = 80, positive_fraction: float = 0.5,
                                  keys: tuple[int, int] = (1, 3), hard: float = 0.7, hardness: float = 0.5,
                                  epochs: int = 6, lr: float = 3e-3, ins_epochs: int | None = None,
                                  keep: dict | None = None, verbose: bool = True) -> pd.DataFrame:
    """Notebook 16's comparison: every method of :func:`train_hard_instance_method` on the same digit bags
    (``data.digit_bags(positive_fraction=..., keys=..., hard=..., seed=seed)``) per seed, scored by
    :func:`hard_instance_scores`. One row per (method, seed) with ``seconds``; ``keep`` receives
    ``{(method, seed): (model, bags)}``."""
    import time

    from .data import digit_bags

    rows = []
    for seed in tqdm(seeds, desc="hard-instance MIL", disable=not verbose):
        bags = digit_bags(positive_fraction=positive_fraction, keys=keys, hard=hard, hardness=hardness,
                          n_train=n_train, n_test=n_test, seed=seed)
        for method in methods:
            start = time.perf_counter()
            model = train_hard_instance_method(method, bags, seed=seed, epochs=epochs, lr=lr, ins_epochs=ins_epochs)
            rows.append({"method": method, "seed": seed, **hard_instance_scores(model, bags),
                         "seconds": time.perf_counter() - start})
            if keep is not None:
                keep[(method, seed)] = (model, bags)
    return pd.DataFrame(rows)


def mil_unit_tests_of_methods(methods: Sequence[str] = ("mhim", "ins", "scmil"), tests: Sequence[str] | None = None,
                              *, seeds: Sequence[int] = (0,), n_train: int = 100, n_test: int = 100, dim: int = 16,
                              epochs: int = 8, lr: float = 3e-3, pass_auc: float = 0.6,
                              verbose: bool = True) -> pd.DataFrame:
    """:func:`mil_unit_tests` for the methods of :func:`train_hard_instance_method` (encoder 32 -> 16, like
    the poolings there; ``epochs`` is each method's half budget). Rows: ``pooling`` (the method), ``test``,
    ``seed``, ``train_auc``, ``test_auc``, ``passed``, so ``viz.unit_test_table`` draws them. INS is scored
    twice, with its official mean bag score (``"ins"``) and with the max (``"ins (max)"``, the same model).
    """
    import copy

    rows = []
    jobs = [(t, s, m) for t in (tests or MIL_UNIT_TESTS) for s in seeds for m in methods]
    for test, seed, method in tqdm(jobs, desc="MIL unit tests", disable=not verbose):
        bags = mil_unit_test(test, dim=dim, n_train=n_train, n_test=n_test, seed=seed)
        model = train_hard_instance_method(method, bags, seed=seed, epochs=epochs, lr=lr, embedding_dim=16,
                                           hidden=(32,), image=False)
        variants = [(method, model)]
        if method == "ins":  # the same instance classifier, bag score = max instead of the official mean
            variants.append(("ins (max)", copy.copy(model)))
            variants[-1][1].bag_score = "max"
        for label, m in variants:
            test_auc = mil_metrics(m, bags, "test")["test_auc"]
            rows.append({"pooling": label, "test": test, "seed": seed,
                         "train_auc": mil_metrics(m, bags, "train")["train_auc"], "test_auc": test_auc,
                         "passed": test_auc >= pass_auc})
    return pd.DataFrame(rows)


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
