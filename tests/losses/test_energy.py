"""NCE and the compositional NLL (kind energy) against hand computations and the population values of
reference losses-wave2.md §6.1-6.2 (1-D Gaussian mean, derived there independently in float64)."""

import math

import pytest
import torch

from workbench import losses
from workbench.analysis.energy import gaussian_mean_landscape, importance_weight_relative_variance


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_nce_where_the_model_is_the_noise_is_2_log_2():
    # §6.2: G = 0 everywhere and nu = 1: J = -log(1/2) - log(1/2) = 2 log 2
    assert torch.isclose(losses.get("nce")(torch.zeros(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)),
                         t(2 * math.log(2)))


def test_nce_noise_ratio_is_the_ratio_of_sample_counts():
    # G = 0, M = 2B: nu = 2, h = sigma(-log 2) = 1/3; J = -log(1/3) - 2 log(2/3) = log 3 + 2 log(3/2)
    value = losses.get("nce")(torch.zeros(3, dtype=torch.float64), torch.zeros(6, dtype=torch.float64))
    assert torch.isclose(value, t(math.log(3) + 2 * math.log(1.5)))


def test_nce_by_hand_and_its_gradient():
    # one data point with G = 1, one noise point with G = -1: J = 2 log(1 + e^-1); dJ/dG_data = -sigma(-1)
    data, noise = t(1.0).requires_grad_(), t(-1.0).requires_grad_()
    value = losses.get("nce")(data, noise)
    assert torch.isclose(value, t(2 * math.log1p(math.exp(-1))))
    value.backward()
    s = 1 / (1 + math.e)  # sigma(-1)
    assert torch.allclose(data.grad, t(-s)) and torch.allclose(noise.grad, t(s))


def test_nce_on_samples_matches_the_population_table():
    # §6.1 table: mu* = 4, theta = 2, q = N(0, 1), c = -log sqrt(2 pi): NCE = 0.371996 (Monte Carlo, 4e5 draws)
    g = torch.Generator().manual_seed(0)
    x, y = 4 + torch.randn(400_000, generator=g, dtype=torch.float64), torch.randn(400_000, generator=g,
                                                                                  dtype=torch.float64)
    ratio = lambda u: -0.5 * (u - 2) ** 2 + 0.5 * u ** 2  # log p_m - log q, the normalisers cancel  # noqa: E731
    assert abs(float(losses.get("nce")(ratio(x), ratio(y))) - 0.371996) < 0.01


@pytest.mark.parametrize(("mu", "theta", "nce", "nce_grad", "nll_grad"), [
    (4, 0, 1.38629, -2.0, -4), (4, 2, 0.371996, -0.228917, -2), (8, 0, 1.38629, -4.0, -8),
    (8, 2, 0.356323, -0.224824, -6), (8, 4, 0.0604271, -0.0685974, -4), (8, 6, 0.00385057, -0.00622395, -2)])
def test_population_landscape_reproduces_the_reference_table(mu, theta, nce, nce_grad, nll_grad):
    row = gaussian_mean_landscape([theta], mu).iloc[0]
    assert row.nce == pytest.approx(nce, rel=1e-5) and row.nce_grad == pytest.approx(nce_grad, rel=1e-5, abs=1e-9)
    assert row.nll_grad == pytest.approx(nll_grad, abs=1e-6)
    # F in closed form: ((mu - theta)^2 + 1) / 2 + log sqrt(2 pi)
    assert row.nll == pytest.approx(((mu - theta) ** 2 + 1) / 2 + 0.5 * math.log(2 * math.pi), abs=1e-6)


def test_relative_variance_of_the_inner_estimator():
    # §6.1: Var[w]/E[w]^2 = e^{theta^2} - 1 for q = N(0, 1): 1.71828, 53.5982, 8102.08
    for theta, expected in ((1, 1.71828), (2, 53.5982), (3, 8102.08)):
        assert importance_weight_relative_variance(theta) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="noise_std"):
        importance_weight_relative_variance(1.0, noise_std=0.5)


def test_compositional_nll_first_step_is_the_plug_in_estimate_with_its_gradient():
    # no moving average yet: value = -mean G(x) + log mean e^{G(y)}; data [1, 3], noise [0, log 3]:
    # -2 + log 2; d/dG(y_j) = e^{G(y_j)} / (M u) = [1/4, 3/4]; d/dG(x_i) = -1/2
    data, noise = t(1.0, 3.0).requires_grad_(), t(0.0, math.log(3)).requires_grad_()
    value = losses.get("compositional_nll")(data, noise)
    assert torch.isclose(value, t(-2 + math.log(2)))
    value.backward()
    assert torch.allclose(data.grad, t(-0.5, -0.5)) and torch.allclose(noise.grad, t(0.25, 0.75))


def test_compositional_nll_uses_the_moving_average_and_changes_state_only_on_update():
    loss = losses.get("compositional_nll", beta=0.5)
    data = t(0.0)
    first = loss(data, t(0.0, 0.0))  # z_1 = 1
    assert torch.isnan(loss.log_u) and torch.equal(loss(data, t(0.0, 0.0)), first)  # forward keeps no state
    loss.update(t(0.0, 0.0))
    assert loss.log_partition == pytest.approx(0.0)
    # next batch z_2 = 3: u_2 = 0.5 * 1 + 0.5 * 3 = 2, value = log 2; gradient e^{G_j} / (M u_2) = 3 / (2 * 2)
    noise = t(math.log(3), math.log(3)).requires_grad_()
    value = loss(data, noise)
    assert torch.isclose(value, t(math.log(2)))
    value.backward()
    assert torch.allclose(noise.grad, t(0.75, 0.75))
    assert loss.update(noise.detach()) == pytest.approx(math.log(2))
    loss.reset()
    assert math.isnan(loss.log_partition)


def test_compositional_nll_with_beta_1_is_always_the_plug_in_estimate():
    loss = losses.get("compositional_nll", beta=1.0)
    loss.update(t(5.0))
    assert torch.isclose(loss(t(0.0), t(0.0, math.log(3))), t(math.log(2)))


def test_compositional_nll_on_samples_is_the_nll_up_to_the_data_cross_entropy_under_q():
    # mu* = 1, theta = 0.5, q = N(0, 1): F = ((mu - theta)^2 + 1)/2 + log sqrt(2 pi); the loss sees
    # G = log p~ - log q, so its value is F + E_p[log q(x)] = F - (mu^2 + 1)/2 - log sqrt(2 pi) = -0.375
    g = torch.Generator().manual_seed(1)
    x, y = 1 + torch.randn(200_000, generator=g, dtype=torch.float64), torch.randn(200_000, generator=g,
                                                                                  dtype=torch.float64)
    theta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    ratio = lambda u: -0.5 * (u - theta) ** 2 + 0.5 * u ** 2 + 0.5 * math.log(2 * math.pi)  # noqa: E731
    value = losses.get("compositional_nll")(ratio(x), ratio(y))
    assert abs(float(value.detach()) + 0.375) < 0.01
    value.backward()
    assert abs(float(theta.grad) + 0.5) < 0.02  # dF/dtheta = -(mu - theta)


def test_update_checks_its_input():
    with pytest.raises(ValueError, match="log_ratio_noise"):
        losses.get("compositional_nll").update(t())
