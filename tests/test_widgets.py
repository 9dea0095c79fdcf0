"""The explorers driven headless (their shared base and the four explorers) and the sliders."""

import io
import math

import ipywidgets as W
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from workbench import analysis, losses, viz, widgets


def curve(figure, panel=0, line=0):
    artist = figure.axes[panel].lines[line]
    return np.asarray(artist.get_xdata(), dtype=float), np.asarray(artist.get_ydata(), dtype=float)


def test_default_explorer_builds_a_figure():
    explorer = widgets.LossExplorer()
    assert explorer.dropdown.value == "cross_entropy"
    assert isinstance(explorer.figure, Figure)
    assert set(explorer.sliders) == set(losses.info("cross_entropy").params)
    assert list(explorer.controls.children) == list(explorer.sliders.values())
    assert explorer.params == losses.info("cross_entropy").defaults
    assert "$" in explorer.info.value  # the formula is shown


def test_explorable_losses_are_exactly_the_logits_pairs_views_losses():
    expected = sorted(n for n in losses.available() if losses.info(n).kind in ("logits", "pairs", "views"))
    assert widgets.explorable_losses() == expected
    assert {"cross_entropy", "contrastive", "ntxent"} <= set(expected)
    assert "normface" not in expected
    assert list(widgets.LossExplorer().dropdown.options) == expected


def test_dropdown_rebuilds_the_sliders():
    explorer = widgets.LossExplorer()
    explorer.dropdown.value = "contrastive"
    assert set(explorer.sliders) == {"pos_margin", "neg_margin"}
    assert list(explorer.controls.children) == list(explorer.sliders.values())
    assert explorer.figure.axes[0].get_xlabel() == "cosine similarity s"
    explorer.dropdown.value = "ntxent"
    assert set(explorer.sliders) == {"temperature"}
    assert explorer.sliders["temperature"].value == losses.info("ntxent").params["temperature"].default


def test_moving_a_slider_redraws_once(monkeypatch):
    explorer = widgets.LossExplorer("ntxent")
    before_figure, before_png = explorer.figure, explorer.image.value
    x_before, y_before = curve(before_figure)
    calls = []
    original = explorer.update
    monkeypatch.setattr(explorer, "update", lambda: (calls.append(1), original())[1])

    explorer.sliders["temperature"].value = 0.1

    assert len(calls) == 1
    assert explorer.figure is before_figure  # redrawn in place, not rebuilt
    assert bytes(explorer.image.value) != bytes(before_png)
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    assert explorer.params == {"temperature": pytest.approx(0.1)}
    x_after, y_after = curve(explorer.figure)
    np.testing.assert_array_equal(x_after, x_before)
    assert not np.allclose(y_after, y_before)
    # the drawn curve is the positive-pair curve of the loss built with the slider's value
    expected = analysis.similarity_curve(losses.get("ntxent", temperature=0.1), x_after, "positive")
    np.testing.assert_allclose(y_after, expected["loss"], rtol=1e-6)
    assert explorer.last_update_s >= 0


def test_setting_the_same_value_does_not_redraw(monkeypatch):
    explorer = widgets.LossExplorer("ntxent")
    calls = []
    monkeypatch.setattr(explorer, "update", lambda: calls.append(1))
    explorer.sliders["temperature"].value = explorer.sliders["temperature"].value
    assert calls == []


def explorable_params():
    return [(name, key, param) for name in widgets.explorable_losses()
            for key, param in losses.info(name).params.items()]


@pytest.mark.parametrize("name, key, param", explorable_params())
def test_every_slider_updates_on_release_only(name, key, param):
    slider = widgets.param_slider(key, param)
    if isinstance(param.default, bool):
        assert isinstance(slider, W.Checkbox)
    else:
        assert slider.continuous_update is False
    assert slider.value == pytest.approx(param.default)
    assert slider.description == key


