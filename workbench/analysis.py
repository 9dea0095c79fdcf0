"""Measurements on embeddings, losses and gradients. Plain functions in, numbers or tables out.

Where scikit-learn already has the metric it is used; everything else is written with the formula
in the docstring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score
from torch import Tensor, nn

from .losses.similarity import cosine_similarity_matrix, pair_masks, views_to_rows
from .train import knn_probe, linear_probe

__all__ = [
    "accuracy", "knn_accuracy", "linear_probe_accuracy", "recall_at_k", "alignment", "uniformity",
    "tolerance", "class_similarity_stats", "pair_weights", "sample_gradient_norms", "margin_curve",
    "similarity_curve",
]


def accuracy(logits_or_pred: Tensor, target: Tensor) -> float:
    """Top-1 accuracy from logits ``[N, C]`` (argmax) or from predicted labels ``[N]``."""
    pred = logits_or_pred.argmax(1) if logits_or_pred.dim() == 2 else logits_or_pred
    return float(accuracy_score(target.cpu().numpy(), pred.detach().cpu().numpy()))


knn_accuracy = knn_probe
linear_probe_accuracy = linear_probe


def recall_at_k(embeddings: Tensor, labels: Tensor, ks: Sequence[int] = (1, 2, 4, 8)) -> dict[int, float]:
    """Leave-one-out retrieval Recall@k with cosine similarity: the fraction of queries with at least
    one same-label item among their k nearest other items (the metric-learning benchmarks' R@k)."""
    sim = cosine_similarity_matrix(embeddings.detach().double())
    sim.fill_diagonal_(-math.inf)
    top = sim.topk(max(ks), dim=1).indices
    hit = labels[top] == labels[:, None]
    return {k: float(hit[:, :k].any(1).double().mean()) for k in ks}


def alignment(x: Tensor, y: Tensor, alpha: float = 2.0) -> Tensor:
    r"""Alignment of positive pairs (Wang & Isola 2020): :math:`\mathbb{E}\,\lVert x_i - y_i\rVert_2^{\alpha}`.
    Lower is better; inputs are expected L2-normalised (not normalised here, as in the paper's code)."""
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return (x - y).norm(dim=1).pow(alpha).mean()


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    r"""Uniformity (Wang & Isola 2020): :math:`\log \frac{1}{\#\{i<j\}}\sum_{i<j} e^{-t\lVert x_i - x_j\rVert^2}`.

    More negative means more uniform on the sphere; for unit vectors it lies in [-4t, 0]. Computed as a
    logsumexp over squared distances (no sqrt, so coincident points have a finite gradient).
    Fewer than two points have no pairs: ValueError.
    """
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"uniformity needs at least 2 points, got {n}")
    sq = x.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp(min=0)
    i, j = torch.triu_indices(n, n, offset=1, device=x.device)
    return torch.logsumexp(-t * d2[i, j], dim=0) - math.log(len(i))


def tolerance(embeddings: Tensor, labels: Tensor) -> float:
    r"""Tolerance to semantically similar samples (Wang & Liu 2021): the mean cosine similarity over
    same-class pairs :math:`\frac{1}{|\{(i,j): i\neq j, y_i = y_j\}|}\sum \hat z_i^\top \hat z_j`.

    We normalise by the number of same-class pairs (not by all pairs, the other reading of the paper's
    expectation; the two differ by the constant share of same-class pairs). Higher = classes kept tight.
    """
    sim = cosine_similarity_matrix(embeddings.detach())
    positive, _ = pair_masks(labels)
    return float(sim[positive].mean()) if positive.any() else float("nan")


def class_similarity_stats(embeddings: Tensor, labels: Tensor) -> dict[str, float]:
    """Angular structure of labelled embeddings.

    ``intra``/``inter``: mean cosine of same-class / different-class pairs; ``gap`` = intra - inter
    (larger = more angularly separated); ``min_centroid_angle``: the smallest angle in degrees between
    two class-mean directions.
    """
    z = embeddings.detach().double()
    sim = cosine_similarity_matrix(z)
    positive, negative = pair_masks(labels)
    classes = labels.unique()
    centroids = F.normalize(torch.stack([F.normalize(z[labels == c], dim=1).mean(0) for c in classes]), dim=1)
    cos = (centroids @ centroids.T).clamp(-1, 1)
    cos.fill_diagonal_(-1.0)
    stats = {"intra": float(sim[positive].mean()), "inter": float(sim[negative].mean())}
    stats["gap"] = stats["intra"] - stats["inter"]
    stats["min_centroid_angle"] = math.degrees(math.acos(float(cos.max()))) if len(classes) > 1 else float("nan")
    return stats


