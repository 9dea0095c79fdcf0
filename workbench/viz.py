"""Figures. Every function returns its matplotlib Figure (and draws on ``ax`` when one is given).

One seaborn theme for the whole lab, set on import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure

sns.set_theme(context="notebook", style="whitegrid", palette="tab10")

PROJECTIONS = ("pca", "tsne", "umap")


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def project(X, method: str = "pca", dim: int = 2, seed: int = 0) -> np.ndarray:
    """Project ``X[N, D]`` to ``dim`` dimensions with PCA, t-SNE or UMAP (UMAP needs ``umap-learn``)."""
    X = _np(X)
    if method == "pca":
        from sklearn.decomposition import PCA
        return PCA(n_components=dim, random_state=seed).fit_transform(X)
    if method == "tsne":
        from sklearn.manifold import TSNE
        return TSNE(n_components=dim, random_state=seed, init="pca", perplexity=min(30, len(X) - 1)).fit_transform(X)
    if method == "umap":
        try:
            import umap
        except ImportError as err:
            raise ImportError("method='umap' needs umap-learn: pip install 'workbench[umap]'") from err
        return umap.UMAP(n_components=dim, random_state=seed).fit_transform(X)
    raise ValueError(f"method must be one of {PROJECTIONS}, got {method!r}")


def _axes(ax, projection=None, figsize=(4.5, 4)):
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize)
    return fig, fig.add_subplot(projection=projection)


def embedding_scatter(embeddings, labels, *, ax=None, method: str = "pca", title: str | None = None,
                      sphere: bool = False, s: float = 8) -> Figure:
    """Scatter of embeddings coloured by label.

    2-D embeddings are drawn as they are (with the unit circle when ``sphere``), 3-D ones on a 3-D
    axis (with the unit sphere when ``sphere``), anything wider is projected with :func:`project`.
    """
    Z, y = _np(embeddings), _np(labels)
    if Z.ndim != 2 or Z.shape[1] < 2:
        raise ValueError(f"embeddings must have shape [N, D] with D >= 2, got {Z.shape}")
    if Z.shape[1] > 3:
        Z = project(Z, method)
    # A qualitative palette while it has a colour per class, a sequential one beyond.
    n_colors = int(y.max()) + 1 if len(y) else 1
    cmap, vmax = ("tab10", 9) if n_colors <= 10 else ("tab20", 19) if n_colors <= 20 else ("viridis", n_colors - 1)
    colors = dict(c=y, cmap=cmap, vmin=0, vmax=vmax, s=s)
    if Z.shape[1] == 3:
        fig, ax = _axes(ax, projection="3d")
        if sphere:
            u, v = np.mgrid[0:2 * np.pi:24j, 0:np.pi:12j]
            ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
        ax.scatter(Z[:, 0], Z[:, 1], Z[:, 2], **colors)
    else:
        fig, ax = _axes(ax)
        if sphere:
            t = np.linspace(0, 2 * np.pi, 200)
            ax.plot(np.cos(t), np.sin(t), color="0.8", lw=1)
            ax.set_aspect("equal")
        ax.scatter(Z[:, 0], Z[:, 1], **colors)
    if title:
        ax.set_title(title)
    return fig


def training_curves(histories: Mapping[str, object] | object, metrics: Sequence[str] = ("loss", "test_acc"),
                    *, axes=None) -> Figure:
    """One panel per metric, one line per run. ``histories``: a History or ``{label: History}``."""
    runs = histories if isinstance(histories, Mapping) else {"": histories}
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for ax, metric in zip(axes, metrics):
        for label, history in runs.items():
            frame = history.frame if hasattr(history, "frame") else history
            if metric in frame:
                ax.plot(frame.index, frame[metric], marker="o", ms=3, label=label or None)
        ax.set(xlabel="epoch", title=metric)
    if any(runs):
        axes[-1].legend(frameon=False)
    fig.tight_layout()
    return fig


def pair_weight_heatmap(weights, labels, *, ax=None, title: str | None = None, robust: bool = True) -> Figure:
    """dL/dS as a heatmap, rows and columns sorted by label, class blocks outlined.

    Red (positive weight) pushes a pair apart, blue (negative) pulls it together; white is ignored.
    The colour range is symmetric around 0; ``robust`` clips it at the 98th percentile of the non-zero
    |weights| so that one huge weight (e.g. a near-coincident positive pair) does not wash out the rest.
    """
    W, y = _np(weights), _np(labels)
    order = np.argsort(y, kind="stable")
    W, y = W[np.ix_(order, order)], y[order]
    fig, ax = _axes(ax, figsize=(4.6, 4))
    magnitudes = np.abs(W[W != 0])
    limit = float(np.quantile(magnitudes, 0.98) if robust else magnitudes.max()) if magnitudes.size else 1.0
    image = ax.imshow(W, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    for edge in np.flatnonzero(np.diff(y)) + 0.5:
        ax.axhline(edge, color="0.3", lw=0.6)
        ax.axvline(edge, color="0.3", lw=0.6)
    ax.set(xticks=[], yticks=[], xlabel="j (sorted by label)", ylabel="i")
    ax.grid(False)
    fig.colorbar(image, ax=ax, shrink=0.8, label="∂L/∂S_ij")
    if title:
        ax.set_title(title)
    return fig


def loss_curves(curves: Mapping[str, pd.DataFrame], x: str, *, axes=None, xlabel: str | None = None) -> Figure:
    """Loss (left) and its derivative (right) against ``x`` ("margin" or "similarity"), one line per
    curve; the frames come from ``analysis.margin_curve`` / ``analysis.similarity_curve``."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    fig = axes[0].figure
    for label, frame in curves.items():
        axes[0].plot(frame[x], frame["loss"], label=label)
        axes[1].plot(frame[x], frame["grad"], label=label)
    axes[0].set(xlabel=xlabel or x, ylabel="loss", title="loss")
    axes[1].set(xlabel=xlabel or x, ylabel=f"dL/d{x}", title="gradient")
    axes[1].axhline(0, color="0.6", lw=0.8)
    axes[0].legend(frameon=False)
    fig.tight_layout()
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
        embedding_scatter(snaps[epoch], history.labels, ax=ax, sphere=sphere, method=method, title=f"epoch {epoch}")
    fig.tight_layout()
    return fig


