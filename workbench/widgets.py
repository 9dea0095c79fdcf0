"""Interactive explorers (ipywidgets) built on ``analysis`` and ``viz``.

Sliders never recompute while being dragged (``continuous_update=False``); set ``.value`` from
Python to drive an explorer headless, as the tests do.
"""

from __future__ import annotations

import html
import io
import struct
import time

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from . import analysis, kinds, losses, viz

# Kinds whose losses the explorer can draw: those that say which curve (workbench.kinds).
EXPLORABLE_KINDS = tuple(name for name, kind in kinds.KINDS.items() if kind.curve is not None)


def explorable_losses() -> list[str]:
    """Registered losses whose curves the explorer can draw (their kind has a ``curve``)."""
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


def _picker(choices, name: str, description: str, on_pick) -> W.Dropdown:
    """A dropdown over ``choices`` set to ``name`` (a ValueError names the valid ones) that calls
    ``on_pick()`` whenever the user picks another. The explorers pass lambdas, so the method called is
    looked up at each change (tests patch it on the instance)."""
    if name not in choices:
        raise ValueError(f"name must be one of {choices}, got {name!r}")
    dropdown = W.Dropdown(options=choices, value=name, description=description)
    dropdown.observe(lambda change: on_pick(), names="value")
    return dropdown


def _param_sliders(params: dict[str, losses.Param], on_change) -> dict[str, W.Widget]:
    """One :func:`param_slider` per Param, each calling ``on_change()`` when released."""
    sliders = {k: param_slider(k, p) for k, p in params.items()}
    for slider in sliders.values():
        slider.observe(lambda change: on_change(), names="value")
    return sliders


MARGINS = np.linspace(-6, 6, 49)
SIMILARITIES = np.linspace(-1, 1, 33)


def explorer_curves(name: str, params: dict | None = None) -> tuple[dict, str, str]:
    """``({label: frame}, x column, x label)`` for loss ``name`` built with ``params``: curves against the
    true-class margin for logits losses, against a positive and a negative similarity for pairs/views."""
    kind = kinds.get(losses.info(name).kind)
    if kind.curve is None:
        raise ValueError(f"the explorer draws losses of kind {EXPLORABLE_KINDS}; {name!r} is {kind.name!r}")
    loss = losses.get(name, **(params or {}))
    if kind.curve == "margin":
        return {name: analysis.margin_curve(loss, MARGINS)}, "margin", "true-class margin m"
    return ({"positive pair": analysis.similarity_curve(loss, SIMILARITIES, "positive"),
             "negative pair": analysis.similarity_curve(loss, SIMILARITIES, "negative")},
            "similarity", "cosine similarity s")


def loss_figure(name: str, params: dict | None = None, *, layout: bool = True) -> Figure:
    """Loss and gradient curves of loss ``name`` built with ``params`` (see :func:`explorer_curves`);
    ``layout=False`` leaves the layout to the caller (:meth:`CurveExplorer._keep` lays it out once)."""
    curves, x, xlabel = explorer_curves(name, params)
    return viz.loss_curves(curves, x, xlabel=xlabel, layout=layout)


# An explorer's image appears at the size of an inline figure (``viz.theme.DPI`` CSS pixels per figure inch) and
# is drawn with PIXEL_RATIO device pixels per CSS pixel, so that it is sharp on high-density (retina) screens and
# never upscaled by the browser. Its layout holds that natural size: it is not stretched to the output's width.
PIXEL_RATIO = 2
IMAGE_DPI = viz.theme.DPI * PIXEL_RATIO


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels of a PNG, from its header."""
    if not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
        raise ValueError("png must be PNG bytes")
    return struct.unpack(">II", bytes(png[16:24]))


def natural_layout(png: bytes) -> dict:
    """CSS layout showing ``png`` (drawn at ``PIXEL_RATIO``) at its natural size: width and height in CSS
    pixels; in an output narrower than that it shrinks and keeps its aspect (``object_fit``), never grows."""
    width, height = png_size(png)
    return dict(width=f"{width / PIXEL_RATIO:g}px", height=f"{height / PIXEL_RATIO:g}px", max_width="100%",
                object_fit="contain")


def formula_html(formula: str) -> str:
    """A LaTeX formula for an HTMLMath widget: inline math that MathJax typesets, with ``<``, ``>`` and ``&``
    escaped so that the browser's HTML parser does not take ``l<l'`` for a tag (MathJax reads the text)."""
    return f"${html.escape(formula, quote=False)}$"


def png_bytes(figure: Figure) -> bytes:
    """What the figure's Agg canvas holds now, as PNG with light compression (the default compression
    costs as much as drawing the figure). Draw the canvas first."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(figure.canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def figure_png(figure: Figure, dpi: int = IMAGE_DPI) -> bytes:
    """A whole new figure drawn once at ``dpi`` and closed: its PNG, for an image widget (the figure is
    shown through the widget only, never by the notebook backend). The default is ``PIXEL_RATIO`` times the
    theme's screen dpi (see :func:`natural_layout`)."""
    figure.set_dpi(dpi)
    FigureCanvasAgg(figure).draw()
    png = png_bytes(figure)
    plt.close(figure)  # after encoding: closing detaches the figure from its canvas
    return png


