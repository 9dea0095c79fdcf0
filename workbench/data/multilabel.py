"""Several labels per sample and graded relevance: digits side by side (multi-label), relevance matrices.

No downloads: the digits are sklearn's bundled 8x8 images, recombined with a seed.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_int, check_number
from ._build import _bundled, _make, _split, check_split
from .containers import Dataset


def _class_probabilities(imbalance: float) -> np.ndarray:
    # label c is drawn with probability ∝ imbalance^(-c/9): digit 0 the most frequent, 9 the rarest
    p = imbalance ** (-np.arange(10) / 9.0)
    return p / p.sum()


def _compose(pool_X, pool_y, n, slots, fill, co_occurrence, probs, rng):
    """``n`` images of ``slots`` digits side by side ([n, 8 * 8 * slots], blank slots all zero) and their
    multi-hot labels [n, 10]."""
    first = rng.choice(10, size=n, p=probs)
    present = rng.random((n, slots)) < fill
    present[:, 0] = True  # the first slot always holds a digit
    partner = rng.random((n, slots)) < co_occurrence  # the first digit's partner: labels c and c + 1 co-occur
    fresh = rng.choice(10, size=(n, slots), p=probs)
    classes = np.where(partner, (first[:, None] + 1) % 10, fresh)
    classes[:, 0] = first
    picks = np.zeros((n, slots), dtype=np.int64)
    u = rng.random((n, slots))
    for c in range(10):  # a random image of class c from the pool, for every slot showing c
        members = np.flatnonzero(pool_y == c)
        where = classes == c
        picks[where] = members[(u[where] * len(members)).astype(np.int64)]
    tiles = pool_X[picks].reshape(n, slots, 8, 8) * present[:, :, None, None]
    images = tiles.transpose(0, 2, 1, 3).reshape(n, 8, 8 * slots)  # slots side by side
    labels = np.zeros((n, 10), dtype=np.int64)
    rows = np.repeat(np.arange(n), slots)
    labels[rows[present.ravel()], classes.ravel()[present.ravel()]] = 1
    return images.reshape(n, -1), labels


def multilabel_digits(*, n_train: int = 1500, n_test: int = 600, slots: int = 3, fill: float = 0.6,
                      co_occurrence: float = 0.0, imbalance: float = 1.0, seed: int = 0,
                      test_size: float = 0.25) -> Dataset:
    """Multi-label digits: ``slots`` 8x8 digits side by side in one image, labelled with the set of digits shown.

    The first slot always holds a digit; every further slot holds one with probability ``fill`` (else it stays
    blank), so the label cardinality runs from 1 to ``slots`` (mean about ``1 + (slots - 1) * fill``, less where a
    digit repeats). A further digit is the first one's *partner* (class c + 1 mod 10) with probability
    ``co_occurrence``, else drawn afresh: ``co_occurrence`` sets how strongly label pairs (c, c + 1) go together.
    Classes are drawn with probability proportional to ``imbalance^(-c/9)``: 1 is uniform, 20 makes digit 9
    twenty times rarer than digit 0 (rare labels, for per-label AUC). Train and test images come from disjoint
    halves of sklearn's digits (split with ``test_size``), so no test digit was seen in training.

    ``X_*`` is ``[N, 64 * slots]`` (pixels in [0, 1], row-major of the ``8 x 8*slots`` image), ``y_*`` the multi-hot
    ``[N, 10]`` int64 targets. ``meta``: ``"slots"``, ``"cardinality_train"``/``"cardinality_test"`` (labels per
    image) and ``"class_probabilities"``. Teaches: multi-label losses (BCE, ASL, ZLPR), label imbalance
    (each label has far more negatives than positives) and label co-occurrence.
    """
    seed, test_size = check_split(seed, test_size)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    slots = check_int(slots, "slots", low=1, high=8)
    fill = check_number(fill, "fill", low=0.0, high=1.0)
    co_occurrence = check_number(co_occurrence, "co_occurrence", low=0.0, high=1.0)
    imbalance = check_number(imbalance, "imbalance", low=1.0)
    X, y = _bundled("digits")
    Xtr, Xte, ytr, yte = _split(X / 16.0, y, test_size=test_size, seed=seed)
    rng = np.random.default_rng(seed)
    probs = _class_probabilities(imbalance)
    Xa, Ya = _compose(Xtr, ytr, n_train, slots, fill, co_occurrence, probs, rng)
    Xb, Yb = _compose(Xte, yte, n_test, slots, fill, co_occurrence, probs, rng)
    meta = {"slots": slots, "cardinality_train": torch.as_tensor(Ya.sum(1)),
            "cardinality_test": torch.as_tensor(Yb.sum(1)),
            "class_probabilities": torch.as_tensor(probs, dtype=torch.float32)}
    desc = (f"{slots} digits side by side, multi-hot labels (fill {fill:g}, co-occurrence {co_occurrence:g}, "
            f"imbalance {imbalance:g})")
    return _make("multilabel_digits", Xa, Ya, Xb, Yb, 10, description=desc, meta=meta)


def jaccard_relevance(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Graded relevance between label sets: ``|A ∩ B| / |A ∪ B|`` for multi-hot rows of ``a`` [N, C] against
    ``b`` [M, C] (``b = a`` when None), in [0, 1], 1 for identical sets (and for two empty sets)."""
    b = a if b is None else b
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2:
            raise ValueError(f"{name} must be a multi-hot tensor [N, C], got {getattr(t, 'shape', type(t))}")
        if not ((t == 0) | (t == 1)).all():
            raise ValueError(f"{name} must hold 0/1 values")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of labels, got {a.shape[1]} and {b.shape[1]}")
    a, b = a.double(), b.double()
    inter = a @ b.T
    union = a.sum(1, keepdim=True) + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter)).float()


def style_relevance(labels: torch.Tensor, style: torch.Tensor, *, bandwidth: float = 1.0) -> torch.Tensor:
    """Graded relevance of digits: 0 between different classes, ``exp(-||s_i - s_j||^2 / (2 bandwidth^2))``
    between two digits of the same class with style vectors ``s`` (e.g. :func:`digit_style`, standardised), so 1
    on the diagonal and less for the same digit written differently."""
    bandwidth = check_number(bandwidth, "bandwidth", low=0.0, low_open=True)
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise ValueError("labels must be a tensor [N] of class ids")
    if not isinstance(style, torch.Tensor) or style.dim() != 2 or len(style) != len(labels):
        raise ValueError(f"style must be a tensor [{len(labels)}, S], got {getattr(style, 'shape', type(style))}")
    same = labels[:, None] == labels[None, :]
    d2 = torch.cdist(style.double(), style.double()).pow(2)
    return (torch.exp(-d2 / (2 * bandwidth ** 2)) * same).float()
