"""Figures: every public viz function returns a Figure and draws what it says."""

import inspect

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import clusters
from matplotlib.figure import Figure

from workbench import analysis, losses, viz
from workbench.train import History


def points(n=40, dim=2, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g), torch.arange(n) % classes


def history(epochs=4, dim=2, n=30, snapshots=True, seed=0, columns=("loss", "test_acc", "grad_norm")):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.random(epochs) for c in columns},
                         index=pd.Index(range(1, epochs + 1), name="epoch"))
    if not snapshots:
        return History(frame)
    snaps = [points(n, dim, seed=seed + e)[0] for e in range(epochs + 1)]
    return History(frame, {"embeddings": snaps}, torch.arange(n) % 3)


def scatter_offsets(ax):
    (collection,) = [c for c in ax.collections if len(c.get_offsets()) > 0 and c.get_array() is not None]
    return np.asarray(collection.get_offsets()), np.asarray(collection.get_array())


# --- every public function -------------------------------------------------------------------------


def _curve_frames():
    return {"ce": analysis.margin_curve(losses.get("cross_entropy"), np.linspace(-3, 3, 7))}


CALLS = {
    "embedding_scatter": lambda: viz.embedding_scatter(*points()),
    "training_curves": lambda: viz.training_curves(history(snapshots=False)),
    "pair_weight_heatmap": lambda: viz.pair_weight_heatmap(torch.randn(6, 6), torch.arange(6) % 3),
    "loss_curves": lambda: viz.loss_curves(_curve_frames(), "margin"),
    "embedding_snapshots": lambda: viz.embedding_snapshots(history()),
    "relative_penalty_figure": lambda: viz.relative_penalty_figure([0.9, 0.5, 0.1], [0.07, 1.0]),
    "similarity_histograms": lambda: viz.similarity_histograms(pd.DataFrame(
        {"epoch": [0, 0, 1, 1], "pair": ["positive", "negative"] * 2, "similarity": [0.5, 0.1, 0.9, -0.2]})),
    "metrics_vs": lambda: viz.metrics_vs(pd.DataFrame({"temperature": [0.1, 0.1, 1.0], "loss": ["a", "b", "a"],
                                                       "acc": [0.5, 0.6, 0.7]}), "temperature", ["acc"], hue="loss"),
    # metric learning and margin heads; content tests below and in tests/analysis/test_gradients.py
    "pair_weight_curves": lambda: viz.pair_weight_curves(
        {"ms": {"negative": analysis.weight_curve(losses.get("multi_similarity"), [0.0, 0.5])}}),
    "target_logit_curves": lambda: viz.target_logit_curves(
        {"cosface": analysis.target_logit_curve(losses.get("cosface", num_classes=2, embedding_dim=2), [0, 90])}),
    "metric_bars": lambda: viz.metric_bars(pd.DataFrame({"R@1": [0.9, 0.8]}, index=["a", "b"])),
}
CALLS.update({  # classification and imbalanced-binary experiments
    "metric_by_setting": lambda: viz.metric_by_setting(
        pd.DataFrame({"loss": ["a", "a", "b", "b"], "noise": [0, 0.2, 0, 0.2], "acc": [0.9, 0.8, 0.9, 0.85]}),
        "acc", "noise"),
    "roc_curves": lambda: viz.roc_curves({"x": (torch.tensor([0.1, 0.9, 0.4, 0.6]), torch.tensor([0, 1, 0, 1]))}),
    "line_panel": lambda: viz.line_panel(analysis.amplifier_curve([1, 30]), "p"),
    "asl_gradient_figure": lambda: viz.asl_gradient_figure(analysis.asl_gradient_curve(points=21)),
    "histograms": lambda: viz.histograms({"a": torch.randn(50), "b": torch.randn(50) + 1}),
    "grouped_bars": lambda: viz.grouped_bars(pd.DataFrame({"ce": [1.0, 2.0], "z": [1.0, 1.0]}, index=["x", "5x"])),
})
CALLS.update({  # dual adversarial training: generated samples next to their seeds
    "image_rows": lambda: viz.image_rows({"seed": torch.rand(3, 64), "sample": torch.rand(3, 1, 8, 8)},
                                         columns=[0, 1, 2], title="t"),
})
CALLS.update({  # mil
    "bag_attention": lambda: viz.bag_attention(torch.rand(5, 64), torch.softmax(torch.randn(5), 0),
                                               key=torch.tensor([0, 1, 0, 0, 0])),
    "unit_test_table": lambda: viz.unit_test_table(pd.DataFrame(
        {"pooling": ["max", "max", "mean", "mean"], "test": ["a", "b", "a", "b"], "seed": 0,
         "test_auc": [0.9, 0.2, 0.5, 0.7], "passed": [True, False, False, True]})),
})

