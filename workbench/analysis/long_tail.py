"""Measurements for long-tailed and noisy-label data: class priors, per-class and balanced accuracy, few-shot
class accuracy, post-hoc logit adjustment (Menon et al., ICLR 2021) and DatasetEquity's cluster likelihoods.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_float_tensor, check_int, check_labels, check_nonnegative, check_number
from ..losses.long_tail import prior_offsets


def class_priors(labels: Tensor, num_classes: int) -> Tensor:
    """The class frequencies of ``labels`` (float64, summing to 1): the priors logit adjustment needs."""
    num_classes = check_int(num_classes, "num_classes", low=1)
    labels = check_labels(labels, "labels", len(labels), num_classes)
    if not len(labels):
        raise ValueError("labels must hold at least one label")
    return torch.bincount(labels, minlength=num_classes).double() / len(labels)


def posthoc_logit_adjustment(logits: Tensor, priors: Tensor, tau: float = 1.0) -> Tensor:
    r"""Post-hoc logit adjustment :math:`z - \log(\pi^\tau + 10^{-12})`
    (official google-research ``logit_adjustment``, ``--mode posthoc``):
    a model trained with plain cross-entropy estimates :math:`p(y|x) \propto p(x|y)\pi_y`; subtracting
    :math:`\tau\log\pi_y` before the argmax predicts with the balanced posterior. ``tau`` = 0 changes nothing."""
    check_float_tensor(logits, "logits", 2, "[B, C]")
    if priors.shape != (logits.shape[1],):
        raise ValueError(f"priors must have shape [{logits.shape[1]}], got {tuple(priors.shape)}")
    return logits - prior_offsets(priors, check_nonnegative(tau, "tau")).to(logits)


def per_class_accuracy(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Recall of every class, ``[C]`` float64 (NaN for a class absent from ``target``)."""
    num_classes = check_int(num_classes, "num_classes", low=1)
    target = check_labels(target, "target", len(target), num_classes)
    pred = check_labels(pred, "pred", len(target), num_classes)
    correct = torch.bincount(target[pred == target], minlength=num_classes).double()
    total = torch.bincount(target, minlength=num_classes).double()
    return torch.where(total > 0, correct / total.clamp(min=1), torch.full_like(total, float("nan")))


def balanced_accuracy(pred: Tensor, target: Tensor, num_classes: int) -> float:
    """The mean per-class recall over the classes present in ``target`` (1 - the balanced error of
    Menon et al.); equals sklearn's ``balanced_accuracy_score``."""
    acc = per_class_accuracy(pred, target, num_classes)
    return float(acc[~acc.isnan()].mean())


def few_shot_accuracy(pred: Tensor, target: Tensor, class_counts, *, share: float = 0.3) -> float:
    """Accuracy on the test rows of the rarest classes: those whose training count is in the lowest ``share``
    of the classes (at least one class), the "few-shot" split of long-tail benchmarks, scaled to C classes."""
    counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
    k = max(1, int(round(check_number(share, "share", low=0.0, high=1.0) * len(counts))))
    rare = torch.argsort(counts, stable=True)[:k]
    target = check_labels(target, "target", len(target), len(counts))
    keep = torch.isin(target, rare)
    if not keep.any():
        raise ValueError("target has no row of the rarest classes")
    return float((pred[keep] == target[keep]).double().mean())


def cluster_likelihoods(cluster_ids: Tensor, *, scaled: bool = False) -> Tensor:
    """DatasetEquity's sample likelihood: the size of each sample's cluster divided by N (``scaled``: by the
    largest cluster's size), float64 ``[N]``. DBSCAN's noise label -1 is one more cluster, as in the official
    notebooks (towardsautonomy/DatasetEquity ``data_analysis``)."""
    if not isinstance(cluster_ids, Tensor) or cluster_ids.is_floating_point() or cluster_ids.dim() != 1:
        raise ValueError("cluster_ids must be a 1-D integer tensor of cluster ids")
    if not len(cluster_ids):
        raise ValueError("cluster_ids must hold at least one id")
    _, inverse, sizes = torch.unique(cluster_ids, return_inverse=True, return_counts=True)
    size = sizes[inverse].double()
    return size / (sizes.max() if scaled else len(cluster_ids))
