"""Analysis, viz and widget helpers of the classification / imbalanced-binary notebooks (issue 3)."""

import numpy as np
import pandas as pd
import pytest
import torch

from workbench import analysis, data, experiments, losses, models, viz, widgets


def test_topk_accuracy():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [2.0, 3.0, 1.0]])
    y = torch.tensor([1, 0, 1])
    assert analysis.topk_accuracy(logits, y, 1) == pytest.approx(1 / 3)
    assert analysis.topk_accuracy(logits, y, 2) == pytest.approx(2 / 3)
    assert analysis.topk_accuracy(logits, y, 3) == 1.0
    with pytest.raises(ValueError, match="k"):
        analysis.topk_accuracy(logits, y, 4)


def test_binary_metrics_match_hand_counts():
    scores = torch.tensor([2.0, -1.0, 0.5, -0.5, 1.0])
    y = torch.tensor([1, 0, 0, 1, 1])  # predictions 1 0 1 0 1: TP 2, FP 1, FN 1, TN 1
    m = analysis.binary_metrics(scores, y)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["roc_auc"] == pytest.approx(5 / 6)  # positives 2, -0.5, 1 vs negatives -1, 0.5: 5 of 6 pairs


def test_compare_losses_runs_the_grid_and_is_deterministic():
    def make_data(seed, noise):
        return data.label_noise(data.sphere_blobs(n_per_class=20, num_classes=3, dim=4, seed=seed), rate=noise,
                                seed=seed)

    def make_model(ds, seed):
        return models.for_kind("logits", 4, 3, embedding_dim=4, hidden=(8,), seed=seed)

    def score(model, ds):
        return {"acc": analysis.topk_accuracy(analysis.outputs_on_test(model, ds), ds.y_test)}

    grid = dict(make_loss={"ce": lambda: losses.get("cross_entropy"), "aldr": lambda: losses.get("aldr_kl")},
                make_data=make_data, make_model=make_model, score=score, seeds=(0, 1),
                settings={"noise": [0.0, 0.3]}, epochs=2, batch_size=16, verbose=False)
    frame = experiments.compare_losses(**grid)
    assert len(frame) == 8 and set(frame.columns) >= {"loss", "noise", "seed", "acc", "seconds"}
    assert frame.groupby(["loss", "noise"]).size().eq(2).all()
    again = experiments.compare_losses(**grid)
    assert np.array_equal(frame["acc"].to_numpy(), again["acc"].to_numpy())
    summary = experiments.summarise(frame, "acc", ["loss", "noise"])
    assert list(summary.columns) == ["loss", "noise", "mean", "std"] and len(summary) == 4


def test_amplifier_curve_passes_one_half_and_sharpens_with_L():
    frame = analysis.amplifier_curve([1, 73], points=11)
    assert np.allclose(frame.loc[5, ["L=1", "L=73"]], 0.5)
    assert frame["L=73"].iloc[-1] > frame["L=1"].iloc[-1] and frame["L=73"].iloc[0] < frame["L=1"].iloc[0]


def test_invariance_table_shows_z_loss_invariant_and_ce_not():
    z = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    table = analysis.invariance_table({"cross_entropy": losses.get("cross_entropy"), "z_loss": losses.get("z_loss")},
                                      z, torch.tensor([2]), {"z": (1, 0), "5z - 7": (5, -7)})
    assert table.loc["z", "z_loss"] == pytest.approx(table.loc["5z - 7", "z_loss"], abs=1e-12)
    assert table.loc["z", "cross_entropy"] != pytest.approx(table.loc["5z - 7", "cross_entropy"])


def test_metric_by_setting_draws_one_bar_per_group():
    frame = pd.DataFrame({"loss": ["a", "a", "b", "b"] * 2, "noise": [0, 0.2] * 4, "acc": np.linspace(0.5, 0.9, 8)})
    fig = viz.metric_by_setting(frame, "acc", "noise")
    assert len([p for p in fig.axes[0].patches if p.get_height() > 0]) == 4


def test_figure_explorer_redraws_on_slider_change():
    explorer = widgets.FigureExplorer(lambda L: viz.line_panel(analysis.amplifier_curve([L]), "p"),
                                      L=losses.Param(30.0, 1.0, 100.0))
    first = explorer.image.value
    explorer.sliders["L"].value = 80.0
    assert explorer.renders == 2 and explorer.image.value != first
    with pytest.raises(ValueError, match="parameter"):
        widgets.FigureExplorer(lambda: None)