class Explorer:
    """What every explorer shares: controls above a PNG image, redrawn when a control is released.

    ``widget`` stacks ``header`` (a dropdown, a caption), ``controls`` (the sliders), ``footer``, a
    ``message`` line and the image. ``update()`` asks the subclass's ``render()`` for the PNG and records
    how long it took in ``last_update_s``; ``sliders`` and ``params`` hold the sliders and their values.
    Sliders move one at a time, so they can reach a combination the loss refuses (iSogCLR's temperature
    outside [tau_min, tau_max]): its ValueError is shown in ``message`` and the last image stays.
    """

    def __init__(self, header=(), footer=()):
        self.sliders: dict[str, W.Widget] = {}
        self.controls = W.VBox()
        self.message = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%", object_fit="contain"))
        self.last_update_s = float("nan")
        self.figure: Figure | None = None  # the figure an explorer keeps between updates, if it keeps one
        self.widget = W.VBox([*header, self.controls, *footer, self.message, self.image])

    @property
    def params(self) -> dict:
        return {k: s.value for k, s in self.sliders.items()}

    def _set_sliders(self, params: dict[str, losses.Param]) -> None:
        """New sliders, one per Param, each calling ``update()`` when released."""
        self.sliders = _param_sliders(params, lambda: self.update())
        self.controls.children = list(self.sliders.values())

    def render(self) -> bytes:
        """The PNG for the current control values."""
        raise NotImplementedError

    def _redraw_kept(self, draw, update) -> bytes:
        """PNG of the kept figure: built by ``draw()`` the first time, then moved in place by ``update(figure)``
        (its layout kept: about twice as fast as a new figure)."""
        if self.figure is None:
            self.figure = kept_figure(draw())
        else:
            update(self.figure)
        self.figure.canvas.draw()
        return png_bytes(self.figure)

    def show(self, png: bytes) -> None:
        """Put ``png`` in the image widget at its natural size (:func:`natural_layout`)."""
        for key, value in natural_layout(png).items():
            if getattr(self.image.layout, key) != value:  # unchanged sizes send no message to the browser
                setattr(self.image.layout, key, value)
        self.image.value = png

    def update(self) -> None:
        """Redraw the image for the current control values."""
        start = time.perf_counter()
        try:
            self.show(self.render())
            self.message.value = ""
        except ValueError as error:  # raised out of a slider's observer it would only reach the log
            self.message.value = f'<span style="color: #b00020">{html.escape(str(error))}</span>'
        self.last_update_s = time.perf_counter() - start

    def _ipython_display_(self):
        display(self.widget)


def kept_figure(figure: Figure) -> Figure:
    """``figure`` made ready for an explorer that keeps it and redraws it itself: closed in pyplot (shown through
    the image widget only, not again by the inline backend), on its own Agg canvas at ``IMAGE_DPI``."""
    plt.close(figure)
    FigureCanvasAgg(figure)  # closing detached pyplot's canvas; render with Agg directly
    figure.set_dpi(IMAGE_DPI)
    return figure


