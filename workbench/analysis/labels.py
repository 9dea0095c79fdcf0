"""Metrics for several labels per sample and for continuous labels.

Multi-label (scores ``[N, C]``, multi-hot targets ``[N, C]``): mean average precision, micro and macro F1,
per-label ROC AUC, precision at k. Continuous labels: mean absolute error, and the Spearman correlation between
embedding distances and label distances (does the embedding order samples the way the labels do?).
scikit-learn and scipy compute what they already have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .._checks import check_int, check_number

if TYPE_CHECKING:
    import pandas as pd


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _check_scores(scores: Tensor, targets: Tensor) -> None:
    if not isinstance(scores, Tensor) or scores.dim() != 2:
        raise ValueError(f"scores must be a tensor [N, C], got {getattr(scores, 'shape', type(scores))}")
    if not isinstance(targets, Tensor) or tuple(targets.shape) != tuple(scores.shape):
        raise ValueError(f"targets must be multi-hot [N, C] like scores {tuple(scores.shape)}, got "
                         f"{getattr(targets, 'shape', type(targets))}")
    if not ((targets == 0) | (targets == 1)).all():
        raise ValueError("targets must hold 0/1 values")


def per_label_auc(scores: Tensor, targets: Tensor) -> Tensor:
    """ROC AUC of every label's scores against its 0/1 targets [C] (sklearn); NaN for a label whose targets are
    all 0 or all 1 (no AUC exists)."""
    from sklearn.metrics import roc_auc_score

    _check_scores(scores, targets)
    s, y = _np(scores), _np(targets)
    out = [roc_auc_score(y[:, c], s[:, c]) if 0 < y[:, c].sum() < len(y) else float("nan") for c in range(y.shape[1])]
    return torch.tensor(out, dtype=torch.float64)


def precision_at_k(scores: Tensor, targets: Tensor, k: int = 1) -> float:
    """P@k: the fraction of each sample's k highest-scored labels that are true, averaged over samples."""
    _check_scores(scores, targets)
    k = check_int(k, "k", low=1, high=scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return float(targets.gather(1, top).double().mean())


def multilabel_metrics(scores: Tensor, targets: Tensor, *, threshold: float = 0.0, k: int = 1) -> dict[str, float]:
    """Multi-label scores of logits ``scores`` [N, C] against multi-hot ``targets``:

    - ``map``: mean over labels (with at least one positive) of the average precision (sklearn's
      ``average_precision_score``, the area under the precision-recall curve as a step sum);
    - ``micro_f1`` (pooled over all (sample, label) decisions) and ``macro_f1`` (the mean of per-label F1, so rare
      labels count as much as frequent ones) of ``scores > threshold`` (0 for logits: probability 1/2);
    - ``macro_auc``: the mean of :func:`per_label_auc` over the labels where it exists;
    - ``p_at_k``: :func:`precision_at_k`.
    """
    m = _map_f1_precision(scores, targets, threshold, k)
    auc = per_label_auc(scores, targets)
    return {"map": m["map"], "micro_f1": m["micro_f1"], "macro_f1": m["macro_f1"],
            "macro_auc": float(auc[~auc.isnan()].mean()), "p_at_k": m["p_at_k"]}


def mean_average_precision(scores: Tensor, targets: Tensor) -> float:
    """mAP: the mean over labels (with at least one positive) of sklearn's ``average_precision_score``."""
    from sklearn.metrics import average_precision_score

    _check_scores(scores, targets)
    s, y = _np(scores), _np(targets).astype(int)
    return float(np.mean([average_precision_score(y[:, c], s[:, c]) for c in np.flatnonzero(y.sum(0) > 0)]))


def _map_f1_precision(scores: Tensor, targets: Tensor, threshold: float, k: int) -> dict[str, float]:
    """``multilabel_metrics`` but the AUC, which costs as much as the rest together (``fit`` scores a multi-label
    model with these every epoch)."""
    from sklearn.metrics import f1_score

    threshold = check_number(threshold, "threshold")
    mean_ap = mean_average_precision(scores, targets)
    y, pred = _np(targets).astype(int), (_np(scores) > threshold).astype(int)
    return {"map": mean_ap, "micro_f1": float(f1_score(y, pred, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
            "p_at_k": precision_at_k(scores, targets, k)}


def distance_spearman(embeddings: Tensor, targets: Tensor) -> float:
    """Spearman rank correlation between the Euclidean distances of all pairs of embeddings ``[N, D]`` and the
    distances of their targets ``|y_i - y_j|`` (scipy): 1 when the embedding orders every pair as the labels do."""
    from scipy.stats import spearmanr

    if not isinstance(embeddings, Tensor) or embeddings.dim() != 2 or len(embeddings) < 3:
        raise ValueError("embeddings must be a tensor [N, D] with N >= 3")
    if not isinstance(targets, Tensor) or tuple(targets.shape) != (len(embeddings),):
        raise ValueError(f"targets must be a tensor [{len(embeddings)}] of continuous labels")
    i, j = torch.triu_indices(len(embeddings), len(embeddings), offset=1)
    e, t = embeddings.detach().double().cpu(), targets.detach().double().cpu()
    return float(spearmanr(_np((e[i] - e[j]).norm(dim=1)), _np((t[i] - t[j]).abs())).statistic)


def mean_absolute_error(predictions: Tensor, targets: Tensor) -> float:
    """``mean |prediction - target|``."""
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions and targets must have the same shape, got {tuple(predictions.shape)} and "
                         f"{tuple(targets.shape)}")
    return float((predictions.detach().double() - targets.detach().double()).abs().mean())


def ridge_probe(train_embeddings: Tensor, train_targets: Tensor, test_embeddings: Tensor,
                alpha: float = 1.0) -> Tensor:
    """Predictions on ``test_embeddings`` of a ridge regression (sklearn, ``alpha``) fitted on the training
    embeddings: how linearly readable the target is from an embedding trained without a regression head."""
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=check_number(alpha, "alpha", low=0.0)).fit(_np(train_embeddings), _np(train_targets))
    return torch.as_tensor(model.predict(_np(test_embeddings)), dtype=torch.float64)


# --- what train.fit reports for these kinds (kinds.Kind.evaluate names them) ----------------------------------

def multilabel_scores(train_outputs: Tensor, y_train: Tensor, test_outputs: Tensor, y_test: Tensor) -> dict:
    """Test mAP, micro/macro F1 and P@1 of a multi-label model's logits (the training outputs are not used)."""
    m = _map_f1_precision(test_outputs, y_test, threshold=0.0, k=1)
    return {"map": m["map"], "micro_f1": m["micro_f1"], "macro_f1": m["macro_f1"], "p_at_1": m["p_at_k"]}


def regression_scores(train_outputs: Tensor, y_train: Tensor, test_outputs: Tensor, y_test: Tensor) -> dict:
    """Test MAE of a ridge probe on the embedding (fitted on the training rows) and the distance Spearman of the
    test embedding; a one-dimensional output is also read as the prediction itself (``mae_direct``)."""
    out = {"mae": mean_absolute_error(ridge_probe(train_outputs, y_train, test_outputs), y_test),
           "spearman": distance_spearman(test_outputs, y_test)}
    if test_outputs.shape[1] == 1:
        out["mae_direct"] = mean_absolute_error(test_outputs[:, 0], y_test)
    return out


def asl_gradient_curve(*, gamma_neg: float = 4.0, gamma_pos: float = 1.0, clip: float = 0.05,
                       points: int = 199) -> pd.DataFrame:
    """ASL on one label as a function of the predicted probability p = sigmoid(z): the loss and the size of its
    gradient in the logit, |dL/dz|, for a negative (target 0) and a positive (target 1), with binary
    cross-entropy (``multilabel_bce``) beside it. Columns ``p``, ``negative ASL``, ``negative BCE``, ``positive ASL``,
    ``positive BCE`` (gradients) and the same with `` loss`` appended. Computed by autograd through the losses."""
    import pandas as pd

    from .. import losses

    p = torch.linspace(0.005, 0.995, check_int(points, "points", low=2), dtype=torch.float64)
    columns = {"p": p.numpy()}
    asl = losses.get("asymmetric", gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip, reduction="none")
    bce = losses.get("multilabel_bce", reduction="none")
    for side, target in (("negative", 0), ("positive", 1)):
        y = torch.full((points, 1), target)
        for name, loss in (("ASL", asl), ("BCE", bce)):
            z = torch.logit(p)[:, None].requires_grad_(True)
            value = loss(z, y)
            (grad,) = torch.autograd.grad(value.sum(), z)
            columns[f"{side} {name}"] = grad[:, 0].abs().numpy()
            columns[f"{side} {name} loss"] = value.detach().numpy()
    return pd.DataFrame(columns)


def ndcg_at_k(scores: Tensor, relevance: Tensor, k: int = 10) -> float:
    """Normalised discounted cumulative gain of ranking each row's M candidates by ``scores`` [N, M] against
    graded ``relevance`` [N, M] (>= 0): ``DCG@k = Σ_{r<=k} rel_r / log2(r + 1)`` over the top-k by score, divided
    by the DCG of the ideal order, averaged over rows (a row without relevant candidates counts 0)."""
    if not isinstance(scores, Tensor) or scores.dim() != 2:
        raise ValueError(f"scores must be a tensor [N, M], got {getattr(scores, 'shape', type(scores))}")
    if not isinstance(relevance, Tensor) or relevance.shape != scores.shape or (relevance < 0).any():
        raise ValueError(f"relevance must be a tensor >= 0 of shape {tuple(scores.shape)}")
    k = check_int(k, "k", low=1, high=scores.shape[1])
    rel = relevance.detach().double().cpu()
    order = scores.detach().cpu().argsort(1, descending=True)[:, :k]
    discount = 1 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    dcg = (rel.gather(1, order) * discount).sum(1)
    ideal = (rel.sort(1, descending=True).values[:, :k] * discount).sum(1)
    return float(torch.where(ideal > 0, dcg / ideal.clamp(min=1e-300), 0.0).mean())
