"""Generators pinned by their documented distributions. Imports go through the public namespaces only."""

import math

import torch

from workbench import data


def test_aggregate_bags_draws_theta_with_variance_one_over_dim():
    # docstring (Javanmard et al. setting): theta ~ N(0, I / dim). With dim = 4000 the sample variance has a
    # relative standard error sqrt(2 / 4000) = 2.2 %; 10 % is a 4.5-sigma band, and a wrong scale (1, 1/dim^2,
    # 1/sqrt(dim)) is far outside it.
    for seed in (0, 1):
        theta = data.aggregate_bags(n_train=1, n_test=1, bag_size=2, dim=4000, seed=seed).meta["theta"].double()
        assert abs(float(theta.mean())) < 5 * math.sqrt(1 / 4000 / 4000)
        assert abs(float(theta.var()) * 4000 - 1) < 0.10


def test_aggregate_bags_responses_are_linear_plus_noise_and_bags_reveal_their_mean():
    # y_i = <theta, x_i> + noise * eps_i, eps ~ N(0, 1); the bag label is the mean of its y_i
    bags = data.aggregate_bags(n_train=200, n_test=1, bag_size=10, dim=6, noise=0.5, seed=3)
    theta = bags.meta["theta"].double()
    x = torch.cat(bags.bags_train).double()
    y = torch.cat(bags.instances_train).double()
    residual = y - x @ theta
    assert abs(float(residual.std()) - 0.5) < 0.05  # 2000 draws: standard error of the std about 0.008
    assert torch.allclose(bags.y_train.double(), torch.stack([r.double().mean() for r in bags.instances_train]),
                          atol=1e-6)
    assert abs(float(x.var()) - 1) < 0.05  # x ~ N(0, I)
