"""Pair weights and penalties: the gradient lens drawn as heatmaps and bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..analysis import penalty_entropy, relative_penalty
from .theme import _axes, _np, colourbar, finish, legend_outside


def pair_weight_heatmap(weights, labels, *, ax=None, title: str | None = None, robust: bool = True,
                        per_sign: bool = False) -> Figure:
    """dL/dS as a heatmap, rows and columns sorted by label, class blocks outlined.

    Red (positive weight) pushes a pair apart, blue (negative) pulls it together; white is ignored.
    The colour range is symmetric around 0; ``robust`` clips it at the 98th percentile of the non-zero
    |weights| so that one huge weight (e.g. a near-coincident positive pair) does not wash out the rest.
    ``per_sign`` divides the pulls (w < 0) and the pushes (w > 0) each by their own limit, so both span
    [-1, 1]: a loss whose pulls are much weaker than its pushes (binomial deviance, where beta >> alpha)
    shows its pulls too. The colours then compare pairs within a sign, not across signs.
    """
    W, y = _np(weights), _np(labels)
    order = np.argsort(y, kind="stable")
    W, y = W[np.ix_(order, order)], y[order]
    fig, ax = _axes(ax, figsize=(4.6, 4))

    def limit_of(values):
        magnitudes = np.abs(values[values != 0])
        return float(np.quantile(magnitudes, 0.98) if robust else magnitudes.max()) if magnitudes.size else 1.0

    label = "$\\partial L/\\partial S_{ij}$"
    if per_sign:  # each sign scaled to [-1, 1] by its own limit (the 98th percentile of its |w| when robust)
        W = np.where(W > 0, W / limit_of(W[W > 0]), W / limit_of(W[W < 0]))
        limit, label = 1.0, label + " / limit of its sign"
    else:
        limit = limit_of(W)
    image = ax.imshow(W, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    for edge in np.flatnonzero(np.diff(y)) + 0.5:
        ax.axhline(edge, color="0.3", lw=0.6)
        ax.axvline(edge, color="0.3", lw=0.6)
    ax.set(xticks=[], yticks=[], xlabel="j (sorted by label)", ylabel="i")
    ax.grid(False)
    colourbar(fig, image, ax, label)
    if title:
        ax.set_title(title)
    return fig


def relative_penalty_figure(negatives, temperatures: Sequence[float], *, ax=None,
                            title: str | None = "relative penalty on each negative") -> Figure:
    """Bars of the relative penalty ``analysis.relative_penalty`` on each negative (sorted from the most
    similar, the hardest), one colour per temperature, the penalty's entropy in the legend."""

    s = np.sort(_np(negatives).astype(float))[::-1].copy()  # a copy: torch takes no negative strides
    hardest_first = torch.from_numpy(s)
    fig, ax = _axes(ax, figsize=(7.5, 3.4))
    width = 0.8 / len(temperatures)
    for k, tau in enumerate(temperatures):
        r = relative_penalty(hardest_first, tau).numpy()
        entropy = float(penalty_entropy(hardest_first, tau))
        ax.bar(np.arange(len(s)) + (k - (len(temperatures) - 1) / 2) * width, r, width,
               label=f"τ={tau:g} (entropy {entropy:.2f})")
    ax.set_xticks(np.arange(len(s)), [f"{v:.2f}" for v in s], rotation=45 if len(s) > 8 else 0)
    ax.set(xlabel="similarity of the negative (hardest first)", ylabel="relative penalty r", ylim=(0, 1.02))
    legend_outside(ax)
    if title:
        ax.set_title(title)
    return finish(fig)
