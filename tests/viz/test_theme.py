"""The one figure theme: dpi, labelled axes, legends outside the data, mathtext colour-bar labels, and
nothing cut off at the figure's edge."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from workbench import analysis, losses, viz
from workbench.viz import theme


def drawn(fig):
    canvas = FigureCanvasAgg(fig)  # a closed pyplot figure has lost its canvas
    canvas.draw()
    return canvas.get_renderer()


def inside_figure(fig):
    """Everything drawn (titles, axis and tick labels, legends) lies inside the figure: a label cut off at the
    edge makes the tight box of what is drawn stick out of the figure's box."""
    drawn_box = fig.get_tightbbox(drawn(fig))  # inches; only the artists that are drawn
    box = fig.bbox_inches
    tolerance = 1 / theme.DPI  # a pixel
    assert (drawn_box.x0 >= box.x0 - tolerance and drawn_box.y0 >= box.y0 - tolerance
            and drawn_box.x1 <= box.x1 + tolerance and drawn_box.y1 <= box.y1 + tolerance), \
        f"what is drawn ({drawn_box}) sticks out of the figure ({box})"


def legend_outside_axes(fig, ax):
    renderer = drawn(fig)
    legend = ax.get_legend()
    assert legend is not None
    legend_box, axes_box = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert not legend_box.overlaps(axes_box), "the legend sits on the data"


def test_theme_sets_the_dpi():
    assert matplotlib.rcParams["figure.dpi"] == theme.DPI
    assert matplotlib.rcParams["savefig.dpi"] == theme.SAVE_DPI


def figures():
    margins = np.linspace(-4, 4, 9)
    runs = pd.DataFrame({"loss": [1.0, 0.5], "test_acc": [0.5, 0.8]}, index=[1, 2])
    frame = pd.DataFrame({"tau": [0.1, 0.1, 0.5, 0.5] * 2, "acc": [0.9, 0.8, 0.7, 0.6, 0.5, 0.6, 0.7, 0.8],
                          "loss": ["a"] * 4 + ["b"] * 4})
    heads = {"arcface": analysis.target_logit_curve(losses.get("arcface", num_classes=2, embedding_dim=2),
                                                    np.linspace(0, 180, 19))}
    return {
        "training_curves": (viz.training_curves({"run a": runs, "run b": runs}), -1),
        "line_panel": (viz.line_panel(analysis.amplifier_curve([10.0, 30.0]), "p"), 0),
        "metrics_vs": (viz.metrics_vs(frame, "tau", ["acc"], hue="loss"), -1),
        "roc_curves": (viz.roc_curves({"model": (np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))}), 0),
        "target_logit_curves": (viz.target_logit_curves(heads, normalise=False), 0),
        "relative_penalty_figure": (viz.relative_penalty_figure([0.9, 0.5, 0.1], [0.1, 1.0]), 0),
        "metric_by_setting": (viz.metric_by_setting(frame, "acc", "tau"), 0),
        "histograms": (viz.histograms({"pos": np.arange(10.0), "neg": -np.arange(10.0)}, xlabel="s"), 0),
        "embedding_scatter": (viz.embedding_scatter(torch.randn(20, 2), torch.arange(20) % 3, legend=True), 0),
        "loss_curves": (viz.loss_curves({"ce": analysis.margin_curve(losses.get("cross_entropy"), margins)},
                                        "margin"), 0),
    }


@pytest.fixture(scope="module")
def all_figures():
    return figures()


NAMES = ["training_curves", "line_panel", "metrics_vs", "roc_curves", "target_logit_curves", "relative_penalty_figure",
         "metric_by_setting", "histograms", "embedding_scatter", "loss_curves"]


def test_every_figure_is_checked(all_figures):
    assert sorted(all_figures) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_legend_is_outside_the_data_and_every_label_inside_the_figure(all_figures, name):
    fig, legend_axis = all_figures[name]
    ax = fig.axes[legend_axis]
    legend_outside_axes(fig, ax)
    inside_figure(fig)
    for axis in fig.axes:
        if axis.get_label() != "<colorbar>" and axis.name != "3d":
            assert axis.get_xlabel() and axis.get_ylabel(), f"{name}: an unlabelled axis"


def test_colourbar_label_is_mathtext():
    fig = viz.pair_weight_heatmap(torch.randn(6, 6), torch.tensor([0, 0, 1, 1, 2, 2]))
    label = fig.axes[-1].get_ylabel()
    assert label.startswith("$") and label.endswith("$") and r"\partial" in label
    inside_figure(fig)


def test_class_colours_give_each_class_its_own_colour():
    keys = theme.class_colours(np.array([0, 3, 9]))
    assert keys["cmap"] == "tab10" and (keys["vmin"], keys["vmax"]) == (0, 9)  # class k -> tab10's k-th colour
    assert theme.class_colours(np.arange(15))["cmap"] == "tab20"


def test_a_truncated_axis_is_marked():
    frame = pd.DataFrame({"loss": ["a", "b"] * 2, "acc": [0.9, 0.95, 0.92, 0.97]})
    ax = viz.metric_by_setting(frame, "acc").axes[0]
    low = ax.get_ylim()[0]
    assert low > 0
    assert any("starts at" in t.get_text() for t in ax.texts)
