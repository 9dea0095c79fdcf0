"""Training against noise (train.energy): the 1-D Gaussian-mean race of the compositional-NLL paper and a 2-D
energy on moons."""

import pytest
import torch

from workbench import data, losses, models
from workbench.train.energy import fit_energy, gaussian_mean_sgd


def first_within(history, mu, tol=0.5):
    hits = history.index[(history.theta - mu).abs() < tol]
    return int(history.step[hits[0]]) if len(hits) else None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_with_a_noise_that_covers_the_data_the_compositional_nll_reaches_the_mean_first(seed):
    # mu* = 4, q = N(0, 3^2), same step size and draws: the paper's claim (faster convergence than NCE)
    nce = gaussian_mean_sgd("nce", 4.0, steps=150, noise_std=3.0, seed=seed)
    comp = gaussian_mean_sgd("compositional_nll", 4.0, steps=150, noise_std=3.0, seed=seed)
    assert first_within(comp, 4.0) is not None and first_within(nce, 4.0) is not None
    assert first_within(comp, 4.0) < first_within(nce, 4.0)
    assert abs(comp.theta.iloc[-50:].mean() - 4.0) < 0.2 and abs(nce.theta.iloc[-50:].mean() - 4.0) < 0.2


def test_with_a_far_noise_nce_crawls_and_the_plug_in_estimate_drifts():
    # q = N(0, 1), mu* = 4: NCE's gradient is flat (table of §6.1); the plug-in (beta = 1) gradient of log Z is a
    # self-normalised importance estimate dominated by the largest noise draw and pushes theta past the data.
    nce = gaussian_mean_sgd("nce", 4.0, steps=150, seed=0)
    plug_in = gaussian_mean_sgd(losses.get("compositional_nll", beta=1.0), 4.0, steps=150, seed=0)
    assert first_within(nce, 4.0) is None and nce.theta.iloc[-1] < 3.0
    assert plug_in.theta.iloc[-1] > 10.0


def test_gaussian_mean_sgd_is_seeded_and_validates():
    a, b = (gaussian_mean_sgd("nce", 2.0, steps=5, seed=3) for _ in range(2))
    assert a.equals(b)
    with pytest.raises(ValueError, match="noise_std"):
        gaussian_mean_sgd("nce", 2.0, noise_std=0.0)


def test_an_energy_fitted_on_moons_scores_data_above_noise():
    X = data.moons(n=300, seed=0).X_train
    model = models.MLP(2, 1, hidden=(32, 32), seed=0).double()
    out = fit_energy(model, X.double(), "nce", steps=150, seed=0)
    assert out["loss"][-1] < out["loss"][0]
    with torch.no_grad():
        far = torch.full((10, 2), 5.0, dtype=torch.float64)
        assert model(X.double()).mean() > model(far).mean()
