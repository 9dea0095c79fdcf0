"""MIDAM: multiple-instance deep AUC maximisation with stochastic smoothed-max pooling (family ``mil``).

Kind ``binary``: ``forward(logits[B], target[B], index=None)``, where ``logits`` are *bag* scores, the
smoothed max of the instance scores a training step sampled from each bag (see :class:`MIDAM`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import NONNEGATIVE, POSITIVE, Range, check_float_tensor, check_index, check_int, check_number
from .binary import _ReverseGradient, check_binary
from .registry import Paper, Param, register

PAPER = Paper("Provable Multi-instance Deep AUC Maximization with Stochastic Pooling", 2023,
              "Zhu, Wang, Chen, Wang, Sonka, Wu, Yang")


def smoothed_max(scores: Tensor, mask: Tensor | None = None, *, tau: float = 0.1) -> Tensor:
    r"""The smoothed-max pooling of instance scores ``[B, N]`` (``mask`` True = a real or sampled instance):
    :math:`h = \tau \log \frac1n \sum_{i} e^{\phi_i/\tau}` per bag (LibAUC ``MIL_aggregation(mode="softmax")``,
    computed with logsumexp). The bag score :class:`MIDAM` takes."""
    check_number(tau, "tau", low=0.0, low_open=True)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        n = mask.sum(-1).to(scores.dtype)
    else:
        n = torch.full(scores.shape[:-1], scores.shape[-1], dtype=scores.dtype, device=scores.device)
    return tau * (torch.logsumexp(scores / tau, dim=-1) - n.log())


def _class_mean(values: Tensor, members: Tensor) -> Tensor:
    """Mean over ``members``; 0 (with a zero gradient) for an empty class, where LibAUC's ``torch.mean`` gives NaN."""
    return (values * members).sum() / members.sum().clamp(min=1)


