"""Curves: training histories, loss and gradient curves, ROC, target-logit and pair-weight curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .theme import _axes, _np, finish, legend_above, legend_outside


def training_curves(histories: Mapping[str, object] | object, metrics: Sequence[str] = ("loss", "test_acc"),
                    *, axes=None) -> Figure:
    """One panel per metric, one line per run. ``histories``: a History or ``{label: History}``."""
    runs = histories if isinstance(histories, Mapping) else {"": histories}
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for ax, metric in zip(axes, metrics):
        for label, history in runs.items():
            frame = history.frame if hasattr(history, "frame") else history
            if metric in frame:
                ax.plot(frame.index, frame[metric], marker="o", ms=3, label=label or None)
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
    if any(runs):
        legend_outside(axes[-1])
    return finish(fig)


def loss_curves(curves: Mapping[str, pd.DataFrame], x: str, *, axes=None, xlabel: str | None = None,
                layout: bool = True) -> Figure:
    """Loss (left) and its derivative (right) against ``x`` ("margin" or "similarity"), one line per
    curve; the frames come from ``analysis.margin_curve`` / ``analysis.similarity_curve``. ``layout=False`` leaves
    the layout to the caller (an explorer that changes the figure first: one layout pass instead of two)."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    fig = axes[0].figure
    for label, frame in curves.items():
        axes[0].plot(frame[x], frame["loss"], label=label)
        axes[1].plot(frame[x], frame["grad"], label=label)
    axes[0].set(xlabel=xlabel or x, ylabel="loss", title="loss")
    axes[1].set(xlabel=xlabel or x, ylabel=f"dL/d{x}", title="gradient")
    axes[1].axhline(0, color="0.6", lw=0.8)
    legend_above(axes[0])
    return finish(fig) if layout else fig


def line_panel(frame: pd.DataFrame, x: str, *, ax=None, xlabel: str | None = None, ylabel: str = "",
               title: str | None = None) -> Figure:
    """Every other column of ``frame`` against column ``x``, one line each (e.g. ``analysis.amplifier_curve``)."""
    fig, ax = _axes(ax, figsize=(4.5, 3.4))
    for column in frame.columns.drop(x):
        ax.plot(frame[x], frame[column], label=column)
    ax.set(xlabel=xlabel or x, ylabel=ylabel or "value", title=title)
    legend_outside(ax)
    return finish(fig)


def metrics_vs(frame: pd.DataFrame, x: str, metrics: Sequence[str], *, hue: str | None = None, axes=None,
               logx: bool = False) -> Figure:
    """One panel per metric against ``x`` (e.g. temperature), mean ± std over the rows sharing ``x`` (seeds),
    one line per value of ``hue`` (e.g. the loss)."""
    if axes is None:
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.0), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    groups = frame.groupby(hue) if hue else [("", frame)]
    for label, part in groups:
        stats = part.groupby(x)[list(metrics)].agg(["mean", "std"])
        for ax, metric in zip(axes, metrics):
            ax.errorbar(stats.index, stats[(metric, "mean")], yerr=stats[(metric, "std")].fillna(0), marker="o",
                        ms=4, capsize=3, label=str(label) or None)
    for ax, metric in zip(axes, metrics):
        ax.set(xlabel=x, ylabel=metric, title=metric)
        if logx:
            ax.set_xscale("log")
    if hue:
        legend_outside(axes[-1], title=hue)
    return finish(fig)


def roc_curves(curves: Mapping[str, tuple | Mapping], *, ax=None, title: str = "ROC") -> Figure:
    """ROC curves with their AUC in the legend. Each value of ``curves`` is either ``(scores, targets)``
    (scikit-learn computes the curve) or a finished curve ``{"fpr", "tpr", "auc"}`` such as
    :func:`workbench.analysis.verification_roc` returns."""
    from sklearn.metrics import roc_auc_score, roc_curve
    fig, ax = _axes(ax, figsize=(6.5, 4))
    for label, curve in curves.items():
        if isinstance(curve, Mapping):
            fpr, tpr, auc = curve["fpr"], curve["tpr"], curve["auc"]
        else:
            s, y = _np(curve[0]), _np(curve[1])
            (fpr, tpr, _), auc = roc_curve(y, s), roc_auc_score(y, s)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    legend_outside(ax)
    return finish(fig)