CALLS.update({  # dimensional collapse
    "singular_value_spectra": lambda: viz.singular_value_spectra(
        {"a": analysis.singular_value_spectrum(points(40, 5)[0])}),
})

CALLS.update({  # proxies and geometry (notebook 12)
    "proxy_weight_curves": lambda: viz.proxy_weight_curves({"a": {
        w: analysis.proxy_weight_curve(losses.get("proxy_anchor", num_classes=2, embedding_dim=2), [0.0, 0.5], w)
        for w in ("positive", "negative")}}),
    "proxy_scatter": lambda: viz.proxy_scatter(points(40, 8)[0], torch.arange(4).repeat(10), torch.randn(4, 8),
                                               torch.arange(4), method="pca"),
    "poincare_disk": lambda: viz.poincare_disk(torch.rand(6, 2), torch.tensor([0, 0, 0, 1, 1, 1]), radius=2.0),
})
CALLS.update({  # energy, clustering, generative vs discriminative (notebook 17)
    "landscape_panels": lambda: viz.landscape_panels(analysis.gaussian_mean_landscape([0.0, 1.0, 2.0], 2.0,
                                                                                      points=2001)),
    "theta_trajectories": lambda: viz.theta_trajectories(
        {"nce": pd.DataFrame({"step": [0, 1, 2], "theta": [0.0, 0.5, 0.9]})}, 1.0),
    "energy_contours": lambda: viz.energy_contours(lambda u: -(u ** 2).sum(1), torch.randn(20, 2), resolution=10),
    "soft_assignment_figure": lambda: viz.soft_assignment_figure([0.0, 1.0], np.eye(2), np.eye(2), points=[0.2]),
    "learning_curves": lambda: viz.learning_curves(pd.DataFrame(
        {"m": [10, 10, 20, 20], "seed": [0, 1, 0, 1], "nb_error": [0.3, 0.32, 0.2, 0.22],
         "lr_error": [0.4, 0.38, 0.15, 0.17]})),
    "cluster_scatter": lambda: viz.cluster_scatter(np.random.default_rng(0).normal(size=(12, 2)),
                                                   np.arange(12) % 3, np.arange(12) % 2),
    "per_class_bars": lambda: viz.per_class_bars(pd.DataFrame({"ce": [0.9, 0.5]}), [100, 10]),
})


def test_singular_value_spectra_draws_one_line_per_embedding_largest_first():
    p = analysis.singular_value_spectrum(points(50, 6)[0])
    fig = viz.singular_value_spectra({"a": p, "b": p / 2})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert np.allclose(ax.get_lines()[0].get_ydata(), p.numpy()) and ax.get_yscale() == "log"
    assert ax.get_lines()[0].get_xdata()[0] == 1


def test_every_figure_function_is_exercised():
    public = {name for name, fn in inspect.getmembers(viz, inspect.isfunction)
              if not name.startswith("_") and fn.__module__.startswith(viz.__name__ + ".")
              and inspect.signature(fn).return_annotation in (Figure, "Figure")}
    assert public == set(CALLS), "a new viz function needs an entry in CALLS and its own test"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_returns_a_figure(name):
    fig = CALLS[name]()
    assert isinstance(fig, Figure)
    assert fig.axes