# --- classification and imbalanced-binary experiments (issue 3) ------------------------------------


def metric_by_setting(frame: pd.DataFrame, metric: str, x: str | None = None, *, hue: str = "loss", ax=None,
                      title: str | None = None) -> Figure:
    """Mean of ``metric`` with one standard deviation over seeds (the rows of ``analysis.compare_losses``),
    as bars grouped by ``x`` (e.g. the noise rate), one colour per ``hue``; or one bar per ``hue`` when
    ``x`` is None."""
    fig, ax = _axes(ax, figsize=(7, 3.4) if x else (5, 3.2))
    sns.barplot(data=frame, x=x or hue, y=metric, hue=hue, errorbar="sd", ax=ax, legend=bool(x))
    if x:
        ax.legend(frameon=False, fontsize="small", ncol=2)
    low = float(frame[metric].min())
    ax.set_ylim(max(0.0, low - 0.1) if low > 0.3 else 0.0, None)
    ax.set(title=title or f"{metric} (mean ± sd over seeds)")
    fig.tight_layout()
    return fig


def roc_curves(curves: Mapping[str, tuple | Mapping], *, ax=None, title: str = "ROC") -> Figure:
    """ROC curves with their AUC in the legend. Each value of ``curves`` is either ``(scores, targets)``
    (scikit-learn computes the curve) or a finished curve ``{"fpr", "tpr", "auc"}`` such as
    :func:`workbench.analysis.verification_roc` returns."""
    from sklearn.metrics import roc_auc_score, roc_curve
    fig, ax = _axes(ax, figsize=(4.5, 4))
    for label, curve in curves.items():
        if isinstance(curve, Mapping):
            fpr, tpr, auc = curve["fpr"], curve["tpr"], curve["auc"]
        else:
            s, y = _np(curve[0]), _np(curve[1])
            (fpr, tpr, _), auc = roc_curve(y, s), roc_auc_score(y, s)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def line_panel(frame: pd.DataFrame, x: str, *, ax=None, xlabel: str | None = None, ylabel: str = "",
               title: str | None = None) -> Figure:
    """Every other column of ``frame`` against column ``x``, one line each (e.g. ``analysis.amplifier_curve``)."""
    fig, ax = _axes(ax, figsize=(4.5, 3.4))
    for column in frame.columns.drop(x):
        ax.plot(frame[x], frame[column], label=column)
    ax.set(xlabel=xlabel or x, ylabel=ylabel, title=title)
    ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


def histograms(samples: Mapping[str, object], *, bins: int = 30, ax=None, xlabel: str = "",
               title: str | None = None) -> Figure:
    """Overlaid density histograms, one per ``{label: values}``."""
    fig, ax = _axes(ax, figsize=(4.5, 3.4))
    for label, values in samples.items():
        ax.hist(_np(values).ravel(), bins=bins, density=True, alpha=0.5, label=label)
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def grouped_bars(table: pd.DataFrame, *, ax=None, ylabel: str = "", title: str | None = None) -> Figure:
    """One group of bars per row of ``table``, one bar per column (e.g. ``analysis.invariance_table``)."""
    fig, ax = _axes(ax, figsize=(6, 3.2))
    table.plot.bar(ax=ax, rot=0)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


