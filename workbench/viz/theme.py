"""The one figure theme of Loss Lab (seaborn whitegrid, tab10), set on import, and the helpers every
figure uses."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

sns.set_theme(context="notebook", style="whitegrid", palette="tab10")


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _axes(ax, projection=None, figsize=(4.5, 4)):
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize)
    return fig, fig.add_subplot(projection=projection)