@register(
    "midam", family="mil", kind="binary", reduces_over="batch", paper=PAPER,
    formula=r"\min_{w,a,b}\max_{\alpha\ge0} E_{+}[(h_i-a)^2] + E_{-}[(h_i-b)^2] + 2\alpha(m + E_{-}h_i - E_{+}h_i)"
            r" - \alpha^2,\; h_i = \tau\log s_i,\; s_i \leftarrow (1-\gamma)s_i + \gamma\,\frac1{|B_i|}"
            r"\sum_{x\in B_i} e^{\phi(x)/\tau}",
    params={"margin": Param(1.0, 0.0, 2.0, "desired gap c between mean positive and mean negative bag score",
                            valid=NONNEGATIVE),
            "tau": Param(0.1, 0.02, 1.0, "temperature of the smoothed max (small: max, large: mean)", log=True,
                         valid=POSITIVE),
            "gamma": Param(0.9, 0.1, 1.0, "weight of the new value in each bag's moving average",
                           valid=Range(0.0, 1.0, low_open=True))},
)
class MIDAM(nn.Module):
    r"""MIDAM-smx (Zhu et al., ICML 2023): AUC-margin min-max on bag scores pooled by a smoothed max, with
    each bag's pooled value tracked by a moving average, so a step may see only a few instances of a bag.

    A bag :math:`X_i` scores :math:`h_i = \tau\log\frac1{|X_i|}\sum_{x\in X_i} e^{\phi(x)/\tau}` (``tau``
    0.1: close to the max, the standard MIL assumption). A step samples a few instances :math:`B_i` of the
    bag (LibAUC ``MIL_sampling``, ``instance_batch_size`` 4) and passes their smoothed max
    :math:`u_i = \tau\log\frac1{|B_i|}\sum_{B_i} e^{\phi/\tau}` (:func:`smoothed_max`) as ``logits``. With
    :math:`y_i = e^{u_i/\tau}` the bag's moving average :math:`s_i \leftarrow (1-\gamma)s_i + \gamma y_i`
    (``gamma`` 0.9, detached) estimates the whole-bag mean, and the value is LibAUC's surrogate, whose gradient
    is MIDAM's stochastic gradient (:math:`\nabla h_i \approx \tau\,\nabla y_i / s_i`):

    .. math::
        L = E_+\!\Big[2\tau(\tau\log s_i - \bar a)\frac{y_i}{s_i}\Big] + E_-\!\Big[2\tau(\tau\log s_i - \bar b)
            \frac{y_i}{s_i}\Big] + \bar\alpha\,\tau\Big(E_-\frac{y_i}{s_i} - E_+\frac{y_i}{s_i}\Big)
            + E_+(\tau\log s_i - a)^2 + E_-(\tau\log s_i - b)^2

    (:math:`E_\pm`: means over the batch's positive / negative bags; bars: detached). ``a``, ``b`` (the
    class means) and ``alpha`` (the dual variable of the margin constraint, ``margin`` c = 1.0 as LibAUC's
    code; its docstring says 0.5) are ``nn.Parameter`` initialised 0. The state lives in the buffer
    ``log_s`` (:math:`\log s_i`, float64, -inf = LibAUC's initial 0; grown on demand when ``num_samples`` is
    None), indexed by the bag ids ``index`` (``uses_index``). Without ``index`` nothing is stored and
    :math:`s_i = y_i` (no averaging). Source: LibAUC 2.0.1 ``libauc/losses/mil.py``
    ``MIDAM_softmax_pooling_loss`` (defaults ``margin=1.0, tau=0.1, gamma=0.9``); equal value and gradients
    are tested against it. Departures: :math:`\log s` is kept in log space (``y_i/s_i = e^{u_i/\tau - \log s_i}``)
    so logits of 1e4 stay finite where LibAUC's :math:`e^{u/\tau}` overflows; an empty class adds 0 where
    LibAUC's mean gives NaN; float16 logits are refused (the squared bag scores overflow it).

    The optimiser: LibAUC trains this with ``libauc.optimizers.MIDAM``: SGD with a moving-average momentum
    buffer on the model, ``a`` and ``b``, then the dual step :math:`\alpha \leftarrow \max(0, \alpha +
    \eta(c + b - a - \alpha))` (:class:`workbench.train.MIDAMOptimizer`). Here ``alpha`` also gets that
    ascent direction as its gradient, reversed, through a term of value 0 (the loss value stays LibAUC's), and
    is projected to >= 0 at every call; so ``train.fit`` / Adam trains it too, but Adam normalises every step
    (alpha moves about ``lr`` a step whatever the constraint's violation, a and b likewise) where MIDAM's
    steps are proportional to the gradient, and without the dual step alpha would stay 0, leaving no margin
    term at all. Measured on ``breast_cancer`` (one-instance bags, the binary kind's MLP, batches of 64, 5
    epochs, seed 0): test AUC 0.76 at the start, 0.99 with :class:`workbench.train.MIDAMOptimizer` at lr 0.1
    (momentum 0.1), but 0.65 with Adam at lr 1e-3 (alpha reached only 0.035): with ``train.fit``'s Adam the
    margin term barely acts. Train it with :func:`workbench.train.fit_midam` or that optimiser.

    Reduces over the batch (means over the positive and the negative bags): no ``reduction``.
    """

    uses_index = True

    def __init__(self, margin: float = 1.0, tau: float = 0.1, gamma: float = 0.9, num_samples: int | None = None):
        super().__init__()
        self.margin = check_number(margin, "margin", low=0.0)
        self.tau = check_number(tau, "tau", low=0.0, low_open=True)
        self.gamma = check_number(gamma, "gamma", low=0.0, high=1.0, low_open=True)
        self.num_samples = None if num_samples is None else check_int(num_samples, "num_samples (or None)", 1)
        self.a = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.zeros(()))
        self.alpha = nn.Parameter(torch.zeros(()))
        self.register_buffer("log_s", torch.full((num_samples or 0,), -math.inf, dtype=torch.float64))

    def reset(self) -> None:
        """Forget every bag's moving average (LibAUC's initial s = 0)."""
        self.log_s.fill_(-math.inf)

    def _update(self, log_y: Tensor, index: Tensor | None) -> Tensor:
        """:math:`\\log s_i` after this step's update (detached); stored when ``index`` is given."""
        log_y = log_y.detach().double()
        if index is None:
            return log_y
        needed = int(index.max()) + 1
        if needed > len(self.log_s):  # grow the state; new bags start at s = 0
            grown = torch.full((needed,), -math.inf, dtype=torch.float64, device=self.log_s.device)
            grown[: len(self.log_s)] = self.log_s
            self.log_s = grown
        old = self.log_s[index]
        new = log_y + math.log(self.gamma)
        if self.gamma < 1:  # log((1 - gamma) s + gamma y); log(1 - gamma) + (-inf) = -inf adds nothing
            new = torch.logaddexp(old + math.log1p(-self.gamma), new)
        self.log_s[index] = new
        return new

    def forward(self, logits: Tensor, target: Tensor, index: Tensor | None = None) -> Tensor:
        check_float_tensor(logits, "logits", 1, "[B]", nonempty=True)
        y = check_binary(logits, target)
        if logits.dtype == torch.float16:  # (h - a)^2 with h = tau log s leaves float16 (max 65504) at |h| ~ 150
            raise ValueError("logits: MIDAM needs a dtype with float32's range (float32, float64, bfloat16), "
                             "got float16")
        if index is not None:
            index = check_index(index, len(logits), distinct=True, num_samples=self.num_samples)
        with torch.no_grad():
            self.alpha.clamp_(min=0)  # projection onto alpha >= 0 (MIDAM's clip)
        tau = self.tau
        log_y = logits / tau
        log_s = self._update(log_y, index).to(logits.dtype)
        h = tau * log_s  # the bag score estimate, tau log s_i (no gradient)
        ratio = torch.exp(log_y - log_s)  # y_i / s_i, with the gradient of y_i
        pos, neg = y, 1 - y
        a, b, alpha = self.a.to(logits.dtype), self.b.to(logits.dtype), self.alpha.to(logits.dtype)
        value = (_class_mean(2 * tau * (h - a.detach()) * ratio, pos)
                 + _class_mean(2 * tau * (h - b.detach()) * ratio, neg)
                 + alpha.detach() * tau * (_class_mean(ratio, neg) - _class_mean(ratio, pos))
                 + _class_mean((h - a) ** 2, pos) + _class_mean((h - b) ** 2, neg))
        # alpha's ascent direction c + b - a - alpha (LibAUC's dual step) as a reversed gradient, value 0
        reversed_alpha = _ReverseGradient.apply(alpha)
        dual = reversed_alpha * (self.margin + (b - a).detach()) - reversed_alpha ** 2 / 2
        return value + dual - dual.detach()

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, tau={self.tau}, gamma={self.gamma}, "
                f"tracked_bags={len(self.log_s)}")


