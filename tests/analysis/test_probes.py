"""analysis.probes: the kNN probe, probes before and after a projection head (and per-class values)."""


import pytest
import torch
from conftest import unit

from workbench import analysis, data, models


def test_projection_head_probes_and_per_class_values():
    ds = data.sphere_blobs(n_per_class=30, num_classes=3, dim=4, seed=0)
    model = models.with_projection(models.MLP(4, 6, hidden=(16,), seed=0), out_dim=3, hidden=8, seed=0)
    probes = analysis.projection_head_probes(model, ds, probe="knn")
    assert set(probes) == {"pre", "post"} and all(0 <= v <= 1 for v in probes.values())
    with pytest.raises(ValueError, match="encoder"):
        analysis.projection_head_probes(models.MLP(4, 2), ds)
    table = analysis.per_class_values(torch.tensor([0.1, 0.3, 0.5, 0.7]), torch.tensor([0, 0, 1, 1]))
    assert table["mean"].tolist() == pytest.approx([0.2, 0.6]) and table["count"].tolist() == [2, 2]


def test_knn_accuracy_on_separated_classes():
    train, test = unit(0, 5, 180, 185), unit(2, 182)
    assert analysis.knn_probe(train, torch.tensor([0, 0, 1, 1]), test, torch.tensor([0, 1]), k=1) == 1.0
    assert analysis.knn_probe(train, torch.tensor([0, 0, 1, 1]), test, torch.tensor([1, 0]), k=1) == 0.0
