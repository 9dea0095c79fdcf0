r"""Objectives for unnormalised density models (kind ``energy``): noise-contrastive estimation and the
compositional negative log-likelihood of MECO.

An unnormalised model :math:`\tilde p_\theta(x) = e^{-E_\theta(x)}` has an unknown partition function
:math:`Z(\theta) = \int \tilde p_\theta`. Both objectives replace the integral by samples of a noise
distribution :math:`q` whose log-density is known, and both depend on the model only through the log
density ratio of model to noise, on data samples and on noise samples:

.. math::
    G(u) = \log \tilde p_\theta(u) - \log q(u) = -E_\theta(u) - \log q(u).

So the kind's inputs are ``(log_ratio_data[B], log_ratio_noise[M])``: :math:`G(x_i)` for B data samples and
:math:`G(y_j)` for M noise samples :math:`y_j \sim q` (see ``workbench.kinds``). The gradient reaches
:math:`\theta` through :math:`\log \tilde p_\theta`; :math:`\log q` is a constant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import Range, check_float_tensor
from .registry import Paper, Param, register


def check_log_ratios(log_ratio_data: Tensor, log_ratio_noise: Tensor) -> tuple[Tensor, Tensor]:
    """The two inputs of an energy loss: finite float vectors ``[B]`` and ``[M]`` (B, M >= 1), same dtype."""
    check_float_tensor(log_ratio_data, "log_ratio_data", 1, "[B]", nonempty=True)
    check_float_tensor(log_ratio_noise, "log_ratio_noise", 1, "[M]", nonempty=True)
    if log_ratio_noise.dtype != log_ratio_data.dtype:
        raise ValueError(f"log_ratio_noise must have the dtype of log_ratio_data ({log_ratio_data.dtype}), "
                         f"got {log_ratio_noise.dtype}")
    return log_ratio_data, log_ratio_noise


def nce_loss(log_ratio_data: Tensor, log_ratio_noise: Tensor) -> Tensor:
    r"""Noise-contrastive estimation (Gutmann & Hyvärinen 2010), the functional form of :class:`NCE`.

    .. math::
        h(u) = \sigma\big(G(u) - \log\nu\big),\qquad
        J = -\frac1{B}\Big[\sum_{i=1}^{B} \log h(x_i) + \sum_{j=1}^{M} \log\big(1 - h(y_j)\big)\Big],
        \qquad \nu = M / B.

    Computed as :math:`\log h = -\operatorname{softplus}(-(G - \log\nu))` and
    :math:`\log(1-h) = -\operatorname{softplus}(G - \log\nu)`, finite for any finite G.
    """
    data, noise = check_log_ratios(log_ratio_data, log_ratio_noise)
    log_nu = math.log(noise.shape[0] / data.shape[0])
    return (F.softplus(log_nu - data).sum() + F.softplus(noise - log_nu).sum()) / data.shape[0]


@register("nce", family="energy", kind="energy",
          paper=Paper("Noise-contrastive estimation: A new estimation principle for unnormalized statistical models",
                      2010, "Gutmann, Hyvärinen"),
          formula=r"-\frac1B\Big[\sum_i \log\sigma(G(x_i)-\log\nu) + \sum_j \log\big(1-\sigma(G(y_j)-\log\nu)\big)"
                  r"\Big],\ G = \log\tilde p_\theta - \log q,\ \nu = M/B",
          params={}, reduces_over="batch")
class NCE(nn.Module):
    r"""Noise-contrastive estimation (Gutmann & Hyvärinen, AISTATS 2010): logistic regression of data
    against noise with the log density ratio as the logit.

    .. math::
        h(u) = \sigma\big(G(u) - \log\nu\big),\quad G(u) = \log p_m(u;\theta) - \log q(u),\quad \nu = M/B,

        J(\theta) = -\frac1{B}\sum_{i=1}^{B} \log h(x_i) - \frac{\nu}{M}\sum_{j=1}^{M} \log\big(1 - h(y_j)\big).

    ``forward(log_ratio_data[B], log_ratio_noise[M])`` takes :math:`G` on B data and M noise samples; the noise
    ratio :math:`\nu` is the ratio of the sample counts, as in the paper (:math:`T_n = \nu T_d`), so there is no
    hyper-parameter: draw more noise to raise :math:`\nu` (larger :math:`\nu` lowers the estimator's variance).
    The model :math:`p_m` must carry its own normaliser: in the paper a free parameter :math:`c = -\log Z`
    learnt jointly, so the optimum is the normalised density when the model family contains the data's
    (add a learnable scalar to :math:`\log\tilde p_\theta`). The noise must be positive wherever the data is.

    Check (reference losses-wave2.md §6.2): model = noise (G ≡ 0) and ν = 1 give :math:`J = 2\log 2`.
    Practical tip: NCE's logistic loss saturates once the model leaves the noise: its landscape is flat far
    from the noise (the point of :class:`CompositionalNLL`); choose q close to the data.

    Reduction: the objective sums two means over different samples (data and noise), so it does not decompose
    into per-sample values; it takes no ``reduction`` and returns one scalar for the batch.
    """

    def forward(self, log_ratio_data: Tensor, log_ratio_noise: Tensor) -> Tensor:
        return nce_loss(log_ratio_data, log_ratio_noise)


@register("compositional_nll", family="energy", kind="energy",
          paper=Paper("Learning Unnormalized Statistical Models via Compositional Optimization", 2023,
                      "Jiang, Qin, Wu, Chen, Yang, Zhang"),
          formula=r"-\frac1B\sum_i G(x_i) + \log u,\ u \leftarrow (1-\beta)u + \beta\,\frac1M\sum_j e^{G(y_j)},"
                  r"\ \nabla = -\frac1B\sum_i\nabla G(x_i) + \frac1{uM}\sum_j e^{G(y_j)}\nabla G(y_j)",
          params={"beta": Param(0.1, 0.01, 1.0, "weight of the new batch estimate of Z in the moving average u",
                                log=True, valid=Range(0.0, 1.0, low_open=True))},
          reduces_over="batch")
class CompositionalNLL(nn.Module):
    r"""The negative log-likelihood of an unnormalised model as a compositional objective, optimised with a
    moving-average estimate of the partition function (MECO; Jiang et al., ICML 2023).

    .. math::
        F(\theta) = \mathbb E_{x\sim p_{data}}\big[-\log\tilde p_\theta(x)\big] + \log Z(\theta),\qquad
        Z(\theta) = \mathbb E_{y\sim q}\Big[\frac{\tilde p_\theta(y)}{q(y)}\Big]
        = \mathbb E_{y\sim q}\big[e^{G(y)}\big],

    so :math:`\log Z = f(g(\theta))` with outer :math:`f = \log` and inner :math:`g` an expectation that noise
    samples estimate. The plug-in :math:`\log \frac1M\sum_j e^{G(y_j)}` is biased (Jensen), and so is its
    gradient. A stochastic compositional method tracks the inner value instead:

    .. math::
        \hat z = \frac1M\sum_{j} e^{G(y_j)},\qquad u_t = (1-\beta)\,u_{t-1} + \beta\,\hat z \quad (u_1 = \hat z),

        \nabla = -\frac1B\sum_i \nabla G(x_i) + \frac{1}{u_t}\,\frac1M\sum_j e^{G(y_j)}\,\nabla G(y_j).

    ``forward(log_ratio_data[B], log_ratio_noise[M])`` returns :math:`-\frac1B\sum_i G(x_i) + \log u_t`, whose
    gradient is the one above (:math:`u_t` is held constant in the backward pass), all in log space
    (``log u`` via ``logaddexp``). Since :math:`G = \log\tilde p_\theta - \log q`, the value is the NLL estimate
    minus :math:`\frac1B\sum_i\log q(x_i)`, a constant in :math:`\theta`: the same gradient and minimiser; add the
    data's mean :math:`\log q` back to read the NLL itself.

    State: the buffer ``log_u`` (:math:`\log u_{t-1}`, NaN before the first update) changes only through the
    explicit call :meth:`update` (after the backward pass, with the same noise ratios), so ``forward`` has no
    side effect and repeats its value. :attr:`log_partition` is the current estimate of :math:`\log Z(\theta)`.

    Defaults and sources: the objective follows the paper's abstract (reference losses-wave2.md §6.1 [ABS],
    no official code found); the moving-average form is the standard one of stochastic compositional
    optimisation (SCGD/SOX) and ``beta = 0.1`` is ours (the paper's value was not verified). ``beta = 1``
    is the plug-in (biased) estimator. Tip: the variance of :math:`\hat z` decides the speed; for data far
    from the noise it grows fast (1-D Gaussian, q = N(0, 1), model mean θ: relative variance
    :math:`e^{\theta^2} - 1`), so the noise should cover the data.

    Reduction: ``log u`` is the log of a mean over the noise batch, so the objective does not decompose into
    per-sample values; it takes no ``reduction`` and returns one scalar for the batch.
    """

    def __init__(self, beta: float = 0.1):
        super().__init__()
        self.beta = Range(0.0, 1.0, low_open=True).check(beta, "beta")
        self.register_buffer("log_u", torch.tensor(math.nan, dtype=torch.float64))

    def _log_u(self, log_ratio_noise: Tensor) -> tuple[Tensor, Tensor]:
        """``(log ẑ, log u_t)``: the batch's log estimate of Z (with its graph) and the moving average (detached)."""
        log_z = torch.logsumexp(log_ratio_noise, 0) - math.log(log_ratio_noise.shape[0])
        fresh = log_z.detach()
        if torch.isnan(self.log_u) or self.beta == 1.0:
            return log_z, fresh
        previous = self.log_u.to(fresh.dtype)
        return log_z, torch.logaddexp(previous + math.log1p(-self.beta), fresh + math.log(self.beta))

    def forward(self, log_ratio_data: Tensor, log_ratio_noise: Tensor) -> Tensor:
        data, noise = check_log_ratios(log_ratio_data, log_ratio_noise)
        log_z, log_u = self._log_u(noise)
        ratio = torch.exp(log_z - log_u)  # ẑ / u_t <= 1/beta: finite whatever the scale of G
        # value: -mean G(x) + log u_t; gradient: -mean ∇G(x) + ∇ẑ / u_t (the second term is 0 in value)
        return -data.mean() + log_u + (ratio - ratio.detach())

    @torch.no_grad()
    def update(self, log_ratio_noise: Tensor) -> Tensor:
        """Commit :math:`u_t` for this noise batch (call after the backward pass with the same ``log_ratio_noise``);
        returns the new ``log u``."""
        check_float_tensor(log_ratio_noise, "log_ratio_noise", 1, "[M]", nonempty=True)
        _, log_u = self._log_u(log_ratio_noise.detach())
        self.log_u = log_u.to(torch.float64).to(self.log_u.device)
        return self.log_u

    def reset(self) -> None:
        """Forget the moving average (the next step starts from the plug-in estimate)."""
        self.log_u = torch.full_like(self.log_u, math.nan)

    @property
    def log_partition(self) -> float:
        """The moving-average estimate of :math:`\\log Z(\\theta)` (NaN before the first :meth:`update`)."""
        return float(self.log_u)


def dat_bce_loss(log_ratio_data: Tensor, log_ratio_noise: Tensor) -> Tensor:
    r"""The energy term of dual adversarial training (Yin et al.), the functional form of :class:`DATBCE`:
    ``BCEWithLogits(cat([s_data, s_adv]), cat([1, 0]))``, the mean over all B + M samples,

    .. math::
        L = \frac1{B+M}\Big[\sum_{i=1}^{B}\operatorname{softplus}(-s(x_i))
            + \sum_{j=1}^{M}\operatorname{softplus}(s(\tilde x_j))\Big].
    """
    data, noise = check_log_ratios(log_ratio_data, log_ratio_noise)
    return (F.softplus(-data).sum() + F.softplus(noise).sum()) / (data.shape[0] + noise.shape[0])


@register("dat_bce", family="energy", kind="energy",
          paper=Paper("Joint Discriminative-Generative Modeling via Dual Adversarial Training", 2025,
                      "Yin et al."),
          formula=r"\frac1{B+M}\Big[\sum_i \operatorname{softplus}(-s(x_i)) + \sum_j \operatorname{softplus}"
                  r"(s(\tilde x_j))\Big],\ s(x) = \log\sum_y e^{f_y(x)},\ \tilde x_j = \mathrm{PGD}_T(x^{out}_j)",
          params={}, reduces_over="batch")
class DATBCE(nn.Module):
    r"""The energy objective of dual adversarial training (DAT; official code xuwangyin/DAT@fb2ffc7): binary
    cross-entropy of real data (target 1) against adversarially generated samples (target 0), with a
    classifier's log-sum-exp of logits as the logit of the binary task.

    .. math::
        s(x) = \log\sum_y e^{f_y(x)} = -E(x),\qquad
        L = \frac1{B+M}\Big[\sum_{i=1}^{B}\operatorname{softplus}\big(-s(x_i)\big)
            + \sum_{j=1}^{M}\operatorname{softplus}\big(s(\tilde x_j)\big)\Big].

    ``forward(log_ratio_data[B], log_ratio_noise[M])`` (the kind ``energy`` signature) takes the scores
    :math:`s` of B real samples and of M adversarial samples :math:`\tilde x_j`: out-of-distribution seeds pushed
    by T steps of L2 PGD *ascent* on the model's score (``workbench.train.pgd_l2``; the recipe is
    ``workbench.train.fit_dat``). The adversarial samples have no tractable density, so unlike NCE no
    :math:`\log q` enters: the log ratio of the kind is the score itself (:math:`\log q \equiv 0`), and there
    is no noise ratio: the mean runs over the B + M concatenated samples, as ``nn.BCEWithLogitsLoss(reduction=
    "mean")`` does in the official ``rebm/training/metrics.py::compute_ebm_metrics`` (``logsumexp: true`` in
    every released config; ``r1reg = 0`` there, so no R1 term here). With B = M and :math:`\log q = 0` it is
    half of :class:`NCE`.

    No hyper-parameter: the attack strength T lives in the recipe (raised whenever the running AUC of real vs
    adversarial scores reaches ``AUC_th = 0.8``), and the classifier's adversarial cross-entropy is added with
    weight 1 there (``total_loss = ebm_total_loss + clf_loss`` in ``rebm/training/train.py``).
    Check (reference losses-wave2.md §6.4): :math:`s_{data} = [2, 0.5]`, :math:`s_{adv} = [-1, 1]` give 0.556882.
    Practical tip: the scores are unbounded log-sum-exps, so this is computed with softplus (as BCEWithLogits):
    finite for any finite score.

    Reduction: one mean over the concatenation of data and adversarial samples (B + M values, not one per input
    row), so it takes no ``reduction`` and returns one scalar for the batch.
    """

    def forward(self, log_ratio_data: Tensor, log_ratio_noise: Tensor) -> Tensor:
        return dat_bce_loss(log_ratio_data, log_ratio_noise)
