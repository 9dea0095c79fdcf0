"""Label-distributionally robust losses (Zhu, Ying & Yang, ICML 2023): LDR-KL and adaptive ALDR-KL.

Both take the worst case over a distribution q on the labels, penalised by lam * KL(q || uniform):

    L_lam(f, y) = max_q sum_k q_k (c [k != y] + f_k - f_y) - lam KL(q || 1/K)
                = lam * log( (1/K) sum_k exp((c [k != y] + f_k - f_y) / lam) )

lam -> 0 is the Crammer-Singer hinge max_k (c [k != y] + f_k - f_y); lam -> inf the average margin; with
c = 0, L_lam = lam * CE(f / lam, y) - lam log K. Official code: Optimization-AI/ICML2023_LDR (loss.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    Range,
    check_choice,
    check_index,
    check_int,
    check_nonnegative,
    check_number,
    check_positive,
    check_reduction,
    reduce,
)
from .classification import check_logits_target
from .registry import Paper, Param, register

PAPER = Paper("Label Distributionally Robust Losses for Multi-class Classification: Consistency, Robustness "
              "and Adaptivity", 2023, "Zhu, Ying, Yang")
PREPROCESS = ("none", "normalize", "softplus")


def _check_preprocess(preprocess: str) -> str:
    return check_choice(preprocess, "preprocess", PREPROCESS)


def preprocess_scores(logits: Tensor, preprocess: str = "none") -> Tensor:
    """The official code's score preprocessing. ``"none"``: the logits as they are (the paper's formula);
    ``"normalize"``: divided by their row mean absolute value (ALDR-KL's code); ``"softplus"``: softplus,
    then divided by the row mean (LDR-KL's experiments; ALDR-KL on CIFAR-100). Normalised rows are
    scale-invariant; an all-zero row stays zero."""
    if preprocess == "none":
        return logits
    f = F.softplus(logits) if preprocess == "softplus" else logits
    scale = f.abs().mean(dim=1, keepdim=True)
    return f / scale.clamp_min(torch.finfo(f.dtype).tiny)


def _ldr_values(f: Tensor, target: Tensor, margin: float, lam: Tensor) -> Tensor:
    """``lam * log mean_k exp((c [k != y] + f_k - f_y) / lam)`` per row, with ``lam[B]``.

    Written as ``lam * CE(g / lam, y) - lam log K`` with ``g = f + c [k != y]`` (the f_y inside the bracket is
    the cross-entropy's own ``- g_y``): torch's fused, max-subtracting cross-entropy does the work, so lam =
    1e-3 and logits of 1e4 are fine, in fewer passes over [B, C] than the margins written out.
    """
    scaled = (f + margin) / lam[:, None] if margin else f / lam[:, None]
    if margin:  # the true class gets no margin
        scaled = scaled.scatter_add(1, target[:, None], (-margin / lam)[:, None].to(scaled.dtype))
    return lam * (F.cross_entropy(scaled, target, reduction="none") - math.log(f.shape[1]))


def ldr_kl(logits: Tensor, target: Tensor, *, lam: float = 10.0, margin: float = 0.1, preprocess: str = "none",
           reduction: str = "mean") -> Tensor:
    r"""LDR-KL loss: :math:`\lambda \log \frac1K \sum_k \exp\big((c\,[k\ne y] + f_k - f_y)/\lambda\big)`.

    ``lam`` (> 0) is the strength of the KL penalty: small lam approaches the Crammer-Singer hinge (only the
    worst class counts), large lam the average margin over all classes (all classes count alike, bounded
    gradient: robust to noisy labels). ``margin`` c >= 0 is added to every wrong class. With margin 0 it
    equals ``lam * cross_entropy(logits / lam) - lam * log K``. Defaults lam = 10, c = 0.1 are the official
    experiments'; those also preprocess the scores (``preprocess="softplus"``), while the default here
    applies the paper's formula to the raw logits (``preprocess="none"``). The official class's own
    defaults are c = 2, lam = 1.
    """
    check_positive(lam, "lam")
    check_nonnegative(margin, "margin")
    _check_preprocess(preprocess)
    check_reduction(reduction)
    target = check_logits_target(logits, target)
    f = preprocess_scores(logits, preprocess)
    lam_t = torch.full((len(f),), float(lam), dtype=f.dtype, device=f.device)
    return reduce(_ldr_values(f, target, float(margin), lam_t), reduction)


@register(
    "ldr_kl", family="classification", kind="logits", reduces_over="sample", paper=PAPER,
    formula=r"\ell = \lambda \log \frac1K \sum_k \exp\frac{c\,[k\ne y] + f_k - f_y}{\lambda}",
    params={"lam": Param(10.0, 0.05, 20.0, "KL penalty: small -> hinge on the worst class, large -> average "
                                          "margin", log=True, valid=POSITIVE),
            "margin": Param(0.1, 0.0, 2.0, "margin c added to every wrong class", valid=NONNEGATIVE)},
)
class LDRKL(nn.Module):
    """Module form of :func:`ldr_kl`; ``forward(logits[B, C], target[B])``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, lam: float = 10.0, margin: float = 0.1, preprocess: str = "none", reduction: str = "mean"):
        super().__init__()
        self.lam, self.margin = check_positive(lam, "lam"), check_nonnegative(margin, "margin")
        self.preprocess = _check_preprocess(preprocess)
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return ldr_kl(logits, target, lam=self.lam, margin=self.margin, preprocess=self.preprocess,
                      reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, margin={self.margin}, preprocess={self.preprocess!r}"


@register(
    "aldr_kl", family="classification", kind="logits", reduces_over="sample", paper=PAPER,
    formula=r"\ell_i = \lambda_i \log \frac1K \sum_k \exp\frac{c\,[k\ne y_i] + f_k - f_{y_i}}{\lambda_i}"
            r" - \frac{\alpha \log K}{2\lambda_0}(\lambda_i - \lambda_0)^2,\;"
            r"\lambda_i = \lambda_0\Big(1 - \frac{\mathrm{KL}(p_i \,\|\, 1/K)}{\alpha \log K}\Big)",
    params={"lam0": Param(10.0, 0.1, 20.0, "largest (and initial) lam of every sample", log=True, valid=POSITIVE),
            "alpha": Param(2.0, 1.1, 10.0, "lam stays in [lam0 (1 - 1/alpha), lam0]",
                           valid=Range(1.0, math.inf, low_open=True)),
            "margin": Param(0.1, 0.0, 2.0, "margin c added to every wrong class", valid=NONNEGATIVE)},
)
class ALDRKL(nn.Module):
    r"""ALDR-KL: LDR-KL with a lam per training sample that adapts to how confident the model is on it.

    For sample i, with :math:`p_i = \operatorname{softmax}(f_i/\lambda_i^{old})` (plus 1e-5, renormalised):

    .. math::
        \lambda_i = \lambda_0 - \lambda_0 \frac{\mathrm{KL}(p_i\,\|\,1/K)}{\alpha \log K},\qquad
        \ell_i = \lambda_i \log\frac1K\sum_k e^{(c[k\ne y_i] + f_k - f_{y_i})/\lambda_i}
                 - \frac{\alpha\log K}{2\lambda_0}(\lambda_i - \lambda_0)^2

    the closed-form maximiser over lam of :math:`-\lambda\,\mathrm{KL} - \frac{\alpha\log K}{2\lambda_0}
    (\lambda - \lambda_0)^2`, evaluated with p from the previous lam (as the official ``ALDRLoss_V1``).
    Confident samples (peaked p) get a smaller lam (closer to the hinge), uncertain ones a larger lam
    (closer to the average margin, which ignores a possibly wrong label). lam is detached (no gradient).

    ``forward(logits[B, C], target[B], index=None)``: ``index[B]`` are the sample ids; their lam lives in
    the buffer ``lam_state`` (initialised to lam0; grown on demand when ``num_samples`` is None) and is
    updated at every call with an index. Without ``index`` every sample uses lam_old = lam0 and nothing is
    stored. ``reset()`` puts every lam back to lam0. ``alpha`` must be > 1 so that lam stays positive.
    Experiment defaults of the official code: lam0 = 10, alpha = 2, margin = 0.1; its code always divides
    the scores by their mean absolute value (``preprocess="normalize"``, one keyword away; the one-step
    reference of ``ALDRLoss_V1`` is tested with it). The default here is the paper's formula on raw logits
    (``preprocess="none"``). Why: the paper defines the loss on the model's scores, and the normalisation
    makes the loss blind to the logits' scale, which would hide from the notebooks what lam does to
    confident (large-logit) samples.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    uses_index = True

    def __init__(self, lam0: float = 10.0, alpha: float = 2.0, margin: float = 0.1, preprocess: str = "none",
                 num_samples: int | None = None, reduction: str = "mean"):
        super().__init__()
        self.lam0 = check_positive(lam0, "lam0")
        self.alpha = check_number(alpha, "alpha (> 1 so that lam stays positive)", 1.0, low_open=True)
        self.margin = check_nonnegative(margin, "margin")
        self.preprocess = _check_preprocess(preprocess)
        self.reduction = check_reduction(reduction)
        self.num_samples = None if num_samples is None else check_int(num_samples, "num_samples (or None)", 1)
        self.register_buffer("lam_state", torch.full((num_samples or 0,), self.lam0))

    def reset(self) -> None:
        """Forget every sample's lam (back to lam0)."""
        self.lam_state.fill_(self.lam0)

    def _lam_old(self, index: Tensor | None, n: int, like: Tensor) -> Tensor:
        if index is None:
            return torch.full((n,), self.lam0, dtype=like.dtype, device=like.device)
        needed = int(index.max()) + 1  # n >= 1: an empty batch was refused
        if needed > len(self.lam_state):  # grow the state; new samples start at lam0
            grown = torch.full((needed,), self.lam0, dtype=self.lam_state.dtype, device=self.lam_state.device)
            grown[: len(self.lam_state)] = self.lam_state
            self.lam_state = grown
        return self.lam_state[index].to(like.dtype)

    def forward(self, logits: Tensor, target: Tensor, index: Tensor | None = None) -> Tensor:
        target = check_logits_target(logits, target)
        n, K = logits.shape
        if K < 2:
            raise ValueError(f"logits must have C >= 2 classes for ALDR-KL (lam uses log C), got shape {(n, K)}")
        if index is not None:
            check_index(index, n, num_samples=self.num_samples)
        f = preprocess_scores(logits, self.preprocess)
        log_k = math.log(K)
        with torch.no_grad():
            lam_old = self._lam_old(index, n, f)
            p = F.softmax(f / lam_old[:, None], dim=1) + 1e-5
            p = p / p.sum(dim=1, keepdim=True)
            kl = (p * (K * p).log()).sum(dim=1)
            lam = self.lam0 - self.lam0 * kl / (self.alpha * log_k)
            extra = -(self.alpha * log_k / (2 * self.lam0)) * (lam - self.lam0).square()
            if index is not None:
                self.lam_state[index] = lam.to(self.lam_state.dtype)
        values = _ldr_values(f, target, self.margin, lam) + extra
        return reduce(values, self.reduction)

    def extra_repr(self) -> str:
        return (f"lam0={self.lam0}, alpha={self.alpha}, margin={self.margin}, preprocess={self.preprocess!r}, "
                f"tracked_samples={len(self.lam_state)}")
