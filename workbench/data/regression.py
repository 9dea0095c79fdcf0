"""Continuous targets (kind ``regression``): sklearn's bundled diabetes set and a continuous attribute of digits.

``y_*`` is float32 here (the targets, standardised with the training split's mean and standard deviation); the
raw scale is in ``meta["target_mean"]``/``meta["target_std"]``. Nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_choice, check_int
from ._build import _bundled, _standardise, check_split
from .containers import Dataset
from .paired import digit_style


def _plain_split(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_size * n)))
    return order[n_test:], order[:n_test]


def _regression_set(name, X, t, train, test, *, standardise_x, description, meta=None) -> Dataset:
    Xtr, Xte = X[train], X[test]
    if standardise_x:
        Xtr, Xte = _standardise(Xtr, Xte)
    mean, std = float(t[train].mean()), float(t[train].std())
    z = (t - mean) / std
    meta = dict(meta or {}, target_mean=mean, target_std=std)
    as32 = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    return Dataset(name, as32(Xtr), as32(z[train]), as32(Xte), as32(z[test]), num_classes=0,
                   description=description, meta=meta)


def diabetes(*, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """Diabetes progression one year after baseline, 10 standardised features, 442 patients (Efron et al. 2004,
    sklearn's bundled copy). Targets standardised with the training split (raw: 25 to 346). Teaches: contrastive
    regression on a small real set, where few samples share a target."""
    seed, test_size = check_split(seed, test_size)
    from sklearn import datasets

    bunch = datasets.load_diabetes()
    X, t = bunch.data.astype(np.float64), bunch.target.astype(np.float64)
    train, test = _plain_split(len(t), test_size, seed)
    return _regression_set("diabetes", X, t, train, test, standardise_x=True,
                           description="sklearn diabetes (442 patients), standardised target")


ATTRIBUTES = ("ink", "x_centre", "y_centre")


def digit_attribute(*, attribute: str = "ink", n_train: int | None = None, seed: int = 0,
                    test_size: float = 0.25) -> Dataset:
    """Digits with a continuous target: one :func:`digit_style` attribute of each image, ``"ink"`` (total ink,
    the default), ``"x_centre"`` or ``"y_centre"`` (centre of mass of the ink). The pixels (in [0, 1]) are the
    input; the class id is kept in ``meta["class_train"]``/``meta["class_test"]``. ``n_train`` keeps only that many
    training rows (few samples), drawn with the seed. Teaches: regression where the target is a smooth function of
    the input, and embeddings that should order the samples by it."""
    seed, test_size = check_split(seed, test_size)
    check_choice(attribute, "attribute", ATTRIBUTES)
    X, y = _bundled("digits")
    X = X / 16.0
    t = digit_style(X)[:, ATTRIBUTES.index(attribute)]
    train, test = _plain_split(len(t), test_size, seed)
    if n_train is not None:
        n_train = check_int(n_train, "n_train", low=2, high=len(train))
        train = train[:n_train]
    meta = {"class_train": torch.as_tensor(y[train]), "class_test": torch.as_tensor(y[test]), "attribute": attribute}
    return _regression_set("digit_attribute", X, t, train, test, standardise_x=False,
                           description=f"digits with their {attribute} as a standardised target", meta=meta)
