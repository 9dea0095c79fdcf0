"""The analyses that train: grids of training runs compared over seeds and settings (``compare_losses``,
``summarise``), the MIL algorithmic unit tests over poolings, the teacher that knowledge distillation starts
from (``train_teacher``), and the notebooks' multi-model experiments (deep clustering, dual adversarial
training, the hard-instance MIL methods, ARBEx, novel-class imprinting, LaSO, ...).

Everything here calls ``train`` and then measures with ``analysis``; the measurement functions themselves
never train."""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .analysis import accuracy
from .analysis.clustering import clustering_accuracy, clustering_nmi
from .analysis.geometry import contrastive_metrics
from .analysis.labels import mean_average_precision
from .analysis.mil import localisation_auc, mil_metrics
from .analysis.probes import gaussian_nb_probe
from .analysis.robustness import nearest_distance, robust_accuracy
from .data import MIL_UNIT_TESTS, Dataset, digit_bags, digit_style, mil_unit_test, pad_bags, style_relevance
from .losses import decoupled_softmax_scores
from .losses import get as get_loss
from .models import MIL_POOLINGS, MLP, Autoencoder, INSModel, LaSO, MHIMModel, MILModel, classifier, predict_bags
from .train import fit, fit_bags, fit_ins, fit_mhim, fit_midam, fit_scmil
from .train.adversarial import energy_samples, fit_dat
from .train.clustering import fit_clustering, kmeans_init, pretrain_autoencoder
from .train.energy import gaussian_mean_sgd
from .train.laso import fit_laso, label_set_targets, label_sharing_pairs


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
        # ``score`` measures the trained model: fit's own scoring of every epoch would be thrown away
        kwargs = {"evaluate_every": None, **fit_kwargs}
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

    model = model or MLP(64, 32, hidden=(128,), seed=seed)
    loss = get_loss(name, **params)
    history = fit(model, loss, data, epochs=epochs, lr=3e-3, batch_size=128, seed=seed, n_views=n_views,
                  supervised=supervised, record=(), evaluate_every=epochs, verbose=False)
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
    # evaluate_every=None: the teacher's history is not returned, so fit does not score it (same weights)
    fit(teacher, get_loss("cross_entropy"), data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
        record=(), evaluate_every=None, verbose=verbose)
    return teacher.eval().requires_grad_(False)


# --- energy, clustering, generative vs discriminative (issue 20) --------------------------------------------

def gaussian_mean_race(mu: float, *, noise_std: float = 1.0, seeds: Sequence[int] = (0, 1, 2), steps: int = 150,
                       lr: float = 0.1, tol: float = 0.5, objectives: Sequence[str] = ("nce", "compositional_nll"),
                       beta: float = 0.1) -> pd.DataFrame:
    """NCE against the compositional NLL on the 1-D Gaussian mean (``train.gaussian_mean_sgd``, same step size,
    same draws per seed): one row per (objective, seed) with ``first_within`` (the first step with
    ``|θ - μ| < tol``, NaN if never), ``final`` (θ averaged over the last 50 steps) and ``final_error``."""

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
    from sklearn.linear_model import LogisticRegression


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



