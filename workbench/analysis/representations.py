"""Comparing learned representations: how much two trained networks agree, and how to use it.

Measurements only (nothing here trains; the runs compared live in ``workbench.experiments``):

- :func:`relative_representation`: cosine similarities to anchor samples (Moschella et al., ICLR 2023), and
  :func:`stitching_accuracy`, its zero-shot stitching test;
- :func:`cka`: linear, RBF and debiased centred kernel alignment (Kornblith et al., ICML 2019);
- :func:`unit_correlations`, :func:`match_units`: convergent learning's unit matching (Li et al., ICLR 2016);
- :func:`frechet_predict`, :func:`graph_distances`, :func:`expected_squared_distance`: Loki's prediction
  through the Fréchet mean over a label metric (Roberts et al., NeurIPS 2023);
- :func:`transductive_kmeans`, :func:`transductive_accuracy`: few-shot queries labelled by clustering them with
  the supports held fixed (Ziko et al., 2021), next to :func:`workbench.analysis.prototype_accuracy`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_choice, check_flag, check_float_tensor, check_int, check_labels, check_number
from ..data import episode

__all__ = [
    "cka", "expected_squared_distance", "frechet_predict", "graph_distances", "match_units",
    "relative_representation", "stitching_accuracy", "transductive_accuracy", "transductive_kmeans",
    "unit_correlations",
]


def _matrix(x: Tensor, name: str) -> Tensor:
    return check_float_tensor(x, name, 2, "[N, D]", nonempty=True).detach().double()


def _same_rows(x: Tensor, y: Tensor, names: tuple[str, str]) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{names[0]} and {names[1]} must describe the same samples (same number of rows), got "
                         f"{x.shape[0]} and {y.shape[0]}")


# --- relative representations ------------------------------------------------------------------------------------

def relative_representation(embeddings: Tensor, anchors: Tensor) -> Tensor:
    """Relative representation r(x) = [cos(e_x, e_a1), ..., cos(e_x, e_a|A|)]: ``[N, A]``.

    Moschella et al. (ICLR 2023), official code lucmos/relreps ``RelativeAttention`` with L2 normalisation and
    inner-product similarity. Any angle-preserving map applied to embeddings and anchors together (an
    orthogonal transform, a positive rescaling) leaves r unchanged: this is why a head trained on one encoder's
    relative space can read another encoder's ("zero-shot stitching"). A zero embedding has no direction: its
    row is 0 (``F.normalize``), finite. Differentiable (not detached), so it can sit inside a model."""
    check_float_tensor(embeddings, "embeddings", 2, "[N, D]", nonempty=True)
    check_float_tensor(anchors, "anchors", 2, "[A, D]", nonempty=True)
    if anchors.shape[1] != embeddings.shape[1]:
        raise ValueError(f"anchors must have the embeddings' width D={embeddings.shape[1]}, got shape "
                         f"{tuple(anchors.shape)}")
    return F.normalize(embeddings, dim=1) @ F.normalize(anchors, dim=1).T


def stitching_accuracy(a_train: Tensor, a_test: Tensor, b_train: Tensor, b_test: Tensor, y_train: Tensor,
                       y_test: Tensor, *, anchors: int = 64, seed: int = 0) -> dict[str, float]:
    """Zero-shot stitching (Moschella et al., ICLR 2023, §5): a logistic-regression head fitted on encoder A's
    train embeddings, scored on A's test embeddings ("same") and on encoder B's ("stitched"), once in the
    absolute space and once in the relative space (cosines to ``anchors`` train samples drawn with ``seed``,
    the same samples embedded by each encoder: the paper's parallel anchors). The paper's claim: absolute
    stitching collapses (B's axes are not A's), relative stitching keeps most of the accuracy. Absolute
    stitching needs A and B of the same width; otherwise its entry is NaN.
    Returns ``{"absolute_same", "absolute_stitched", "relative_same", "relative_stitched"}``."""
    from .probes import fit_linear_probe, probe_accuracy

    a_train, a_test, b_train, b_test = (_matrix(v, n) for v, n in (
        (a_train, "a_train"), (a_test, "a_test"), (b_train, "b_train"), (b_test, "b_test")))
    _same_rows(a_train, b_train, ("a_train", "b_train"))
    _same_rows(a_test, b_test, ("a_test", "b_test"))
    y_train = check_labels(y_train, "y_train", len(a_train))
    y_test = check_labels(y_test, "y_test", len(a_test))
    anchors = check_int(anchors, "anchors", 1, len(a_train))
    pick = torch.randperm(len(a_train), generator=torch.Generator().manual_seed(check_int(seed, "seed", 0)))[:anchors]
    rel = {k: relative_representation(v, (a_train if k.startswith("a") else b_train)[pick])
           for k, v in (("a_train", a_train), ("a_test", a_test), ("b_test", b_test))}
    # one head per space, scored on A's and on B's test embeddings (lbfgs is deterministic: a refit is the same head)
    absolute, relative = fit_linear_probe(a_train, y_train), fit_linear_probe(rel["a_train"], y_train)
    out = {"absolute_same": probe_accuracy(absolute, a_test, y_test),
           "absolute_stitched": math.nan,
           "relative_same": probe_accuracy(relative, rel["a_test"], y_test),
           "relative_stitched": probe_accuracy(relative, rel["b_test"], y_test)}
    if a_train.shape[1] == b_train.shape[1]:
        out["absolute_stitched"] = probe_accuracy(absolute, b_test, y_test)
    return out


# --- CKA --------------------------------------------------------------------------------------------------------

def _gram(x: Tensor, kernel: str, threshold: float) -> Tensor:
    gram = x @ x.T
    if kernel == "linear":
        return gram
    norms = gram.diagonal()
    sq_dist = (norms[:, None] + norms[None, :] - 2 * gram).clamp_min(0)
    # Kornblith et al.'s demo: bandwidth a fraction ``threshold`` of the median distance, median over the
    # whole matrix (its zero diagonal included), so the kernel does not depend on the representation's scale.
    median = float(np.median(sq_dist.numpy()))  # numpy's median (mean of the middle two), as the demo
    return torch.exp(-sq_dist / (2 * threshold ** 2 * median)) if median > 0 else torch.ones_like(gram)


def _centre(gram: Tensor, debiased: bool) -> Tensor:
    n = gram.shape[0]
    gram = gram.clone()
    if debiased:  # Székely & Rizzo's U-centring: the unbiased HSIC estimator (diagonal excluded)
        gram.fill_diagonal_(0)
        means = gram.sum(0) / (n - 2)
        means = means - means.sum() / (2 * (n - 1))
        gram = gram - means[:, None] - means[None, :]
        return gram.fill_diagonal_(0)
    means = gram.mean(0)
    means = means - means.mean() / 2
    return gram - means[:, None] - means[None, :]  # = H K H with H = I - 11^T / n


def cka(x: Tensor, y: Tensor, *, kernel: str = "linear", threshold: float = 0.5, debiased: bool = False) -> float:
    """Centred kernel alignment between two representations of the same N samples (Kornblith et al., ICML 2019):

        CKA(K, L) = <HKH, HLH>_F / (||HKH||_F ||HLH||_F),   H = I - 11^T / N

    with K = X X^T (``kernel="linear"``, then CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred
    X, Y) or the RBF kernel exp(-||x - x'||^2 / (2 t^2 median ||x - x'||^2)) with t = ``threshold`` (the demo's
    0.5). ``debiased=True`` uses the unbiased HSIC estimator (needs N >= 4, and may be negative). Formulas and
    conventions of the official demo (google-research ``representation_similarity/Demo.ipynb``).

    Invariant to orthogonal transforms and isotropic scaling of either representation, not to every invertible
    linear map; the widths of x ``[N, D1]`` and y ``[N, D2]`` may differ. A constant representation has no
    centred variance: CKA is undefined there and a ValueError says so (instead of 0/0)."""
    x, y = _matrix(x, "x"), _matrix(y, "y")
    _same_rows(x, y, ("x", "y"))
    check_choice(kernel, "kernel", ("linear", "rbf"))
    threshold = check_number(threshold, "threshold", 0, None, low_open=True)
    debiased = check_flag(debiased, "debiased")
    if debiased and x.shape[0] < 4:
        raise ValueError(f"debiased CKA needs at least 4 samples (it divides by N-2 and N-3), got {x.shape[0]}")
    kx, ky = (_centre(_gram(v, kernel, threshold), debiased) for v in (x, y))
    nx, ny = kx.norm(), ky.norm()
    if nx == 0 or ny == 0:
        raise ValueError("CKA is undefined for a constant representation (its centred Gram matrix is zero): "
                         f"x has centred norm {float(nx):.3g}, y {float(ny):.3g}")
    return float((kx * ky).sum() / (nx * ny))


# --- convergent learning: unit matching -------------------------------------------------------------------------

def unit_correlations(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation between every unit (column) of ``a`` ``[N, Da]`` and of ``b`` ``[N, Db]`` over the
    same N samples: ``[Da, Db]`` (Li et al., ICLR 2016). A unit that never varies has no correlation: its row or
    column is 0."""
    a, b = _matrix(a, "a"), _matrix(b, "b")
    _same_rows(a, b, ("a", "b"))
    if a.shape[0] < 2:
        raise ValueError(f"correlations need at least 2 samples, got {a.shape[0]}")
    za, zb = (v - v.mean(0) for v in (a, b))
    za = za / za.norm(dim=0).clamp_min(1e-12)
    zb = zb / zb.norm(dim=0).clamp_min(1e-12)
    return za.T @ zb