# --- contrastive temperature (issue 4) ---


def relative_penalty_figure(negatives, temperatures: Sequence[float], *, ax=None,
                            title: str | None = "relative penalty on each negative") -> Figure:
    """Bars of the relative penalty ``analysis.relative_penalty`` on each negative (sorted from the most
    similar, the hardest), one colour per temperature, the penalty's entropy in the legend."""
    from .analysis import penalty_entropy, relative_penalty

    s = np.sort(_np(negatives).astype(float))[::-1].copy()  # a copy: torch takes no negative strides
    hardest_first = torch.from_numpy(s)
    fig, ax = _axes(ax, figsize=(6, 3.4))
    width = 0.8 / len(temperatures)
    for k, tau in enumerate(temperatures):
        r = relative_penalty(hardest_first, tau).numpy()
        entropy = float(penalty_entropy(hardest_first, tau))
        ax.bar(np.arange(len(s)) + (k - (len(temperatures) - 1) / 2) * width, r, width,
               label=f"τ={tau:g} (entropy {entropy:.2f})")
    ax.set_xticks(np.arange(len(s)), [f"{v:.2f}" for v in s], rotation=45 if len(s) > 8 else 0)
    ax.set(xlabel="similarity of the negative (hardest first)", ylabel="relative penalty r", ylim=(0, 1.02))
    ax.legend(frameon=False, fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def similarity_histograms(frame: pd.DataFrame, *, axes=None, bins: int = 40) -> Figure:
    """One panel per epoch: histograms of positive and negative similarities (the frame of
    ``analysis.similarity_distributions``)."""
    epochs = sorted(frame["epoch"].unique())
    if axes is None:
        fig, axes = plt.subplots(1, len(epochs), figsize=(3.0 * len(epochs), 2.8), sharey=True, squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    edges = np.linspace(-1, 1, bins + 1)
    for ax, epoch in zip(axes, epochs):
        for pair, colour in (("negative", "tab:blue"), ("positive", "tab:red")):
            values = frame.loc[(frame["epoch"] == epoch) & (frame["pair"] == pair), "similarity"]
            ax.hist(values, bins=edges, density=True, alpha=0.55, color=colour, label=pair)
        ax.set(title=f"epoch {epoch}", xlabel="cosine similarity")
    axes[0].set_ylabel("density")
    axes[-1].legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


def metrics_vs(frame: pd.DataFrame, x: str, metrics: Sequence[str], *, hue: str | None = None, axes=None,
               logx: bool = False) -> Figure:
    """One panel per metric against ``x`` (e.g. temperature), mean ± std over the rows sharing ``x`` (seeds),
    one line per value of ``hue`` (e.g. the loss)."""
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.0), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    groups = frame.groupby(hue) if hue else [("", frame)]
    for label, part in groups:
        stats = part.groupby(x)[list(metrics)].agg(["mean", "std"])
        for ax, metric in zip(axes, metrics):
            ax.errorbar(stats.index, stats[(metric, "mean")], yerr=stats[(metric, "std")].fillna(0), marker="o",
                        ms=4, capsize=3, label=str(label) or None)
    for ax, metric in zip(axes, metrics):
        ax.set(xlabel=x, title=metric)
        if logx:
            ax.set_xscale("log")
    if hue:
        axes[-1].legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


# --- metric learning and margin heads (issue 5) ---------------------------------------------------------

def pair_weight_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]], *, figsize_per: float = 2.6) -> Figure:
    """Weight of one positive (top row) and one negative pair (bottom row) against its similarity, one
    column per loss; each loss maps a context label to a :func:`workbench.analysis.weight_curve` frame
    for one pair kind: ``{loss: {"negative · others 0.3": frame, ...}}``. Curves that move between
    contexts show the GPW information the weight uses."""
    names = list(curves)
    fig, axes = plt.subplots(2, len(names), figsize=(figsize_per * len(names), 2 * figsize_per), squeeze=False)
    for col, name in enumerate(names):
        for label, frame in curves[name].items():
            row = 0 if label.startswith("positive") else 1
            axes[row, col].plot(frame["similarity"], frame["weight"].abs(), label=label.split("·")[-1].strip())
        axes[0, col].set_title(name)
        for row, kind in enumerate(("positive", "negative")):
            ax = axes[row, col]
            ax.set_xlabel(f"{kind} similarity s")
            if col == 0:
                ax.set_ylabel("|dL/ds| (pair weight)")
            if ax.lines:
                ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def target_logit_curves(frames: Mapping[str, pd.DataFrame], *, ax=None, normalise: bool = True) -> Figure:
    """Target logit against the angle θ_y for several margin heads (frames of
    :func:`workbench.analysis.target_logit_curve`), divided by the scale when ``normalise`` so heads
    with different scales share the axis; the dashed line is the margin-free cos θ."""
    fig, ax = _axes(ax, figsize=(5, 3.5))
    first = None
    for name, frame in frames.items():
        scale = frame["scale"].iloc[0] if normalise else 1.0
        ax.plot(frame["angle"], frame["target_logit"] / scale, label=name)
        first = (frame, scale) if first is None else first
    if first is not None:
        frame, scale = first
        ax.plot(frame["angle"], frame["plain_logit"] / scale, "k--", lw=1, label="cos θ (no margin)")
    ax.set_xlabel("angle θ_y to the class weight (degrees)")
    ax.set_ylabel("target logit / s" if normalise else "target logit")
    ax.legend(fontsize=7)
    return fig


