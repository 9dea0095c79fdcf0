"""Multiple-instance learning: attention over a bag's images, the unit-test table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .theme import _axes, _np


def bag_attention(images, attention, *, key=None, masked=None, title: str | None = None) -> Figure:
    """The instances of one bag as 8x8 images in a row, each with its attention weight as a bar below.

    ``images``: ``[n, 64]`` or ``[n, 1, 8, 8]``; ``attention``: ``[n]`` weights (summing to 1), or any
    instance scores (an instance classifier's probabilities); ``key``: optional ``[n]`` flags of the true
    key instances, outlined in red; ``masked``: optional ``[n]`` flags of instances hidden from a student
    (MHIM-MIL), crossed out and their bar hatched.

    Two axes, laid out in inches (the images as one strip, the weights as one bar chart), not two per instance
    with ``tight_layout``: an explorer redraws it in a fraction of the time (about 5x faster for ten instances).
    """
    imgs, a = _np(images).reshape(len(images), 8, 8), _np(attention).reshape(-1)
    n = len(imgs)
    if len(a) != n:
        raise ValueError(f"attention must have one weight per image ({n}), got {len(a)}")
    flags = np.zeros(n, bool) if key is None else _np(key).astype(bool).reshape(-1)
    hidden = np.zeros(n, bool) if masked is None else _np(masked).astype(bool).reshape(-1)
    step = 9  # an image is 8 pixels wide, then one blank column
    strip = np.full((8, step * n - 1), np.nan)
    for i in range(n):
        strip[:, step * i:step * i + 8] = imgs[i]
    side, width = 0.3, 0.75 * n  # inches: a 0.75-inch square per image
    top_h, bar_h, gap, head = width * 8 / (step * n - 1), 0.6, 0.08, 0.35 if title else 0.1
    height = head + top_h + gap + bar_h + 0.1
    fig = plt.figure(figsize=(width + 2 * side, height))
    frac = lambda bottom, h: [side / (width + 2 * side), bottom / height, width / (width + 2 * side), h / height]  # noqa: E731
    top = fig.add_axes(frac(0.1 + bar_h + gap, top_h))
    bars = fig.add_axes(frac(0.1, bar_h))
    cmap = plt.get_cmap("gray_r").copy()
    cmap.set_bad("white")
    xlim = (-0.5, step * n - 1.5)
    top.imshow(strip, cmap=cmap, aspect="auto", interpolation="nearest")
    top.set(xlim=xlim, ylim=(7.5, -0.5), xticks=[], yticks=[])
    top.axis("off")
    centres = step * np.arange(n) + 3.5
    for i in range(n):
        left = step * i - 0.5
        top.add_patch(Rectangle((left, -0.5), 8, 8, fill=False, edgecolor="tab:red" if flags[i] else "lightgrey",
                                linewidth=2.5 if flags[i] else 0.8, clip_on=False))
        if hidden[i]:
            top.plot([left, left + 8], [-0.5, 7.5], color="black", linewidth=1.5)
            top.plot([left, left + 8], [7.5, -0.5], color="black", linewidth=1.5)
    drawn = bars.bar(centres, a, width=6, color=np.where(flags, "tab:red", "tab:blue"))
    for patch, is_hidden in zip(drawn, hidden, strict=True):
        if is_hidden:
            patch.set(hatch="///", alpha=0.5)
    for x, value in zip(centres, a, strict=True):
        bars.text(x, value, f"{value:.2f}", ha="center", va="bottom", fontsize=7)
    bars.set(xlim=xlim, ylim=(0, max(1e-9, a.max()) * 1.25), xticks=[], yticks=[])
    bars.grid(False)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.05 / height, va="top")
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
