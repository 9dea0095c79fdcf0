"""Losses on logits for multi-class classification (kind ``logits``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import POSITIVE, Range, check_float_tensor, check_labels, check_positive, check_reduction
from .registry import Paper, Param, register

SMOOTHING = Range(0.0, 1.0, high_open=True)


def check_logits_target(logits: Tensor, target: Tensor) -> Tensor:
    """Checks ``logits[B, C]`` and ``target[B]``; returns the target as ``torch.long`` (any integer dtype in)."""
    check_float_tensor(logits, "logits", 2, "[B, C]", nonempty=True)
    return check_labels(target, "target", logits.shape[0], logits.shape[1])


def per_sample_ce(logits: Tensor, target: Tensor) -> Tensor:
    """``logsumexp(z) - z_y`` per row (>= 0), after checking the inputs."""
    target = check_logits_target(logits, target)
    return F.cross_entropy(logits, target, reduction="none")


def cross_entropy(logits: Tensor, target: Tensor, *, temperature: float = 1.0, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    r"""Softmax cross-entropy with an optional temperature and label smoothing.

    .. math::
        \ell_i = -\sum_k q_{ik} \log \operatorname{softmax}(z_i / T)_k, \qquad
        q_{ik} = (1-\varepsilon)\,[k = y_i] + \varepsilon / C

    ``temperature`` T > 1 softens the predicted distribution (and shrinks the gradient by 1/T);
    ``label_smoothing`` ε moves ε of the target mass uniformly over the C classes (Szegedy et al. 2016).
    Computed with ``log_softmax``, so logits of 1e4 are fine.
    """
    check_positive(temperature, "temperature")
    SMOOTHING.check(label_smoothing, "label_smoothing")
    check_reduction(reduction)
    return _cross_entropy(logits, target, temperature, label_smoothing, reduction)


def _cross_entropy(logits: Tensor, target: Tensor, temperature: float, label_smoothing: float,
                   reduction: str) -> Tensor:
    """:func:`cross_entropy` with its numbers already checked (the module checks them once, in ``__init__``)."""
    target = check_logits_target(logits, target)
    scaled = logits if temperature == 1 else logits / temperature  # skip a [B, C] copy in the common case
    return F.cross_entropy(scaled, target, label_smoothing=label_smoothing, reduction=reduction)


@register(
    "cross_entropy", family="classification", kind="logits", reduces_over="sample",
    paper=Paper("Rethinking the Inception Architecture for Computer Vision (label smoothing)", 2016,
                "Szegedy et al."),
    formula=r"\ell = -\sum_k q_k \log \mathrm{softmax}(z/T)_k,\; q_k = (1-\varepsilon)[k=y] + \varepsilon/C",
    params={
        "temperature": Param(1.0, 0.05, 10.0, "divides the logits before the softmax", log=True, valid=POSITIVE),
        "label_smoothing": Param(0.0, 0.0, 0.5, "target mass spread uniformly over the classes",
                                 valid=SMOOTHING),
    },
)
class CrossEntropy(nn.Module):
    """Module form of :func:`cross_entropy`; ``forward(logits[B, C], target[B])``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, temperature: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.label_smoothing = SMOOTHING.check(label_smoothing, "label_smoothing")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return _cross_entropy(logits, target, self.temperature, self.label_smoothing, self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, label_smoothing={self.label_smoothing}"
