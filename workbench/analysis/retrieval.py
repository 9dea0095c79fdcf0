"""Retrieval and few-shot measurements on embeddings: Recall@k, MAP@R, NMI, utilization, verification
ROC, prototype (few-shot) and zero-shot accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_int
from ..data import episode
from ..losses.similarity import cosine_similarity_matrix


def _nearest(embeddings: Tensor, depth: int) -> Tensor:
    """``[N, depth]``: each item's ``depth`` most cosine-similar other items, nearest first (leave-one-out),
    equal similarities in index order (a stable sort, so any depth gives the same leading columns). The one
    ranking :func:`recall_at_k`, :func:`map_at_r` and :func:`retrieval_metrics` read."""
    sim = cosine_similarity_matrix(embeddings.detach().double())
    sim.fill_diagonal_(-math.inf)
    return sim.sort(dim=1, descending=True, stable=True).indices[:, :depth]


def _same_class_counts(labels: Tensor) -> Tensor:
    """R for every query: how many other items share its label."""
    return (labels[:, None] == labels[None, :]).sum(1) - 1


def _check_ks(ks: Sequence[int], n: int) -> None:
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n for k in ks):
        raise ValueError(f"ks must be integer ranks in [1, {n - 1}] (the other items), got {tuple(ks)}")


def _recall_from(order: Tensor, labels: Tensor, ks: Sequence[int]) -> dict[int, float]:
    hit = labels[order[:, :max(ks)]] == labels[:, None]
    return {k: float(hit[:, :k].any(1).double().mean()) for k in ks}


def _map_at_r_from(order: Tensor, labels: Tensor, r: Tensor) -> float:
    order = order[:, :int(r.max())]
    rel = (labels[order] == labels[:, None]).double()
    ranks = torch.arange(1, order.shape[1] + 1, dtype=torch.float64, device=order.device)
    within = ranks[None, :] <= r[:, None]
    precision = rel.cumsum(1) / ranks
    ap = (precision * rel * within).sum(1) / r.clamp(min=1)
    return float(ap[r > 0].mean())


def recall_at_k(embeddings: Tensor, labels: Tensor, ks: Sequence[int] = (1, 2, 4, 8)) -> dict[int, float]:
    """Leave-one-out retrieval Recall@k with cosine similarity: the fraction of queries with at least
    one same-label item among their k nearest other items (the metric-learning benchmarks' R@k)."""
    _check_ks(ks, len(labels))
    return _recall_from(_nearest(embeddings, max(ks)), labels, ks)


def utilization(queries: Tensor, references: Tensor) -> float:
    r"""Utilization (Metrix, Venkataramanan et al. 2022): how close queries land to the training points,
    :math:`u(Q) = \frac{1}{|Q|}\sum_{q\in Q}\min_{x\in X}\lVert q - x\rVert_2^2`.

    Lower = the training points (for Metrix, clean and mixed) cover more of where the queries (e.g.
    unseen classes) fall. 0 when every query is a reference; never increases when X grows.
    """
    q, x = queries.detach().double(), references.detach().double()
    best = torch.full((len(q),), math.inf, dtype=torch.float64, device=q.device)
    for start in range(0, len(x), 4096):  # chunks keep memory small for the many mixed points
        chunk = x[start:start + 4096]
        d2 = (q.pow(2).sum(1)[:, None] + chunk.pow(2).sum(1)[None, :] - 2 * q @ chunk.T).clamp(min=0)
        best = torch.minimum(best, d2.min(1).values)
    return float(best.mean())


def map_at_r(embeddings: Tensor, labels: Tensor) -> float:
    r"""MAP@R (Musgrave, Belongie & Lim, "A Metric Learning Reality Check", 2020), cosine similarity.

    For a query with R other items of its class, retrieve its R nearest items:
    :math:`\mathrm{MAP@R} = \frac1R\sum_{i=1}^R P(i)\,\mathrm{rel}(i)`, averaged over queries (queries
    alone in their class are skipped). Unlike Recall@k it rewards ranking *all* same-class items first.
    """
    r = _same_class_counts(labels)
    return _map_at_r_from(_nearest(embeddings, int(r.max())), labels, r)


def nmi(embeddings: Tensor, labels: Tensor, seed: int = 0) -> float:
    """Normalised mutual information between the labels and a k-means clustering (k = #classes) of the
    L2-normalised embeddings (scikit-learn's KMeans and normalized_mutual_info_score)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score
    z = F.normalize(embeddings.detach().double(), dim=1).numpy()
    y = labels.cpu().numpy()
    clusters = KMeans(len(np.unique(y)), n_init=5, random_state=check_int(seed, "seed", low=0)).fit_predict(z)
    return float(normalized_mutual_info_score(y, clusters))


def retrieval_metrics(embeddings: Tensor, labels: Tensor, ks: Sequence[int] = (1, 2, 4), seed: int = 0) -> dict:
    """Recall@k (:func:`recall_at_k`), MAP@R and NMI in one dict: ``{"R@1": ..., "MAP@R": ..., "NMI": ...}``."""
    _check_ks(ks, len(labels))
    seed = check_int(seed, "seed", low=0)
    r = _same_class_counts(labels)
    order = _nearest(embeddings, max(max(ks), int(r.max())))  # one ranking serves both
    out = {f"R@{k}": v for k, v in _recall_from(order, labels, ks).items()}
    out["MAP@R"] = _map_at_r_from(order, labels, r)
    out["NMI"] = nmi(embeddings, labels, seed)
    return out


def prototype_accuracy(embeddings: Tensor, labels: Tensor, *, n_way: int = 5, shot: int = 5, queries: int = 5,
                       episodes: int = 100, seed: int = 0) -> float:
    """Few-shot accuracy: mean over random N-way K-shot episodes (:func:`workbench.data.episode`) of
    nearest-prototype classification (ProtoNet: prototype = mean support embedding, squared Euclidean
    distance on L2-normalised embeddings). Episodes are drawn with a generator seeded by ``seed``."""
    episodes = check_int(episodes, "episodes", low=1)
    z = F.normalize(embeddings.detach().double(), dim=1)
    g = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
    correct = []
    for _ in range(episodes):
        x, y = episode(z, labels, n_way=n_way, shot=shot, queries=queries, generator=g)
        n_support = n_way * shot  # supports first, class by class, then the queries
        protos = x[:n_support].reshape(n_way, shot, -1).mean(1)
        pred = torch.cdist(x[n_support:], protos).argmin(1)
        correct.append((y[:n_support:shot][pred] == y[n_support:]).double().mean())
    return float(torch.stack(correct).mean())


def verification_roc(embeddings: Tensor, labels: Tensor, *, pairs: int = 2000, seed: int = 0) -> dict:
    """Face-verification style ROC on random pairs (half same-class, half different-class): the score of a
    pair is its cosine similarity. Returns ``{"fpr", "tpr", "auc"}`` (scikit-learn's roc_curve / AUC)."""
    from sklearn.metrics import roc_auc_score, roc_curve
    pairs = check_int(pairs, "pairs", low=2)  # half same-class, half different-class
    z = F.normalize(embeddings.detach().double(), dim=1)
    g = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
    n = len(labels)
    i, j = torch.randint(0, n, (8 * pairs,), generator=g), torch.randint(0, n, (8 * pairs,), generator=g)
    ok = i != j
    i, j = i[ok], j[ok]
    same = labels[i] == labels[j]
    half = pairs // 2
    pos, neg = same.nonzero().squeeze(1)[:half], (~same).nonzero().squeeze(1)[:half]
    idx = torch.cat([pos, neg])
    score = (z[i[idx]] * z[j[idx]]).sum(1).numpy()
    truth = same[idx].numpy()
    fpr, tpr, _ = roc_curve(truth, score)
    return {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(truth, score))}


def zero_shot_accuracy(embeddings: Tensor, prototypes: Tensor, labels: Tensor) -> float:
    """Accuracy of classifying each embedding by its most similar (cosine) class prototype, row c of
    ``prototypes`` standing for class c: zero-shot transfer through the other modality."""
    sim = F.normalize(embeddings.detach(), dim=1) @ F.normalize(prototypes.detach(), dim=1).T
    return float((sim.argmax(1) == labels).double().mean())
