"""The one figure theme of Loss Lab, set on import, and the helpers every figure uses.

- seaborn's whitegrid with the tab10 palette, figures at ``DPI`` (100) pixels per inch on screen and saved at
  ``SAVE_DPI`` (150), legends without a frame;
- every axis labelled (``label``), a class key with one colour per class (``class_colours``), legends
  outside the data (``legend_outside``), colour bars labelled in mathtext (``colourbar``);
- ``finish`` lays the figure out so that no label is cut off at its edge.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

DPI = 100       # pixels per figure inch on screen (inline figures; the widgets' images have the same CSS size)
SAVE_DPI = 150  # pixels per inch of a saved figure

sns.set_theme(context="notebook", style="whitegrid", palette="tab10",
              rc={"figure.dpi": DPI, "savefig.dpi": SAVE_DPI, "savefig.bbox": "tight", "legend.frameon": False,
                  "axes.titlesize": "medium", "legend.fontsize": "small", "legend.title_fontsize": "small"})


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _axes(ax, projection=None, figsize=(4.5, 4)):
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize)
    return fig, fig.add_subplot(projection=projection)


def label(ax, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None):
    """Label an axis; a label left None keeps the one it has."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    return ax


def legend_outside(ax, *args, **kwargs):
    """The legend of ``ax`` to the right of its axes, outside the data (``finish`` makes room for it).
    Nothing when the axes hold no labelled artist."""
    handles, _ = ax.get_legend_handles_labels()
    if not args and not handles:
        return None
    options = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return ax.legend(*args, **{**options, **kwargs})


def class_colours(labels) -> dict:
    """Scatter keywords colouring ``labels`` (integers from 0) with one colour per class: a qualitative
    palette while it has a colour per class (tab10, tab20), a sequential one beyond. The same class gets
    the same colour in every figure."""
    y = _np(labels)
    n_colours = int(y.max()) + 1 if len(y) else 1
    cmap, vmax = ("tab10", 9) if n_colours <= 10 else ("tab20", 19) if n_colours <= 20 else ("viridis", n_colours - 1)
    return dict(c=y, cmap=cmap, vmin=0, vmax=vmax)


def colourbar(fig, mappable, ax, label: str, **kwargs):
    """A colour bar for ``mappable`` beside ``ax``, its label in mathtext
    (e.g. ``r"$\\partial L/\\partial S_{ij}$"``)."""
    return fig.colorbar(mappable, ax=ax, label=label, **{"shrink": 0.8, **kwargs})


def finish(fig):
    """Lay the figure out so that titles, axis labels and legends outside the axes stay inside it."""
    fig.tight_layout()
    return fig


def legend_above(ax, *args, **kwargs):
    """The legend of ``ax`` in one row above its axes (and its title), outside the data: for panels side by
    side, where a legend to the right would sit on the next panel."""
    handles, _ = ax.get_legend_handles_labels()
    if not args and not handles:
        return None
    options = dict(loc="lower left", bbox_to_anchor=(0.0, 1.1), borderaxespad=0.0, frameon=False,
                   ncol=max(1, min(len(handles), 4)))
    return ax.legend(*args, **{**options, **kwargs})


def mark_truncated(ax, low: float):
    """Say on the axis that the y axis starts at ``low``, not at 0 (a truncated baseline exaggerates
    differences): a note in the lower-left corner of the axes."""
    if low > 0:
        ax.text(0.01, 0.01, f"y axis starts at {low:g}", transform=ax.transAxes, fontsize="x-small", color="0.35",
                ha="left", va="bottom")
    return ax