@pytest.mark.parametrize("name, key, param", [p for p in explorable_params() if p[2].log])
def test_log_params_get_a_log_slider(name, key, param):
    slider = widgets.param_slider(key, param)
    assert isinstance(slider, W.FloatLogSlider)
    assert slider.base ** slider.min == pytest.approx(param.low)
    assert slider.base ** slider.max == pytest.approx(param.high)


def test_linear_params_get_a_linear_slider():
    param = losses.info("contrastive").params["neg_margin"]
    assert not param.log
    slider = widgets.param_slider("neg_margin", param)
    assert type(slider) is W.FloatSlider
    assert (slider.min, slider.max) == (param.low, param.high)


def test_log_params_exist_to_test():
    # the log-slider test above must not pass vacuously
    assert any(p.log for _, _, p in explorable_params())


def test_margin_kind_is_not_explorable():
    assert losses.info("normface").kind == "margin"
    with pytest.raises(ValueError, match="cross_entropy"):
        widgets.LossExplorer("normface")
    with pytest.raises(ValueError, match="margin"):
        widgets.loss_figure("normface")


def test_loss_figure_cross_entropy_against_the_margin():
    figure = widgets.loss_figure("cross_entropy")
    left, right = figure.axes
    x, y = curve(figure)
    assert x.min() == pytest.approx(-6) and x.max() == pytest.approx(6)
    assert np.all(np.diff(y) < 0)  # cross-entropy falls as the true-class margin grows
    _, grad = curve(figure, panel=1)
    assert np.all(grad < 0)
    assert "margin" in left.get_xlabel()
    hot = widgets.loss_figure("cross_entropy", {"temperature": 5.0})
    assert not np.allclose(curve(hot)[1], y)


def test_curves_leaving_the_axis_rescale_it_and_the_image_shows_them():
    explorer = widgets.LossExplorer("cross_entropy")
    explorer.sliders["temperature"].value = 0.05  # the loss at m = -6 grows from ~8 to ~120
    loss_ax = explorer.figure.axes[0]
    y = curve(explorer.figure)[1]
    low, high = loss_ax.get_ylim()
    assert low <= y.min() and y.max() <= high
    full, png = explorer.full_redraws, bytes(explorer.image.value)
    assert full >= 1
    explorer.sliders["temperature"].value = 0.051  # a notch: fits the axis, only the curves are redrawn
    assert explorer.full_redraws == full and loss_ax.get_ylim() == (low, high)
    assert bytes(explorer.image.value) != png


@pytest.mark.parametrize("build, move", [
    (lambda: widgets.LossExplorer("ntxent"), lambda e: setattr(e.sliders["temperature"], "value", 0.1)),
    (lambda: widgets.MarginExplorer("arcface"), lambda e: setattr(e.sliders["margin"], "value", 0.2)),
    (lambda: widgets.PenaltyExplorer([0.9, 0.5, 0.1]), lambda e: setattr(e.slider, "value", 0.07)),
    (lambda: widgets.ProxyAnchorExplorer(), lambda e: setattr(e.sliders["alpha"], "value", 8.0)),
    (lambda: widgets.FigureExplorer(lambda a: Figure(), a=losses.Param(1.0, 0.0, 2.0)),
     lambda e: setattr(e.sliders["a"], "value", 1.5)),
    (lambda: widgets.ClusterTargetExplorer(), lambda e: setattr(e.sliders["alpha"], "value", 5.0)),
])
def test_every_explorer_shares_the_base(build, move):
    explorer = build()
    assert isinstance(explorer, widgets.Explorer)
    assert explorer.image in explorer.widget.children and explorer.controls in explorer.widget.children
    assert list(explorer.controls.children) == list(explorer.sliders.values())
    before = bytes(explorer.image.value)
    move(explorer)
    assert explorer.last_update_s >= 0  # the slider's release went through the timed update
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    assert explorer.params == {k: s.value for k, s in explorer.sliders.items()}
    if not isinstance(explorer, widgets.FigureExplorer):  # a blank figure draws the same PNG each time
        assert bytes(explorer.image.value) != before