def match_units(a: Tensor, b: Tensor, *, method: str = "one_to_one") -> dict:
    """Match the units of network A to those of network B by activation correlation (Li et al., ICLR 2016).

    - ``"one_to_one"``: the maximum-weight bipartite matching on the correlation matrix (the Hungarian method,
      scipy's ``linear_sum_assignment`` on -corr, as the official code does with Munkres): each unit used once;
    - ``"many_to_one"`` (the paper's semi-matching): every unit of A to its most correlated unit of B,
      duplicates allowed, so it is an upper bound on one-to-one.

    Returns ``{"a": indices into A, "b": matched indices into B, "correlation": their correlations}``, sorted
    from the best matched unit to the worst (the paper's figure)."""
    from scipy.optimize import linear_sum_assignment

    check_choice(method, "method", ("one_to_one", "many_to_one"))
    corr = unit_correlations(a, b)
    if method == "one_to_one":
        rows, cols = linear_sum_assignment(-corr.numpy())
        rows, cols = torch.as_tensor(rows), torch.as_tensor(cols)
    else:
        rows = torch.arange(corr.shape[0])
        cols = corr.argmax(1)
    values = corr[rows, cols]
    order = values.argsort(descending=True)
    return {"a": rows[order], "b": cols[order], "correlation": values[order]}


