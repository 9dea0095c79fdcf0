"""Generated data: every set is drawn from a seed, and the same seed gives identical tensors."""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_int, check_number
from ._build import _generated, _make, _split, check_split
from .containers import Dataset


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
    seed, test_size = check_split(seed, test_size)
    n_per_class = check_int(n_per_class, "n_per_class", low=2)
    num_classes = check_int(num_classes, "num_classes", low=2)
    dim = check_int(dim, "dim", low=2)
    concentration = check_number(concentration, "concentration", low=0.0)
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
    seed, test_size = check_split(seed, test_size)
    n = check_int(n, "n", low=4)
    noise = check_number(noise, "noise", low=0.0)
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
    seed, test_size = check_split(seed, test_size)
    n_per_class = check_int(n_per_class, "n_per_class", low=2)
    num_classes = check_int(num_classes, "num_classes", low=2)
    noise = check_number(noise, "noise", low=0.0)
    turns = check_number(turns, "turns", low=0.0, low_open=True)
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
    seed, test_size = check_split(seed, test_size)
    num_classes = check_int(num_classes, "num_classes", low=2)
    subclusters = check_int(subclusters, "subclusters", low=1)
    n_per_subcluster = check_int(n_per_subcluster, "n_per_subcluster", low=1)
    dim = check_int(dim, "dim", low=1)
    class_spread = check_number(class_spread, "class_spread", low=0.0)
    sub_spread = check_number(sub_spread, "sub_spread", low=0.0)
    noise = check_number(noise, "noise", low=0.0)
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


def confusable_classes(
    *,
    num_classes: int = 40,
    groups: int = 8,
    n_train_per_class: int = 40,
    n_test_per_class: int = 20,
    dim: int = 32,
    group_spread: float = 3.0,
    class_spread: float = 1.0,
    noise: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """Many classes in groups of similar classes, seen through a fixed non-linear map: a harder set for
    knowledge distillation, where a teacher's soft targets have a class-similarity structure to pass on.

    Class ``c`` belongs to group ``c % groups``. Group centre ~ N(0, group_spread² I), class centre = its group's
    centre + N(0, class_spread² I), latent point = class centre + N(0, noise² I), all in ``dim`` dimensions; the
    features are ``tanh(latent @ W)`` with one random ``W`` [dim, dim] (entries N(0, 1/dim)), so the classes are not
    linearly separable in the input. Classes of one group overlap (they differ by ``class_spread`` against a noise
    of ``noise``), classes of different groups barely do: the "dark knowledge" is which classes share a group.
    Exactly ``n_train_per_class`` / ``n_test_per_class`` samples per class, in class order. ``meta["group"]`` holds
    the group of every class ([C] int64). Pair with :func:`few_per_class` to give a student few labels.
    """
    seed = check_int(seed, "seed", low=0)
    num_classes = check_int(num_classes, "num_classes", low=2)
    groups = check_int(groups, "groups", low=1)
    if groups > num_classes:
        raise ValueError(f"groups must be <= num_classes={num_classes}, got {groups}")
    n_train_per_class = check_int(n_train_per_class, "n_train_per_class", low=1)
    n_test_per_class = check_int(n_test_per_class, "n_test_per_class", low=1)
    dim = check_int(dim, "dim", low=1)
    group_spread = check_number(group_spread, "group_spread", low=0.0)
    class_spread = check_number(class_spread, "class_spread", low=0.0)
    noise = check_number(noise, "noise", low=0.0)
    rng = np.random.default_rng(seed)
    group = np.arange(num_classes) % groups
    centres = (group_spread * rng.standard_normal((groups, dim)))[group]
    centres = centres + class_spread * rng.standard_normal((num_classes, dim))
    W = rng.standard_normal((dim, dim)) / np.sqrt(dim)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(num_classes), n)
        return np.tanh((centres[y] + noise * rng.standard_normal((y.size, dim))) @ W), y

    (X_train, y_train), (X_test, y_test) = draw(n_train_per_class), draw(n_test_per_class)
    desc = (f"{num_classes} classes in {groups} groups of similar classes, {n_train_per_class} train / "
            f"{n_test_per_class} test per class, {dim}-D through tanh(latent W)")
    meta = {"group": torch.as_tensor(group, dtype=torch.int64), "groups": groups}
    return _make("confusable_classes", X_train, y_train, X_test, y_test, num_classes, description=desc, meta=meta)