def test_penalty_explorer_updates_entropy_and_image():
    explorer = widgets.PenaltyExplorer([0.9, 0.5, 0.1], temperature=1.0)
    first, image = explorer.entropy, explorer.image.value
    explorer.slider.value = 0.07
    assert explorer.entropy < first and explorer.image.value != image
    assert explorer.entropy == pytest.approx(float(analysis.penalty_entropy(np.array([0.9, 0.5, 0.1]), 0.07)), rel=1e-3)


def test_margin_explorer_redraws_on_slider_change():
    explorer = widgets.MarginExplorer("arcface")
    before = explorer.image.value
    explorer.sliders["margin"].value = 0.2
    assert explorer.image.value != before and set(explorer.sliders) == {"scale", "margin"}
    explorer.dropdown.value = "cosface"
    assert explorer.params["margin"] == losses.info("cosface").params["margin"].default
    with pytest.raises(ValueError, match="name must be one of"):
        widgets.MarginExplorer("triplet")


def test_proxy_anchor_explorer_draws_the_weights_of_its_sliders():
    explorer = widgets.ProxyAnchorExplorer()
    assert set(explorer.sliders) == {"margin", "alpha"}
    assert explorer.params == pytest.approx({"margin": 0.1, "alpha": 32.0})  # the paper's defaults
    sharp, image = explorer.hardest_share, bytes(explorer.image.value)
    explorer.sliders["alpha"].value = 2.0
    # Hand computation (Kim et al. 2020, eq. 4): a positive at cosine s among three others at 0.5 is pulled with
    # (α/|P+|) e^{-α(s-δ)} / (1 + Σ e^{-α(s'-δ)}); the ratio of the pulls at s = 0 and s = 1 is then
    # e^{α} (1 + e^{-α(1-δ)} + 3 e^{-α(0.5-δ)}) / (1 + e^{α δ} + 3 e^{-α(0.5-δ)}).
    a, d = 2.0, 0.1
    rest = 3 * np.exp(-a * (0.5 - d))
    expected = np.exp(a) * (1 + np.exp(-a * (1 - d)) + rest) / (1 + np.exp(a * d) + rest)
    assert explorer.hardest_share == pytest.approx(expected, rel=1e-9)
    assert explorer.hardest_share < sharp  # a small α spreads the pull over easy positives too
    assert bytes(explorer.image.value) != image and f"{expected:.3g}" in explorer.label.value
    # the kept figure's curves moved to the weights at the new α
    curves = widgets.proxy_anchor_curves(0.1, 2.0)
    for ax, which in zip(explorer.figure.axes, ("positive", "negative")):
        assert np.allclose(ax.lines[0].get_ydata(), curves[which]["weight"].abs())
    parser = TextAndTags()
    parser.feed(explorer.info.value)
    assert parser.tags == ["b"] and f"${losses.info('proxy_anchor').formula}$" in parser.text


def test_figure_explorer_redraws_on_slider_change():
    explorer = widgets.FigureExplorer(lambda L: viz.line_panel(analysis.amplifier_curve([L]), "p"),
                                      L=losses.Param(30.0, 1.0, 100.0))
    first = explorer.image.value
    explorer.sliders["L"].value = 80.0
    assert explorer.renders == 2 and explorer.image.value != first
    with pytest.raises(ValueError, match="parameter"):
        widgets.FigureExplorer(lambda: None)


