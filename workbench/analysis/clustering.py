"""Clustering quality against ground-truth labels: accuracy under the best one-to-one matching of clusters to
classes (the Hungarian algorithm) and normalised mutual information.

Both take labels and cluster assignments (tensors or arrays of non-negative integer ids; the numbers of
clusters and classes may differ)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score


def _ids(values, name: str) -> np.ndarray:
    arr = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
    if arr.size == 0:
        arr = arr.astype(np.int64)  # an empty list is a float array to numpy
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer ids, got dtype {arr.dtype} and shape {arr.shape}")
    if len(arr) and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {arr.min()}")
    return arr


def _pair(labels, assignments) -> tuple[np.ndarray, np.ndarray]:
    y, c = _ids(labels, "labels"), _ids(assignments, "assignments")
    if len(y) != len(c):
        raise ValueError(f"labels and assignments must have the same length, got {len(y)} and {len(c)}")
    if not len(y):
        raise ValueError("labels must hold at least one sample")
    return y, c


def contingency(labels, assignments) -> np.ndarray:
    """``[clusters, classes]`` counts: how many samples of each class fell in each cluster."""
    y, c = _pair(labels, assignments)
    table = np.zeros((c.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(table, (c, y), 1)
    return table


def cluster_to_class(labels, assignments) -> dict[int, int]:
    """The one-to-one map cluster -> class that matches the most samples (Hungarian algorithm on the contingency
    table, ``scipy.optimize.linear_sum_assignment``); clusters left over (more clusters than classes) are absent."""
    table = contingency(labels, assignments)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {int(r): int(k) for r, k in zip(rows, cols)}


def clustering_accuracy(labels, assignments) -> float:
    r"""Unsupervised clustering accuracy (DEC's ACC): :math:`\max_m \frac1N \sum_i \mathbb 1[y_i = m(c_i)]` over
    one-to-one maps m from clusters to classes, found by the Hungarian algorithm."""
    table = contingency(labels, assignments)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def clustering_nmi(labels, assignments) -> float:
    r"""Normalised mutual information :math:`I(Y; C) / \tfrac12\big(H(Y) + H(C)\big)` (arithmetic normalisation,
    scikit-learn's default ``normalized_mutual_info_score``); 1 for a relabelling of the classes, 0 for independence."""
    y, c = _pair(labels, assignments)
    return float(normalized_mutual_info_score(y, c))


def dec_target_along(line, points, centres, alpha: float = 1.0):
    """DEC's soft assignment q and target p at the embeddings ``line`` ``[L, D]``, with the soft cluster sizes
    f taken from the data ``points`` ``[N, D]`` (as DEC computes the target on the whole data set): ``(q, p)``,
    each ``[L, K]``, for centres ``[K, D]`` and Student-t ``alpha``."""
    import torch

    from ..losses import get as get_loss

    line, points, centres = (torch.as_tensor(v, dtype=torch.float64) for v in (line, points, centres))
    loss = get_loss("dec", num_clusters=centres.shape[0], embedding_dim=centres.shape[1], alpha=alpha).double()
    loss.init_centres(centres)
    with torch.no_grad():
        log_q_line, log_q_data = loss.log_soft_assignment(line), loss.log_soft_assignment(points)
        log_f = torch.logsumexp(log_q_data, dim=0, keepdim=True)
        return log_q_line.exp(), torch.log_softmax(2 * log_q_line - log_f, dim=1).exp()
