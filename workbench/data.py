"""Datasets and generators for Loss Lab.

Everything here is small enough to train on a laptop CPU in seconds, and nothing is downloaded:
the real data sets are the copies scikit-learn ships inside its wheel (digits, breast cancer, wine)
and everything else is generated from a seed. Every function takes ``seed`` and the same seed gives
identical tensors.

The variants (:func:`long_tailed`, :func:`label_noise`, :func:`one_vs_rest`) take a
:class:`Dataset` and return a new one, so they compose: ``label_noise(long_tailed(digits()))``.

This module is the left end of the data flow (data -> models -> losses -> ...): it imports nothing
else from ``workbench``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = [
    "Dataset",
    "DigitAugment",
    "available",
    "breast_cancer",
    "digit_views",
    "digits",
    "hierarchical_clusters",
    "label_noise",
    "load",
    "long_tailed",
    "moons",
    "one_vs_rest",
    "sphere_blobs",
    "spirals",
    "wine",
]


# --------------------------------------------------------------------------------------------------
# The container
# --------------------------------------------------------------------------------------------------


# eq=False: the generated __eq__/__hash__ would compare tensors elementwise (ambiguous truth value)
# and try to hash the meta dict; identity semantics are what a container of tensors needs.
@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split ready for training.

    ``X_*`` are float32 (flat features ``[N, D]``, or images ``[N, 1, 8, 8]`` for image digits),
    ``y_*`` are int64 class ids in ``[0, num_classes)``. ``augment(X, generator)`` returns one random
    view of a batch (same shape), for multi-view and contrastive losses. ``meta`` holds extras such
    as clean labels, class counts or sub-cluster ids; per-sample entries have ``train``/``test`` in
    their key (``"y_train_clean"``, ``"subclass_test"``) so the variants can keep them aligned.
    """

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    description: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        # Catch misaligned hand-built datasets here, not as an index error deep inside a training loop.
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"X_{split} has {X.shape[0]} rows but y_{split} has {y.shape[0]}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(64,)`` or ``(1, 8, 8)``."""
        return tuple(self.X_train.shape[1:])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    def __repr__(self) -> str:
        aug = ", augment" if self.augment is not None else ""
        return (
            f"Dataset({self.name!r}, train={self.n_train}, test={self.n_test}, "
            f"input_shape={self.input_shape}, classes={self.num_classes}{aug})"
        )


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_test_size(test_size) -> float:
    if not (isinstance(test_size, (int, float)) and 0.0 < test_size < 1.0):
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    return float(test_size)


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_float(name: str, value, low: float, *, strict: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        raise ValueError(f"{name} must be a number {'>' if strict else '>='} {low}, got {value!r}")
    return float(value)


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


# --------------------------------------------------------------------------------------------------
# Real data (scikit-learn's bundled copies)
# --------------------------------------------------------------------------------------------------


def digits(*, seed: int = 0, test_size: float = 0.25, image: bool = False) -> Dataset:
    """Handwritten digits, 8x8 grey images, 10 classes (1797 samples; UCI, Alpaydin & Kaynak).

    Pixels are scaled to [0, 1]. ``image=True`` gives ``[N, 1, 8, 8]`` for convolutional encoders and
    augmentation. Teaches: the default real task -- big enough for embeddings with visible class
    structure, small enough to train any loss in seconds.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    X, y = _bundled("digits")
    Xtr, Xte, ytr, yte = _split(X / 16.0, y, test_size=test_size, seed=seed)
    if image:
        Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
    return _make(
        "digits", Xtr, ytr, Xte, yte, 10, description="sklearn 8x8 handwritten digits, pixels in [0, 1]"
    )


def breast_cancer(*, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """Wisconsin diagnostic breast cancer, 30 features, 2 classes (569 samples; Wolberg et al.).

    Standardised with the train split's statistics. Teaches: a real, mildly imbalanced binary task
    (212 malignant vs 357 benign) for binary and AUC losses.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    X, y = _bundled("breast_cancer")
    desc = "sklearn breast cancer (Wisconsin diagnostic), standardised; 0=malignant, 1=benign"
    return _generated(
        "breast_cancer", X, y, 2, test_size=test_size, seed=seed, standardise=True, description=desc
    )


def wine(*, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """Wine recognition, 13 chemical features, 3 cultivars (178 samples; Forina et al.).

    Standardised with the train split's statistics. Teaches: a tiny tabular task where losses
    separate easily -- good for seeing overfitting and calibration with very few samples.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    X, y = _bundled("wine")
    desc = "sklearn wine recognition, standardised"
    return _generated("wine", X, y, 3, test_size=test_size, seed=seed, standardise=True, description=desc)


# --------------------------------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------------------------------


def sphere_blobs(
    *,
    n_per_class: int = 100,
    num_classes: int = 4,
    dim: int = 2,
    concentration: float = 8.0,
    seed: int = 0,
    test_size: float = 0.25,
) -> Dataset:
    """Clusters on the unit sphere S^{dim-1} (approximate von Mises-Fisher blobs).

    Class means are random unit vectors; a point is ``mean * concentration + N(0, I)``, normalised.
    Higher concentration = tighter blobs; 0 = uniform on the sphere. Teaches: the geometry that
    normalised-embedding losses (NormFace, ArcFace, InfoNCE) live on -- alignment and uniformity are
    measured on exactly this sphere. ``meta["means"]`` holds the class means.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    n_per_class = _check_int("n_per_class", n_per_class, 2)
    num_classes = _check_int("num_classes", num_classes, 2)
    dim = _check_int("dim", dim, 2)
    concentration = _check_float("concentration", concentration, 0.0)
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((num_classes, dim))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    y = np.repeat(np.arange(num_classes), n_per_class)
    X = means[y] * concentration + rng.standard_normal((y.size, dim))
    # A norm of exactly 0 has probability 0 for a gaussian; the floor only guards the division.
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    desc = f"{num_classes} vMF-like blobs on S^{dim - 1}, concentration {concentration:g}"
    meta = {"means": torch.as_tensor(means, dtype=torch.float32), "concentration": concentration}
    return _generated(
        "sphere_blobs", X, y, num_classes, test_size=test_size, seed=seed, description=desc, meta=meta
    )


def moons(*, n: int = 400, noise: float = 0.1, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """Two interleaving half circles (as sklearn's make_moons), standardised, 2 classes.

    Teaches: a non-linear boundary in 2-D, so decision regions and embeddings can be drawn directly.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    n = _check_int("n", n, 4)
    noise = _check_float("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.concatenate(
        [np.stack([np.cos(t_out), np.sin(t_out)], 1), np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], 1)]
    )
    X += noise * rng.standard_normal(X.shape)
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    desc = f"two moons, noise {noise:g}, standardised"
    return _generated("moons", X, y, 2, test_size=test_size, seed=seed, standardise=True, description=desc)


def spirals(
    *,
    n_per_class: int = 200,
    num_classes: int = 2,
    noise: float = 0.2,
    turns: float = 1.5,
    seed: int = 0,
    test_size: float = 0.25,
) -> Dataset:
    """Interleaved spiral arms, one per class, standardised, 2-D.

    Arm k has radius r in [0, 1] and angle ``2*pi*turns*r + 2*pi*k/C``; ``noise`` is the std of a
    gaussian jitter on the angle (so it blurs the outer turns more, in absolute distance, than the
    centre). Teaches: a task a linear model cannot solve -- a deep encoder has to learn the geometry.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    n_per_class = _check_int("n_per_class", n_per_class, 2)
    num_classes = _check_int("num_classes", num_classes, 2)
    noise = _check_float("noise", noise, 0.0)
    turns = _check_float("turns", turns, 0.0, strict=True)
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), num_classes)
    y = np.repeat(np.arange(num_classes), n_per_class)
    theta = 2 * np.pi * (turns * r + y / num_classes) + noise * rng.standard_normal(r.size)
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    desc = f"{num_classes} spiral arms, {turns:g} turns, angle noise {noise:g}, standardised"
    return _generated(
        "spirals", X, y, num_classes, test_size=test_size, seed=seed, standardise=True, description=desc
    )


def hierarchical_clusters(
    *,
    num_classes: int = 4,
    subclusters: int = 3,
    n_per_subcluster: int = 40,
    dim: int = 16,
    class_spread: float = 3.0,
    sub_spread: float = 1.0,
    noise: float = 0.3,
    seed: int = 0,
    test_size: float = 0.25,
) -> Dataset:
    """Classes made of sub-clusters: class centre ~ N(0, class_spread^2), sub-centre = class centre
    + N(0, sub_spread^2), point = sub-centre + N(0, noise^2).

    Teaches: the uniformity-tolerance dilemma of contrastive learning. A low temperature pushes all
    instances apart and breaks up the sub-clusters of a class; a loss that is "tolerant" keeps
    semantically close samples together. ``meta["subclass_train"]`` / ``meta["subclass_test"]`` hold
    the global sub-cluster id ``class * subclusters + s``, so ``subclass // subclusters == class``.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    num_classes = _check_int("num_classes", num_classes, 2)
    subclusters = _check_int("subclusters", subclusters, 1)
    n_per_subcluster = _check_int("n_per_subcluster", n_per_subcluster, 1)
    dim = _check_int("dim", dim, 1)
    class_spread = _check_float("class_spread", class_spread, 0.0)
    sub_spread = _check_float("sub_spread", sub_spread, 0.0)
    noise = _check_float("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    class_centres = class_spread * rng.standard_normal((num_classes, dim))
    sub = np.arange(num_classes * subclusters)  # global sub-cluster ids, class-major
    sub_centres = class_centres[sub // subclusters] + sub_spread * rng.standard_normal((sub.size, dim))
    s = np.repeat(sub, n_per_subcluster)
    X = sub_centres[s] + noise * rng.standard_normal((s.size, dim))
    y = s // subclusters
    Xtr, Xte, ytr, yte, str_, ste = _split(X, y, s, test_size=test_size, seed=seed)
    desc = f"{num_classes} classes x {subclusters} sub-clusters in {dim}-D"
    meta = {
        "subclass_train": torch.as_tensor(str_, dtype=torch.int64),
        "subclass_test": torch.as_tensor(ste, dtype=torch.int64),
        "subclusters": subclusters,
    }
    return _make("hierarchical_clusters", Xtr, ytr, Xte, yte, num_classes, description=desc, meta=meta)


# --------------------------------------------------------------------------------------------------
# Variants of an existing dataset
# --------------------------------------------------------------------------------------------------


def long_tailed(ds: Dataset, *, imbalance_ratio: float = 10.0, seed: int = 0) -> Dataset:
    """Subsample the TRAIN split to an exponential long-tailed profile; the test split stays balanced.

    Class c keeps ``round(n_max * imbalance_ratio ** (-c / (C - 1)))`` samples (at least 1), class 0
    being the head. ``n_max`` is the smallest train class count, the largest head size every class
    can afford, so the head/tail ratio is exactly the requested one up to rounding.
    ``meta["class_counts"]`` holds the kept counts. Teaches: how cross-entropy favours the head
    classes, and what re-weighting or margin-adjusting losses do about it.
    """
    seed = _check_seed(seed)
    imbalance_ratio = _check_float("imbalance_ratio", imbalance_ratio, 1.0)
    C = ds.num_classes
    if C < 2:
        raise ValueError(f"num_classes must be >= 2 for long_tailed, got {C}")
    y = ds.y_train.numpy()
    available_counts = np.bincount(y, minlength=C)
    n_max = int(available_counts.min())
    if n_max < 1:
        raise ValueError("every class needs at least one train sample for long_tailed")
    targets = [max(1, round(n_max * imbalance_ratio ** (-c / (C - 1)))) for c in range(C)]
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
    seed = _check_seed(seed)
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
    seed = _check_seed(seed)
    imbalance = _check_float("imbalance", imbalance, 1.0)
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


# --------------------------------------------------------------------------------------------------
# Views: augmentation of digits
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitAugment:
    """One random view of a batch of 8x8 digits in [0, 1]: shift, then noise, then masking, clipped.

    ``shift``: per-sample integer translation of up to ``shift`` pixels in x and y, with zero fill
    (ink shifted off the edge is lost, none is created). ``noise``: std of additive gaussian noise.
    ``mask``: fraction of pixels set to 0 (in expectation). Works on ``[N, 1, 8, 8]``, ``[N, 8, 8]``
    and flat ``[N, 64]`` and returns the input's shape. All randomness comes from the generator, so
    a seeded generator reproduces the same views.
    """

    shift: int = 1
    noise: float = 0.1
    mask: float = 0.15

    def __post_init__(self):
        _check_int("shift", self.shift, 0)
        if self.shift > 7:
            raise ValueError(f"shift must be <= 7 for 8x8 images, got {self.shift}")
        _check_float("noise", self.noise, 0.0)
        if not 0.0 <= _check_float("mask", self.mask, 0.0) < 1.0:
            raise ValueError(f"mask must be a fraction in [0, 1), got {self.mask!r}")

    def __call__(self, X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if X.dim() < 2 or X[0].numel() != 64:
            raise ValueError(
                f"X must be a batch of 8x8 digits, [N, 64] or [N, 1, 8, 8]; got {tuple(X.shape)}"
            )
        shape, N = X.shape, X.shape[0]
        img = X.reshape(N, 8, 8)

        def draw(fn, *size, **kw):
            # Draw on the generator's device (CPU) and move, so CUDA inputs work with a CPU generator.
            return fn(*size, generator=generator, **kw).to(X.device)

        if self.shift > 0:
            s = self.shift
            padded = torch.nn.functional.pad(img, (s, s, s, s))
            dy = draw(torch.randint, -s, s + 1, (N,))
            dx = draw(torch.randint, -s, s + 1, (N,))
            ar = torch.arange(8, device=X.device)
            rows = (s - dy)[:, None] + ar  # window start s - dy moves the content down by dy
            cols = (s - dx)[:, None] + ar
            img = padded[torch.arange(N, device=X.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
        if self.noise > 0:
            img = img + self.noise * draw(torch.randn, img.shape, dtype=img.dtype)
        if self.mask > 0:
            img = img.masked_fill(draw(torch.rand, img.shape) < self.mask, 0.0)
        return img.clamp(0.0, 1.0).reshape(shape)


def digit_views(
    *,
    seed: int = 0,
    test_size: float = 0.25,
    image: bool = True,
    shift: int = 1,
    noise: float = 0.1,
    mask: float = 0.15,
) -> Dataset:
    """Digits with a :class:`DigitAugment` as ``augment``: two calls give two views of the same digit.

    Teaches: self-supervised and multi-view contrastive learning (NT-Xent, SupCon, DHEL) -- the
    positive pair is two augmentations of one image, so what the augmentation destroys is what the
    representation learns to ignore.
    """
    aug = DigitAugment(shift=shift, noise=noise, mask=mask)  # first: bad arguments fail before loading
    base = digits(seed=seed, test_size=test_size, image=image)
    return dataclasses.replace(
        base,
        name="digit_views",
        augment=aug,
        description=f"{base.description}; views: shift {shift}, noise {noise:g}, mask {mask:g}",
    )


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": digits,
    "breast_cancer": breast_cancer,
    "wine": wine,
    "sphere_blobs": sphere_blobs,
    "moons": moons,
    "spirals": spirals,
    "hierarchical_clusters": hierarchical_clusters,
    "digit_views": digit_views,
}


def available() -> list[str]:
    """Sorted names accepted by :func:`load`."""
    return sorted(_LOADERS)


def load(name: str, **kwargs) -> Dataset:
    """Load a dataset by name, passing keyword arguments to its function (e.g. ``seed=1``)."""
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(available())}")
    return _LOADERS[name](**kwargs)


# --------------------------------------------------------------------------------------------------
# --- paired modalities (contrastive, issue 4) ---
# --------------------------------------------------------------------------------------------------


def digit_style(X: np.ndarray) -> np.ndarray:
    """Three style numbers per 8x8 digit (flat [N, 64], pixels in [0, 1]): ink mass, and the centre of
    mass of the ink in x and in y. None of them names the class, all of them vary within one."""
    img = X.reshape(-1, 8, 8)
    mass = img.sum((1, 2))
    grid = np.arange(8.0)
    safe = np.maximum(mass, 1e-8)
    cx = (img.sum(1) * grid).sum(1) / safe
    cy = (img.sum(2) * grid).sum(1) / safe
    return np.stack([mass, cx, cy], axis=1)


def paired_digits(
    *,
    code_dim: int = 16,
    class_dim: int = 6,
    style_weight: float = 1.0,
    noise: float = 0.3,
    seed: int = 0,
    test_size: float = 0.25,
) -> Dataset:
    """Digits paired with a second modality: a distorted low-dimensional code of each digit's class and style.

    Modality A is the 64 pixels. Modality B is ``tanh(A_mix [c_y ; style_weight * s]) + noise * N(0, I)``
    in ``code_dim`` dimensions: ``c_y`` a random ``class_dim``-vector of the digit's class, ``s`` its
    :func:`digit_style` standardised with train statistics, ``A_mix`` a fixed random mixing matrix.
    ``X_*`` holds both side by side, ``[pixels (64) | code (code_dim)]``; ``meta["modality_dims"]`` =
    ``(64, code_dim)`` says where to split (``models.DualEncoder`` does). ``meta["prototypes"]`` holds one
    noise-free code per class at the average style (``s = 0``): the "class prompts" for zero-shot
    transfer. Teaches: cross-modal contrastive learning (CLIP, CWCL) with a frozen encoder for the code
    modality, and zero-shot classification of digits through their nearest class prototype.
    """
    seed, test_size = _check_seed(seed), _check_test_size(test_size)
    code_dim = _check_int("code_dim", code_dim, 2)
    class_dim = _check_int("class_dim", class_dim, 1)
    style_weight = _check_float("style_weight", style_weight, 0.0)
    noise = _check_float("noise", noise, 0.0)
    X, y = _bundled("digits")
    X = X / 16.0
    Xtr, Xte, ytr, yte = _split(X, y, test_size=test_size, seed=seed)
    rng = np.random.default_rng(seed)
    class_codes = rng.standard_normal((10, class_dim))
    mixing = rng.standard_normal((code_dim, class_dim + 3)) / math.sqrt(class_dim + 3)
    style_tr, style_te = _standardise(digit_style(Xtr), digit_style(Xte))

    def code(labels, style, noise_scale):
        latent = np.concatenate([class_codes[labels], style_weight * style], axis=1)
        return np.tanh(latent @ mixing.T) + noise_scale * rng.standard_normal((len(labels), code_dim))

    parts = [np.concatenate([Xs, code(ys, ss, noise)], axis=1) for Xs, ys, ss in ((Xtr, ytr, style_tr),
                                                                                  (Xte, yte, style_te))]
    prototypes = code(np.arange(10), np.zeros((10, 3)), 0.0)
    meta = {"modality_dims": (64, code_dim), "prototypes": torch.as_tensor(prototypes, dtype=torch.float32)}
    desc = f"digits (64 px) | code of class and style ({code_dim}-D, noise {noise:g})"
    return _make("paired_digits", parts[0], ytr, parts[1], yte, 10, description=desc, meta=meta)


_LOADERS["paired_digits"] = paired_digits
__all__ += ["digit_style", "paired_digits"]


# --------------------------------------------------------------------------------------------------
# --- metric learning: unseen classes and few-shot episodes (issue 5) ---
# --------------------------------------------------------------------------------------------------


def unseen_classes(ds: Dataset, *, seen: int = 5) -> Dataset:
    """Split by class for retrieval on classes never seen in training (the metric-learning protocol).

    Train and test keep only the classes ``0 .. seen-1`` (so ``fit``'s probe measures the seen
    classes); every sample of the other classes, from both splits, goes to ``meta["X_unseen"]`` /
    ``meta["y_unseen"]`` (labels kept as they are, e.g. 5-9) for retrieval: Recall@k, MAP@R, NMI.
    """
    seen = _check_int("seen", seen, 1)
    if seen >= ds.num_classes:
        raise ValueError(f"seen must be < num_classes={ds.num_classes} (some classes must stay unseen), got {seen}")
    train, test = ds.y_train < seen, ds.y_test < seen
    X_unseen = torch.cat([ds.X_train[~train], ds.X_test[~test]])
    y_unseen = torch.cat([ds.y_train[~train], ds.y_test[~test]])
    meta = {"X_unseen": X_unseen, "y_unseen": y_unseen, "seen": seen}
    return Dataset(f"{ds.name}_seen{seen}", ds.X_train[train], ds.y_train[train], ds.X_test[test], ds.y_test[test],
                   seen, augment=ds.augment, description=f"{ds.description}; classes >= {seen} held out as unseen",
                   meta=meta)


def episode(X: torch.Tensor, y: torch.Tensor, *, n_way: int = 5, shot: int = 5, queries: int = 5,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One N-way K-shot episode drawn from ``(X, y)``: ``n_way`` random classes, ``shot + queries`` random
    samples of each. Rows are ordered supports first (``shot`` per class, class by class), then the
    queries, so the first ``shot`` rows of each class are its support set (what the few-shot losses
    expect). Labels stay the original class ids."""
    classes = y.unique()
    if len(classes) < n_way:
        raise ValueError(f"n_way={n_way} needs at least {n_way} classes, got {len(classes)}")
    chosen = classes[torch.randperm(len(classes), generator=generator)[:n_way]]
    support, query = [], []
    for c in chosen:
        rows = (y == c).nonzero().squeeze(1)
        if len(rows) < shot + queries:
            raise ValueError(f"class {int(c)} has {len(rows)} samples, fewer than shot + queries = {shot + queries}")
        rows = rows[torch.randperm(len(rows), generator=generator)[:shot + queries]]
        support.append(rows[:shot])
        query.append(rows[shot:])
    idx = torch.cat(support + query)
    return X[idx], y[idx]


# --------------------------------------------------------------------------------------------------
# --- multiple-instance learning: bags ---
# --------------------------------------------------------------------------------------------------


__all__ += ["Bags", "MIL_UNIT_TESTS", "aggregate_bags", "digit_bags", "mil_unit_test", "pad_bags"]


def pad_bags(bags, instance_labels=None):
    """Stack bags of different sizes into one padded batch.

    Returns ``(X[B, N_max, *features], mask[B, N_max], labels[B, N_max] or None)``: padding rows are zero
    and ``mask`` is True on real instances. A model that respects the mask gives padding zero attention,
    so a padded batch trains like B separate bags at the cost of one forward pass.
    """
    if len(bags) == 0:
        raise ValueError("bags must hold at least one bag")
    sizes = [int(b.shape[0]) for b in bags]
    if min(sizes) < 1:
        raise ValueError(f"every bag needs at least one instance, got sizes {sizes}")
    from torch.nn.utils.rnn import pad_sequence  # one C++ copy instead of a Python loop over bags

    X = pad_sequence(list(bags), batch_first=True)
    mask = torch.arange(X.shape[1])[None, :] < torch.tensor(sizes)[:, None]
    if instance_labels is None:
        return X, mask, None
    labels = pad_sequence(list(instance_labels), batch_first=True)
    return X, mask, labels


@dataclass(frozen=True, eq=False, repr=False)
class Bags:
    """Multiple-instance data: lists of bags (``[n_i, *features]`` each) with one label per bag.

    ``y_*`` are the bag labels (int64 in {0, 1} for classification, float32 aggregate responses for
    regression); ``instances_*`` keep the per-instance truth for evaluation only (1 = key instance of a
    positive bag, 0 = other; or the hidden per-instance responses). ``padded(split)`` gives a padded batch.
    """

    name: str
    bags_train: list
    y_train: torch.Tensor
    instances_train: list
    bags_test: list
    y_test: torch.Tensor
    instances_test: list
    description: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        for split in ("train", "test"):
            bags, y, inst = (getattr(self, f"{k}_{split}") for k in ("bags", "y", "instances"))
            if not (len(bags) == len(y) == len(inst)):
                raise ValueError(f"{split}: {len(bags)} bags, {len(y)} labels, {len(inst)} instance label sets")
            if any(b.shape[0] != i.shape[0] for b, i in zip(bags, inst)):
                raise ValueError(f"{split}: a bag and its instance labels differ in length")

    @property
    def n_train(self) -> int:
        return len(self.bags_train)

    @property
    def n_test(self) -> int:
        return len(self.bags_test)

    @property
    def instance_shape(self) -> tuple[int, ...]:
        return tuple(self.bags_train[0].shape[1:])

    def sizes(self, split: str = "train") -> torch.Tensor:
        return torch.tensor([b.shape[0] for b in self._split(split)[0]])

    def _split(self, split: str):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return getattr(self, f"bags_{split}"), getattr(self, f"y_{split}"), getattr(self, f"instances_{split}")

    def padded(self, split: str = "train", index=None):
        """``(X[B, N_max, ...], mask[B, N_max], y[B], instance_labels[B, N_max])`` for the bags ``index``
        (all by default) of ``split``."""
        bags, y, inst = self._split(split)
        idx = range(len(bags)) if index is None else [int(i) for i in index]
        X, mask, labels = pad_bags([bags[i] for i in idx], [inst[i] for i in idx])
        return X, mask, y[list(idx)], labels

    def __repr__(self) -> str:
        sizes = self.sizes("train").float()
        return (f"Bags({self.name!r}, train={self.n_train}, test={self.n_test}, instance_shape={self.instance_shape}, "
                f"bag size {sizes.mean():.1f} +- {sizes.std():.1f})")


def _bag_sizes(rng: np.random.Generator, n: int, mean: float, std: float, low: int, high: int) -> np.ndarray:
    return np.clip(np.rint(rng.normal(mean, std, size=n)), low, high).astype(int)


def digit_bags(*, target: int = 9, mean_size: float = 10.0, std_size: float = 2.0, min_size: int = 2,
               max_size: int = 20, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Bags:
    """Bags of 8x8 digits (Ilse et al. 2018's MNIST-bags, on sklearn's digits): a bag is positive iff it
    holds at least one ``target`` digit; its size is ``round(N(mean_size, std_size))`` clipped to
    ``[min_size, max_size]``.

    Instances are flat 64-pixel rows in [0, 1]; train bags draw (with replacement) from the digits' train
    split, test bags from its test split, so no image is in both. ``instances_*`` mark the target digits
    (the key instances), ``meta["digits_train"/"digits_test"]`` the digit of every instance. About
    1 - 0.9^10 = 65 % of the bags are positive, as in the paper's MNIST-bags.
    """
    seed = _check_seed(seed)
    _check_int("target", target, 0)
    if target > 9:
        raise ValueError(f"target must be a digit in 0..9, got {target}")
    min_size, max_size = _check_int("min_size", min_size, 1), _check_int("max_size", max_size, 1)
    if max_size < min_size:
        raise ValueError(f"max_size must be >= min_size, got {max_size} < {min_size}")
    base = digits(seed=seed)
    rng = np.random.default_rng(seed)
    out, meta = {}, {}
    for split, n, X, y in (("train", _check_int("n_train", n_train, 1), base.X_train, base.y_train),
                           ("test", _check_int("n_test", n_test, 1), base.X_test, base.y_test)):
        sizes = _bag_sizes(rng, n, _check_float("mean_size", mean_size, 1.0), _check_float("std_size", std_size, 0.0),
                           min_size, max_size)
        picks = [torch.as_tensor(rng.integers(0, len(y), size=s)) for s in sizes]
        bags = [X[p] for p in picks]
        inst = [(y[p] == target).long() for p in picks]
        out[split] = (bags, torch.stack([i.max() for i in inst]), inst)
        meta[f"digits_{split}"] = [y[p] for p in picks]
    return Bags("digit_bags", *out["train"], *out["test"], meta=meta,
                description=f"sklearn digits in bags of ~{mean_size:g} (sd {std_size:g}); positive iff a {target} "
                            "is inside")


MIL_UNIT_TESTS = ("single_concept", "two_concept", "false_frequency")


def _normal(rng, n: int, dim: int, mean: float, std: float) -> torch.Tensor:
    return torch.as_tensor(rng.normal(mean, std, size=(n, dim)), dtype=torch.float32)


def _unit_test_bag(rng, test: str, positive: bool, train: bool, dim: int, negatives: int):
    """One bag of Raff & Holt's Algorithms 1-3: ``(instances, instance labels)``."""
    parts, labels = [], []

    def add(x, label):
        parts.append(x)
        labels.append(torch.full((x.shape[0],), label, dtype=torch.long))

    if test == "single_concept":
        if positive:
            for _ in range(rng.integers(1, 4)):  # 1-3 positives from N(0, 3^2 I) or N(1, I)
                add(_normal(rng, 1, dim, 0.0, 3.0) if rng.integers(2) == 0 else _normal(rng, 1, dim, 1.0, 1.0), 1)
        add(_normal(rng, negatives, dim, 0.0, 1.0), 0)
    else:
        n_neg = int(rng.integers(1, 10))  # 1-9 negatives
        concepts = [(2.0, 0.1), (3.0, 0.1)]
        if test == "two_concept":
            if positive:
                for mean, std in concepts:
                    add(_normal(rng, int(rng.integers(1, 4)), dim, mean, std), 1)
            else:
                add(_normal(rng, 1, dim, *concepts[int(rng.integers(2))]), 1)
        else:  # false_frequency
            if positive:
                for mean, std in concepts:
                    add(_normal(rng, 1, dim, mean, std), 1)
            else:
                copies = 1 if train else int(rng.integers(35, 45))
                add(_normal(rng, copies, dim, *concepts[int(rng.integers(2))]), 1)
        add(_normal(rng, n_neg, dim, 0.0, 1.0), 0)
    # Poison (tests 1 and 2): in negative bags at train time, in positive bags at test time.
    if test != "false_frequency" and positive != train:
        add(_normal(rng, 1, dim, -10.0, 0.1), 0)
    order = torch.as_tensor(rng.permutation(sum(p.shape[0] for p in parts)))
    return torch.cat(parts)[order], torch.cat(labels)[order]


def mil_unit_test(test: str = "single_concept", *, dim: int = 16, negatives: int = 9, n_train: int = 200,
                  n_test: int = 200, seed: int = 0) -> Bags:
    """The three synthetic "algorithmic unit tests" of Raff & Holt (NeurIPS 2023), parameters as in the
    torchmil re-implementation of their Algorithms 1-3 (half the bags positive):

    - ``"single_concept"`` (Alg. 1): positive bags hold 1-3 instances from N(0, 3^2 I) or N(1, I) among
      ``negatives`` N(0, I) instances. A poison instance N(-10, 0.1^2 I) is in every NEGATIVE bag at train
      time and every POSITIVE bag at test time. Under the standard MIL assumption an instance can only be
      evidence FOR the positive class, so a model that respects it cannot use the poison; one that learns
      "poison => negative" fails at test time.
    - ``"two_concept"`` (Alg. 2): concepts N(2, 0.1^2 I) and N(3, 0.1^2 I); a positive bag needs both
      (1-3 of each), a negative bag has one instance of one concept; 1-9 negatives each; poisoned as above.
    - ``"false_frequency"`` (Alg. 3): positive = one instance of each concept; negative = t copies of one
      concept, t = 1 at train time and 35-44 at test time: counting the concept instead of checking both
      are present fails.

    ``instances_*`` mark the positive / concept instances with 1. Departure from torchmil: everything is
    drawn from one ``numpy`` generator seeded by ``seed`` (torchmil seeds numpy but samples with torch), and
    the concept of a false-frequency negative bag is random (torchmil's ``randint(0, 1)`` is always 0).
    """
    if test not in MIL_UNIT_TESTS:
        raise ValueError(f"test must be one of {MIL_UNIT_TESTS}, got {test!r}")
    seed = _check_seed(seed)
    dim, negatives = _check_int("dim", dim, 1), _check_int("negatives", negatives, 1)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", _check_int("n_train", n_train, 2)), ("test", _check_int("n_test", n_test, 2))):
        y = torch.as_tensor(rng.permutation(np.arange(n) < n // 2), dtype=torch.long)
        made = [_unit_test_bag(rng, test, bool(label), split == "train", dim, negatives) for label in y]
        out[split] = ([m[0] for m in made], y, [m[1] for m in made])
    return Bags(f"mil_unit_test:{test}", *out["train"], *out["test"],
                description=f"Raff & Holt (2023) algorithmic unit test {test!r}, dim {dim}")


def aggregate_bags(*, n_train: int = 100, n_test: int = 100, bag_size: int = 10, dim: int = 8, noise: float = 0.5,
                   seed: int = 0) -> Bags:
    """Regression from aggregate responses (Javanmard et al. 2024): instances x ~ N(0, I_dim) with hidden
    responses y_i = <theta, x_i> + noise * eps_i (theta ~ N(0, I / dim), fixed by ``seed``); a bag of
    ``bag_size`` random instances reveals only its mean response, the bag label ``y``.

    ``instances_*`` hold the hidden y_i (for evaluating instance predictions), ``meta["theta"]`` the truth.
    """
    seed = _check_seed(seed)
    dim, bag_size = _check_int("dim", dim, 1), _check_int("bag_size", bag_size, 1)
    noise = _check_float("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    theta = torch.as_tensor(rng.normal(0.0, 1.0 / math.sqrt(dim), size=dim), dtype=torch.float32)
    out = {}
    for split, n in (("train", _check_int("n_train", n_train, 1)), ("test", _check_int("n_test", n_test, 1))):
        X = _normal(rng, n * bag_size, dim, 0.0, 1.0)
        responses = X @ theta + noise * torch.as_tensor(rng.normal(size=n * bag_size), dtype=torch.float32)
        bags, inst = list(X.split(bag_size)), list(responses.split(bag_size))
        out[split] = (bags, torch.stack([r.mean() for r in inst]), inst)
    return Bags("aggregate_bags", *out["train"], *out["test"], meta={"theta": theta},
                description=f"linear responses in {dim} dims, noise {noise:g}, bags of {bag_size}, mean revealed")
