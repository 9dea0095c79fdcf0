"""Comparisons: metrics by setting and loss as bars, histograms of similarities."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .theme import _axes, _np, finish, legend_outside, mark_truncated


def metric_by_setting(frame: pd.DataFrame, metric: str, x: str | None = None, *, hue: str = "loss", ax=None,
                      title: str | None = None) -> Figure:
    """Mean of ``metric`` with one standard deviation over seeds (the rows of ``experiments.compare_losses``),
    as bars grouped by ``x`` (e.g. the noise rate), one colour per ``hue``; or one bar per ``hue`` when
    ``x`` is None."""
    fig, ax = _axes(ax, figsize=(8, 3.4) if x else (5, 3.2))
    sns.barplot(data=frame, x=x or hue, y=metric, hue=hue, errorbar="sd", ax=ax, legend=bool(x))
    if x:
        legend_outside(ax, title=hue)
    low = float(frame[metric].min())
    bottom = round(max(0.0, low - 0.1), 2) if low > 0.3 else 0.0
    ax.set_ylim(bottom, None)
    mark_truncated(ax, bottom)
    ax.set(ylabel=metric, title=title or f"{metric} (mean ± sd over seeds)")
    return finish(fig)


def grouped_bars(table: pd.DataFrame, *, ax=None, ylabel: str = "", title: str | None = None) -> Figure:
    """One group of bars per row of ``table``, one bar per column (e.g. ``analysis.invariance_table``)."""
    fig, ax = _axes(ax, figsize=(6, 3.2))
    table.plot.bar(ax=ax, rot=0)
    ax.set(ylabel=ylabel or "value", title=title)
    legend_outside(ax)
    return finish(fig)


def metric_bars(table: pd.DataFrame, *, ax=None, title: str | None = None) -> Figure:
    """Grouped bars of a metrics table (rows = losses, columns = metrics), e.g. retrieval results
    averaged over seeds; error bars from a second table with the same shape in ``table.attrs["std"]``."""
    fig, ax = _axes(ax, figsize=(2.7 + 0.9 * len(table), 3.2))
    std = table.attrs.get("std")
    table.plot.bar(ax=ax, yerr=std, rot=0, capsize=2, width=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    legend_outside(ax)
    if title:
        ax.set_title(title)
    return finish(fig)


def histograms(samples: Mapping[str, object], *, bins: int = 30, ax=None, xlabel: str = "",
               title: str | None = None) -> Figure:
    """Overlaid density histograms, one per ``{label: values}``."""
    fig, ax = _axes(ax, figsize=(4.5, 3.4))
    for label, values in samples.items():
        ax.hist(_np(values).ravel(), bins=bins, density=True, alpha=0.5, label=label)
    ax.set(xlabel=xlabel or "value", ylabel="density", title=title)
    legend_outside(ax)
    return finish(fig)


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
    legend_outside(axes[-1])
    return finish(fig)


def per_class_bars(table: pd.DataFrame, counts=None, *, ax=None, title: str | None = None) -> Figure:
    """Per-class accuracy (rows = classes, columns = methods) as grouped bars, classes ordered head to tail;
    ``counts`` (training samples per class) label the x axis, so the long tail reads left to right."""
    fig, ax = _axes(ax, figsize=(8, 3.2))
    table.plot.bar(ax=ax, rot=0, width=0.8)
    if counts is not None:
        ax.set_xticks(range(len(table)), [f"{c}\n{n}" for c, n in zip(table.index, counts)], fontsize="small")
    ax.set_ylim(0, 1.05)
    ax.set(xlabel="class (training samples below)" if counts is not None else "class",
           ylabel="test accuracy of the class", title=title)
    legend_outside(ax)
    return finish(fig)