def test_figure_explorer_with_update_figure_builds_once_and_moves_the_artists():
    built = []

    def draw(a):
        fig = Figure(figsize=(4.0, 3.0))
        fig.add_subplot().bar([0, 1], [a, 1.0])
        built.append(fig)
        return fig

    def update_figure(fig, a):
        if a > 1.8:
            raise ValueError("a above 1.8 is refused")
        fig.axes[0].patches[0].set_height(a)

    explorer = widgets.FigureExplorer(draw, update_figure=update_figure, a=losses.Param(1.0, 0.0, 2.0))
    first = bytes(explorer.image.value)
    explorer.sliders["a"].value = 0.5
    assert len(built) == 1 and explorer.figure is built[0] and explorer.renders == 2
    assert explorer.figure.axes[0].patches[0].get_height() == 0.5
    moved = bytes(explorer.image.value)
    assert moved != first and widgets.png_size(moved) == widgets.png_size(first) == (800, 600)
    # The same PNG as a figure built anew for that value: updating in place draws what drawing afresh would.
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(moved))),
                          np.asarray(Image.open(io.BytesIO(widgets.figure_png(draw(0.5))))))
    explorer.sliders["a"].value = 1.9  # refused: the message says why and the last image stays
    assert "1.8" in explorer.message.value and bytes(explorer.image.value) == moved
    with pytest.raises(ValueError, match="update_figure"):
        widgets.FigureExplorer(draw, update_figure="bars", a=losses.Param(1.0, 0.0, 2.0))


def test_a_combination_the_loss_refuses_is_shown_not_raised():
    explorer = widgets.LossExplorer("isogclr")
    png, y = bytes(explorer.image.value), curve(explorer.figure)[1]
    explorer.sliders["tau_max"].value = 0.1  # the lowest tau_max, still above the temperature (0.1)
    png, y = bytes(explorer.image.value), curve(explorer.figure)[1]
    explorer.sliders["temperature"].value = 0.2  # above tau_max: isogclr refuses it
    assert "temperature" in explorer.message.value and explorer.message in explorer.widget.children
    assert bytes(explorer.image.value) == png and np.array_equal(curve(explorer.figure)[1], y)  # last image stays
    assert explorer.last_update_s >= 0
    explorer.sliders["tau_max"].value = 1.0
    assert explorer.message.value == "" and bytes(explorer.image.value).startswith(b"\x89PNG")
    assert explorer.params["tau_max"] == pytest.approx(1.0)


# --- as seen in a browser: natural size, sharp images, escaped formulas, nothing cut off ------------------------


def css_px(value: str) -> float:
    assert value.endswith("px"), f"a size in CSS pixels, got {value!r}"
    return float(value[:-2])


EXPLORERS = {
    "loss": lambda: widgets.LossExplorer("ntxent"),
    "margin": lambda: widgets.MarginExplorer("arcface"),
    "penalty": lambda: widgets.PenaltyExplorer([0.9, 0.5, 0.1]),
    "proxy_anchor": lambda: widgets.ProxyAnchorExplorer(),
    "figure": lambda: widgets.FigureExplorer(lambda L: viz.line_panel(analysis.amplifier_curve([L]), "p"),
                                             L=losses.Param(30.0, 1.0, 100.0)),
    "cluster target": lambda: widgets.ClusterTargetExplorer(),
}


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_image_is_drawn_at_twice_its_css_size_and_shown_at_it(name):
    explorer = EXPLORERS[name]()
    png = bytes(explorer.image.value)
    width, height = Image.open(io.BytesIO(png)).size
    assert widgets.png_size(png) == (width, height)
    layout = explorer.image.layout
    # Drawn at PIXEL_RATIO (2) device pixels per CSS pixel: sharp on a retina screen, never upscaled.
    assert widgets.PIXEL_RATIO == 2
    assert (width, height) == (2 * css_px(layout.width), 2 * css_px(layout.height))
    # The CSS size is the figure's natural size: its inches at the theme's screen dpi (an inline figure's size),
    # not the output's full width; narrower outputs shrink it keeping the aspect.
    assert layout.max_width == "100%" and layout.object_fit == "contain"
    if name == "loss":
        inches = explorer.figure.get_size_inches()
        assert (css_px(layout.width), css_px(layout.height)) == pytest.approx(inches * viz.theme.DPI, abs=1)
    assert 300 <= css_px(layout.width) <= 1000, "an image about as wide as an inline figure"