class CurveExplorer(Explorer):
    """An explorer whose figure is built once and whose curves move with its sliders.

    The axes, ticks and labels are kept (and blitted from a cached background) while the new curves fit the
    current y-range, and fully redrawn only when they do not. Text is most of a matplotlib draw, so this keeps
    updates fast (``benchmarks/widgets.py`` measures them). A subclass keeps a new figure with :meth:`_keep` and
    moves its curves to new values with :meth:`_move`.
    """

    def __init__(self, header=(), footer=()):
        super().__init__(header=header, footer=footer)
        self.full_redraws = 0  # how many updates had to redraw the axes, not only the curves
        self._background = None
        self._curve_count = 0

    def _keep(self, figure: Figure, *, titles: bool = False) -> None:
        """Keep ``figure``, whose curves are the lines of its first one or two axes (the first axis's lines are
        all redrawn on every move, a static one among them too), with few ticks and, unless ``titles``, without
        its titles (where the y labels say it): less text to draw; laid out again."""
        if self.figure is not None:
            plt.close(self.figure)
        self.figure = kept_figure(figure)
        for ax in self.figure.axes:
            if not titles:
                ax.set_title("")
            ax.locator_params(nbins=4)
        viz.theme.finish(self.figure)
        self._curve_count = len(self.figure.axes[0].lines)
        self._background = None

    def _curve_lines(self):
        return [line for ax in self.figure.axes[:2] for line in ax.lines[: self._curve_count]]

    def _draw(self, full: bool) -> bytes:
        """PNG of the figure: a full draw of the axes (cached without the curves), or the cached axes
        with only the curves drawn on top."""
        canvas = self.figure.canvas
        if full or self._background is None:
            for line in self._curve_lines():
                line.set_visible(False)
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            for line in self._curve_lines():
                line.set_visible(True)
        else:
            canvas.restore_region(self._background)
        for line in self._curve_lines():
            line.axes.draw_artist(line)
        return png_bytes(self.figure)

    def _move(self, curves: list[list[np.ndarray]]) -> bytes:
        """Move the curves of each of the first two axes to ``curves[axis]`` (y values, one array per curve) and
        draw: only the curves while they fit the axes, the whole figure when a y-range must change."""
        full = False
        for ax, ys in zip(self.figure.axes[:2], curves):
            for line, y in zip(ax.lines, ys):
                line.set_ydata(y)
            finite = np.concatenate([y[np.isfinite(y)] for y in ys])
            lo, hi = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
            low, high = ax.get_ylim()
            # Keep the axis while the curves fit in it and fill at least a fifth of it; when it must
            # change, leave head-room so that the next small move of the slider fits again.
            if lo < low or hi > high or (hi - lo) < (high - low) / 5:
                pad = 0.15 * max(hi - lo, 1e-9)
                ax.set_ylim(lo - pad, hi + pad)
                full = True
        self.full_redraws += full
        return self._draw(full)


class LossExplorer(CurveExplorer):
    """Pick a loss, move its hyper-parameters, watch its loss and gradient curves.

    The figure is built once per loss; a slider change recomputes the curves and moves the lines
    (:class:`CurveExplorer`).

    >>> explorer = LossExplorer("ntxent")
    >>> explorer.sliders["temperature"].value = 0.1     # redraws, as a user's release of the slider would
    >>> explorer.last_update_s                          # seconds the redraw took
    """

    def __init__(self, name: str = "cross_entropy"):
        self.dropdown = _picker(explorable_losses(), name, "loss", lambda: self._build())
        self.info = W.HTMLMath()
        super().__init__(header=[self.dropdown, self.info])
        self._build()

    def _build(self) -> None:
        """A new loss: new sliders, a new figure."""
        entry = losses.info(self.dropdown.value)
        self._set_sliders(entry.params)
        self.info.value = (f"<b>{html.escape(entry.paper.title)}</b> ({entry.paper.year}) &nbsp; "
                           f"{formula_html(entry.formula)}")
        # laid out once, by _keep, after it drops the titles (the legend sits just above the axes)
        self._keep(loss_figure(self.dropdown.value, self.params, layout=False))
        self.show(self._draw(full=True))

    def render(self) -> bytes:
        """Recompute the curves for the current slider values and move the lines to them."""
        curves, _, _ = explorer_curves(self.dropdown.value, self.params)
        return self._move([[frame[column].to_numpy() for frame in curves.values()] for column in ("loss", "grad")])


