"""Data, models, training, analysis, figures and the widget for the contrastive notebooks (issue 4)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from workbench import analysis, data, losses, models, train, viz, widgets

# --- relative penalty (Wang & Liu; spec §4.3) ----------------------------------------------------


@pytest.mark.parametrize("tau, expected", [(0.07, [0.996702, 0.003288, 1.1e-5]),
                                           (0.2, [0.866813, 0.117310, 0.015876]),
                                           (1.0, [0.471776, 0.316241, 0.211983])])
def test_relative_penalty_reference_values(tau, expected):
    # losses-metric-contrastive-margin.md §4.3: negatives s = [0.9, 0.5, 0.1]
    r = analysis.relative_penalty(torch.tensor([0.9, 0.5, 0.1]), tau)
    assert r.tolist() == pytest.approx(expected, abs=1e-6)
    assert r.sum().item() == pytest.approx(1.0)


def test_penalty_entropy_rises_with_temperature_towards_log_k():
    # §4.3: entropy of r strictly increasing in tau
    s = torch.tensor([0.9, 0.5, 0.1, -0.3])
    h = [analysis.penalty_entropy(s, tau).item() for tau in (0.05, 0.1, 0.2, 0.5, 1.0, 5.0)]
    assert all(a < b for a, b in zip(h, h[1:])) and h[-1] < math.log(4) and h[0] > 0


def test_relative_penalty_is_the_ratio_of_ntxent_gradients():
    # §4.3: autograd ratio |dL/ds_ij| / |dL/ds_ii| equals r over the anchor's negatives
    s = torch.eye(5, dtype=torch.float64)
    for j, v in zip((1, 2, 3, 4), (0.4, 0.9, 0.5, 0.1)):
        s[0, j] = s[j, 0] = v
    s.requires_grad_(True)
    loss = losses.get("ntxent", temperature=0.3, reduction="sum")
    (g,) = torch.autograd.grad(loss.from_similarity(s, torch.tensor([0, 0, 1, 2, 3])), s)
    ratio = g[0, 2:] / -g[0, 1]
    assert torch.allclose(ratio, analysis.relative_penalty(torch.tensor([0.9, 0.5, 0.1]), 0.3))


def test_relative_penalty_rejects_a_bad_temperature():
    with pytest.raises(ValueError, match="temperature"):
        analysis.relative_penalty(torch.tensor([0.1, 0.2]), 0.0)


# --- effective rank, metrics ---------------------------------------------------------------------


def test_effective_rank_of_isotropic_and_collapsed_embeddings():
    g = torch.Generator().manual_seed(0)
    iso = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    assert 7.5 < analysis.effective_rank(iso) <= 8.0
    line = torch.randn(100, 1, generator=g, dtype=torch.float64) * torch.ones(1, 8, dtype=torch.float64)
    assert analysis.effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert analysis.effective_rank(torch.ones(5, 3)) == 0.0


def test_contrastive_metrics():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, -0.1]])
    y = torch.tensor([0, 0, 1, 1])
    m = analysis.contrastive_metrics(x, y)
    z = F.normalize(x.double(), dim=1)
    assert m["uniformity"] == pytest.approx(float(analysis.uniformity(z)))
    assert m["tolerance"] == pytest.approx(float(z[0] @ z[1] + z[2] @ z[3]) / 2)
    assert 1.0 <= m["effective_rank"] <= 2.0


# --- feature transformation and similarity distributions ----------------------------------------------


def test_positive_extrapolation_lowers_positive_similarity_and_interpolation_adds_negatives():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(32, 1, 6, generator=g)
    views = base + 0.3 * torch.randn(32, 2, 6, generator=g)
    plain = analysis.view_similarities(views)
    moved = analysis.view_similarities(views, extrapolation=1.0, interpolation=1.0,
                                       generator=torch.Generator().manual_seed(1))
    assert plain["positive"].shape == (32,) and plain["negative"].shape == (32 * 31,)
    assert (moved["positive"] <= plain["positive"] + 1e-9).all() and moved["positive"].mean() < plain["positive"].mean()
    assert moved["negative"].shape == (32 * 31 + 32 * 32,)
    again = analysis.view_similarities(views, extrapolation=1.0, interpolation=1.0,
                                       generator=torch.Generator().manual_seed(1))
    assert torch.equal(again["negative"], moved["negative"])  # the generator decides


def test_feature_transform_needs_two_views():
    with pytest.raises(ValueError, match=r"\[B, 2, D\]"):
        analysis.feature_transform(torch.randn(4, 3, 2))


def test_similarity_distributions_frame():
    snaps = [torch.randn(10, 2, 4, generator=torch.Generator().manual_seed(e)) for e in range(3)]
    frame = analysis.similarity_distributions(snaps, epochs=[0, 2])
    assert set(frame["epoch"]) == {0, 2} and set(frame["pair"]) == {"positive", "negative"}
    assert (frame["pair"] == "positive").sum() == 20 and len(frame) == 2 * (10 + 90)


# --- data, models, training ------------------------------------------------------------------------


def test_paired_digits_layout_prototypes_and_determinism():
    ds = data.paired_digits(code_dim=12, seed=1)
    assert ds.input_shape == (64 + 12,) and ds.meta["modality_dims"] == (64, 12)
    assert ds.meta["prototypes"].shape == (10, 12)
    assert torch.equal(ds.X_train[:, :64], data.digits(seed=1).X_train)  # modality A is the digits
    assert torch.equal(data.paired_digits(code_dim=12, seed=1).X_test, ds.X_test)
    # the code carries the class: nearest prototype beats chance by far
    acc = analysis.zero_shot_accuracy(ds.X_test[:, 64:], ds.meta["prototypes"], ds.y_test)
    assert acc > 0.5
    with pytest.raises(ValueError, match="code_dim"):
        data.paired_digits(code_dim=1)


def test_pca_encoder_is_frozen_centred_and_whitened():
    X = torch.randn(200, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * torch.tensor(
        [3.0, 1.0, 0.5, 0.2, 0.1], dtype=torch.float64) + 4.0
    enc = models.pca_encoder(X.float(), 3).double()
    Z = enc(X)
    assert not any(p.requires_grad for p in enc.parameters())
    assert torch.allclose(Z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(Z.std(0), torch.ones(3, dtype=torch.float64), atol=1e-3)
    with pytest.raises(ValueError, match="dim"):
        models.pca_encoder(X, 9)


def test_digit_style_measures_ink_and_its_centre():
    img = np.zeros((1, 8, 8))
    img[0, 2, 5] = 1.0
    assert data.digit_style(img.reshape(1, 64)).tolist() == [[1.0, 5.0, 2.0]]


def test_dual_encoder_splits_freezes_and_embeds():
    model = models.DualEncoder(models.MLP(64, 8, seed=0), models.MLP(12, 8, seed=1), split=64)
    x = torch.randn(5, 76)
    a, b = model(x)
    assert a.shape == b.shape == (5, 8) and torch.equal(model.embed(x), a)
    assert not any(p.requires_grad for p in model.reference.parameters())
    with pytest.raises(ValueError, match="side by side"):
        model(torch.randn(5, 64))


@pytest.mark.parametrize("name", ["clip", "cwcl"])
def test_fit_trains_crossmodal_losses_and_only_the_unfrozen_tower(name):
    ds = data.paired_digits(seed=0)
    reference = models.pca_encoder(ds.X_train[:, 64:], 16)
    before = [p.clone() for p in reference.parameters()]
    model = models.DualEncoder(models.MLP(64, 16, hidden=(64,), seed=0), reference, split=64)
    zs0 = analysis.zero_shot_accuracy(model.embed(ds.X_test), model.embed_reference(ds.meta["prototypes"]), ds.y_test)
    hist = train.fit(model, losses.get(name, temperature=0.5 if name == "clip" else 1.0), ds, epochs=4, lr=3e-3,
                     batch_size=128, verbose=False)
    assert hist["loss"].iloc[-1] < hist["loss"].iloc[0]
    assert all(torch.equal(a, b) for a, b in zip(before, reference.parameters()))
    with torch.no_grad():
        zs = analysis.zero_shot_accuracy(model.embed(ds.X_test), model.embed_reference(ds.meta["prototypes"]),
                                         ds.y_test)
    assert zs > max(zs0, 0.3)


def test_fit_records_the_same_views_every_epoch():
    ds = data.digit_views(image=False)
    model = models.MLP(64, 8, hidden=(32,), seed=0)
    hist = train.fit(model, losses.get("ntxent"), ds, epochs=2, batch_size=256, record=("views",), verbose=False)
    snaps = hist.snapshots["views"]
    assert len(snaps) == 3 and snaps[0].shape == (256, 2, 8)
    x = ds.X_test[:256]
    same_views = torch.stack([ds.augment(x, torch.Generator().manual_seed(v)) for v in range(2)], dim=1)
    with torch.no_grad():
        assert torch.allclose(snaps[-1], model(same_views.flatten(0, 1)).view(256, 2, 8))
    with pytest.raises(ValueError, match="augment"):
        train.fit(model, losses.get("ntxent"), data.digits(), epochs=1, record=("views",), verbose=False,
                  batch_loss=lambda m, lo, x, y, g: m(x).sum())


def test_projection_head_probes_and_per_class_values():
    ds = data.sphere_blobs(n_per_class=30, num_classes=3, dim=4, seed=0)
    model = models.with_projection(models.MLP(4, 6, hidden=(16,), seed=0), out_dim=3, hidden=8, seed=0)
    probes = analysis.projection_head_probes(model, ds, probe="knn")
    assert set(probes) == {"pre", "post"} and all(0 <= v <= 1 for v in probes.values())
    with pytest.raises(ValueError, match="encoder"):
        analysis.projection_head_probes(models.MLP(4, 2), ds)
    table = analysis.per_class_values(torch.tensor([0.1, 0.3, 0.5, 0.7]), torch.tensor([0, 0, 1, 1]))
    assert table["mean"].tolist() == pytest.approx([0.2, 0.6]) and table["count"].tolist() == [2, 2]


# --- figures and widget ----------------------------------------------------------------------------


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


def test_penalty_explorer_updates_entropy_and_image():
    explorer = widgets.PenaltyExplorer([0.9, 0.5, 0.1], temperature=1.0)
    first, image = explorer.entropy, explorer.image.value
    explorer.slider.value = 0.07
    assert explorer.entropy < first and explorer.image.value != image
    assert explorer.entropy == pytest.approx(float(analysis.penalty_entropy(np.array([0.9, 0.5, 0.1]), 0.07)), rel=1e-3)