class MIDAMAttention(nn.Module):
    r"""MIDAM-att (Zhu et al., ICML 2023): MIDAM with stochastic *attention* pooling, LibAUC 2.0.1's
    ``MIDAM_attention_pooling_loss`` (``libauc/losses/mil.py``; defaults ``margin=1.0, gamma=0.9``).

    The bag score is :math:`h_i = \sigma\big(\sum_x e^{g(x)}\delta(x) / \sum_x e^{g(x)}\big)`, attention
    logits g and instance scores :math:`\delta` (for :class:`workbench.models.MILModel` attention pooling,
    :math:`\delta(x) = w^\top e(x) + b`, so the ratio is exactly its bag logit). A step passes, per bag, the
    means over the sampled instances ``sn`` :math:`= \overline{e^{g}\delta}` and ``sd`` :math:`= \overline{e^{g}}`
    (> 0); both are tracked by moving averages per bag (buffers ``sn_state``, ``sd_state``, initialised 1 as
    LibAUC, :math:`s \leftarrow (1-\gamma)s + \gamma\,\cdot`), :math:`\hat h_i = \sigma(\bar s_n / \bar s_d)` (the
    denominator clamped at 1e-8), and with :math:`G_i = \hat h_i(1-\hat h_i)\,(sn_i/\bar s_d - \bar s_n sd_i / \bar
    s_d^2)` (the gradient of the ratio through this step's sn, sd):

    .. math::
        L = E_+[2(\hat h_i - \bar a)G_i] + E_-[2(\hat h_i - \bar b)G_i] + \bar\alpha(E_- G_i - E_+ G_i)
            + E_+(\hat h_i - a)^2 + E_-(\hat h_i - b)^2 .

    ``a``, ``b``, ``alpha`` and the optimiser as :class:`MIDAM` (alpha's dual step as a reversed gradient of a
    zero-valued term; :class:`workbench.train.MIDAMOptimizer` does LibAUC's step). Without ``index`` nothing
    is stored and the averages are this step's values. An empty class adds 0 (LibAUC: NaN). Not registered:
    its forward takes two pooled inputs per bag, which no loss kind describes; ``train.fit_midam(...,
    pooling="attention")`` trains it.
    """

    uses_index = True

    def __init__(self, margin: float = 1.0, gamma: float = 0.9, num_samples: int | None = None):
        super().__init__()
        self.margin = check_number(margin, "margin", low=0.0)
        self.gamma = check_number(gamma, "gamma", low=0.0, high=1.0, low_open=True)
        self.num_samples = None if num_samples is None else check_int(num_samples, "num_samples (or None)", 1)
        self.a = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.zeros(()))
        self.alpha = nn.Parameter(torch.zeros(()))
        for name in ("sn_state", "sd_state"):
            self.register_buffer(name, torch.ones(num_samples or 0, dtype=torch.float64))

    def _update(self, name: str, value: Tensor, index: Tensor | None) -> Tensor:
        value = value.detach().double()
        if index is None:
            return value
        state = getattr(self, name)
        needed = int(index.max()) + 1
        if needed > len(state):  # new bags start at 1, as LibAUC
            grown = torch.ones(needed, dtype=torch.float64, device=state.device)
            grown[: len(state)] = state
            setattr(self, name, grown)
            state = grown
        state[index] = (1 - self.gamma) * state[index] + self.gamma * value
        return state[index]

    def forward(self, sn: Tensor, sd: Tensor, target: Tensor, index: Tensor | None = None) -> Tensor:
        check_float_tensor(sn, "sn", 1, "[B]", nonempty=True)
        check_float_tensor(sd, "sd", 1, "[B]", nonempty=True)
        if sd.shape != sn.shape or bool((sd <= 0).any()):
            raise ValueError(f"sd must be [B] = {tuple(sn.shape)} and > 0 (a mean of exp(attention logits))")
        y = check_binary(sn, target)
        if index is not None:
            index = check_index(index, len(sn), distinct=True, num_samples=self.num_samples)
        with torch.no_grad():
            self.alpha.clamp_(min=0)
        vsn = self._update("sn_state", sn, index).to(sn.dtype)
        vsd = self._update("sd_state", sd, index).to(sn.dtype).clamp(min=1e-8)
        h = torch.sigmoid(vsn / vsd)
        grad = h * (1 - h) * (sn / vsd - vsn / vsd ** 2 * sd)
        pos, neg = y, 1 - y
        a, b, alpha = self.a.to(sn.dtype), self.b.to(sn.dtype), self.alpha.to(sn.dtype)
        value = (_class_mean(2 * (h - a.detach()) * grad, pos) + _class_mean(2 * (h - b.detach()) * grad, neg)
                 + alpha.detach() * (_class_mean(grad, neg) - _class_mean(grad, pos))
                 + _class_mean((h - a) ** 2, pos) + _class_mean((h - b) ** 2, neg))
        reversed_alpha = _ReverseGradient.apply(alpha)
        dual = reversed_alpha * (self.margin + (b - a).detach()) - reversed_alpha ** 2 / 2
        return value + dual - dual.detach()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, gamma={self.gamma}, tracked_bags={len(self.sn_state)}"
