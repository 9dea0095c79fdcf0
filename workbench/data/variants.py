"""Variants of a :class:`Dataset` that return a new one, so they compose:
``label_noise(long_tailed(digits()))``; and the seen/unseen class split of metric learning."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .._checks import check_int, check_number
from ._build import _subsample_meta
from .containers import Dataset


def long_tailed(ds: Dataset, *, imbalance_ratio: float = 10.0, seed: int = 0, order=None) -> Dataset:
    """Subsample the TRAIN split to an exponential long-tailed profile; the test split stays balanced.

    Class c keeps ``round(n_max * imbalance_ratio ** (-c / (C - 1)))`` samples (at least 1), class 0
    being the head. ``n_max`` is the smallest train class count, the largest head size every class
    can afford, so the head/tail ratio is exactly the requested one up to rounding.
    ``order``: the classes from head to tail (a permutation of ``range(C)``; default ``range(C)``), so a
    study can check that an effect follows the class *frequency* and not the class identity: the class
    ``order[r]`` keeps the ``r``-th count of the profile. ``meta["class_counts"]`` stays indexed by class.
    ``meta["class_counts"]`` holds the kept counts. Teaches: how cross-entropy favours the head
    classes, and what re-weighting or margin-adjusting losses do about it.
    """
    seed = check_int(seed, "seed", low=0)
    imbalance_ratio = check_number(imbalance_ratio, "imbalance_ratio", low=1.0)
    C = ds.num_classes
    if C < 2:
        raise ValueError(f"num_classes must be >= 2 for long_tailed, got {C}")
    y = ds.y_train.numpy()
    available_counts = np.bincount(y, minlength=C)
    n_max = int(available_counts.min())
    if n_max < 1:
        raise ValueError("every class needs at least one train sample for long_tailed")
    profile = [max(1, round(n_max * imbalance_ratio ** (-r / (C - 1)))) for r in range(C)]
    order = list(range(C)) if order is None else [check_int(c, "order") for c in order]
    if sorted(order) != list(range(C)):
        raise ValueError(f"order must be a permutation of range({C}) (head to tail), got {order}")
    targets = [0] * C
    for rank, c in enumerate(order):
        targets[c] = profile[rank]
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), size=targets[c], replace=False) for c in range(C)]
    )
    idx = torch.as_tensor(np.sort(keep))  # sorted: keep the original sample order
    meta = _subsample_meta(ds.meta, "train", idx, ds.n_train)
    meta.update(class_counts=targets, imbalance_ratio=imbalance_ratio)
    return dataclasses.replace(
        ds,
        name=f"{ds.name}-lt{imbalance_ratio:g}",
        X_train=ds.X_train[idx],
        y_train=ds.y_train[idx],
        description=f"{ds.description} | long-tailed train split, ratio {imbalance_ratio:g}",
        meta=meta,
    )


def label_noise(ds: Dataset, *, rate: float = 0.2, kind: str = "symmetric", seed: int = 0) -> Dataset:
    """Corrupt a fraction of the TRAIN labels; the test labels stay clean.

    Exactly ``round(rate * N)`` train samples, chosen at random, get a wrong label: ``"symmetric"``
    draws it uniformly from the other classes, ``"pairflip"`` maps c -> (c + 1) % C (structured
    noise, harder). ``meta["y_train_clean"]`` keeps the labels as they were before this call and
    ``meta["noise_rate"]`` the measured fraction changed. Teaches: why bounded, symmetric losses
    (MAE, GCE) resist noisy labels while cross-entropy memorises them.
    """
    seed = check_int(seed, "seed", low=0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be in [0, 1), got {rate!r}")
    if kind not in ("symmetric", "pairflip"):
        raise ValueError(f"kind must be 'symmetric' or 'pairflip', got {kind!r}")
    C = ds.num_classes
    if C < 2:
        raise ValueError(f"num_classes must be >= 2 to flip labels, got {C}")
    clean = ds.y_train.numpy()
    N = clean.size
    rng = np.random.default_rng(seed)
    chosen = rng.choice(N, size=round(rate * N), replace=False)
    noisy = clean.copy()
    if kind == "symmetric":
        # Adding an offset in 1..C-1 modulo C is a uniform draw over the C-1 other classes.
        noisy[chosen] = (clean[chosen] + rng.integers(1, C, size=chosen.size)) % C
    else:
        noisy[chosen] = (clean[chosen] + 1) % C
    meta = dict(ds.meta)
    meta.update(
        y_train_clean=ds.y_train.clone(),
        noise_rate=float((noisy != clean).mean()) if N else 0.0,
        noise_kind=kind,
    )
    return dataclasses.replace(
        ds,
        name=f"{ds.name}-noisy{rate:g}-{kind}",
        y_train=torch.as_tensor(noisy, dtype=torch.int64),
        description=f"{ds.description} | {kind} label noise {rate:g} on train",
        meta=meta,
    )


def one_vs_rest(ds: Dataset, *, positive: int = 0, imbalance: float = 20.0, seed: int = 0) -> Dataset:
    """Binary relabelling: class ``positive`` -> 1, every other class -> 0, with rare positives.

    In TRAIN and TEST the positives are subsampled so that negatives : positives is about
    ``imbalance`` (at least 2 positives kept per split, never more than exist). The measured ratios
    are in ``meta["imbalance_train"]`` / ``meta["imbalance_test"]``. Teaches: why accuracy and
    cross-entropy fail on rare positives, and what AUC losses (AUC-M, MW) optimise instead.
    """
    seed = check_int(seed, "seed", low=0)
    imbalance = check_number(imbalance, "imbalance", low=1.0)
    if isinstance(positive, bool) or not isinstance(positive, (int, np.integer)):
        raise ValueError(f"positive must be a class id, got {positive!r}")
    if not 0 <= positive < ds.num_classes:
        raise ValueError(f"positive must be in [0, {ds.num_classes}), got {positive}")
    rng = np.random.default_rng(seed)
    meta = dict(ds.meta)
    parts = {}
    for split in ("train", "test"):
        X, y = getattr(ds, f"X_{split}"), getattr(ds, f"y_{split}")
        yb = (y == positive).numpy()
        pos, neg = np.flatnonzero(yb), np.flatnonzero(~yb)
        n_pos = min(pos.size, max(2, round(neg.size / imbalance)))
        keep = np.sort(np.concatenate([neg, rng.choice(pos, size=n_pos, replace=False)]))
        idx = torch.as_tensor(keep)
        meta = _subsample_meta(meta, split, idx, y.shape[0])
        parts[f"X_{split}"] = X[idx]
        parts[f"y_{split}"] = torch.as_tensor(yb[keep], dtype=torch.int64)
        meta[f"imbalance_{split}"] = neg.size / n_pos if n_pos else math.inf
        if split == "train":
            meta["class_counts"] = [int(neg.size), int(n_pos)]
    meta["positive_class"] = int(positive)
    return dataclasses.replace(
        ds,
        name=f"{ds.name}-{positive}vsrest",
        num_classes=2,
        description=f"{ds.description} | class {positive} vs rest, about 1:{imbalance:g}",
        meta=meta,
        **parts,
    )


def unseen_classes(ds: Dataset, *, seen: int = 5) -> Dataset:
    """Split by class for retrieval on classes never seen in training (the metric-learning protocol).

    Train and test keep only the classes ``0 .. seen-1`` (so ``fit``'s probe measures the seen
    classes); every sample of the other classes, from both splits, goes to ``meta["X_unseen"]`` /
    ``meta["y_unseen"]`` (labels kept as they are, e.g. 5-9) for retrieval: Recall@k, MAP@R, NMI.
    """
    seen = check_int(seen, "seen", low=1)
    if seen >= ds.num_classes:
        raise ValueError(f"seen must be < num_classes={ds.num_classes} (some classes must stay unseen), got {seen}")
    train, test = ds.y_train < seen, ds.y_test < seen
    X_unseen = torch.cat([ds.X_train[~train], ds.X_test[~test]])
    y_unseen = torch.cat([ds.y_train[~train], ds.y_test[~test]])
    meta = {"X_unseen": X_unseen, "y_unseen": y_unseen, "seen": seen}
    return Dataset(f"{ds.name}_seen{seen}", ds.X_train[train], ds.y_train[train], ds.X_test[test], ds.y_test[test],
                   seen, augment=ds.augment, description=f"{ds.description}; classes >= {seen} held out as unseen",
                   meta=meta)


def one_class(ds: Dataset, *, normal: int = 0) -> Dataset:
    """One-class (anomaly / anti-spoofing) split: train on class ``normal`` alone, test on everything.

    Train keeps only the samples of class ``normal`` (label 0); test keeps every sample, labelled 0 for
    ``normal`` and 1 for any other class (the "attacks" a one-class detector never saw), with the original
    classes in ``meta["y_test_original"]``. ``num_classes`` is 2 so that a detector can be trained against a
    second, synthetic class (Hyp-OC's Gaussian pseudo-negatives, ``train.pseudo_negative_batch_loss``).
    """
    if isinstance(normal, bool) or not isinstance(normal, (int, np.integer)):
        raise ValueError(f"normal must be a class id, got {normal!r}")
    if not 0 <= normal < ds.num_classes:
        raise ValueError(f"normal must be in [0, {ds.num_classes}), got {normal}")
    train = ds.y_train == normal
    if not train.any():
        raise ValueError(f"normal class {normal} has no training samples")
    meta = _subsample_meta(dict(ds.meta), "train", torch.nonzero(train).flatten(), ds.n_train)
    meta.update(y_test_original=ds.y_test.clone(), normal_class=int(normal))
    return dataclasses.replace(
        ds, name=f"{ds.name}-oneclass{normal}", X_train=ds.X_train[train],
        y_train=torch.zeros(int(train.sum()), dtype=torch.int64), y_test=(ds.y_test != normal).long(),
        num_classes=2, description=f"{ds.description} | one class: train on {normal} only, test {normal} vs rest",
        meta=meta)


def few_per_class(ds: Dataset, *, n: int = 5, seed: int = 0) -> Dataset:
    """Keep ``n`` training samples of every class, drawn at random (seeded); the test set is unchanged.

    For a student that gets few labels while its teacher was trained on the full set (knowledge distillation), or
    any few-label experiment. Every class must have at least ``n`` training samples; per-sample train entries of
    ``meta`` follow the kept rows.
    """
    n = check_int(n, "n", low=1)
    seed = check_int(seed, "seed", low=0)
    counts = torch.bincount(ds.y_train, minlength=ds.num_classes)
    if int(counts.min()) < n:
        raise ValueError(f"n must be <= the smallest training class count ({int(counts.min())}), got {n}")
    generator = torch.Generator().manual_seed(seed)
    keep = torch.cat([idx[torch.randperm(len(idx), generator=generator)[:n]]
                      for idx in (torch.nonzero(ds.y_train == c).flatten() for c in range(ds.num_classes))])
    keep = keep.sort().values
    return dataclasses.replace(
        ds, name=f"{ds.name}-{n}perclass", X_train=ds.X_train[keep], y_train=ds.y_train[keep],
        description=f"{ds.description} | {n} train samples per class", meta=_subsample_meta(ds.meta, "train", keep,
                                                                                              ds.n_train))