class FigureExplorer(Explorer):
    """Sliders (one per :class:`losses.Param`) that redraw ``draw(**values) -> Figure`` as a PNG on release.

    Building a figure and laying it out costs about half of a redraw (``fig.tight_layout`` draws it once to
    measure its text). Pass ``update_figure(figure, **values)``, which moves the artists of the figure ``draw``
    built to the new values in place (bar heights, line data, a label's text), and the figure is built and
    laid out once, then only redrawn: about twice as fast, for figures whose layout does not change.

    >>> explorer = FigureExplorer(lambda L: viz.line_panel(analysis.amplifier_curve([L]), "p"),
    ...                           L=losses.Param(30.0, 1.0, 100.0))
    >>> explorer.sliders["L"].value = 73.0     # redraws, as a user's release of the slider would
    """

    def __init__(self, draw, update_figure=None, **params: losses.Param):
        if not params:
            raise ValueError("FigureExplorer needs at least one parameter (name=Param(...))")
        if update_figure is not None and not callable(update_figure):
            raise ValueError(f"update_figure must be a function (figure, **values), got {update_figure!r}")
        super().__init__()
        self.draw = draw
        self.update_figure = update_figure
        self.renders = 0
        self._set_sliders(params)
        self.update()

    @property
    def values(self) -> dict:
        return self.params

    def render(self) -> bytes:
        self.renders += 1
        if self.update_figure is None:
            return figure_png(self.draw(**self.values))
        return self._redraw_kept(lambda: self.draw(**self.values),
                                 lambda figure: self.update_figure(figure, **self.values))


class PenaltyExplorer(Explorer):
    """Move τ and watch InfoNCE's relative penalty over a set of negatives concentrate on the hardest ones
    (Wang & Liu 2021). The figure is ``viz.relative_penalty_figure`` for the slider's τ.

    >>> explorer = PenaltyExplorer([0.9, 0.7, 0.5, 0.3, 0.1, -0.2])
    >>> explorer.slider.value = 0.07          # redraws, as a user's release of the slider would
    >>> explorer.entropy                      # entropy (nats) of the penalty at that τ
    """

    def __init__(self, negatives, temperature: float = 0.2):
        self.negatives = np.asarray(negatives, dtype=float)
        self.label = W.HTML()
        super().__init__(footer=[self.label])
        self.slider = W.FloatLogSlider(value=temperature, base=10, min=-2, max=0.5, step=0.05, description="τ",
                                       continuous_update=False)
        self.slider.observe(lambda change: self.update(), names="value")
        self.sliders = {"temperature": self.slider}
        self.controls.children = [self.slider]
        self.entropy = float("nan")
        self.update()

    def render(self) -> bytes:
        tau = float(self.slider.value)
        self.entropy = float(analysis.penalty_entropy(self.negatives, tau))
        self.label.value = (f"entropy of the penalty: <b>{self.entropy:.3f}</b> nats "
                            f"(uniform over {len(self.negatives)} negatives: {np.log(len(self.negatives)):.3f})")
        return figure_png(viz.relative_penalty_figure(self.negatives, [tau]))


MARGIN_HEADS = ("normface", "sphereface", "cosface", "arcface", "elasticface_arc", "elasticface_cos")


def margin_figure(params: dict[str, dict], angles=None) -> Figure:
    """Target logit against the angle for each head in ``params`` (``{name: constructor kwargs}``)."""
    angles = np.linspace(0, 180, 181) if angles is None else angles
    frames = {}
    for name, kwargs in params.items():
        head = losses.get(name, num_classes=2, embedding_dim=2, **kwargs)
        frames[name] = analysis.target_logit_curve(head, angles)
    return viz.target_logit_curves(frames, normalise=False)


class MarginExplorer(Explorer):
    """Pick a margin head, move its ``scale`` and ``margin``, watch the target logit against the angle
    (next to the margin-free s·cos θ). Set ``.sliders[...].value`` from Python to drive it headless.

    >>> explorer = MarginExplorer("arcface")
    >>> explorer.sliders["margin"].value = 0.3
    """

    def __init__(self, name: str = "arcface"):
        self.dropdown = _picker(MARGIN_HEADS, name, "head", lambda: self._build())
        super().__init__(header=[self.dropdown])
        self._build()

    def _build(self) -> None:
        """A new head: its scale and margin sliders, then a redraw."""
        entry = losses.info(self.dropdown.value)
        self._set_sliders({k: p for k, p in entry.params.items() if k in ("scale", "margin")})
        self.update()

    def render(self) -> bytes:
        return figure_png(margin_figure({self.dropdown.value: self.params}))