# --- Loki: the Fréchet mean over a label metric -------------------------------------------------------------------

def graph_distances(edges, num_classes: int) -> Tensor:
    """Shortest-path distances ``[C, C]`` on an undirected label graph with unit edges (a label hierarchy as a
    tree, for example): the label metric d that :func:`frechet_predict` needs. ``edges`` are (i, j) pairs of
    labels in [0, num_classes); the graph must be connected (an infinite distance is not a metric)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    num_classes = check_int(num_classes, "num_classes", 1)
    pairs = np.asarray(list(edges), dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_classes):
        raise ValueError(f"edges must join labels in [0, {num_classes}), got labels {pairs.min()}..{pairs.max()}")
    weights = np.ones(len(pairs))
    graph = csr_matrix((weights, (pairs[:, 0], pairs[:, 1])), shape=(num_classes, num_classes))
    dist = shortest_path(graph, directed=False, unweighted=True)
    if not np.isfinite(dist).all():
        raise ValueError("edges must connect every label: the label graph is not connected")
    return torch.as_tensor(dist)


def _check_metric(distances: Tensor) -> Tensor:
    d = check_float_tensor(distances, "distances", 2, "[C_all, C_all]").detach().double()
    if d.shape[0] != d.shape[1] or d.shape[0] == 0:
        raise ValueError(f"distances must be a non-empty square matrix [C_all, C_all], got {tuple(d.shape)}")
    if (d < 0).any() or not torch.equal(d, d.T) or d.diagonal().abs().max() > 0:
        raise ValueError("distances must be a metric: symmetric, non-negative, zero on the diagonal")
    return d


def frechet_predict(probs: Tensor, distances: Tensor, observed: Tensor | None = None) -> Tensor:
    """Loki's prediction (Roberts et al., NeurIPS 2023; official code SprocketLab/loki ``loki.py``):

        y_hat(x) = argmin_{y in Y} sum_{l in Lambda} P(l | x) d(y, l)^2

    the Fréchet mean of the model's predicted distribution under a label metric d. ``probs`` ``[N, |Lambda|]``
    are the model's probabilities over the classes it outputs, ``observed`` ``[|Lambda|]`` says which label of
    Y each column is (default: column c is label c), and ``distances`` ``[|Y|, |Y|]`` is d over all labels,
    observed or not, so Loki can predict a class the model never saw. With d the discrete metric (1 between
    any two labels) Loki is the argmax. Ties go to the smallest label (as ``argmin``). Returns labels ``[N]``."""
    p = check_float_tensor(probs, "probs", 2, "[N, C_observed]", nonempty=True).detach().double()
    d = _check_metric(distances)
    if observed is None:
        observed = torch.arange(p.shape[1])
    observed = check_labels(observed, "observed", p.shape[1], d.shape[0])
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-6):
        raise ValueError("probs must hold probabilities: non-negative rows summing to 1")
    return (p @ d[observed] ** 2).argmin(1)


def expected_squared_distance(predictions: Tensor, target: Tensor, distances: Tensor) -> float:
    """Mean of d(y_hat, y)^2 over the samples: Loki's evaluation (0 when every prediction is right; a near
    miss under the label metric costs less than a far one)."""
    d = _check_metric(distances)
    target = check_labels(target, "target", len(target), d.shape[0])
    predictions = check_labels(predictions, "predictions", len(target), d.shape[0])
    if not len(target):
        raise ValueError("target must hold at least one label")
    return float((d[predictions, target] ** 2).mean())


# --- transductive few-shot: cluster the queries -------------------------------------------------------------------

def transductive_kmeans(support: Tensor, support_labels: Tensor, query: Tensor, *, iterations: int = 20,
                        shift: bool = True) -> Tensor:
    """Label the queries of one episode by K-means with the supports' assignments held fixed (Ziko et al.,
    "Transductive few-shot learning: clustering is all you need?", 2021, official code imtiazziko/SLK-few-shot
    with ``lap_bound=False``, the Laplacian weight 0: the paper's point is that this plain clustering is already
    competitive). Centres start at the class prototypes (support means); each step assigns every query to its
    nearest centre and moves each centre to the mean of its supports and queries. ``shift`` adds the code's
    query shift (query += mean(support) - mean(query)). Features should be L2-normalised (the code's CL2N
    subtracts the base-class mean first). Returns the queries' labels, in support_labels' label space."""
    s = check_float_tensor(support, "support", 2, "[S, D]", nonempty=True).detach().double()
    q = check_float_tensor(query, "query", 2, "[Q, D]", nonempty=True).detach().double()
    if q.shape[1] != s.shape[1]:
        raise ValueError(f"query must have the supports' width D={s.shape[1]}, got shape {tuple(q.shape)}")
    labels = check_labels(support_labels, "support_labels", len(s))
    iterations = check_int(iterations, "iterations", 0)
    if check_flag(shift, "shift"):
        q = q + s.mean(0) - q.mean(0)
    classes, y = labels.unique(return_inverse=True)
    onehot_s = F.one_hot(y, len(classes)).double()
    centres = (onehot_s.T @ s) / onehot_s.sum(0)[:, None]
    assign = torch.cdist(q, centres).argmin(1)
    for _ in range(iterations):
        onehot_q = F.one_hot(assign, len(classes)).double()
        counts = onehot_s.sum(0) + onehot_q.sum(0)
        centres = (onehot_s.T @ s + onehot_q.T @ q) / counts[:, None]
        new = torch.cdist(q, centres).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    return classes[assign]


def transductive_accuracy(embeddings: Tensor, labels: Tensor, *, n_way: int = 5, shot: int = 1, queries: int = 15,
                          episodes: int = 100, seed: int = 0, iterations: int = 20, shift: bool = True) -> float:
    """Few-shot accuracy of :func:`transductive_kmeans` over random N-way K-shot episodes, drawn exactly as
    :func:`workbench.analysis.prototype_accuracy` draws them (same seed, same episodes, L2-normalised
    embeddings), so the two numbers differ only by the transductive step (with ``iterations=0`` and
    ``shift=False`` they are equal)."""
    z = F.normalize(check_float_tensor(embeddings, "embeddings", 2, "[N, D]", nonempty=True).detach().double(),
                    dim=1)
    labels = check_labels(labels, "labels", len(z))
    g = torch.Generator().manual_seed(check_int(seed, "seed", 0))
    correct = []
    for _ in range(check_int(episodes, "episodes", 1)):
        x, y = episode(z, labels, n_way=n_way, shot=shot, queries=queries, generator=g)
        n_support = n_way * shot  # supports first, class by class, then the queries
        pred = transductive_kmeans(x[:n_support], y[:n_support], x[n_support:], iterations=iterations,
                                   shift=shift)
        correct.append((pred == y[n_support:]).double().mean())
    return float(torch.stack(correct).mean())
