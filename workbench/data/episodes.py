"""Few-shot episodes: N-way K-shot support and query sets drawn from labelled data."""

from __future__ import annotations

import torch

from .._checks import check_int, check_labels


def episode(X: torch.Tensor, y: torch.Tensor, *, n_way: int = 5, shot: int = 5, queries: int = 5,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One N-way K-shot episode drawn from ``(X, y)``: ``n_way`` random classes, ``shot + queries`` random
    samples of each. Rows are ordered supports first (``shot`` per class, class by class), then the
    queries, so the first ``shot`` rows of each class are its support set (what the few-shot losses
    expect). Labels stay the original class ids."""
    if not isinstance(X, torch.Tensor) or X.dim() < 2:
        raise ValueError(f"X must be a tensor of samples [N, ...], got {getattr(X, 'shape', type(X).__name__)}")
    y = check_labels(y, "y", len(X))
    n_way, shot = check_int(n_way, "n_way", low=1), check_int(shot, "shot", low=1)
    queries = check_int(queries, "queries", low=0)
    classes = y.unique()
    if len(classes) < n_way:
        raise ValueError(f"n_way={n_way} needs at least {n_way} classes, got {len(classes)}")
    chosen = classes[torch.randperm(len(classes), generator=generator)[:n_way]]
    support, query = [], []
    for c in chosen:
        rows = (y == c).nonzero().squeeze(1)
        if len(rows) < shot + queries:
            raise ValueError(f"class {int(c)} has {len(rows)} samples, fewer than shot + queries = {shot + queries}")
        rows = rows[torch.randperm(len(rows), generator=generator)[:shot + queries]]
        support.append(rows[:shot])
        query.append(rows[shot:])
    idx = torch.cat(support + query)
    return X[idx], y[idx]