# --- project -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3])
def test_project_pca_shape_and_variance(dim):
    X, _ = points(50, 8)
    Z = viz.project(X, "pca", dim=dim)
    assert Z.shape == (50, dim)
    # PCA keeps the leading directions: the first component carries the most variance
    variances = Z.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-9)


def test_project_unknown_method():
    with pytest.raises(ValueError, match="pca"):
        viz.project(points(10, 4)[0], "mds")


def test_project_umap_works_or_says_what_to_install():
    X, _ = points(30, 6)
    try:
        Z = viz.project(X, "umap")
    except ImportError as err:
        assert "umap-learn" in str(err)
    else:
        assert Z.shape == (30, 2)


def test_project_umap_keeps_far_apart_clusters_apart_and_is_seeded():
    # viz.project hands UMAP scikit-learn's exact neighbours: wrong neighbours (indices and distances swapped, or
    # not matched) would mix two clusters 20 standard deviations apart in the map.
    pytest.importorskip("umap")
    g = np.random.default_rng(0)
    X = np.concatenate([g.normal(0.0, 1.0, (30, 6)), g.normal(20.0, 1.0, (30, 6))])
    y = np.repeat([0, 1], 30)
    Z = viz.project(X, "umap", seed=0)
    d = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (y[d.argmin(1)] == y).all()  # every point's nearest neighbour in the map is from its own cluster
    np.testing.assert_array_equal(viz.project(X, "umap", seed=0), Z)


# --- embedding_scatter ---------------------------------------------------------------------------


def test_scatter_2d_with_unit_circle():
    Z, y = points(40, 2)
    fig = viz.embedding_scatter(Z, y, sphere=True, title="blobs")
    (ax,) = fig.axes
    offsets, colours = scatter_offsets(ax)
    np.testing.assert_allclose(offsets, Z.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(colours, y.numpy())
    (circle,) = ax.lines
    np.testing.assert_allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0, atol=1e-12)
    assert ax.get_title() == "blobs"


def test_scatter_2d_without_sphere_draws_no_circle():
    fig = viz.embedding_scatter(*points(40, 2))
    assert len(fig.axes[0].lines) == 0 and fig.axes[0].get_title() == ""


def test_scatter_3d_on_sphere():
    Z, y = points(30, 3)
    fig = viz.embedding_scatter(torch.nn.functional.normalize(Z, dim=1), y, sphere=True)
    (ax,) = fig.axes
    assert ax.name == "3d"
    assert len(ax.collections) == 2  # wireframe + points
    assert len(scatter_offsets(ax)[0]) == 30
    assert len(viz.embedding_scatter(Z, y).axes[0].collections) == 1  # no wireframe without sphere


def test_scatter_wide_embeddings_are_projected_with_pca():
    Z, y = points(40, 16)
    fig = viz.embedding_scatter(Z, y)
    (ax,) = fig.axes
    assert ax.name != "3d"
    offsets, _ = scatter_offsets(ax)
    np.testing.assert_allclose(offsets, viz.project(Z, "pca"), rtol=1e-5, atol=1e-6)


def test_project_tsne_and_scatter_with_tsne():
    # one t-SNE run (they are slow): project's shape, and the scatter draws exactly that projection
    Z, y = points(20, 8)
    projected = viz.project(Z, "tsne", seed=0)
    assert projected.shape == (20, 2)
    assert not np.allclose(projected, viz.project(Z, "pca"))
    fig = viz.embedding_scatter(Z, y, method="tsne")
    np.testing.assert_allclose(scatter_offsets(fig.axes[0])[0], projected, rtol=1e-5, atol=1e-5)


def test_scatter_draws_on_a_given_axis():
    fig, (a, b) = plt.subplots(1, 2)
    assert viz.embedding_scatter(*points(20, 2), ax=b) is fig
    assert len(b.collections) == 1 and len(a.collections) == 0


# --- training_curves -----------------------------------------------------------------------------