def metric_bars(table: pd.DataFrame, *, ax=None, title: str | None = None) -> Figure:
    """Grouped bars of a metrics table (rows = losses, columns = metrics), e.g. retrieval results
    averaged over seeds; error bars from a second table with the same shape in ``table.attrs["std"]``."""
    fig, ax = _axes(ax, figsize=(1.2 + 0.9 * len(table), 3.2))
    std = table.attrs.get("std")
    table.plot.bar(ax=ax, yerr=std, rot=0, capsize=2, width=0.8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=len(table.columns))
    if title:
        ax.set_title(title)
    return fig


# --- multiple-instance learning: attention over a bag ------------------------------------------------


def bag_attention(images, attention, *, key=None, title: str | None = None, axes=None) -> Figure:
    """The instances of one bag as 8x8 images in a row, each with its attention weight as a bar below.

    ``images``: ``[n, 64]`` or ``[n, 1, 8, 8]``; ``attention``: ``[n]`` weights (summing to 1); ``key``:
    optional ``[n]`` flags of the true key instances, outlined in red.
    """
    imgs, a = _np(images).reshape(len(images), 8, 8), _np(attention).reshape(-1)
    n = len(imgs)
    if len(a) != n:
        raise ValueError(f"attention must have one weight per image ({n}), got {len(a)}")
    if axes is None:
        fig, axes = plt.subplots(2, n, figsize=(0.75 * n + 0.6, 1.9), gridspec_kw={"height_ratios": [1, 0.8]},
                                 squeeze=False)
    fig = axes[0][0].figure
    flags = np.zeros(n, bool) if key is None else _np(key).astype(bool).reshape(-1)
    for i in range(n):
        ax = axes[0][i]
        ax.imshow(imgs[i], cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(edgecolor="tab:red" if flags[i] else "lightgrey", linewidth=2.5 if flags[i] else 0.8)
        bar = axes[1][i]
        bar.bar([0], [a[i]], color="tab:red" if flags[i] else "tab:blue")
        bar.set(ylim=(0, max(1e-9, a.max()) * 1.05), xticks=[], yticks=[])
        bar.text(0, a[i], f"{a[i]:.2f}", ha="center", va="bottom", fontsize=7)
        bar.grid(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def unit_test_table(results: pd.DataFrame, *, ax=None, title: str | None = None) -> Figure:
    """Heatmap of test AUC (pooling x unit test, mean over seeds) from ``analysis.mil_unit_tests``,
    annotated with the AUC and PASS / FAIL (all seeds passed)."""
    auc = results.pivot_table(index="pooling", columns="test", values="test_auc", aggfunc="mean")
    passed = results.pivot_table(index="pooling", columns="test", values="passed", aggfunc="all")
    labels = auc.round(2).astype(str) + np.where(passed.loc[auc.index, auc.columns], "\nPASS", "\nFAIL")
    fig, ax = _axes(ax, figsize=(6.5, 3.6))
    sns.heatmap(auc, annot=labels.values, fmt="", cmap="RdYlGn", vmin=0, vmax=1, cbar_kws={"label": "test AUC"},
                ax=ax)
    ax.set(xlabel="", ylabel="", title=title or "MIL algorithmic unit tests (test-set bag AUC)")
    ax.tick_params(axis="x", rotation=0)
    fig.tight_layout()
    return fig