def test_the_layout_follows_a_figure_of_another_size():
    sizes = iter([(4.0, 3.0), (8.0, 2.0)])

    def draw(a):
        fig = Figure(figsize=next(sizes))
        fig.add_subplot().plot([0, 1], [0, a])
        return fig

    explorer = widgets.FigureExplorer(draw, a=losses.Param(1.0, 0.0, 2.0))
    assert (explorer.image.layout.width, explorer.image.layout.height) == ("400px", "300px")
    explorer.sliders["a"].value = 1.5
    assert (explorer.image.layout.width, explorer.image.layout.height) == ("800px", "200px")
    assert widgets.png_size(explorer.image.value) == (1600, 400)


class TextAndTags(__import__("html.parser").parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.tags = "", []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text += data


@pytest.mark.parametrize("name", ["mv_dhel", "align_uniform", "cross_entropy"])
def test_formula_reaches_mathjax_intact_through_the_html(name):
    formula = losses.info(name).formula
    if name != "cross_entropy":
        assert "<" in formula  # the case that broke: l<l' read as a tag by the browser
    explorer = widgets.LossExplorer(name)
    assert isinstance(explorer.info, W.HTMLMath)  # typeset by MathJax in the browser
    parser = TextAndTags()
    parser.feed(explorer.info.value)
    parser.close()
    assert parser.tags == ["b"]  # the title's bold, nothing the formula opened
    assert f"${formula}$" in parser.text  # what MathJax reads, after the browser decodes &lt;
    assert losses.info(name).paper.title in parser.text


def test_cluster_target_explorer_sharpens_and_shows_its_formula_to_mathjax():
    explorer = widgets.ClusterTargetExplorer(alpha=1.0)
    # the target p is more confident than q on the data points, at every alpha of the slider
    for alpha in (0.1, 1.0, 10.0):
        explorer.sliders["alpha"].value = alpha
        assert explorer.sharpening > 0 and explorer.message.value == ""
    # the kept figure's curves are q and p of cluster 0, then of cluster 1, at the last alpha
    q, p = analysis.dec_target_along(explorer.line, explorer.points, explorer.centres, 10.0)
    drawn = [line.get_ydata() for line in explorer.figure.axes[0].lines[:4]]
    for got, want in zip(drawn, (q[:, 0], p[:, 0], q[:, 1], p[:, 1])):
        assert np.allclose(got, want.numpy())
    assert set(explorer.sliders) == {"alpha"} and explorer.sliders["alpha"].min == pytest.approx(-1)  # log10 0.1
    assert isinstance(explorer.formula, W.HTMLMath)
    parser = TextAndTags()
    parser.feed(explorer.formula.value)
    parser.close()
    assert parser.tags == [] and f"${widgets.ClusterTargetExplorer.FORMULA}$" in parser.text


def test_formula_html_escapes_markup():
    assert widgets.formula_html("a<b & c>d") == "$a&lt;b &amp; c&gt;d$"


def test_png_size_refuses_what_is_not_a_png():
    with pytest.raises(ValueError, match="png"):
        widgets.png_size(b"GIF89a" + bytes(30))


@pytest.mark.parametrize("figure", [
    lambda: widgets.margin_figure({"arcface": {"scale": 30.0, "margin": 0.5}}),
    lambda: widgets.margin_figure({"sphereface": {}}),
    lambda: widgets.LossExplorer("ntxent").figure,
    lambda: widgets.loss_figure("cross_entropy"),
    lambda: viz.relative_penalty_figure([0.9, 0.5, 0.1], [0.2]),
    lambda: widgets.proxy_anchor_figure(0.3, 4.0),
    lambda: viz.soft_assignment_figure([0.0, 1.0], np.eye(2), np.eye(2), points=[0.2]),
], ids=["margin arcface", "margin sphereface", "loss explorer", "loss figure", "penalty", "proxy anchor",
        "cluster target"])
def test_axis_labels_lie_inside_the_figure(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = figure()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # inches, what is drawn: labels, ticks, legend
    box, pixel = fig.bbox_inches, 1 / fig.dpi
    assert drawn.x0 >= box.x0 - pixel and drawn.y0 >= box.y0 - pixel, (drawn, box)
    assert drawn.x1 <= box.x1 + pixel and drawn.y1 <= box.y1 + pixel, (drawn, box)
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)


def test_long_tail_explorer_redraws_per_class_accuracy():
    import torch

    g = torch.Generator().manual_seed(0)
    target = torch.arange(30) % 3
    ce = torch.randn(30, 3, generator=g) + torch.tensor([2.0, 0.0, -2.0])  # biased toward the head class 0
    focal = {0.0: ce, 2.0: torch.randn(30, 3, generator=g)}
    explorer = widgets.LongTailExplorer(focal, ce, target, [100, 30, 10])
    first = bytes(explorer.image.value)
    assert first.startswith(b"\x89PNG")
    width, height = widgets.png_size(first)  # drawn at 2x, shown at its natural CSS size
    assert explorer.image.layout.width == f"{width / widgets.PIXEL_RATIO:g}px"
    kept = explorer.figure
    explorer.sliders["tau"].value = 2.0
    assert bytes(explorer.image.value) != first and explorer.figure is kept  # the same figure, new bars
    # the post-hoc bars are the per-class accuracy of the adjusted logits (log priors from the counts)
    priors = torch.tensor([100.0, 30, 10], dtype=torch.float64) / 140
    adjusted = (ce.double() - torch.log(priors ** 2 + 1e-12)).argmax(1)
    expected = [float((adjusted[target == c] == c).double().mean()) for c in range(3)]
    for figure in (explorer.figure, widgets.long_tail_figure(focal, ce, target, [100, 30, 10], gamma=0.0, tau=2.0)):
        heights = [p.get_height() for p in figure.axes[0].patches]
        assert heights[6:9] == pytest.approx(expected)  # third method's bars (pandas draws column by column)
        assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()][1:] == ["focal γ=0.0",
                                                                                     "CE, post-hoc τ=2.0"]
    explorer.sliders["gamma"].value = 2.0
    focal_heights = [p.get_height() for p in explorer.figure.axes[0].patches][3:6]
    assert focal_heights == pytest.approx([float((focal[2.0].argmax(1)[target == c] == c).double().mean())
                                           for c in range(3)])
    assert explorer.message.value == "" and "focal γ=2.0" in explorer.figure.axes[0].get_title()