def dual_adversarial_training(data: Dataset, *, seeds: Sequence[int] = (0, 1, 2), hidden: Sequence[int] = (128,),
                              width: int = 64, std_epochs: int = 10, at_epochs: int = 6, finetune_epochs: int = 4,
                              lr: float = 3e-3, finetune_lr: float = 1e-3, samples_per_class: int = 2,
                              gen_steps: int = 32, gen_step_size: float = 0.2, **dat_kwargs) -> dict:
    """A standard classifier, an adversarially trained one and a DAT model on the same data, per seed
    (``train.fit_dat``; reference losses-wave2.md §6.4, official code xuwangyin/DAT@fb2ffc7).

    The MLP classifier ``in -> hidden -> width -> classes`` is trained (1) with plain cross-entropy for
    ``std_epochs`` ("standard"); (2) with cross-entropy on L2 PGD examples (eps 0.5, 10 steps of 0.1) for
    ``at_epochs``, then from that model two fine-tunings of ``finetune_epochs`` at ``finetune_lr``: more adversarial
    training ("adversarial", so both fine-tuned models saw as many steps) and dual adversarial training ("dat",
    the paper starts from an adversarially trained checkpoint). ``dat_kwargs`` go to ``fit_dat``.

    Generation (the official class-conditional generator, ``image_log``: PGD ascent on the class logit from seeds,
    ``gen_steps`` 32 steps of ``gen_step_size`` 0.2, eps inf): ``samples_per_class`` uniform-noise seeds per class,
    the same seeds for the three models of a seed. Returns ``{"scores", "histories", "samples", "seeds"}``:
    ``scores`` one row per (seed, model) with ``clean_acc, robust_acc`` (test split, ``analysis.robust_accuracy``),
    ``sample_distance`` (mean distance of the generated samples to their nearest training image,
    ``analysis.nearest_distance``) and ``sample_hit`` (share classified as their target class by the model itself);
    ``histories[seed]`` the DAT fine-tuning's per-step table; ``samples[seed][model]`` and ``seeds[seed]`` the images.
    """

    X, y = data.X_train.float(), data.y_train
    Xt, yt = data.X_test.float(), data.y_test
    classes = int(data.num_classes)
    rows, histories, samples, noise = [], {}, {}, {}
    for seed in seeds:
        def build(seed=seed):
            return classifier(MLP(X.shape[1], width, hidden=tuple(hidden), seed=seed), classes, seed=seed)

        standard = build()
        fit_dat(standard, X, y, epochs=std_epochs, lr=lr, ebm=False, clf_steps=0, seed=seed)
        base = build()
        fit_dat(base, X, y, epochs=at_epochs, lr=lr, ebm=False, seed=seed)
        adversarial, dat = copy.deepcopy(base), copy.deepcopy(base)
        fit_dat(adversarial, X, y, epochs=finetune_epochs, lr=finetune_lr, ebm=False, seed=seed + 1000)
        histories[seed] = fit_dat(dat, X, y, epochs=finetune_epochs, lr=finetune_lr, ebm=True, seed=seed + 1000,
                                  **dat_kwargs)
        g = torch.Generator().manual_seed(10_000 + seed)
        target = torch.arange(classes).repeat(samples_per_class)
        noise[seed] = torch.rand((len(target), *X.shape[1:]), generator=g, dtype=X.dtype)
        samples[seed] = {}
        for name, model in (("standard", standard), ("adversarial", adversarial), ("dat", dat)):
            model.eval()
            generated = energy_samples(model, noise[seed], steps=gen_steps, step_size=gen_step_size, labels=target)
            with torch.no_grad():
                hit = float((model(generated).argmax(1) == target).double().mean())
            samples[seed][name] = generated
            rows.append({"seed": seed, "model": name, "clean_acc": robust_accuracy(model, Xt, yt, steps=0),
                         "robust_acc": robust_accuracy(model, Xt, yt),
                         "sample_distance": float(nearest_distance(generated, X).mean()), "sample_hit": hit})
    return {"scores": pd.DataFrame(rows), "histories": histories, "samples": samples, "seeds": noise}

# --- MIL II: hard instances (MHIM-MIL, INS, SC-MIL) --------------------------------------------------------

HARD_INSTANCE_METHODS = ("attention", "mhim", "mhim_v2", "ins", "scmil", "instance", "midam", "midam_att")


