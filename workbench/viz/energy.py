"""Figures for unnormalised densities, deep clustering and generative-vs-discriminative learning curves."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from .theme import _axes, _np, class_colours, colourbar, finish, label, legend_outside


def landscape_panels(frame: pd.DataFrame, *, axes=None, title: str | None = None) -> Figure:
    """Population NCE and compositional NLL (``analysis.gaussian_mean_landscape``) against θ: values on the
    left (each shifted to start at 0, so the shapes compare), |gradient| on a log axis on the right."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    else:
        fig = axes[0].figure
    for column, name in (("nce", "NCE"), ("nll", "compositional NLL")):
        axes[0].plot(frame.theta, frame[column] - frame[column].min(), label=name)
        axes[1].semilogy(frame.theta, frame[f"{column}_grad"].abs().clip(lower=1e-6), label=name)
    axes[1].set_ylim(bottom=1e-5)  # the dip to 0 at each minimum would otherwise take most of the axis
    label(axes[0], "model mean θ", "loss − its minimum", title)
    label(axes[1], "model mean θ", "|d loss / dθ| (log scale)", "gradient magnitude")
    legend_outside(axes[1])
    return finish(fig)


def trajectories(histories: Mapping[str, pd.DataFrame], target: float, *, ax=None, title: str | None = None) -> Figure:
    """θ against the SGD step for each objective (``train.gaussian_mean_sgd``), the data mean dashed."""
    fig, ax = _axes(ax, figsize=(5.5, 3.4))
    for name, frame in histories.items():
        ax.plot(frame.step, frame.theta, label=name)
    ax.axhline(target, color="0.3", ls="--", lw=1, label="data mean μ*")
    label(ax, "SGD step", "model mean θ", title)
    legend_outside(ax)
    return finish(fig)


def energy_contours(score: Callable[[torch.Tensor], torch.Tensor], X, *, ax=None, title: str | None = None,
                    resolution: int = 80, margin: float = 0.8) -> Figure:
    """Filled contours of a learnt 2-D log density ``score(points) -> [N]`` (minus the energy) over the data
    ``X`` (drawn as dots), normalised on the grid so that the colours read as a log density."""
    X = _np(X)
    fig, ax = _axes(ax, figsize=(4.6, 3.8))
    lo, hi = X.min(0) - margin, X.max(0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = torch.tensor(np.c_[gx.ravel(), gy.ravel()], dtype=torch.float32)
    with torch.no_grad():
        s = score(grid).reshape(gx.shape).double().numpy()
    cell = (gx[0, 1] - gx[0, 0]) * (gy[1, 0] - gy[0, 0])
    s = s - (np.log(np.exp(s - s.max()).sum() * cell) + s.max())  # log density normalised on the grid
    filled = ax.contourf(gx, gy, np.maximum(s, s.max() - 12), levels=14, cmap="viridis")
    ax.scatter(X[:, 0], X[:, 1], s=3, c="white", alpha=0.6, linewidths=0)
    colourbar(fig, filled, ax, r"$\log p_\theta(x)$ (on the grid)")
    label(ax, "$x_1$", "$x_2$", title)
    return finish(fig)


def soft_assignment_figure(x, q, p, *, ax=None, title: str | None = None, points=None) -> Figure:
    """DEC's soft assignment q and its target p to each cluster along a 1-D line of embeddings ``x``
    (``q``, ``p``: ``[len(x), K]``), the data points as a rug."""
    x, q, p = _np(x), _np(q), _np(p)
    fig, ax = _axes(ax, figsize=(6.0, 3.2))
    for j in range(q.shape[1]):
        colour = f"C{j}"
        ax.plot(x, q[:, j], color=colour, lw=1.5, label=f"q (cluster {j})")
        ax.plot(x, p[:, j], color=colour, lw=2.2, ls="--", label=f"p target (cluster {j})")
    if points is not None:
        pts = _np(points)
        ax.plot(pts, np.full(len(pts), -0.04), "|", color="0.3", ms=8, label="data")
    ax.set_ylim(-0.08, 1.05)
    label(ax, "embedding z (1-D)", "probability of the cluster", title)
    legend_outside(ax)
    return finish(fig)


def learning_curves(table: pd.DataFrame, *, ax=None, title: str | None = None) -> Figure:
    """Mean test error (± one standard deviation over seeds) of naive Bayes and logistic regression against the
    number of training samples m (``experiments.generative_vs_discriminative``), log x axis."""
    fig, ax = _axes(ax, figsize=(5.5, 3.4))
    stats = table.groupby("m")[["nb_error", "lr_error"]].agg(["mean", "std"])
    for column, name in (("nb_error", "Gaussian naive Bayes"), ("lr_error", "logistic regression")):
        mean, std = stats[column]["mean"], stats[column]["std"].fillna(0)
        ax.plot(stats.index, mean, marker="o", ms=4, label=name)
        ax.fill_between(stats.index, mean - std, mean + std, alpha=0.2)
    ax.set_xscale("log")
    label(ax, "training samples m (log scale)", "test error", title)
    legend_outside(ax)
    return finish(fig)


def cluster_scatter(points2d, labels, clusters, *, axes=None, title: str = "") -> Figure:
    """Two panels of the same 2-D projection: coloured by the true class and by the cluster found."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6))
    else:
        fig = axes[0].figure
    pts = _np(points2d)
    for ax, colours, name in ((axes[0], labels, "true digit"), (axes[1], clusters, "cluster")):
        ax.scatter(pts[:, 0], pts[:, 1], s=4, **class_colours(colours))
        label(ax, "t-SNE 1", "t-SNE 2", f"{title}coloured by {name}")
    return finish(fig)


def image_rows(rows: Mapping[str, object], *, columns=None, shape: tuple[int, int] = (8, 8),
               title: str | None = None) -> Figure:
    """Rows of small grey images (``{row label: images [n, h*w] or [n, 1, h, w]}``, the same n in every row), e.g.
    generated samples of several models from the same seeds; ``columns``: optional labels over the first row."""
    arrays = {name: _np(images).reshape(len(images), *shape) for name, images in rows.items()}
    if not arrays:
        raise ValueError("rows must hold at least one row of images")
    n = {len(a) for a in arrays.values()}
    if len(n) != 1:
        raise ValueError(f"every row must hold the same number of images, got {sorted(n)}")
    n = n.pop()
    if columns is not None and len(columns) != n:
        raise ValueError(f"columns must have one label per image ({n}), got {len(columns)}")
    fig, axes = plt.subplots(len(arrays), n, figsize=(0.62 * n + 1.4, 0.7 * len(arrays) + 0.4), squeeze=False)
    for r, (name, images) in enumerate(arrays.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(images[c], cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0 and columns is not None:
                ax.set_title(str(columns[c]), fontsize=9)
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    return finish(fig)