PROXY_SIMILARITIES = np.linspace(-1, 1, 81)


def proxy_anchor_curves(margin: float = 0.1, alpha: float = 32.0, *, positive: float = 0.5,
                        negative: float = 0.0) -> dict:
    """``{"positive": frame, "negative": frame}``: Proxy-Anchor's proxy-to-sample weights for ``margin`` and
    ``alpha`` over ``PROXY_SIMILARITIES`` (``analysis.proxy_weight_curve``: two proxies, four samples a class, the
    others at cosine ``positive`` to their proxy and ``negative`` to the other)."""
    loss = losses.get("proxy_anchor", num_classes=2, embedding_dim=2, margin=margin, alpha=alpha)
    return {which: analysis.proxy_weight_curve(loss, PROXY_SIMILARITIES, which, positive=positive, negative=negative)
            for which in ("positive", "negative")}


def proxy_anchor_figure(margin: float = 0.1, alpha: float = 32.0, **batch) -> Figure:
    """The weight curves of :func:`proxy_anchor_curves` (``batch``: its ``positive`` and ``negative``)."""
    return viz.proxy_weight_curves({f"δ = {margin:.2f}, α = {alpha:.1f}": proxy_anchor_curves(margin, alpha, **batch)})


class ProxyAnchorExplorer(CurveExplorer):
    """Move Proxy-Anchor's margin δ and scale α, watch the proxy-to-sample weight curves (Kim et al. 2020):
    how hard one sample is pulled to its proxy, or pushed from another, against its cosine, the rest of the batch
    fixed. ``hardest_share`` is the pull on a sample at cosine 0 over the pull on one at cosine 1 (> 1: the proxy
    works on its hard positives first). The figure is built once; the curves move (:class:`CurveExplorer`).

    >>> explorer = ProxyAnchorExplorer()
    >>> explorer.sliders["alpha"].value = 8.0     # redraws, as a user's release of the slider would
    """

    def __init__(self, margin: float = 0.1, alpha: float = 32.0):
        entry = losses.info("proxy_anchor")
        self.info = W.HTMLMath(f"<b>{html.escape(entry.paper.title)}</b> ({entry.paper.year}) &nbsp; "
                               f"{formula_html(entry.formula)}")
        self.label = W.HTML()
        super().__init__(header=[self.info], footer=[self.label])
        self._set_sliders(entry.params)
        self.sliders["margin"].value, self.sliders["alpha"].value = margin, alpha  # observers redraw if changed
        self.hardest_share = float("nan")
        self.update()

    def render(self) -> bytes:
        loss = losses.get("proxy_anchor", num_classes=2, embedding_dim=2, **self.params)
        pull = analysis.proxy_weight_curve(loss, [0.0, 1.0], "positive")["weight"].abs().to_numpy()
        self.hardest_share = float(pull[0] / pull[1]) if pull[1] > 0 else float("inf")
        self.label.value = (f"pull on a positive at cos 0 / at cos 1: <b>{self.hardest_share:.3g}</b> "
                            "(1 = every positive pulled alike)")
        curves = proxy_anchor_curves(**self.params)
        if self.figure is None:  # a label starting with "_" is left out of the legend: the sliders show δ and α
            self._keep(viz.proxy_weight_curves({"_curves": curves}))
        return self._move([[curves[which]["weight"].abs().to_numpy()] for which in ("positive", "negative")])


