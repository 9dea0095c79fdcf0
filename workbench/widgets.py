"""Interactive explorers (ipywidgets) built on ``analysis`` and ``viz``.

Sliders never recompute while being dragged (``continuous_update=False``); set ``.value`` from
Python to drive an explorer headless, as the tests do.
"""

from __future__ import annotations

import time

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure

from . import analysis, losses, viz

EXPLORABLE_KINDS = ("logits", "pairs", "views")


def explorable_losses() -> list[str]:
    """Registered losses whose curves the explorer can draw (kinds logits, pairs and views)."""
    return [n for n in losses.available() if losses.info(n).kind in EXPLORABLE_KINDS]


def param_slider(name: str, param: losses.Param) -> W.Widget:
    """A slider spanning the Param's range (log-scaled where the Param says so)."""
    common = dict(value=param.default, description=name, continuous_update=False,
                  style={"description_width": "initial"}, layout=W.Layout(width="340px"))
    if isinstance(param.default, bool):
        return W.Checkbox(value=param.default, description=name)
    if param.log:
        return W.FloatLogSlider(base=10, min=np.log10(param.low), max=np.log10(param.high), step=0.05, **common)
    if isinstance(param.default, int):
        return W.IntSlider(min=int(param.low), max=int(param.high), **common)
    return W.FloatSlider(min=param.low, max=param.high, step=(param.high - param.low) / 100, **common)


def loss_figure(name: str, params: dict | None = None) -> Figure:
    """Loss and gradient curves of loss ``name`` built with ``params``: against the true-class margin
    for logits losses, against the positive and the negative similarity for pairs/views losses."""
    kind = losses.info(name).kind
    if kind not in EXPLORABLE_KINDS:
        raise ValueError(f"the explorer draws losses of kind {EXPLORABLE_KINDS}; {name!r} is {kind!r}")
    loss = losses.get(name, **(params or {}))
    if kind == "logits":
        curve = analysis.margin_curve(loss, np.linspace(-6, 6, 121))
        return viz.loss_curves({name: curve}, "margin", xlabel="true-class margin m")
    grid = np.linspace(-1, 1, 81)
    curves = {"positive pair": analysis.similarity_curve(loss, grid, "positive"),
              "negative pair": analysis.similarity_curve(loss, grid, "negative")}
    return viz.loss_curves(curves, "similarity", xlabel="cosine similarity s")


class LossExplorer:
    """Pick a loss, move its hyper-parameters, watch its loss and gradient curves.

    >>> explorer = LossExplorer("ntxent")
    >>> explorer.sliders["temperature"].value = 0.1     # redraws, as a user's release of the slider would
    >>> explorer.last_update_s                          # seconds the redraw took
    """

    def __init__(self, name: str = "cross_entropy"):
        choices = explorable_losses()
        if name not in choices:
            raise ValueError(f"name must be one of {choices}, got {name!r}")
        self.dropdown = W.Dropdown(options=choices, value=name, description="loss")
        self.sliders: dict[str, W.Widget] = {}
        self.controls = W.VBox()
        self.info = W.HTMLMath()
        self.output = W.Output()
        self.figure: Figure | None = None
        self.last_update_s = float("nan")
        self.widget = W.VBox([self.dropdown, self.info, self.controls, self.output])
        self.dropdown.observe(lambda change: self._build(), names="value")
        self._build()

    @property
    def params(self) -> dict:
        return {k: s.value for k, s in self.sliders.items()}

    def _build(self) -> None:
        entry = losses.info(self.dropdown.value)
        self.sliders = {k: param_slider(k, p) for k, p in entry.params.items()}
        for slider in self.sliders.values():
            slider.observe(lambda change: self.update(), names="value")
        self.controls.children = list(self.sliders.values())
        self.info.value = f"<b>{entry.paper.title}</b> ({entry.paper.year}) &nbsp; ${entry.formula}$"
        self.update()

    def update(self) -> None:
        """Recompute the curves for the current loss and slider values and redraw."""
        start = time.perf_counter()
        figure = loss_figure(self.dropdown.value, self.params)
        if self.figure is not None:
            plt.close(self.figure)
        self.figure = figure
        self.output.clear_output(wait=True)
        with self.output:
            display(figure)
        plt.close(figure)  # shown once through the Output, not again by the inline backend
        self.last_update_s = time.perf_counter() - start

    def _ipython_display_(self):
        display(self.widget)