def target_logit_curves(frames: Mapping[str, pd.DataFrame], *, ax=None, normalise: bool = True) -> Figure:
    """Target logit against the angle θ_y for several margin heads (frames of
    :func:`workbench.analysis.target_logit_curve`), divided by the scale when ``normalise`` so heads
    with different scales share the axis; the dashed line is the margin-free cos θ."""
    fig, ax = _axes(ax, figsize=(6.5, 3.5))
    first = None
    for name, frame in frames.items():
        scale = frame["scale"].iloc[0] if normalise else 1.0
        ax.plot(frame["angle"], frame["target_logit"] / scale, label=name)
        first = (frame, scale) if first is None else first
    if first is not None:
        frame, scale = first
        ax.plot(frame["angle"], frame["plain_logit"] / scale, "k--", lw=1, label="cos θ (no margin)")
    ax.set_xlabel("angle θ_y to the class weight (degrees)")
    ax.set_ylabel("target logit / s" if normalise else "target logit")
    legend_outside(ax)
    return finish(fig)


def pair_weight_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]], *, figsize_per: float = 2.6) -> Figure:
    """Weight of one positive (top row) and one negative pair (bottom row) against its similarity, one
    column per loss; each loss maps a context label to a :func:`workbench.analysis.weight_curve` frame
    for one pair kind: ``{loss: {"negative · others 0.3": frame, ...}}``. Curves that move between
    contexts show the GPW information the weight uses."""
    names = list(curves)
    fig, axes = plt.subplots(2, len(names), figsize=(figsize_per * len(names), 2 * figsize_per), squeeze=False)
    for col, name in enumerate(names):
        for label, frame in curves[name].items():
            row = 0 if label.startswith("positive") else 1
            axes[row, col].plot(frame["similarity"], frame["weight"].abs(), label=label.split("·")[-1].strip())
        axes[0, col].set_title(name)
        for row, kind in enumerate(("positive", "negative")):
            ax = axes[row, col]
            ax.set_xlabel(f"{kind} similarity s")
            if col == 0:
                ax.set_ylabel("|dL/ds| (pair weight)")
            if ax.lines:
                ax.legend(fontsize=6)
    return finish(fig)


def proxy_weight_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]], *, axes=None) -> Figure:
    """Proxy-to-sample weights |dL/ds| against the cosine s of one sample to a proxy: its own proxy (left) and
    another class's proxy (right), one line per setting; ``{label: {"positive": frame, "negative": frame}}`` with
    frames from :func:`workbench.analysis.proxy_weight_curve`."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    fig = axes[0].figure
    for label, frames in curves.items():
        for ax, which in zip(axes, ("positive", "negative")):
            frame = frames[which]
            ax.plot(frame["similarity"], frame["weight"].abs(), label=label)
    axes[0].set(xlabel="cosine s to its own proxy", ylabel="|dL/ds| (pull)", title="positive: pulled to its proxy")
    axes[1].set(xlabel="cosine s to another proxy", ylabel="|dL/ds| (push)", title="negative: pushed from a proxy")
    legend_outside(axes[1])
    return finish(fig)


def asl_gradient_figure(frame: pd.DataFrame, *, title: str = "") -> Figure:
    """Two panels from ``analysis.asl_gradient_curve``: |dL/dz| of a negative and of a positive label against the
    predicted probability p, ASL (solid) beside BCE (dashed)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.0))
    for ax, side in zip(axes, ("negative", "positive")):
        ax.plot(frame["p"], frame[f"{side} ASL"], label="ASL")
        ax.plot(frame["p"], frame[f"{side} BCE"], ls="--", color="grey", label="BCE")
        target = int(side == "positive")
        ax.set(xlabel="predicted probability p", ylabel="|dL/dz|", title=f"a {side} label (target {target})")
    legend_outside(axes[1])
    if title:
        fig.suptitle(title)
    return finish(fig)