class ClusterTargetExplorer(CurveExplorer):
    r"""Move DEC's Student-t ``alpha`` and watch the soft assignment q and the target p it is trained toward, on a
    1-D embedding with two clusters of unequal size (Xie et al. 2016; ``analysis.dec_target_along``). The figure is
    built once; the curves move (:class:`CurveExplorer`).

    >>> explorer = ClusterTargetExplorer()
    >>> explorer.sliders["alpha"].value = 5.0   # redraws, as a user's release of the slider would
    >>> explorer.sharpening                     # mean max p - mean max q over the data points
    """

    FORMULA = (r"q_{ij} \propto (1 + |z_i - \mu_j|^2/\alpha)^{-(\alpha+1)/2},\quad "
               r"p_{ij} \propto q_{ij}^2 / f_j,\quad f_j = \sum_i q_{ij}")

    def __init__(self, alpha: float = 1.0, *, sizes=(60, 15), centres=(-1.0, 1.5), spread: float = 0.5,
                 seed: int = 0):
        rng = np.random.default_rng(seed)
        self.centres = np.asarray(centres, dtype=float)[:, None]
        self.points = np.concatenate([c + spread * rng.standard_normal(n) for c, n in zip(centres, sizes)])[:, None]
        self.line = np.linspace(self.points.min() - 1.5, self.points.max() + 1.5, 241)[:, None]
        self.formula = W.HTMLMath(formula_html(self.FORMULA))
        self.label = W.HTML()
        super().__init__(header=[self.formula], footer=[self.label])
        self._set_sliders({"alpha": losses.info("dec").params["alpha"]})
        self.sliders["alpha"].value = alpha
        self.sharpening = float("nan")
        self.update()

    def render(self) -> bytes:
        alpha = float(self.sliders["alpha"].value)
        q, p = analysis.dec_target_along(self.line, self.points, self.centres, alpha)
        q_data, p_data = analysis.dec_target_along(self.points, self.points, self.centres, alpha)
        self.sharpening = float(p_data.max(1).values.mean() - q_data.max(1).values.mean())
        confidence_q, confidence_p = float(q_data.max(1).values.mean()), float(p_data.max(1).values.mean())
        self.label.value = (f"α = {alpha:.2f}: mean confidence over the data, q <b>{confidence_q:.3f}</b> → "
                            f"target p <b>{confidence_p:.3f}</b>")
        q, p = q.numpy(), p.numpy()
        if self.figure is None:  # the label above the image names α
            self._keep(viz.soft_assignment_figure(self.line[:, 0], q, p, points=self.points[:, 0]))
        return self._move([[curve for j in range(q.shape[1]) for curve in (q[:, j], p[:, j])]])


def long_tail_accuracy(focal_logits: dict, ce_logits, target, counts, *, gamma: float,
                       tau: float) -> tuple[pd.DataFrame, str]:
    """Per-class test accuracy (rows = classes) of plain cross-entropy, of the focal model trained at ``gamma`` (a
    key of ``focal_logits``) and of the cross-entropy model after post-hoc logit adjustment at ``tau`` (priors from
    the training ``counts`` per class), and a title with their balanced accuracies."""
    target = torch.as_tensor(target)
    classes = len(counts)
    counts = torch.tensor([int(c) for c in counts], dtype=torch.float64)
    priors = counts / counts.sum()
    ce_logits = torch.as_tensor(ce_logits)
    pred = {"cross-entropy": ce_logits.argmax(1),  # numbers at a fixed width: a kept legend keeps fitting
            f"focal γ={gamma:.1f}": torch.as_tensor(focal_logits[gamma]).argmax(1),
            f"CE, post-hoc τ={tau:.1f}": analysis.posthoc_logit_adjustment(ce_logits.double(), priors, tau).argmax(1)}
    table = pd.DataFrame({k: analysis.per_class_accuracy(p, target, classes).numpy() for k, p in pred.items()})
    balanced = " · ".join(f"{k} {analysis.balanced_accuracy(p, target, classes):.3f}" for k, p in pred.items())
    return table, f"balanced accuracy:\n{balanced}"


def long_tail_figure(focal_logits: dict, ce_logits, target, counts, *, gamma: float, tau: float) -> Figure:
    """:func:`long_tail_accuracy` as grouped bars per class, head to tail (``viz.per_class_bars``)."""
    table, title = long_tail_accuracy(focal_logits, ce_logits, target, counts, gamma=gamma, tau=tau)
    return viz.per_class_bars(table, [int(c) for c in counts], title=title)