def test_training_curves_one_history():
    h = history(epochs=5, snapshots=False)
    fig = viz.training_curves(h)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "test_acc"]
    for ax, metric in zip(fig.axes, ["loss", "test_acc"], strict=True):
        (line,) = ax.lines
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4, 5])
        np.testing.assert_allclose(line.get_ydata(), h[metric].to_numpy())
    assert fig.axes[-1].get_legend() is None


def test_training_curves_dict_of_two_runs():
    runs = {"a": history(3, snapshots=False, seed=1), "b": history(6, snapshots=False, seed=2)}
    fig = viz.training_curves(runs, ("loss", "test_acc", "grad_norm"))
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert [len(line.get_xdata()) for line in ax.lines] == [3, 6]
    legend = fig.axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"]


def test_training_curves_skip_a_metric_a_run_lacks():
    runs = {"with": history(3, snapshots=False), "without": history(3, snapshots=False, columns=("loss",))}
    fig = viz.training_curves(runs, ("loss", "test_acc"))
    assert [len(ax.lines) for ax in fig.axes] == [2, 1]


# --- pair_weight_heatmap -------------------------------------------------------------------------


def test_pair_weight_heatmap():
    labels = torch.tensor([2, 0, 1, 0, 2, 1, 1])
    W = torch.randn(7, 7, generator=torch.Generator().manual_seed(0))
    fig = viz.pair_weight_heatmap(W, labels, title="w")
    ax, colorbar_ax = fig.axes
    assert colorbar_ax.get_label() == "<colorbar>"
    (image,) = ax.images
    low, high = image.get_clim()
    assert low == pytest.approx(-high) and 0 < high <= W.abs().max().item()
    order = np.argsort(labels.numpy(), kind="stable")
    np.testing.assert_allclose(image.get_array(), W.numpy()[np.ix_(order, order)])
    assert len(ax.lines) == 2 * (3 - 1)  # one horizontal and one vertical line per class boundary
    assert ax.get_title() == "w"


def test_pair_weight_heatmap_colour_limits_around_zero():
    labels = torch.tensor([0, 0, 1, 1, 2, 2] * 5)
    W = torch.randn(30, 30, generator=torch.Generator().manual_seed(1)) * 0.1
    W[0, 1] = W[1, 0] = -50.0  # one huge pull
    exact = viz.pair_weight_heatmap(W, labels, robust=False).axes[0].images[0].get_clim()
    assert exact == pytest.approx((-50.0, 50.0))
    low, high = viz.pair_weight_heatmap(W, labels).axes[0].images[0].get_clim()
    assert low == pytest.approx(-high) and high < 5.0  # the outlier does not wash out the rest


def test_pair_weight_heatmap_per_sign_shows_weak_pulls():
    # binomial-deviance-like weights: pushes ~25 times the pulls; per sign, both reach the ends of the scale
    labels = torch.tensor([0, 0, 1, 1])
    W = torch.tensor([[0.0, -0.02, 0.5, 0.25], [-0.02, 0.0, 0.25, 0.5],
                      [0.5, 0.25, 0.0, -0.01], [0.25, 0.5, -0.01, 0.0]])
    image = viz.pair_weight_heatmap(W, labels, robust=False, per_sign=True).axes[0].images[0]
    shown = np.asarray(image.get_array())
    assert image.get_clim() == (-1.0, 1.0)
    np.testing.assert_allclose(shown, np.where(W > 0, W / 0.5, W / 0.02))  # hand-scaled per sign
    assert shown.min() == -1.0 and shown.max() == 1.0
    plain = viz.pair_weight_heatmap(W, labels, robust=False).axes[0].images[0]
    assert plain.get_clim() == pytest.approx((-0.5, 0.5))  # on one scale the pulls are 4 % of it


def test_pair_weight_heatmap_all_zero_weights():
    fig = viz.pair_weight_heatmap(torch.zeros(4, 4), torch.tensor([0, 0, 1, 1]))
    assert fig.axes[0].images[0].get_clim() == (-1.0, 1.0)


# --- loss_curves ---------------------------------------------------------------------------------