def pair_weights(loss: nn.Module, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
    r"""dL/dS for every pair: the General Pair Weighting view (Wang et al. 2019).

    Any loss that depends on the embeddings only through ``S`` has the gradient of
    :math:`\sum_{ij} w_{ij} S_{ij}` with :math:`w_{ij} = \partial L/\partial S_{ij}`: a positive weight
    pushes the pair apart, a negative one pulls it together. Works for every pairs or views loss
    (anything with ``from_similarity``). ``embeddings`` is ``[N, D]`` with ``labels[N]``, or
    ``[B, V, D]`` views (labels optional), flattened row ``b·V + v``.
    """
    if not hasattr(loss, "from_similarity"):
        raise ValueError(f"pair_weights needs a loss with from_similarity (pairs/views kinds), got "
                         f"{type(loss).__name__}")
    if embeddings.dim() == 3:
        embeddings, labels = views_to_rows(embeddings, labels)
    if labels is None:
        raise ValueError("labels must be given for embeddings of shape [N, D]")
    sim = cosine_similarity_matrix(embeddings.detach()).requires_grad_(True)
    value = loss.from_similarity(sim, labels)
    if value.dim() != 0:
        raise ValueError("pair_weights needs a loss with a scalar reduction ('mean' or 'sum')")
    (grad,) = torch.autograd.grad(value, sim, allow_unused=True)
    return torch.zeros_like(sim) if grad is None else grad.detach()


def sample_gradient_norms(loss: nn.Module, outputs: Tensor, *targets) -> Tensor:
    """‖∂L/∂outputs_i‖ for every row i: how hard the loss pulls on each sample's output
    (logits or embedding). Useful to see which samples a loss listens to (e.g. noisy labels)."""
    outputs = outputs.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(outputs, *targets), outputs)
    return grad.flatten(1).norm(dim=1)


def margin_curve(loss: nn.Module, margins: Sequence[float] | np.ndarray, num_classes: int = 10) -> pd.DataFrame:
    """Loss and dL/dm as a function of the true-class margin m (logits kind).

    The logits are ``[m, 0, ..., 0]`` with target 0, so m is the gap between the true logit and every
    other logit; negative m means a misclassified sample. Each margin is its own one-sample batch, so
    the curve does not depend on the loss's reduction.
    """
    m = torch.as_tensor(np.asarray(margins, dtype=np.float64)).requires_grad_(True)
    logits = torch.cat([m[:, None], torch.zeros(len(m), num_classes - 1, dtype=torch.float64)], dim=1)
    target = torch.zeros(1, dtype=torch.long)
    values = torch.stack([loss(logits[i:i + 1], target).reshape(()) for i in range(len(m))])
    (grad,) = torch.autograd.grad(values.sum(), m)  # one backward: value i depends on m_i only
    return pd.DataFrame({"margin": m.detach().numpy(), "loss": values.detach().numpy(), "grad": grad.numpy()})


def similarity_curve(loss: nn.Module, similarities: Sequence[float] | np.ndarray, which: str = "positive",
                     other: float = 0.0) -> pd.DataFrame:
    """Loss and its derivative as one kind of similarity varies (pairs and views kinds).

    Four rows with labels [0, 0, 1, 1]: with ``which="positive"`` both positive pairs have similarity s
    and every negative pair ``other``; with ``which="negative"`` every negative pair has s and both
    positive pairs ``other``. ``grad`` is dL/ds.
    """
    if which not in ("positive", "negative"):
        raise ValueError(f"which must be 'positive' or 'negative', got {which!r}")
    if not hasattr(loss, "from_similarity"):
        raise ValueError(f"similarity_curve needs a loss with from_similarity, got {type(loss).__name__}")
    labels = torch.tensor([0, 0, 1, 1])
    positive, negative = pair_masks(labels)
    varied = positive if which == "positive" else negative
    base = torch.full((4, 4), float(other), dtype=torch.float64).fill_diagonal_(1.0)
    s = torch.as_tensor(np.asarray(similarities, dtype=np.float64)).requires_grad_(True)
    values = torch.stack([loss.from_similarity(torch.where(varied, s_k, base), labels) for s_k in s])
    (grad,) = torch.autograd.grad(values.sum(), s, allow_unused=True)  # value k depends on s_k only
    grad = torch.zeros_like(s) if grad is None else grad
    return pd.DataFrame({"similarity": s.detach().numpy(), "loss": values.detach().numpy(), "grad": grad.numpy()})


# --- metric learning and margin heads (issue 5) -----------------------------------------------------------

__all__ += ["utilization", "map_at_r", "nmi", "retrieval_metrics", "weight_curve", "gpw_dependence",
            "prototype_accuracy", "angular_stats", "verification_roc", "target_logit_curve"]

