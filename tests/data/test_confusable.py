"""data.confusable_classes (the distillation set of notebook 11) and data.few_per_class."""

import numpy as np
import pytest
import torch

from workbench import data


def test_confusable_classes_shape_counts_and_seed():
    ds = data.confusable_classes(num_classes=12, groups=3, n_train_per_class=6, n_test_per_class=4, dim=8, seed=1)
    assert (ds.n_train, ds.n_test, ds.input_shape, ds.num_classes) == (72, 48, (8,), 12)
    assert torch.bincount(ds.y_train).tolist() == [6] * 12 and torch.bincount(ds.y_test).tolist() == [4] * 12
    assert ds.meta["group"].tolist() == [c % 3 for c in range(12)]
    assert ds.X_train.abs().max() < 1  # tanh features
    again = data.confusable_classes(num_classes=12, groups=3, n_train_per_class=6, n_test_per_class=4, dim=8, seed=1)
    assert torch.equal(ds.X_train, again.X_train) and torch.equal(ds.X_test, again.X_test)
    other = data.confusable_classes(num_classes=12, groups=3, n_train_per_class=6, n_test_per_class=4, dim=8, seed=2)
    assert not torch.equal(ds.X_train, other.X_train)


def test_classes_of_a_group_are_closer_than_classes_of_different_groups():
    # The structure a teacher's soft targets can pass on: by construction (group spread 3 > class spread 1), the class
    # means of one group are closer to each other than to the class means of other groups.
    ds = data.confusable_classes(n_train_per_class=30, seed=0)
    means = torch.stack([ds.X_train[ds.y_train == c].mean(0) for c in range(ds.num_classes)])
    d = torch.cdist(means, means)
    same = ds.meta["group"][:, None] == ds.meta["group"][None, :]
    off = ~torch.eye(ds.num_classes, dtype=torch.bool)
    assert d[same & off].mean() < 0.6 * d[~same].mean()


@pytest.mark.parametrize("kwargs, name", [
    ({"num_classes": 1}, "num_classes"), ({"groups": 0}, "groups"), ({"groups": 50}, "groups"),
    ({"n_train_per_class": 0}, "n_train_per_class"), ({"dim": 0}, "dim"), ({"noise": -1.0}, "noise"),
    ({"group_spread": float("nan")}, "group_spread"), ({"class_spread": True}, "class_spread"), ({"seed": -1}, "seed"),
])
def test_confusable_classes_refuses_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        data.confusable_classes(**kwargs)


def test_few_per_class_keeps_n_of_each_class_and_the_test_set():
    ds = data.label_noise(data.confusable_classes(seed=0), rate=0.2, seed=0)
    few = data.few_per_class(ds, n=5, seed=3)
    assert torch.bincount(few.y_train, minlength=40).tolist() == [5] * 40
    assert torch.equal(few.X_test, ds.X_test) and torch.equal(few.y_test, ds.y_test)
    # the kept rows are rows of the original, and the clean labels follow them
    rows = [int(np.flatnonzero((ds.X_train == x).all(1).numpy())[0]) for x in few.X_train]
    assert torch.equal(ds.y_train[rows], few.y_train)
    assert torch.equal(ds.meta["y_train_clean"][rows], few.meta["y_train_clean"])
    assert torch.equal(data.few_per_class(ds, n=5, seed=3).X_train, few.X_train)
    with pytest.raises(ValueError, match="n must be"):
        data.few_per_class(ds, n=41)
    with pytest.raises(ValueError, match="n"):
        data.few_per_class(ds, n=0)
