r"""Training unnormalised density models against a noise distribution (kind ``energy``): the 1-D Gaussian-mean
problem of the compositional-NLL paper and a small MLP energy on 2-D points.

A step draws B data points and M noise points :math:`y \sim q`, forms the log density ratios
:math:`G = \log\tilde p_\theta - \log q` on both, and calls the loss; a :class:`~workbench.losses.CompositionalNLL`
then commits its moving average with ``loss.update(...)`` (explicit state, see its docstring).
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import Tensor, nn

from .._checks import NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, REAL, check_float_tensor
from ..losses import get as get_loss
from .adam import Adam


def _step(loss: nn.Module, data_ratio: Tensor, noise_ratio: Tensor, optimiser: torch.optim.Optimizer) -> float:
    optimiser.zero_grad()
    value = loss(data_ratio, noise_ratio)
    value.backward()
    optimiser.step()
    if hasattr(loss, "update"):  # compositional NLL: commit u_t for this noise batch
        loss.update(noise_ratio.detach())
    return float(value.detach())


def gaussian_mean_sgd(loss: str | nn.Module, mu: float, *, steps: int = 200, lr: float = 0.1, batch: int = 64,
                      noise_batch: int = 64, noise_mean: float = 0.0, noise_std: float = 1.0, theta0: float = 0.0,
                      seed: int = 0) -> pd.DataFrame:
    r"""Plain SGD on the mean :math:`\theta` of the model :math:`\log\tilde p_\theta(x) = -(x-\theta)^2/2 + c` fitted to
    data :math:`\mathcal N(\mu, 1)` with noise :math:`q = \mathcal N(m_q, s_q^2)` (reference losses-wave2.md §6.1).

    ``loss``: ``"nce"`` / ``"compositional_nll"`` or a built loss of kind energy. NCE learns the normaliser c
    jointly (initialised at 0, as the paper's NCE does); the compositional NLL needs no c (it has no effect on
    its gradient, so c stays 0). Same data and noise draws for every loss with the same seed.
    Returns one row per step: ``step, theta, c, loss``."""
    mu, noise_mean, theta0 = (REAL.check(v, n) for v, n in ((mu, "mu"), (noise_mean, "noise_mean"), (theta0, "theta0")))
    noise_std, lr = POSITIVE.check(noise_std, "noise_std"), POSITIVE.check(lr, "lr")
    steps, batch, noise_batch = (POSITIVE_INT.check(v, n) for v, n in
                                 ((steps, "steps"), (batch, "batch"), (noise_batch, "noise_batch")))
    loss = get_loss(loss) if isinstance(loss, str) else loss
    g = torch.Generator().manual_seed(NONNEGATIVE_INT.check(seed, "seed"))
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.SGD([theta, c], lr=lr)
    log_norm = math.log(noise_std * math.sqrt(2 * math.pi))

    def log_q(u):
        return -0.5 * ((u - noise_mean) / noise_std) ** 2 - log_norm

    rows = []
    for step in range(steps):
        x = mu + torch.randn(batch, generator=g, dtype=torch.float64)
        y = noise_mean + noise_std * torch.randn(noise_batch, generator=g, dtype=torch.float64)
        value = _step(loss, -0.5 * (x - theta) ** 2 + c - log_q(x), -0.5 * (y - theta) ** 2 + c - log_q(y), optimiser)
        rows.append(dict(step=step + 1, theta=float(theta.detach()), c=float(c.detach()), loss=value))
    return pd.DataFrame(rows)


def fit_energy(model: nn.Module, X: Tensor, loss: str | nn.Module, *, steps: int = 400, lr: float = 1e-2,
               batch: int = 128, noise_batch: int = 256, noise_scale: float = 1.5, seed: int = 0) -> dict:
    r"""Fit ``model`` (points ``[N, D]`` -> one score, :math:`\log\tilde p_\theta`, i.e. minus the energy) to the
    points ``X`` with Adam, against a diagonal Gaussian noise centred on the data with ``noise_scale`` times its
    standard deviation (the usual NCE choice: the noise must cover the data).

    Returns ``{"loss": [per step], "noise_mean": ..., "noise_std": ..., "log_q": callable}``; ``log_q`` turns the
    model's score into the learnt log density ratio, and the score itself draws as the energy landscape."""
    check_float_tensor(X, "X", 2, "[N, D]", nonempty=True)
    noise_scale, lr = POSITIVE.check(noise_scale, "noise_scale"), POSITIVE.check(lr, "lr")
    steps, batch, noise_batch = (POSITIVE_INT.check(v, n) for v, n in
                                 ((steps, "steps"), (batch, "batch"), (noise_batch, "noise_batch")))
    loss = get_loss(loss) if isinstance(loss, str) else loss
    g = torch.Generator().manual_seed(NONNEGATIVE_INT.check(seed, "seed"))
    mean, std = X.mean(0), X.std(0) * noise_scale
    noise = torch.distributions.Normal(mean, std)

    def log_q(u: Tensor) -> Tensor:
        return noise.log_prob(u).sum(-1)

    optimiser = Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        x = X[torch.randint(len(X), (min(batch, len(X)),), generator=g)]
        y = mean + std * torch.randn(noise_batch, X.shape[1], generator=g, dtype=X.dtype)
        history.append(_step(loss, model(x).squeeze(-1) - log_q(x), model(y).squeeze(-1) - log_q(y), optimiser))
    return {"loss": history, "noise_mean": mean, "noise_std": std, "log_q": log_q}