def test_loss_curves():
    loss = losses.get("cross_entropy")
    margins = np.linspace(-4, 4, 9)
    curves = {"ce": analysis.margin_curve(loss, margins),
              "ce T=2": analysis.margin_curve(losses.get("cross_entropy", temperature=2.0), margins)}
    fig = viz.loss_curves(curves, "margin", xlabel="m")
    left, right = fig.axes
    assert left.get_title() == "loss" and right.get_title() == "gradient"
    assert left.get_xlabel() == "m"
    assert len(left.lines) == 2
    assert len(right.lines) == 3  # two curves + the zero line
    for line, frame in zip(left.lines, curves.values(), strict=True):
        np.testing.assert_allclose(line.get_xdata(), margins)
        np.testing.assert_allclose(line.get_ydata(), frame["loss"])
    np.testing.assert_allclose(right.lines[0].get_ydata(), curves["ce"]["grad"])
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["ce", "ce T=2"]


# --- embedding_snapshots -------------------------------------------------------------------------


def test_embedding_snapshots_default_epochs():
    h = history(epochs=4, n=30)
    fig = viz.embedding_snapshots(h)
    assert [ax.get_title() for ax in fig.axes] == ["epoch 0", "epoch 2", "epoch 4"]
    for ax, epoch in zip(fig.axes, [0, 2, 4], strict=True):
        offsets, _ = scatter_offsets(ax)
        np.testing.assert_allclose(offsets, h.snapshots["embeddings"][epoch].numpy(), rtol=1e-6)


def test_embedding_snapshots_chosen_epochs_3d():
    h = history(epochs=3, dim=3, n=20)
    fig = viz.embedding_snapshots(h, epochs=[1, 3], sphere=True)
    assert [ax.get_title() for ax in fig.axes] == ["epoch 1", "epoch 3"]
    assert all(ax.name == "3d" for ax in fig.axes)


def test_embedding_snapshots_wide_embeddings_are_projected():
    h = history(epochs=2, dim=8, n=20)
    fig = viz.embedding_snapshots(h, epochs=[2])
    offsets, _ = scatter_offsets(fig.axes[0])
    assert offsets.shape == (20, 2)


def test_embedding_snapshots_need_snapshots():
    with pytest.raises(ValueError, match="record"):
        viz.embedding_snapshots(history(snapshots=False))


def test_embedding_scatter_rejects_1d_and_colours_many_classes():
    with pytest.raises(ValueError, match="D >= 2"):
        viz.embedding_scatter(torch.randn(10, 1), torch.arange(10))
    fig = viz.embedding_scatter(torch.randn(40, 2), torch.arange(40) % 15)
    scatter = fig.axes[0].collections[0]
    assert scatter.get_cmap().name == "tab20" and scatter.norm.vmax == 19


# --- mil ---------------------------------------------------------------------------------------------


def test_bag_attention_draws_every_instance_with_its_weight():
    a = torch.tensor([0.1, 0.6, 0.3])
    fig = viz.bag_attention(torch.rand(3, 64), a, key=torch.tensor([0, 1, 0]), masked=torch.tensor([1, 0, 0]))
    images, bars = fig.axes
    assert images.images[0].get_array().shape == (8, 3 * 9 - 1)  # the three 8x8 images, a blank column between
    np.testing.assert_allclose([p.get_height() for p in bars.patches], a.numpy(), rtol=1e-6)
    frames = [p.get_edgecolor()[:3] for p in images.patches]
    assert frames[1] != frames[0] == frames[2]  # only the key instance is outlined in red
    assert [p.get_hatch() for p in bars.patches] == ["///", None, None]  # the masked one is hatched
    assert len(images.lines) == 2  # and crossed out
    with pytest.raises(ValueError, match="one weight per image"):
        viz.bag_attention(torch.rand(3, 64), torch.ones(2))


def test_unit_test_table_annotates_auc_and_verdict():
    frame = pd.DataFrame({"pooling": ["max", "max"], "test": ["a", "a"], "seed": [0, 1],
                          "test_auc": [0.9, 0.5], "passed": [True, False]})
    fig = viz.unit_test_table(frame)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.7\nFAIL"]  # mean AUC over seeds; PASS only when every seed passed


