"""Shared steps of the dataset builders: argument checks, stratified split, train-only standardisation,
conversion to the dtypes every loss expects."""

from __future__ import annotations

import functools

import numpy as np
import torch

from .._checks import check_int, check_number
from .containers import Dataset


def check_split(seed, test_size) -> tuple[int, float]:
    """The two arguments every builder takes: a seed (an int >= 0) and the test fraction (in (0, 1))."""
    return check_int(seed, "seed", low=0), check_number(test_size, "test_size", low=0.0, high=1.0, low_open=True,
                                                         high_open=True)


def _split(X: np.ndarray, y: np.ndarray, *extra: np.ndarray, test_size: float, seed: int):
    """Stratified split so that every class keeps its share in both halves (small sets need it)."""
    # Imported here: sklearn.model_selection pulls in scipy, seconds of import for users of the rest.
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, *extra, test_size=test_size, stratify=y, random_state=seed)


def _standardise(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale with TRAIN statistics only: using test statistics would leak the test set."""
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    # A constant feature has std 0; dividing by 1 instead keeps it finite (StandardScaler's rule).
    std = np.where(std < 1e-8, 1.0, std)
    return (X_train - mean) / std, (X_test - mean) / std


def _make(name, X_train, y_train, X_test, y_test, num_classes, **kwargs) -> Dataset:
    """Build a Dataset, converting to the dtypes every loss expects (float32 inputs, int64 labels)."""
    return Dataset(
        name=name,
        X_train=torch.as_tensor(np.ascontiguousarray(X_train), dtype=torch.float32),
        y_train=torch.as_tensor(np.ascontiguousarray(y_train), dtype=torch.int64),
        X_test=torch.as_tensor(np.ascontiguousarray(X_test), dtype=torch.float32),
        y_test=torch.as_tensor(np.ascontiguousarray(y_test), dtype=torch.int64),
        num_classes=int(num_classes),
        **kwargs,
    )


def _generated(name, X, y, num_classes, *, test_size, seed, standardise=False, **kwargs) -> Dataset:
    Xtr, Xte, ytr, yte = _split(X, y, test_size=test_size, seed=seed)
    if standardise:
        Xtr, Xte = _standardise(Xtr, Xte)
    return _make(name, Xtr, ytr, Xte, yte, num_classes, **kwargs)


@functools.cache
def _bundled(which: str) -> tuple[np.ndarray, np.ndarray]:
    # Cached: the bundled files are parsed from disk on every call otherwise. Callers must not mutate.
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{which}")()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def _subsample_meta(meta: dict, split: str, idx: torch.Tensor, n: int) -> dict:
    """Index the per-sample meta entries of one split so they stay aligned with the kept rows."""
    out = dict(meta)
    for key, value in meta.items():
        if split in key.split("_") and isinstance(value, torch.Tensor) and value.dim() > 0:
            if value.shape[0] == n:
                out[key] = value[idx]
    return out
