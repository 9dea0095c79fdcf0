"""Probes: how much of the labels a frozen embedding holds (kNN with cosine distance, logistic regression).

``train.fit`` scores embedding-only losses (kinds pairs, views, crossmodal) with these after every epoch.
"""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from torch import Tensor, nn

from .._checks import check_int, check_number


def knn_probe(train_emb: Tensor, train_y: Tensor, test_emb: Tensor, test_y: Tensor, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier (cosine distance) fitted on the train embeddings."""
    knn = KNeighborsClassifier(n_neighbors=min(check_int(k, "k", low=1), len(train_y)), metric="cosine")
    knn.fit(train_emb.detach().cpu().double().numpy(), train_y.cpu().numpy())
    return float(knn.score(test_emb.detach().cpu().double().numpy(), test_y.cpu().numpy()))


def linear_probe(train_emb: Tensor, train_y: Tensor, test_emb: Tensor, test_y: Tensor) -> float:
    """Accuracy of a logistic-regression probe fitted on the (frozen) train embeddings."""
    return probe_accuracy(fit_linear_probe(train_emb, train_y), test_emb, test_y)


def fit_linear_probe(train_emb: Tensor, train_y: Tensor) -> LogisticRegression:
    """:func:`linear_probe`'s logistic regression, fitted; score it on several test sets with
    :func:`probe_accuracy` (one fit, where each test set would otherwise refit the same probe)."""
    return LogisticRegression(max_iter=2000).fit(train_emb.detach().cpu().double().numpy(), train_y.cpu().numpy())


def probe_accuracy(probe: LogisticRegression, test_emb: Tensor, test_y: Tensor) -> float:
    """Accuracy of a fitted :func:`fit_linear_probe` on ``test_emb``."""
    return float(probe.score(test_emb.detach().cpu().double().numpy(), test_y.cpu().numpy()))


def projection_head_probes(model: nn.Module, data, probe: str = "linear") -> dict[str, float]:
    """Probe accuracy of the representation before (``model.encoder``) and after (``model``, the head's
    output) a projection head, e.g. ``models.with_projection`` ("Investigating the Benefits of Projection
    Head for Representation Learning", Gupta et al. 2024: the pre-head features usually transfer better)."""
    if not hasattr(model, "encoder"):
        raise ValueError("model must have an encoder and a head (models.with_projection)")
    probe_fn = linear_probe if probe == "linear" else knn_probe
    model.eval()
    with torch.no_grad():
        out = {}
        for where, fn in (("pre", model.encoder), ("post", model)):
            out[where] = probe_fn(fn(data.X_train), data.y_train, fn(data.X_test), data.y_test)
    return out


def gaussian_nb_probe(train_emb, train_y, test_emb, test_y, *, var_smoothing: float = 1e-9) -> float:
    r"""Accuracy of Gaussian naive Bayes with a pooled diagonal variance on (frozen) embeddings, as "Revisiting
    Discriminative vs. Generative Classifiers" (Zheng et al., ICML 2023; ML-GSAI code ``models/gaussnb.py``) fits it:
    class means :math:`\mu_k`, priors :math:`\pi_k`, per-class variances (+ ``var_smoothing``) pooled with the priors
    into one :math:`\sigma_d^2`, so the rule
    :math:`\hat y = \arg\max_k \log\pi_k - \tfrac12\sum_d (x_d-\mu_{kd})^2/\sigma_d^2` is linear,
    the hypothesis class of logistic regression. Only classes seen in training can be predicted."""
    import numpy as np

    def arr(t):
        return t.detach().cpu().double().numpy() if isinstance(t, Tensor) else np.asarray(t, dtype=float)

    X, y = arr(train_emb), np.asarray(train_y.cpu() if isinstance(train_y, Tensor) else train_y)
    T, ty = arr(test_emb), np.asarray(test_y.cpu() if isinstance(test_y, Tensor) else test_y)
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"train_emb and train_y must hold the same, non-zero number of rows, got {len(X)}, {len(y)}")
    classes = np.unique(y)
    means = np.stack([X[y == k].mean(0) for k in classes])
    priors = np.array([(y == k).mean() for k in classes])
    variances = np.stack([X[y == k].var(0) for k in classes]) + check_number(var_smoothing, "var_smoothing", low=0.0)
    pooled = priors @ variances
    scores = np.log(priors) - 0.5 * (((T[:, None, :] - means[None]) ** 2) / pooled).sum(-1)
    return float((classes[scores.argmax(1)] == ty).mean())