def test_asl_explorer_shows_the_negatives_gradient_shrinking_with_gamma_neg():
    explorer = widgets.ASLExplorer(gamma_neg=0.0, gamma_pos=0.0, clip=0.0)
    # gamma 0, clip 0: ASL is BCE, a negative keeps its whole gradient
    assert explorer.kept[0.1] == pytest.approx(1.0, rel=1e-6) and explorer.kept[0.5] == pytest.approx(1.0, rel=1e-6)
    png = bytes(explorer.image.value)
    explorer.sliders["gamma_neg"].value = 4.0
    # by hand, clip 0: L = -p^4 log(1 - p), dL/dz = p (1 - p) (4 p^3 (-log(1 - p)) + p^4 / (1 - p)), BCE's is p
    def kept(p):
        return (1 - p) * (4 * p ** 3 * -math.log(1 - p) + p ** 4 / (1 - p))
    assert explorer.kept[0.1] == pytest.approx(kept(0.1), rel=1e-6) and kept(0.1) < 1e-3
    assert explorer.kept[0.5] == pytest.approx(kept(0.5), rel=1e-6)
    explorer.sliders["clip"].value = 0.2
    assert explorer.kept[0.1] == 0.0  # p below the clip: no loss, no gradient
    assert bytes(explorer.image.value) != png
    assert "&lt;" not in explorer.caption.value or "$" in explorer.caption.value  # MathJax text, HTML-escaped
    width, height = widgets.png_size(bytes(explorer.image.value))
    assert (width, height) == (2 * css_px(explorer.image.layout.width), 2 * css_px(explorer.image.layout.height))
    with pytest.raises(ValueError, match="gamma_neg"):
        widgets.ASLExplorer(gamma=1.0)
