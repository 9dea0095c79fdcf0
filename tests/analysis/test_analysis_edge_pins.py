"""Analysis functions pinned where a small change went unnoticed (the mutation run of issue 10, ``make mutation``):
values by hand computation, the documented zero-weight case, the labels' range."""

import numpy as np
import pytest
import torch
from torch import nn

from workbench import analysis, losses


def test_asl_gradient_curve_bce_columns_by_hand():
    # Hand computation: binary cross-entropy at p = sigmoid(z) is -log(1 - p) for a negative (target 0), with
    # |dL/dz| = p, and -log p for a positive (target 1), with |dL/dz| = 1 - p.
    frame = analysis.asl_gradient_curve(points=5)
    p = np.linspace(0.005, 0.995, 5)
    assert np.allclose(frame["p"], p)
    assert np.allclose(frame["negative BCE"], p) and np.allclose(frame["negative BCE loss"], -np.log(1 - p))
    assert np.allclose(frame["positive BCE"], 1 - p) and np.allclose(frame["positive BCE loss"], -np.log(p))


def test_loss_seconds_sends_the_gradient_to_the_embeddings():
    # A pair loss has no parameter: its backward needs the random batch x to require a gradient.
    assert analysis.loss_seconds(losses.get("contrastive"), 8, embedding_dim=4, repeats=1) > 0


class _ReadsButIgnoresCosine(nn.Module):
    """A margin-kind module whose forward reads .cosine but whose value depends on its scale only."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def cosine(self, x):
        return x[:, :3]

    def forward(self, x, labels):
        self.cosine(x)
        return self.scale * 1.0


def test_proxy_weights_are_zero_where_the_loss_does_not_depend_on_the_cosines():
    # proxy_weights' docstring: w_ic = dL/dS_ic, so 0 for every (sample, proxy) when L does not use S
    weights = analysis.proxy_weights(_ReadsButIgnoresCosine(), torch.randn(4, 5), torch.arange(4) % 3)
    assert torch.equal(weights, torch.zeros(4, 3))


def test_per_class_accuracy_rejects_a_target_outside_the_classes():
    with pytest.raises(ValueError, match="target"):
        analysis.per_class_accuracy(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 3]), 3)


def test_cluster_likelihoods_names_an_empty_input():
    with pytest.raises(ValueError, match="cluster_ids"):
        analysis.cluster_likelihoods(torch.tensor([], dtype=torch.long))


def test_stitching_accuracy_names_bad_training_labels():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 4, generator=g), torch.randn(20, 4, generator=g)
    y = torch.arange(20) % 2
    with pytest.raises(ValueError, match="y_train"):
        analysis.stitching_accuracy(a, a, b, b, y.float(), y, anchors=8)
    with pytest.raises(ValueError, match=r"\banchors\b"):  # more anchors than training rows to draw them from
        analysis.stitching_accuracy(a, a, b, b, y, y, anchors=21)
    analysis.stitching_accuracy(a, a, b, b, y, y, anchors=20)  # every training row an anchor
