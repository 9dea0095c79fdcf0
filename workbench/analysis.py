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
__all__ += ["attention_entropy", "top_k_attention_mass", "bag_auc", "localisation_auc", "mil_metrics",
            "mil_unit_tests"]


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


# --- multiple-instance learning: attention entropy and localisation ----------------------------------


def attention_entropy(attention_logits: Tensor, mask: Tensor | None = None, *, normalize: bool = True) -> Tensor:
    r"""Entropy of the attention over each bag, ``[B]`` (mean over branches; one value for an unbatched input).

    .. math:: \tilde H = -\frac{1}{\log n_b}\sum_{i=1}^{n_b} a_i \log a_i \in [0, 1]

    Normalised by the log of the bag size so that bags of different sizes compare: 1 = uniform attention,
    0 = all attention on one instance. A one-instance bag has no entropy to normalise (NaN when
    ``normalize``). Takes the logits a model returns (``[N]``, ``[K, N]`` or ``[B, K, N]``, ``-inf`` or
    ``mask`` on padding).
    """
    from .losses.mil import attention_inputs, negative_entropy

    logits, real, batched = attention_inputs(attention_logits.detach(), mask)
    H = -negative_entropy(logits, real)  # [B, K]
    if normalize:
        H = H / real.sum(-1).to(H.dtype).log()
    H = H.mean(-1)
    return H if batched else H[0]


def top_k_attention_mass(attention_logits: Tensor, mask: Tensor | None = None, k: int = 1) -> Tensor:
    """Share of the attention on each bag's ``k`` most attended instances, ``[B]`` (mean over branches):
    near 1 when attention has collapsed onto k instances, k / n for uniform attention."""
    from .losses.mil import attention_inputs, masked_log_softmax

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    logits, real, batched = attention_inputs(attention_logits.detach(), mask)
    a = masked_log_softmax(logits, real).exp()
    mass = a.topk(min(k, a.shape[-1]), dim=-1).values.sum(-1).mean(-1)
    return mass if batched else mass[0]


def bag_auc(scores: Tensor, labels: Tensor) -> float:
    """ROC AUC of bag scores (logits or probabilities) against bag labels in {0, 1}; NaN with one class."""
    from sklearn.metrics import roc_auc_score

    y = labels.detach().cpu().numpy()
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, scores.detach().cpu().double().numpy()))


def localisation_auc(instance_scores: Tensor, instance_labels: Tensor, mask: Tensor | None = None) -> float:
    """How well instance scores (attention weights, instance logits) find the key instances: the ROC AUC
    of the scores against the true instance labels WITHIN each bag, averaged over the bags that hold both
    key and other instances (attention is a softmax per bag, so only within-bag ranks mean anything).

    AUC of one bag = P(score of a key instance > score of another) + P(tie) / 2. NaN if no bag qualifies.
    """
    s, y = instance_scores.detach().double(), instance_labels.detach()
    if s.dim() == 1:
        s, y = s[None], y[None]
        mask = None if mask is None else mask[None]
    real = torch.ones_like(y, dtype=torch.bool) if mask is None else mask
    pos, neg = (y == 1) & real, (y != 1) & real
    pairs = pos[:, :, None] & neg[:, None, :]  # [B, N, N]: (key i, other j)
    diff = s[:, :, None] - s[:, None, :]
    wins = torch.where(pairs, (diff > 0).double() + 0.5 * (diff == 0).double(), 0.0).sum((1, 2))
    n_pairs = pairs.sum((1, 2))
    ok = n_pairs > 0
    return float((wins[ok] / n_pairs[ok]).mean()) if ok.any() else float("nan")


def mil_metrics(model: nn.Module, data, split: str = "test") -> dict[str, float]:
    """Per-epoch measurements for :func:`workbench.train.fit_bags` on ``split``.

    Classification: ``{split}_auc`` (bag ROC AUC), ``{split}_loc_auc`` (localisation AUC of the instance
    scores), and for attention models ``{split}_entropy`` (mean normalised attention entropy) and
    ``{split}_top1_mass``, and for multiple branches ``{split}_diversity`` (ACMIL's mean pairwise cosine
    between branch attention maps). Regression: ``{split}_bag_mse`` and ``{split}_instance_mse`` (against the hidden
    instance responses).
    """
    from .train import predict_bags

    _, mask, y, inst = data.padded(split)
    out = predict_bags(model, data, split)
    if isinstance(out, Tensor):  # instance predictions for aggregate responses
        k = mask.sum(1)
        return {f"{split}_bag_mse": float(((out.sum(1) / k - y) ** 2).mean()),
                f"{split}_instance_mse": float(((out - inst)[mask] ** 2).mean())}
    scores = out.logits if out.logits.dim() == 1 else out.logits.softmax(-1)[:, 1]
    row = {f"{split}_auc": bag_auc(scores, y), f"{split}_loc_auc": localisation_auc(out.instance_scores, inst, mask)}
    if out.attention_logits is not None:
        row[f"{split}_entropy"] = float(attention_entropy(out.attention_logits, mask).nanmean())
        row[f"{split}_top1_mass"] = float(top_k_attention_mass(out.attention_logits, mask, 1).mean())
    if out.branch_logits is not None:
        from .losses.mil import branch_diversity

        row[f"{split}_diversity"] = float(branch_diversity(out.attention_logits, mask))
    return row


def mil_unit_tests(poolings: Sequence[str] | None = None, tests: Sequence[str] | None = None, *,
                   seeds: Sequence[int] = (0,), n_train: int = 100, n_test: int = 100, dim: int = 16,
                   epochs: int = 15, lr: float = 3e-3, batch_size: int = 10, pass_auc: float = 0.6,
                   verbose: bool = True) -> pd.DataFrame:
    """Raff & Holt's algorithmic unit tests: train every pooling on every test's (poisoned) train bags and
    score the bag ROC AUC on its test bags, which break the shortcut a model that violates the MIL
    assumption would learn.

    Every pooling gets the same small encoder (32 hidden units, 16-dimensional embedding) and budget.
    Returns one row per (pooling, test, seed) with ``train_auc``, ``test_auc`` and ``passed``
    (``test_auc >= pass_auc``; our threshold: the paper's criterion was not checked against its code).
    A test AUC far BELOW 0.5 means the model learned the forbidden rule (poison => negative, many copies
    => positive); near 0.5 means it could not express the rule at all.
    """
    from tqdm.auto import tqdm

    from .data import MIL_UNIT_TESTS, mil_unit_test
    from .models import MIL_POOLINGS, MILModel
    from .train import fit_bags

    poolings, tests = list(poolings or MIL_POOLINGS), list(tests or MIL_UNIT_TESTS)
    rows = []
    jobs = [(t, s, p) for t in tests for s in seeds for p in poolings]
    for test, seed, pooling in tqdm(jobs, desc="MIL unit tests", disable=not verbose):
        bags = mil_unit_test(test, dim=dim, n_train=n_train, n_test=n_test, seed=seed)
        model = MILModel(dim, pooling, embedding_dim=16, hidden=(32,), seed=seed)
        fit_bags(model, bags, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, verbose=False)
        train_auc = mil_metrics(model, bags, "train")["train_auc"]
        test_auc = mil_metrics(model, bags, "test")["test_auc"]
        rows.append({"pooling": pooling, "test": test, "seed": seed, "train_auc": train_auc, "test_auc": test_auc,
                     "passed": test_auc >= pass_auc})
    return pd.DataFrame(rows)