class LongTailExplorer(Explorer):
    """Focal loss's γ and logit adjustment's τ against the per-class accuracy of a long-tailed problem.

    γ picks one of the focal models trained beforehand (``focal_logits``: ``{gamma: test logits}``); τ is the
    post-hoc adjustment of the cross-entropy model's test logits, computed live
    (:func:`workbench.analysis.posthoc_logit_adjustment`). ``counts``: training samples per class.

    >>> explorer = LongTailExplorer(focal_logits, ce_logits, y_test, counts)
    >>> explorer.sliders["tau"].value = 1.0      # redraws, as a user's release of the slider would
    """

    def __init__(self, focal_logits: dict, ce_logits, target, counts, *, gamma: float | None = None,
                 tau: float = 0.0):
        if not focal_logits:
            raise ValueError("focal_logits must map at least one gamma to test logits")
        self.focal_logits, self.ce_logits, self.target, self.counts = focal_logits, ce_logits, target, counts
        super().__init__()
        gammas = sorted(focal_logits)
        self.sliders = {
            "gamma": W.SelectionSlider(options=gammas, value=gammas[0] if gamma is None else gamma,
                                       description="focal γ", continuous_update=False),
            "tau": W.FloatSlider(value=tau, min=0.0, max=3.0, step=0.1, description="post-hoc τ",
                                 continuous_update=False),
        }
        for slider in self.sliders.values():
            slider.observe(lambda change: self.update(), names="value")
        self.controls.children = list(self.sliders.values())
        self.update()

    def render(self) -> bytes:
        """The first time, the figure; then the same figure with new bar heights, legend and title."""
        data = (self.focal_logits, self.ce_logits, self.target, self.counts)
        values = dict(gamma=self.sliders["gamma"].value, tau=self.sliders["tau"].value)

        def move_bars(figure):
            table, title = long_tail_accuracy(*data, **values)
            ax = figure.axes[0]
            for bars, column in zip(ax.containers, table.columns):
                for bar, height in zip(bars, table[column]):
                    bar.set_height(height)
            for text, column in zip(ax.get_legend().get_texts(), table.columns):
                text.set_text(column)
            ax.set_title(title)

        return self._redraw_kept(lambda: long_tail_figure(*data, **values), move_bars)


class ASLExplorer(CurveExplorer):
    """Move ASL's ``gamma_neg``, ``gamma_pos`` and ``clip`` and watch the gradient a negative and a positive label
    get, against the predicted probability, beside binary cross-entropy (``viz.asl_gradient_figure``, built once;
    the curves move: :class:`CurveExplorer`). The caption reports the share of a negative's BCE gradient that ASL
    keeps at p = 0.1 and p = 0.5.

    >>> explorer = ASLExplorer()
    >>> explorer.sliders["gamma_neg"].value = 0.0     # redraws, as a user's release of the slider would
    >>> explorer.kept                                  # {p: ASL gradient / BCE gradient} for a negative
    """

    def __init__(self, **values):
        entry = losses.info("asymmetric")
        self.caption = W.HTMLMath(formula_html(entry.formula))
        self.label = W.HTML()
        super().__init__(header=[self.caption], footer=[self.label])
        self._set_sliders({k: entry.params[k] for k in ("gamma_neg", "gamma_pos", "clip")})
        for key, value in values.items():
            if key not in self.sliders:
                raise ValueError(f"ASLExplorer takes gamma_neg, gamma_pos and clip, got {key!r}")
            self.sliders[key].value = value
        self.kept: dict[float, float] = {}
        self.update()

    def render(self) -> bytes:
        frame = analysis.asl_gradient_curve(**self.params)
        self.kept = {}
        for p in (0.1, 0.5):
            row = frame.iloc[int((frame["p"] - p).abs().idxmin())]
            self.kept[p] = float(row["negative ASL"] / row["negative BCE"])
        self.label.value = ("a negative keeps " + ", ".join(f"<b>{100 * v:.1f}%</b> of its BCE gradient at p = {p:g}"
                                                           for p, v in self.kept.items()))
        if self.figure is None:
            self._keep(viz.asl_gradient_figure(frame), titles=True)  # the titles say which label each panel shows
        return self._move([[frame[f"{side} ASL"].to_numpy(), frame[f"{side} BCE"].to_numpy()]
                           for side in ("negative", "positive")])
