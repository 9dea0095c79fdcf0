"""The Z-loss (de Brébisson & Vincent 2016): a softplus on the z-score of the true logit."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import POSITIVE, REAL, check_number, check_positive, check_reduction, reduce
from .classification import check_logits_target
from .registry import Paper, Param, register


def true_class_zscore(logits: Tensor, target: Tensor) -> Tensor:
    r"""The z-score of the true logit in its row: :math:`(z_y - \mu)/\sigma` with the population
    standard deviation (1/C). Rows with zero spread (all logits equal, or C = 1) get z = 0.

    Invariant to ``a * logits + b`` for every a > 0 exactly (no epsilon inside the square root),
    bounded by :math:`\sqrt{C-1}` in absolute value.
    """
    target = check_logits_target(logits, target)
    centred = logits - logits.mean(dim=1, keepdim=True)  # two-pass variance: no cancellation in float32
    var = centred.square().mean(dim=1)
    # Zero spread decided exactly on the logits: the float mean of equal logits need not equal them (ten float32
    # 0.1s), which left a tiny variance and a z of -1 where equal logits carry no information (z = 0).
    plain = logits.detach()
    spread = plain.amax(dim=1) > plain.amin(dim=1)  # two reductions: 13x cheaper than aminmax(dim=1) on CPU
    # Where the spread is zero use a dummy 1 so neither sqrt nor the division sees 0 (their gradients
    # would be inf there, and inf * 0 is NaN even in the branch torch.where discards).
    sigma = torch.where(spread, var, 1.0).sqrt()
    centred_true = centred.gather(1, target[:, None]).squeeze(1)
    return torch.where(spread, centred_true / sigma, 0.0)


def zscore_loss(z: Tensor, a: float, b: float) -> Tensor:
    """:math:`\\operatorname{softplus}(a(b - z))/a` elementwise: the Z-loss as a function of the z-score."""
    return F.softplus(b - z, beta=a)  # softplus(a x)/a in one op (torch's beta; linear past a x > 20 alike)


def z_loss(logits: Tensor, target: Tensor, *, a: float = 1.0, b: float = 2.0, reduction: str = "mean") -> Tensor:
    r"""Z-loss: :math:`\frac1a \operatorname{softplus}\big(a (b - z_y)\big)`, :math:`z_y = (o_y - \mu)/\sigma`.

    .. math::
        \mu = \tfrac1C \sum_k o_k,\quad \sigma^2 = \tfrac1C \sum_k (o_k - \mu)^2,\quad
        \ell = \tfrac1a \log\big(1 + e^{a(b - z_y)}\big)

    A member of the spherical family: it depends on the logits only through their sum, their squared norm
    and the true logit. It is exactly invariant to shifting all logits and to scaling them by a positive
    factor (cross-entropy is only shift-invariant), so the model cannot lower it by inflating its logits.
    ``a`` (sharpness, > 0): a -> inf gives the hinge max(0, b - z_y). ``b`` (location): the z-score beyond
    which a sample stops mattering; :math:`|z_y| \le \sqrt{C-1}`, so choose b relative to that
    (b >= sqrt(C-1) never lets a sample go). The authors tuned a, b per data set and published no default;
    a = 1, b = 2 are ours. Rows with all logits equal give :math:`z_y = 0`, loss :math:`\operatorname{softplus}(ab)/a`.
    The gradient with respect to z_y is :math:`-\sigma(a(b - z_y)) \in (-1, 0)`.
    """
    check_positive(a, "a")
    check_number(b, "b")
    check_reduction(reduction)
    return _z_loss(logits, target, a, b, reduction)


def _z_loss(logits: Tensor, target: Tensor, a: float, b: float, reduction: str) -> Tensor:
    """:func:`z_loss` with its numbers already checked (the module checks them once, in ``__init__``)."""
    return reduce(zscore_loss(true_class_zscore(logits, target), a, b), reduction)


@register(
    "z_loss", family="classification", kind="logits", reduces_over="sample",
    paper=Paper("The Z-loss: a shift and scale invariant classification loss belonging to the Spherical Family",
                2016, "de Brébisson, Vincent"),
    formula=r"\ell = \tfrac1a \log\big(1 + e^{a(b - z_y)}\big),\; z_y = \frac{o_y - \mu(o)}{\sigma(o)}",
    params={"a": Param(1.0, 0.1, 20.0, "sharpness: large a approaches the hinge max(0, b - z_y)", log=True,
                       valid=POSITIVE),
            "b": Param(2.0, -1.0, 4.0, "z-score of the true logit where the loss starts to flatten", valid=REAL)},
)
class ZLoss(nn.Module):
    """Module form of :func:`z_loss`; ``forward(logits[B, C], target[B])``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, a: float = 1.0, b: float = 2.0, reduction: str = "mean"):
        super().__init__()
        self.a = check_positive(a, "a")
        self.b = check_number(b, "b")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return _z_loss(logits, target, self.a, self.b, self.reduction)

    def extra_repr(self) -> str:
        return f"a={self.a}, b={self.b}"