def test_relative_penalty_figure_bars_match_the_analysis():
    fig = viz.relative_penalty_figure([0.1, 0.9, 0.5], [0.2, 1.0])
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    expected = [*analysis.relative_penalty(torch.tensor([0.9, 0.5, 0.1]), 0.2).tolist(),
                *analysis.relative_penalty(torch.tensor([0.9, 0.5, 0.1]), 1.0).tolist()]
    assert heights == pytest.approx(expected)
    assert len(ax.get_legend().get_texts()) == 2


def test_similarity_histograms_one_panel_per_epoch():
    frame = pd.DataFrame({"epoch": [0, 0, 3, 3], "pair": ["positive", "negative"] * 2, "similarity": [.5, .1, .9, -.2]})
    fig = viz.similarity_histograms(frame)
    assert [ax.get_title() for ax in fig.axes] == ["epoch 0", "epoch 3"]


def test_metrics_vs_draws_mean_and_std_per_group():
    frame = pd.DataFrame({"temperature": [0.1, 0.1, 1.0, 1.0], "loss": ["a"] * 4, "acc": [0.4, 0.6, 0.7, 0.7]})
    fig = viz.metrics_vs(frame, "temperature", ["acc"], hue="loss", logx=True)
    line = fig.axes[0].containers[0].lines[0]  # the error bar's data line (its caps are lines too)
    assert line.get_ydata().tolist() == pytest.approx([0.5, 0.7]) and fig.axes[0].get_xscale() == "log"


def test_viz_functions_return_figures():
    curves = {"ms": {"positive · others 0.7": analysis.weight_curve(losses.get("multi_similarity"), [0, 0.5],
                                                                     "positive"),
                     "negative · others 0.3": analysis.weight_curve(losses.get("multi_similarity"), [0, 0.5])}}
    fig = viz.pair_weight_curves(curves)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 1 and len(fig.axes[1].lines) == 1
    frames = {"arcface": analysis.target_logit_curve(losses.get("arcface", num_classes=2, embedding_dim=2), [0, 90])}
    assert len(viz.target_logit_curves(frames).axes[0].lines) == 2
    z, y = clusters()
    assert isinstance(viz.roc_curves({"a": analysis.verification_roc(z, y, pairs=100)}), Figure)
    table = pd.DataFrame({"R@1": [0.9, 0.8]}, index=["ms", "triplet"])
    assert len(viz.metric_bars(table).axes[0].patches) == 2


def test_metric_by_setting_draws_one_bar_per_group():
    frame = pd.DataFrame({"loss": ["a", "a", "b", "b"] * 2, "noise": [0, 0.2] * 4, "acc": np.linspace(0.5, 0.9, 8)})
    fig = viz.metric_by_setting(frame, "acc", "noise")
    assert len([p for p in fig.axes[0].patches if p.get_height() > 0]) == 4


def test_proxy_scatter_draws_samples_and_stars():
    from workbench import viz
    z, y = torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), torch.arange(4).repeat(10)
    fig = viz.proxy_scatter(z, y, torch.randn(4, 8), torch.arange(4), method="pca", title="t")
    ax = fig.axes[0]
    assert [len(c.get_offsets()) for c in ax.collections] == [40, 4] and ax.get_xlabel() == "PC 1"
    assert ax.get_legend() is not None


def test_poincare_disk_draws_the_boundary_and_refuses_other_shapes():
    from workbench import viz
    fig = viz.poincare_disk(torch.zeros(5, 2), torch.tensor([0, 0, 1, 1, 1]), radius=3.0, names=["a", "b"])
    ax = fig.axes[0]
    boundary = ax.lines[0].get_xydata()
    assert abs(float((boundary ** 2).sum(1).max()) ** 0.5 - 3.0) < 1e-6
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="points"):
        viz.poincare_disk(torch.zeros(5, 3), torch.zeros(5))