def utilization(queries: Tensor, references: Tensor) -> float:
    r"""Utilization (Metrix, Venkataramanan et al. 2022): how close queries land to the training points,
    :math:`u(Q) = \frac{1}{|Q|}\sum_{q\in Q}\min_{x\in X}\lVert q - x\rVert_2^2`.

    Lower = the training points (for Metrix, clean and mixed) cover more of where the queries (e.g.
    unseen classes) fall. 0 when every query is a reference; never increases when X grows.
    """
    q, x = queries.detach().double(), references.detach().double()
    best = torch.full((len(q),), math.inf, dtype=torch.float64)
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
    sim = cosine_similarity_matrix(embeddings.detach().double())
    sim.fill_diagonal_(-math.inf)
    same = labels[:, None] == labels[None, :]
    r = same.sum(1) - 1
    keep = r > 0
    order = sim.topk(int(r.max()), dim=1).indices
    rel = (labels[order] == labels[:, None]).double()
    ranks = torch.arange(1, order.shape[1] + 1, dtype=torch.float64)
    within = ranks[None, :] <= r[:, None]
    precision = rel.cumsum(1) / ranks
    ap = (precision * rel * within).sum(1) / r.clamp(min=1)
    return float(ap[keep].mean())


def nmi(embeddings: Tensor, labels: Tensor, seed: int = 0) -> float:
    """Normalised mutual information between the labels and a k-means clustering (k = #classes) of the
    L2-normalised embeddings (scikit-learn's KMeans and normalized_mutual_info_score)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score
    z = F.normalize(embeddings.detach().double(), dim=1).numpy()
    y = labels.cpu().numpy()
    clusters = KMeans(len(np.unique(y)), n_init=5, random_state=seed).fit_predict(z)
    return float(normalized_mutual_info_score(y, clusters))


def retrieval_metrics(embeddings: Tensor, labels: Tensor, ks: Sequence[int] = (1, 2, 4), seed: int = 0) -> dict:
    """Recall@k (:func:`recall_at_k`), MAP@R and NMI in one dict: ``{"R@1": ..., "MAP@R": ..., "NMI": ...}``."""
    out = {f"R@{k}": v for k, v in recall_at_k(embeddings, labels, ks).items()}
    out["MAP@R"] = map_at_r(embeddings, labels)
    out["NMI"] = nmi(embeddings, labels, seed)
    return out


def weight_curve(loss: nn.Module, similarities: Sequence[float] | np.ndarray, which: str = "negative", *,
                 positive: float = 0.7, negative: float = 0.3, per_class: int = 3) -> pd.DataFrame:
    """The pair weight dL/ds of ONE pair as its similarity s varies, the rest of the batch held fixed.

    A batch of two classes with ``per_class`` rows each; every positive pair has similarity
    ``positive``, every negative pair ``negative``, except pair (0, j) (and (j, 0)): j = 1 (a positive)
    for ``which="positive"``, j = per_class (a negative) for ``which="negative"``, set to s.
    Comparing curves drawn with different ``positive``/``negative`` contexts shows which similarities
    of the GPW framework a loss's weights use (:func:`gpw_dependence`).
    """
    if which not in ("positive", "negative"):
        raise ValueError(f"which must be 'positive' or 'negative', got {which!r}")
    if not hasattr(loss, "from_similarity"):
        raise ValueError(f"weight_curve needs a loss with from_similarity, got {type(loss).__name__}")
    labels = torch.arange(2).repeat_interleave(per_class)
    pos_mask, neg_mask = pair_masks(labels)
    base = torch.where(pos_mask, positive, torch.where(neg_mask, negative, 1.0)).double()
    j = 1 if which == "positive" else per_class
    entry = torch.zeros_like(base, dtype=torch.bool)
    entry[0, j] = entry[j, 0] = True
    s = torch.as_tensor(np.asarray(similarities, dtype=np.float64)).requires_grad_(True)
    values = torch.stack([loss.from_similarity(torch.where(entry, s_k, base), labels) for s_k in s])
    (grad,) = torch.autograd.grad(values.sum(), s, allow_unused=True)
    grad = torch.zeros_like(s) if grad is None else grad
    return pd.DataFrame({"similarity": s.detach().numpy(), "weight": grad.numpy(), "loss": values.detach().numpy()})


def gpw_dependence(loss: nn.Module, similarities: Sequence[float] | np.ndarray | None = None,
                   tol: float = 1e-9) -> dict[str, set[str]]:
    """Which similarities the pair weights of ``loss`` use, found by experiment (the GPW table of the MS paper).

    For a negative and for a positive pair: "S" when the weight changes with the pair's own
    similarity, "N" when it changes with the other negatives' similarity, "P" when it changes with
    the other positives'. Returns ``{"negative": {...}, "positive": {...}}``.
    """
    similarities = np.linspace(-0.2, 0.9, 12) if similarities is None else similarities
    out = {}
    for which in ("negative", "positive"):
        ref = weight_curve(loss, similarities, which)["weight"].to_numpy()
        uses = set()
        if np.ptp(ref) > tol:
            uses.add("S")
        for tag, context in (("N", {"negative": 0.65}), ("P", {"positive": 0.4})):
            if np.abs(weight_curve(loss, similarities, which, **context)["weight"].to_numpy() - ref).max() > tol:
                uses.add(tag)
        out[which] = uses
    return out


def prototype_accuracy(embeddings: Tensor, labels: Tensor, *, n_way: int = 5, shot: int = 5, queries: int = 5,
                       episodes: int = 100, seed: int = 0) -> float:
    """Few-shot accuracy: mean over random N-way K-shot episodes of nearest-prototype classification
    (ProtoNet: prototype = mean support embedding, squared Euclidean distance on L2-normalised
    embeddings). Episodes are drawn from ``embeddings``/``labels`` with a seeded generator."""
    z = F.normalize(embeddings.detach().double(), dim=1)
    classes = labels.unique()
    if len(classes) < n_way:
        raise ValueError(f"n_way={n_way} needs at least that many classes, got {len(classes)}")
    g = torch.Generator().manual_seed(seed)
    correct = []
    for _ in range(episodes):
        chosen = classes[torch.randperm(len(classes), generator=g)[:n_way]]
        protos, qs, qy = [], [], []
        for i, c in enumerate(chosen):
            rows = (labels == c).nonzero().squeeze(1)
            rows = rows[torch.randperm(len(rows), generator=g)[:shot + queries]]
            protos.append(z[rows[:shot]].mean(0))
            qs.append(z[rows[shot:]])
            qy.append(torch.full((len(rows) - shot,), i))
        pred = torch.cdist(torch.cat(qs), torch.stack(protos)).argmin(1)
        correct.append((pred == torch.cat(qy)).double().mean())
    return float(torch.stack(correct).mean())


def angular_stats(embeddings: Tensor, labels: Tensor) -> dict[str, float]:
    """Angles on the hypersphere, in degrees: ``min_centre_angle`` / ``mean_centre_angle`` between class
    centres (mean unit embedding per class) and ``intra_spread``, the mean angle of a sample to its
    own class centre. Margin losses should raise the first two and lower the third."""
    z = F.normalize(embeddings.detach().double(), dim=1)
    classes = labels.unique()
    centres = F.normalize(torch.stack([z[labels == c].mean(0) for c in classes]), dim=1)
    angles = torch.rad2deg(torch.acos((centres @ centres.T).clamp(-1, 1)))
    off = ~torch.eye(len(classes), dtype=torch.bool)
    own = centres[torch.searchsorted(classes, labels)]
    spread = torch.rad2deg(torch.acos((z * own).sum(1).clamp(-1, 1)))
    return {"min_centre_angle": float(angles[off].min()), "mean_centre_angle": float(angles[off].mean()),
            "intra_spread": float(spread.mean())}


def verification_roc(embeddings: Tensor, labels: Tensor, *, pairs: int = 2000, seed: int = 0) -> dict:
    """Face-verification style ROC on random pairs (half same-class, half different-class): the score of a
    pair is its cosine similarity. Returns ``{"fpr", "tpr", "auc"}`` (scikit-learn's roc_curve / AUC)."""
    from sklearn.metrics import roc_auc_score, roc_curve
    z = F.normalize(embeddings.detach().double(), dim=1)
    g = torch.Generator().manual_seed(seed)
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


def target_logit_curve(head: nn.Module, angles_deg: Sequence[float] | np.ndarray, num_classes: int = 2) -> pd.DataFrame:
    """The target logit of a margin head as a function of the angle θ_y between embedding and class weight
    (unit-norm embedding, other classes orthogonal), next to the margin-free ``s·cos θ``. The head is
    evaluated in eval mode (ElasticFace then uses its mean margin)."""
    theta = torch.deg2rad(torch.as_tensor(np.asarray(angles_deg, dtype=np.float64)))
    cosine = torch.zeros(len(theta), num_classes, dtype=torch.float64)
    cosine[:, 0] = torch.cos(theta)
    labels = torch.zeros(len(theta), dtype=torch.long)
    was_training = head.training
    head.eval()
    with torch.no_grad():
        adjusted = head.adjust(cosine, labels)[:, 0]
    head.train(was_training)
    scale = float(head.scale)
    return pd.DataFrame({"angle": np.asarray(angles_deg, dtype=np.float64), "target_logit": scale * adjusted.numpy(),
                         "plain_logit": scale * cosine[:, 0].numpy(), "scale": scale})
