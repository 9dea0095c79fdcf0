"""fit and fit_bags check their arguments before any work: a ValueError naming the argument."""

import math

import pytest

from workbench import data, losses, models, train

BAD = [("epochs", 0), ("epochs", True), ("epochs", 2.5), ("epochs", "3"), ("batch_size", 0), ("batch_size", None),
       ("lr", 0.0), ("lr", -1e-3), ("lr", math.nan), ("lr", math.inf), ("lr", True), ("lr", "0.1"),
       ("seed", -1), ("seed", True), ("seed", 1.0), ("weight_decay", -0.1), ("weight_decay", math.nan),
       ("verbose", 1), ("verbose", "yes")]


@pytest.fixture(scope="module")
def blobs():
    return data.sphere_blobs(num_classes=3, dim=4, n_per_class=10, seed=0)


@pytest.mark.parametrize("arg, value", BAD + [("n_views", 1), ("n_views", 2.0), ("supervised", "no"),
                                              ("evaluate_every", 0), ("evaluate_every", True),
                                              ("evaluate_every", 1.5)])
def test_fit_names_the_bad_argument(blobs, arg, value):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        train.fit(models.MLP(4, 3, seed=0), losses.get("cross_entropy"), blobs, **{arg: value})


@pytest.fixture(scope="module")
def bags():
    return data.aggregate_bags(n_train=8, n_test=8, seed=0)


@pytest.mark.parametrize("arg, value", BAD + [("padded", 0)])
def test_fit_bags_names_the_bad_argument(bags, arg, value):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        train.fit_bags(models.MLP(8, 1, hidden=(), seed=0), bags, loss=losses.get("aggregate_response"),
                       **{arg: value})
