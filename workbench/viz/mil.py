"""Multiple-instance learning: attention over a bag's images, the unit-test table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .theme import _axes, _np


def bag_attention(images, attention, *, key=None, masked=None, title: str | None = None, axes=None) -> Figure:
    """The instances of one bag as 8x8 images in a row, each with its attention weight as a bar below.

    ``images``: ``[n, 64]`` or ``[n, 1, 8, 8]``; ``attention``: ``[n]`` weights (summing to 1), or any
    instance scores (an instance classifier's probabilities); ``key``: optional ``[n]`` flags of the true
    key instances, outlined in red; ``masked``: optional ``[n]`` flags of instances hidden from a student
    (MHIM-MIL), crossed out and their bar hatched.
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
    hidden = np.zeros(n, bool) if masked is None else _np(masked).astype(bool).reshape(-1)
    for i in range(n):
        ax = axes[0][i]
        ax.imshow(imgs[i], cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(edgecolor="tab:red" if flags[i] else "lightgrey", linewidth=2.5 if flags[i] else 0.8)
        if hidden[i]:
            ax.plot([-0.5, 7.5], [-0.5, 7.5], color="black", linewidth=1.5)
            ax.plot([-0.5, 7.5], [7.5, -0.5], color="black", linewidth=1.5)
        bar = axes[1][i]
        bar.bar([0], [a[i]], color="tab:red" if flags[i] else "tab:blue", hatch="///" if hidden[i] else None,
                alpha=0.5 if hidden[i] else 1.0)
        bar.set(ylim=(0, max(1e-9, a.max()) * 1.05), xticks=[], yticks=[])
        bar.text(0, a[i], f"{a[i]:.2f}", ha="center", va="bottom", fontsize=7)
        bar.grid(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def unit_test_table(results: pd.DataFrame, *, ax=None, title: str | None = None) -> Figure:
    """Heatmap of test AUC (pooling x unit test, mean over seeds) from ``experiments.mil_unit_tests``,
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