def _noise_augment(x, generator):
    """INS's two views for non-image instances (the unit tests' vectors): gaussian noise of std 0.1."""

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
    - ``"mhim_v2"``: as ``"mhim"``, with MHIM-MIL v2's parts: the teacher ranks instances by
      ``models.attention_to_score`` (``attn2score``) and the student is a ``models.MHIMModel`` (instance
      merging, ``merge_ratio`` 0.9, one token) started from the trained attention MIL, its teacher a copy of it;
      ``high_random`` 1.0 (v2's recipe leaves ``mask_ratio_hr`` at its default 1: the top ``ceil(n h)`` instances
      are all masked, here the single top one).
    - ``"instance"``: the same instance classifier as ``"midam"``, bag score the max of its instance logits, trained
      with ``fit_bags`` (BCE) for ``2 * epochs`` epochs: MIDAM's model with the usual loss.
    - ``"midam"``: an instance classifier (``MILModel(pooling="instance")``) trained by ``fit_midam`` (bag AUC,
      smoothed-max pooling of 4 sampled instances per bag, LibAUC's MIDAM optimiser at lr 0.1) for
      ``2 * epochs`` epochs.
    - ``"midam_att"``: attention MIL (the model of ``"attention"``) trained by ``fit_midam(pooling="attention")``
      (MIDAM-att, LibAUC's optimiser at lr 0.1) for ``2 * epochs`` epochs.
    """

    if method not in HARD_INSTANCE_METHODS:
        raise ValueError(f"method must be one of {HARD_INSTANCE_METHODS}, got {method!r}")
    features = bags.bags_train[0].shape[-1]
    if method == "ins":
        model = INSModel(features, embedding_dim=embedding_dim, hidden=tuple(hidden), seed=seed)
        fit_ins(model, bags, epochs=ins_epochs or 2 * epochs, lr=lr, seed=seed, verbose=False,
                augment=None if image else _noise_augment)
        return model.eval()
    if method in ("instance", "midam"):
        model = MILModel(features, "instance", embedding_dim=embedding_dim, hidden=tuple(hidden), seed=seed)
        if method == "midam":
            fit_midam(model, bags, epochs=2 * epochs, seed=seed, verbose=False)
        else:
            fit_bags(model, bags, epochs=2 * epochs, lr=lr, seed=seed, verbose=False)
        return model.eval()
    model = MILModel(features, "attention", embedding_dim=embedding_dim, hidden=tuple(hidden), seed=seed)
    if method == "midam_att":
        fit_midam(model, bags, pooling="attention", epochs=2 * epochs, seed=seed, verbose=False)
        return model.eval()
    if method == "scmil":
        fit_scmil(model, bags, epochs=2 * epochs, lr=lr, seed=seed, verbose=False)
        return model.eval()
    fit_bags(model, bags, epochs=epochs, lr=lr, seed=seed, verbose=False)
    if method == "attention":
        fit_bags(model, bags, epochs=epochs, lr=lr, seed=seed + 1000, verbose=False)
        return model.eval()
    if method == "mhim_v2":
        student = MHIMModel(features, embedding_dim=embedding_dim, hidden=tuple(hidden), seed=seed)
        student.load_state_dict(model.state_dict(), strict=False)  # all but the merging module
        fit_mhim(student, bags, epochs=epochs, lr=lr, seed=seed + 1000, attn2score=True, high_random=1.0,
                 verbose=False)
        return student.eval()
    student = copy.deepcopy(model)
    fit_mhim(student, bags, teacher=model, epochs=epochs, lr=lr, seed=seed + 1000, verbose=False)
    return student.eval()


def hard_instance_scores(model, bags, split: str = "test") -> dict[str, float]:
    """Bag AUC, localisation AUC of the instance scores over all keys, the easy keys only and the hard keys
    only (``bags.meta["hard_*"]``: each compared with the bag's non-key instances), and the attention entropy
    where the model has attention (:func:`analysis.mil_metrics` plus the easy/hard split)."""

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

    style = torch.as_tensor(digit_style(x[:, :64].detach().cpu().numpy()), dtype=torch.float32)
    style = (style - style.mean(0)) / style.std(0).clamp(min=1e-6)
    return style_relevance(y.cpu(), style, bandwidth=bandwidth).to(x.device)


def arbex_run(data: Dataset, *, epochs: int = 8, lr: float = 3e-3, batch_size: int = 128, seed: int = 0,
              embedding_dim: int = 32, **params):
    """Train an MLP 64 -> 128 -> ``embedding_dim`` with ARBEx's loss (``losses.get("arbex", **params)``) the way
    the official ``train.py`` does: ``trust`` grows linearly from 0 at the first step to 1 at the end
    (``n_iter / num_iters``), one Adam over the network, the head, the anchors and the attention. Returns
    ``(model, loss, history)``; the history's ``test_acc`` is the head's (``loss.logits``) accuracy."""

    model = MLP(64, embedding_dim, hidden=(128,), seed=seed)
    torch.manual_seed(seed)  # the head's and the attention's initialisation
    loss = get_loss("arbex", num_classes=data.num_classes, embedding_dim=embedding_dim, **params)
    total = epochs * math.ceil(len(data.y_train) / batch_size)
    step = {"n": 0}

    def ramped(model, loss, x, y, generator):
        loss.trust = step["n"] / total  # official: trust = n_iter / num_iters, before the forward pass
        step["n"] += 1
        return loss(model(x), y)

    history = fit(model, loss, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, record=(),
                  batch_loss=ramped, verbose=False)
    return model, loss, history


def novel_class_imprinting(data: Dataset, *, hyperspherical: bool = True, scale: float = 10.0, epochs: int = 8,
                           support: float = 0.5, seed: int = 0, embedding_dim: int = 32) -> dict[str, float]:
    """Add classes never trained on to a trained classifier by imprinting their prototypes (Pereira, Joly,
    Valduriez, Porto, "Hyperspherical embedding for novel class classification", arXiv:2102.03243; official code
    R-S-P-MODELS/pyopenset @ ee4ba1f8, ``pyopenset/keras.py``: ``ModuleNormalization`` and ``AddNewClass``).

    ``data`` is :func:`workbench.data.unseen_classes` output. ``hyperspherical=True`` is the paper's model: the
    embedding L2-normalised and multiplied by ``scale`` (the tutorial's s = 10), a softmax layer without bias whose
    class weights have unit norm (Keras ``min_max_norm(1, 1)``), i.e. NormFace with scale s; a novel class's weight
    is the normalised mean of its support samples' normalised embeddings (``AddNewClass``). ``hyperspherical=False``
    is the baseline without the constraint: cross-entropy on a plain linear layer with bias, and a novel class's
    weight is the mean raw embedding, bias 0. A fraction ``support`` of each novel class (drawn with ``seed``) gives
    the prototypes; the rest is queried. Returns the accuracies on the seen test set, on the novel queries (among
    all classes) and on both together (the paper's *joint* scenario), ``seen_before``: the seen test set before
    any class is added, and ``novel_only``: the novel queries among
    the novel classes alone (the *disjoint* scenario)."""

    seen = data.num_classes
    encoder = MLP(64, embedding_dim, hidden=(128,), seed=seed)
    torch.manual_seed(seed)
    if hyperspherical:
        head = get_loss("normface", num_classes=seen, embedding_dim=embedding_dim, scale=scale)
        fit(encoder, head, data, epochs=epochs, lr=3e-3, batch_size=128, seed=seed, record=(), evaluate_every=None,
            verbose=False)
        weight, bias = F.normalize(head.weight.detach(), dim=1), torch.zeros(seen)
        features = lambda x: F.normalize(encoder(x), dim=1)  # noqa: E731  (the scale s does not change argmax)
    else:
        model = classifier(encoder, seen, seed=seed)
        fit(model, get_loss("cross_entropy"), data, epochs=epochs, lr=3e-3, batch_size=128, seed=seed, record=(),
            evaluate_every=None, verbose=False)
        weight, bias = model.head.weight.detach(), model.head.bias.detach()
        features = encoder
    x_new, y_new = data.meta["X_unseen"], data.meta["y_unseen"]
    g = torch.Generator().manual_seed(seed)
    is_support = torch.rand(len(y_new), generator=g) < support
    novel = sorted(set(y_new.tolist()))
    with torch.no_grad():
        f_support = features(x_new[is_support])
        prototypes = torch.stack([f_support[y_new[is_support] == c].mean(0) for c in novel])
        if hyperspherical:
            prototypes = F.normalize(prototypes, dim=1)
        weights = torch.cat([weight, prototypes])
        biases = torch.cat([bias, torch.zeros(len(novel))])
        before = (features(data.X_test) @ weight.T + bias).argmax(1)  # the trained classes alone
        seen_pred = (features(data.X_test) @ weights.T + biases).argmax(1)
        query = features(x_new[~is_support]) @ weights.T + biases
    y_query = y_new[~is_support]
    novel_only = query[:, seen:].argmax(1) + seen
    return {"seen_before": accuracy(before, data.y_test), "seen": accuracy(seen_pred, data.y_test),
            "novel": accuracy(query.argmax(1), y_query),
            "joint": accuracy(torch.cat([seen_pred, query.argmax(1)]), torch.cat([data.y_test, y_query])),
            "novel_only": accuracy(novel_only, y_query)}
# --- LaSO: label-set operations on the features of a trained multi-label model ---------------------------------

def laso_comparison(model: nn.Module, ds: Dataset, *, seed: int = 0, pairs: int = 1024, test_pairs: int = 1000,
                    epochs: int = 8, lr: float = 3e-3, batch_size: int = 256, layers: int = 1) -> pd.DataFrame:
    """Train LaSO's three operation networks (:class:`models.LaSO`, official objective
    :class:`train.LaSOObjective`) on the frozen penultimate features of a trained multi-label MLP ``model``
    (``WithHead(MLP, Linear)``, as ``models.for_kind("multilabel", ...)`` builds it; the features are its last
    hidden ReLU layer, the frozen classifier the rest), then score the synthesised label sets on label-sharing test
    pairs: the mAP of the classifier's logits on the synthesised feature vector against a ∪ b, a ∩ b and a \\ b.

    Baselines without the networks: ``feature arithmetic`` (the networks' residual alone: a + b, min(a, b),
    relu(a - b) on the features) and ``label arithmetic`` (the classifier's probabilities combined directly:
    max(p_a, p_b), min(p_a, p_b), p_a (1 - p_b) — what one would do if only the labels were wanted).
    Returns one row per (operation, method): ``seed``, ``operation``, ``method``, ``mAP``."""

    layers_ = list(model.encoder.net)
    base = nn.Sequential(*layers_[:-1]).eval()  # Flatten, Linear, ReLU, ...: post-ReLU features
    classify = nn.Sequential(layers_[-1], model.head).eval()
    with torch.no_grad():
        f_train, f_test = base(ds.X_train), base(ds.X_test)
    laso = LaSO(f_train.shape[1], layers=layers, seed=seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 18 tiny networks calls a step: on a shared 2-core machine extra threads cost 10x
    try:
        fit_laso(laso, classify, f_train, ds.y_train, pairs=pairs, epochs=epochs, lr=lr, batch_size=batch_size,
                 seed=seed)
    finally:
        torch.set_num_threads(threads)
    i, j = label_sharing_pairs(ds.y_test, test_pairs, torch.Generator().manual_seed(10_000 + seed))
    a, b = f_test[i], f_test[j]
    targets = label_set_targets(ds.y_test[i], ds.y_test[j])
    wanted = {"union": targets["a_U_b"], "intersection": targets["a_I_b"], "subtraction": targets["a_S_b"]}
    with torch.no_grad():
        pa, pb = torch.sigmoid(classify(a)), torch.sigmoid(classify(b))
        scores = {"LaSO": {k: classify(v) for k, v in laso.operations(a, b).items()},
                  "feature arithmetic": {k: classify(v) for k, v in LaSO.feature_arithmetic(a, b).items()},
                  "label arithmetic": {"union": torch.maximum(pa, pb), "intersection": torch.minimum(pa, pb),
                                       "subtraction": pa * (1 - pb)}}
    return pd.DataFrame([{"seed": seed, "operation": op, "method": method,
                          "mAP": mean_average_precision(s[op], wanted[op].long())}
                         for method, s in scores.items() for op in wanted])
