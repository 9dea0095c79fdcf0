"""Probes: how much of the labels a frozen embedding holds (kNN with cosine distance, logistic regression).

``train.fit`` scores embedding-only losses (kinds pairs, views, crossmodal) with these after every epoch.
"""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from torch import Tensor, nn


def knn_probe(train_emb: Tensor, train_y: Tensor, test_emb: Tensor, test_y: Tensor, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier (cosine distance) fitted on the train embeddings."""
    knn = KNeighborsClassifier(n_neighbors=min(k, len(train_y)), metric="cosine")
    knn.fit(train_emb.detach().cpu().double().numpy(), train_y.cpu().numpy())
    return float(knn.score(test_emb.detach().cpu().double().numpy(), test_y.cpu().numpy()))


def linear_probe(train_emb: Tensor, train_y: Tensor, test_emb: Tensor, test_y: Tensor) -> float:
    """Accuracy of a logistic-regression probe fitted on the (frozen) train embeddings."""
    clf = LogisticRegression(max_iter=2000)
    clf.fit(train_emb.detach().cpu().double().numpy(), train_y.cpu().numpy())
    return float(clf.score(test_emb.detach().cpu().double().numpy(), test_y.cpu().numpy()))


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
