r"""Measurements for unnormalised density models: the population loss landscapes of NCE and of the
compositional NLL in the 1-D Gaussian-mean problem (reference losses-wave2.md §6.1), computed by quadrature.

The problem: data :math:`\mathcal N(\mu^*, 1)`, noise :math:`q = \mathcal N(m_q, s_q^2)`, model
:math:`\log\tilde p_\theta(x) = -(x-\theta)^2/2`. NCE's model carries the normaliser c (:math:`\log p_m =
\log\tilde p_\theta + c`), here held at its true value :math:`-\log\sqrt{2\pi}` unless given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .._checks import POSITIVE, REAL, check_int


def _normal_logpdf(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def gaussian_mean_landscape(thetas: Sequence[float] | np.ndarray, mu: float, *, noise_mean: float = 0.0,
                            noise_std: float = 1.0, c: float | None = None, points: int = 40001) -> pd.DataFrame:
    r"""Population NCE (:math:`\nu = 1`) and compositional NLL, with their derivatives in :math:`\theta`, at every
    ``theta``: columns ``theta, nce, nce_grad, nll, nll_grad``.

    .. math::
        \mathrm{NCE}(\theta) = \mathbb E_{p}\,\operatorname{softplus}(-G) + \mathbb E_{q}\,\operatorname{softplus}(G),
        \quad G = \log\tilde p_\theta + c - \log q;\qquad
        F(\theta) = \mathbb E_p[-\log\tilde p_\theta] + \log\!\int\tilde p_\theta = \tfrac{(\mu^*-\theta)^2 + 1}{2}
        + \log\sqrt{2\pi}.

    Expectations by the trapezoid rule on ``points`` nodes spanning 12 standard deviations past data and noise;
    derivatives by autograd through the quadrature. F is written by its integral too (not the closed form), so
    a test can hold it to the closed form."""
    mu = REAL.check(mu, "mu")
    noise_mean = REAL.check(noise_mean, "noise_mean")
    noise_std = POSITIVE.check(noise_std, "noise_std")
    points = check_int(points, "points", low=2)  # the trapezoid rule needs two nodes
    c = -0.5 * math.log(2 * math.pi) if c is None else REAL.check(c, "c")
    rows = []
    for theta in np.asarray(thetas, dtype=float).ravel():
        lo = min(mu, noise_mean, theta) - 12 * max(1.0, noise_std)
        hi = max(mu, noise_mean, theta) + 12 * max(1.0, noise_std)
        x = torch.linspace(lo, hi, points, dtype=torch.float64)
        t = torch.tensor(float(theta), dtype=torch.float64, requires_grad=True)
        log_model = -0.5 * (x - t) ** 2
        p, q = _normal_logpdf(x, mu, 1.0).exp(), _normal_logpdf(x, noise_mean, noise_std).exp()
        g = log_model + c - _normal_logpdf(x, noise_mean, noise_std)
        nce = torch.trapezoid(p * F.softplus(-g) + q * F.softplus(g), x)
        nll = torch.trapezoid(p * -log_model, x) + torch.log(torch.trapezoid(log_model.exp(), x))
        (nce_grad,) = torch.autograd.grad(nce, t, retain_graph=True)
        (nll_grad,) = torch.autograd.grad(nll, t)
        rows.append(dict(theta=float(theta), nce=float(nce.detach()), nce_grad=float(nce_grad), nll=float(nll.detach()),
                         nll_grad=float(nll_grad)))
    return pd.DataFrame(rows)


def importance_weight_relative_variance(theta: float, *, noise_std: float = 1.0) -> float:
    r""":math:`\mathrm{Var}[w]/\mathbb E[w]^2` of the inner estimator :math:`w = \tilde p_\theta(y)/q(y)`,
    :math:`y \sim \mathcal N(0, s^2)`, model :math:`\tilde p_\theta = e^{-(y-\theta)^2/2}`: the quantity that sets the
    compositional method's speed (§6.1): :math:`\mathbb E[w^2]/\mathbb E[w]^2 - 1` with both moments by Gaussian
    integrals (finite for :math:`s^2 > 1/2`); for s = 1 it is :math:`e^{\theta^2} - 1`."""
    theta = REAL.check(theta, "theta")
    s2 = POSITIVE.check(noise_std, "noise_std") ** 2
    if s2 <= 0.5:  # q's tails must be heavier than those of p~^2
        raise ValueError(f"noise_std must be > sqrt(1/2) for a finite variance, got {noise_std}")
    # E[w] = sqrt(2 pi) (the integral of the model); E[w^2] = ∫ p~^2 / q = sqrt(2 pi) s ∫ exp(-(y-θ)^2 + y^2/(2 s^2))
    a = 1.0 - 1.0 / (2 * s2)  # exponent: -a y^2 + 2 θ y - θ^2
    second = math.sqrt(2 * math.pi) * math.sqrt(s2) * math.sqrt(math.pi / a) * math.exp(theta ** 2 / a - theta ** 2)
    return second / (2 * math.pi) - 1.0
