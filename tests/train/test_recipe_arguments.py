"""Every training recipe and batch-loss builder of ``workbench.train`` names a bad number among its arguments in a
ValueError, before any work (DEVELOPERS.md: "a ValueError naming the argument"; bools, strings and NaN are never
numbers, whatever the range). fit and fit_bags: tests/train/test_fit_arguments.py."""

import inspect

import pytest
import torch
from conftest import assert_names_the_bad_argument, bad_argument_cases, numeric_keywords, seed_cases

from workbench import data, losses, models, train


def _X():
    return torch.randn(30, 4, generator=torch.Generator().manual_seed(0))


def _y():
    return torch.arange(30) % 3


def _bags():
    return data.digit_bags(positive_fraction=0.5, keys=(1, 3), n_train=8, n_test=8, seed=0)


def _y_multi():
    return torch.nn.functional.one_hot(_y(), 3).float()


def _same(x, generator=None):
    return x


def _dec():
    return losses.get("dec", num_clusters=3, embedding_dim=3)


# each recipe with valid arguments (the bad one replaces one of its numeric keywords); built lazily, per test
CALLS = {
    "fit_clustering": lambda: (train.fit_clustering, (models.Autoencoder(4, 3, (8,), seed=0), _dec(), _X()), {}),
    "pretrain_autoencoder": lambda: (train.pretrain_autoencoder, (models.Autoencoder(4, 3, (8,), seed=0), _X()), {}),
    "fit_energy": lambda: (train.fit_energy, (models.MLP(4, 1, seed=0), _X().double(), "nce"), {}),
    "gaussian_mean_sgd": lambda: (train.gaussian_mean_sgd, ("nce", 2.0), {}),
    "fit_ins": lambda: (train.fit_ins, (models.INSModel(64, seed=0), _bags()), {"verbose": False}),
    "fit_mhim": lambda: (train.fit_mhim, (models.MILModel(64, seed=0), _bags()), {"verbose": False}),
    "fit_scmil": lambda: (train.fit_scmil, (models.MILModel(64, seed=0), _bags()), {"verbose": False}),
    "fit_sbcl": lambda: (train.fit_sbcl, (models.for_kind("views", 4, 3, embedding_dim=4, hidden=(8,), seed=0),
                                          losses.get("sbcl"), None), {"verbose": False}),
    "sbcl_clusters": lambda: (train.sbcl_clusters, (_X(), _y()), {}),
    "density_temperatures": lambda: (train.density_temperatures, (_X(), _y()), {}),
    "cluster_counts": lambda: (train.cluster_counts, ([10, 20, 30],), {}),
    "episodic_batch_loss": lambda: (train.episodic_batch_loss, (_X(), _y()), {}),
    "barlip_batch_loss": lambda: (train.barlip_batch_loss, (), {}),
    "opl_batch_loss": lambda: (train.opl_batch_loss, (losses.get("opl"),), {}),
    "pretext_batch_loss": lambda: (train.pretext_batch_loss, (lambda x, generator=None: x,), {}),
    "kmeans_init": lambda: (train.kmeans_init, (_dec(), _X()[:, :3]), {}),
    "sinkhorn_targets": lambda: (train.sinkhorn_targets, (_X()[:4, :4],), {}),
    "siamlip_batch_loss": lambda: (train.siamlip_batch_loss, (), {}),
    "byolip_batch_loss": lambda: (train.byolip_batch_loss, (), {}),
    "swalip_batch_loss": lambda: (train.swalip_batch_loss, (_same, _same), {}),
    "project_l2": lambda: (train.project_l2, (_X().sigmoid(), _X().sigmoid(), 0.5), {}),
    "pgd_l2": lambda: (train.pgd_l2, (lambda x: x.sum(), _X().sigmoid()), {"eps": 0.5, "step_size": 0.1, "steps": 1}),
    "adversarial_examples": lambda: (train.adversarial_examples, (models.MLP(4, 3, seed=0), _X().sigmoid(), _y()),
                                     {}),
    "energy_samples": lambda: (train.energy_samples, (models.MLP(4, 3, seed=0), _X().sigmoid()), {"steps": 1}),
    "fit_dat": lambda: (train.fit_dat, (models.MLP(4, 3, seed=0), _X().sigmoid(), _y()), {"epochs": 1}),
    "fit_midam": lambda: (train.fit_midam, (models.MILModel(64, "instance", seed=0), _bags()),
                          {"epochs": 1, "verbose": False}),
    "fit_laso": lambda: (train.fit_laso, (models.LaSO(4, seed=0), lambda f: f[:, :3], _X(), _y_multi()),
                         {"pairs": 8, "epochs": 1}),
}


CASES = bad_argument_cases(CALLS)


def test_every_public_recipe_with_a_numeric_keyword_is_listed():
    public = [getattr(train, n) for n in dir(train) if not n.startswith("_")]
    with_numbers = {f.__name__ for f in public if inspect.isfunction(f) and numeric_keywords(f)}
    assert with_numbers - {"fit", "fit_bags"} == set(CALLS)


@pytest.mark.parametrize("name, keyword, bad", CASES)
def test_recipes_name_a_bad_number(name, keyword, bad):
    assert_names_the_bad_argument(CALLS[name], keyword, bad)


@pytest.mark.parametrize("name", seed_cases(CALLS))
def test_a_negative_seed_is_refused(name):
    assert_names_the_bad_argument(CALLS[name], "seed", -1)
