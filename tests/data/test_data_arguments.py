"""Every dataset builder, variant and sampler checks its arguments: a ValueError naming the argument."""

import math

import pytest
import torch

from workbench import data

BUILDERS = [data.digits, data.breast_cancer, data.wine, data.sphere_blobs, data.moons, data.spirals,
            data.hierarchical_clusters, data.digit_views, data.paired_digits]


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("arg, value", [("seed", -1), ("seed", True), ("seed", 0.5), ("seed", "0"),
                                        ("test_size", 0.0), ("test_size", 1.0), ("test_size", math.nan),
                                        ("test_size", True)])
def test_builders_name_a_bad_seed_or_test_size(builder, arg, value):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        builder(**{arg: value})


@pytest.mark.parametrize("builder", [data.digit_bags, data.aggregate_bags, data.mil_unit_test],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [-1, True, 1.5])
def test_bag_builders_name_a_bad_seed(builder, value):
    with pytest.raises(ValueError, match="seed"):
        builder(seed=value)


@pytest.mark.parametrize("variant, arg, value", [
    (data.long_tailed, "imbalance_ratio", math.inf), (data.long_tailed, "seed", -1),
    (data.label_noise, "rate", math.nan), (data.label_noise, "seed", True),
    (data.one_vs_rest, "imbalance", -2.0), (data.unseen_classes, "seen", 0), (data.unseen_classes, "seen", True)])
def test_variants_name_the_bad_argument(variant, arg, value):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        variant(data.digits(seed=0), **{arg: value})


@pytest.mark.parametrize("arg, value", [("n_way", 0), ("n_way", True), ("shot", 0), ("shot", 2.0),
                                        ("queries", -1)])
def test_episode_names_the_bad_argument(arg, value):
    X, y = torch.randn(40, 3), torch.arange(40) % 4
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        data.episode(X, y, **{arg: value})


@pytest.mark.parametrize("X, y, word", [
    (torch.randn(40), torch.arange(40) % 4, "X"), (torch.randn(40, 3), (torch.arange(40) % 4).float(), "y"),
    (torch.randn(40, 3), torch.arange(39) % 4, "y")])
def test_episode_checks_its_data(X, y, word):
    with pytest.raises(ValueError, match=word):
        data.episode(X, y)


def test_episode_accepts_int32_labels():
    X, y = torch.randn(40, 3), (torch.arange(40) % 4).int()
    ex, ey = data.episode(X, y, n_way=2, shot=2, queries=1, generator=torch.Generator().manual_seed(0))
    assert len(ex) == len(ey) == 6
