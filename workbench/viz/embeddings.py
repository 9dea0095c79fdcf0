"""Embeddings drawn: projections (PCA, t-SNE, UMAP), scatter plots by class, snapshots over training."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .theme import _axes, _np, class_colours, finish, legend_outside

PROJECTIONS = ("pca", "tsne", "umap")


def project(X, method: str = "pca", dim: int = 2, seed: int = 0) -> np.ndarray:
    """Project ``X[N, D]`` to ``dim`` dimensions with PCA, t-SNE or UMAP (UMAP needs ``umap-learn``)."""
    X = _np(X)
    if method == "pca":
        from sklearn.decomposition import PCA
        return PCA(n_components=dim, random_state=seed).fit_transform(X)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits
        # One OpenMP thread: on a busy 2-core machine t-SNE's threads wait for each other at every iteration (450
        # points: 2.3 CPU s / 10 s wall on one thread against 22 CPU s / 97 s wall on two, measured while other jobs
        # ran); on an idle machine one thread costs at most a factor of two on maps this small.
        with threadpool_limits(limits=1, user_api="openmp"):
            return TSNE(n_components=dim, random_state=seed, init="pca",
                        perplexity=min(30, len(X) - 1)).fit_transform(X)
    if method == "umap":
        try:
            import umap
        except ImportError as err:
            raise ImportError("method='umap' needs umap-learn: pip install 'workbench[umap]'") from err
        from sklearn.neighbors import NearestNeighbors
        # Exact neighbours from scikit-learn, handed to UMAP: below 4096 points UMAP computes exact neighbours too,
        # but with a numba kernel compiled anew in every Python process (about 8 of the ~19 CPU seconds of the first
        # UMAP call, measured on 450 digits). A seed makes UMAP single-threaded anyway; n_jobs=1 stops its warning.
        k = min(15, len(X) - 1)
        distances, indices = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
        with warnings.catch_warnings():  # the map is all we need: UMAP's .transform of new points is not used
            warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
            return umap.UMAP(n_components=dim, n_neighbors=k, random_state=seed, n_jobs=1,
                             precomputed_knn=(indices, distances)).fit_transform(X)
    raise ValueError(f"method must be one of {PROJECTIONS}, got {method!r}")


AXIS_NAMES = {"pca": "PC", "tsne": "t-SNE", "umap": "UMAP"}


def embedding_scatter(embeddings, labels, *, ax=None, method: str = "pca", title: str | None = None,
                      sphere: bool = False, s: float = 8, legend: bool = False) -> Figure:
    """Scatter of embeddings coloured by label, with labelled axes (and a class key outside the axes when
    ``legend``).

    2-D embeddings are drawn as they are (with the unit circle when ``sphere``), 3-D ones on a 3-D
    axis (with the unit sphere when ``sphere``), anything wider is projected with :func:`project`.
    """
    Z, y, own_figure = _np(embeddings), _np(labels), ax is None
    if Z.ndim != 2 or Z.shape[1] < 2:
        raise ValueError(f"embeddings must have shape [N, D] with D >= 2, got {Z.shape}")
    axis = "z"
    if Z.shape[1] > 3:
        Z, axis = project(Z, method), AXIS_NAMES[method] + " "
    colors = dict(class_colours(y), s=s)
    if Z.shape[1] == 3:
        fig, ax = _axes(ax, projection="3d")
        if sphere:
            u, v = np.mgrid[0:2 * np.pi:24j, 0:np.pi:12j]
            ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
        points = ax.scatter(Z[:, 0], Z[:, 1], Z[:, 2], **colors)
        ax.set_zlabel(f"{axis}3")
    else:
        fig, ax = _axes(ax)
        if sphere:
            t = np.linspace(0, 2 * np.pi, 200)
            ax.plot(np.cos(t), np.sin(t), color="0.8", lw=1)
            ax.set_aspect("equal")
        points = ax.scatter(Z[:, 0], Z[:, 1], **colors)
    ax.set_xlabel(f"{axis}1")
    ax.set_ylabel(f"{axis}2")
    if legend:
        handles = points.legend_elements(num=sorted(set(y.tolist())))[0]
        legend_outside(ax, handles, sorted(set(y.tolist())), title="class")
    if title:
        ax.set_title(title)
    return finish(fig) if own_figure else fig  # a figure of the caller's is laid out by the caller


def singular_value_spectra(spectra, *, ax=None, title: str | None = None) -> Figure:
    """Normalised singular-value spectra ``{label: p[D]}`` (from ``analysis.singular_value_spectrum``), one
    line each on a log axis, index 1 = largest: the picture of dimensional collapse (a spectrum that falls
    to ~0 early uses few directions). The legend sits outside the axes."""
    fig, ax = _axes(ax, figsize=(5.5, 3.4))
    for label, p in spectra.items():
        p = _np(p)
        ax.plot(np.arange(1, len(p) + 1), np.clip(p, 1e-12, None), marker="o", ms=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("singular value index $k$ (largest first)")
    ax.set_ylabel(r"$\sigma_k / \sum_j \sigma_j$")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return fig


def embedding_snapshots(history, epochs: Sequence[int] | None = None, *, sphere: bool = False,
                        method: str = "pca") -> Figure:
    """Test embeddings at a few epochs of a run recorded with ``record=("embeddings",)``, side by side."""
    snaps = history.snapshots.get("embeddings")
    if not snaps:
        raise ValueError("history has no embedding snapshots: train with record=('embeddings',)")
    if epochs is None:
        epochs = sorted({0, len(snaps) // 2, len(snaps) - 1})
    three_d = snaps[0].shape[1] == 3
    fig = plt.figure(figsize=(3.6 * len(epochs), 3.4))
    for k, epoch in enumerate(epochs, start=1):
        ax = fig.add_subplot(1, len(epochs), k, projection="3d" if three_d else None)
        embedding_scatter(snaps[epoch], history.labels, ax=ax, sphere=sphere, method=method, title=f"epoch {epoch}",
                          legend=k == len(epochs))  # one class key, outside the last panel
    return finish(fig)


def proxy_scatter(embeddings, labels, proxies, proxy_labels, *, ax=None, method: str = "tsne",
                  title: str | None = None, s: float = 6) -> Figure:
    """Embeddings and the loss's proxies (class centres) projected together, so the proxies land among the
    samples: samples as dots coloured by class, proxies as large stars of their class's colour with a black edge.
    Both are L2-normalised first (the losses compare cosines). 2-D inputs are drawn as they are."""
    Z, P = _np(embeddings), _np(proxies)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True).clip(1e-12)
    P = P / np.linalg.norm(P, axis=1, keepdims=True).clip(1e-12)
    both = np.concatenate([Z, P])
    axis = "z"
    if both.shape[1] > 2:
        both, axis = project(both, method), AXIS_NAMES[method] + " "
    y, py = _np(labels), _np(proxy_labels)
    vmax, own_figure = max(int(y.max()), int(py.max())), ax is None
    fig, ax = _axes(ax)
    keys = dict(cmap="tab10" if vmax < 10 else "tab20", vmin=0, vmax=9 if vmax < 10 else 19)
    points = ax.scatter(both[: len(Z), 0], both[: len(Z), 1], c=y, s=s, alpha=0.6, **keys)
    ax.scatter(both[len(Z):, 0], both[len(Z):, 1], c=py, s=220, marker="*", edgecolors="black", linewidths=1.2,
               **keys)
    ax.set(xlabel=f"{axis}1", ylabel=f"{axis}2", title=title)
    classes = sorted(set(y.tolist()))
    handles = points.legend_elements(num=classes)[0]
    star = plt.Line2D([], [], marker="*", color="white", markeredgecolor="black", markersize=12, linestyle="")
    legend_outside(ax, [*handles, star], [*map(str, classes), "proxy"], title="class")
    return finish(fig) if own_figure else fig


def poincare_disk(points, labels, *, radius: float = 1.0, names: Sequence[str] | None = None, ax=None,
                  title: str | None = None, s: float = 8) -> Figure:
    """Points of a 2-D Poincaré ball of radius ``radius`` (1/√c for curvature -c) with its boundary circle,
    coloured by ``labels`` and keyed by ``names`` (one per label value)."""
    X, y, own_figure = _np(points), _np(labels), ax is None
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"points must have shape [N, 2], got {X.shape}")
    fig, ax = _axes(ax)
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(radius * np.cos(t), radius * np.sin(t), color="0.5", lw=1)
    for value in sorted(set(y.tolist())):
        label = names[value] if names is not None else str(value)
        ax.scatter(X[y == value, 0], X[y == value, 1], s=s, alpha=0.7, label=label)
    ax.set_aspect("equal")
    ax.set(xlim=(-1.05 * radius, 1.05 * radius), ylim=(-1.05 * radius, 1.05 * radius), xlabel="z1", ylabel="z2",
           title=title)
    legend_outside(ax)
    return finish(fig) if own_figure else fig
