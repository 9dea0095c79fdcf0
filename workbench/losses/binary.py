"""Losses for binary and imbalanced problems (kind ``binary``): ``forward(logits[B], target[B] in {0, 1})``.

AnyLoss turns a confusion-matrix metric into a loss, EnsLoss draws a random calibrated loss derivative at
every step, AUC-M and MW optimise the area under the ROC curve. All four are batch-level (the value
depends on the whole batch), so none has a per-sample ``reduction``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    REAL,
    check_binary_labels,
    check_choice,
    check_flag,
    check_float_tensor,
    check_in_range,
    check_nonnegative,
    check_number,
    check_positive,
    check_reduction,
)
from .registry import Paper, Param, register


def check_binary(logits: Tensor, target: Tensor) -> Tensor:
    """Raw scores ``logits[B]`` and labels ``target[B]`` in {0, 1}; returns the target as the logits' dtype."""
    check_float_tensor(logits, "logits", 1, "[B]", nonempty=True)
    return check_binary_labels(target, "target", len(logits)).to(logits.dtype)


# --- AnyLoss ---------------------------------------------------------------------------------------

METRICS = ("accuracy", "f1", "fbeta", "balanced_accuracy", "gmean")


def amplified(logits: Tensor, L: float) -> Tensor:
    r"""AnyLoss's amplifying sigmoid of the probability: :math:`A(p) = 1/(1 + e^{-L(p - 1/2)})`, p = sigmoid(logits).
    Pushes p towards 0 or 1 (A(1/2) = 1/2), so sums of A over a batch approximate confusion-matrix counts."""
    return torch.sigmoid(L * (torch.sigmoid(logits) - 0.5))


def soft_confusion(logits: Tensor, target: Tensor, L: float) -> dict[str, Tensor]:
    """Soft TP, FP, FN, TN and the class counts P, N of a batch, with :func:`amplified` predictions."""
    y = check_binary(logits, target)
    y_hat = amplified(logits, L)
    tp = (y * y_hat).sum()
    pos, predicted = y.sum(), y_hat.sum()
    n = torch.tensor(float(len(y)), dtype=y.dtype, device=y.device)
    return {"tp": tp, "fp": predicted - tp, "fn": pos - tp, "tn": n - pos - predicted + tp, "P": pos, "N": n - pos}


def anyloss(logits: Tensor, target: Tensor, *, metric: str = "f1", L: float = 73.0, beta: float = 1.0,
            eps: float = 1e-5) -> Tensor:
    r"""AnyLoss (Han, Moniz & Chawla, KDD 2024): 1 - metric on a soft confusion matrix of the batch.

    :math:`\hat y_i = A(\sigma(z_i))` with the amplifying sigmoid :math:`A(p) = 1/(1+e^{-L(p-1/2)})`;
    TP = :math:`\sum y\hat y`, FP = :math:`\sum \hat y` - TP, FN = P - TP, TN = N - :math:`\sum\hat y` + TP.

    - ``accuracy``: 1 - (TP + TN)/B
    - ``fbeta`` / ``f1``: :math:`1 - (1+\beta^2)\mathrm{TP}/(\beta^2 P + \sum\hat y + s)` (f1: beta = 1)
    - ``balanced_accuracy``: :math:`1 - (N\cdot\mathrm{TP} + P\cdot\mathrm{TN})/(2PN + s)`
    - ``gmean``: :math:`1 - \sqrt{\mathrm{TP}\cdot\mathrm{TN}/(PN + s) + 10^{-12}}` (the square root of the
      original paper's notebooks; the authors' extension code drops it)

    s = ``eps`` = 1e-5 (the authors' extension code; eps = 0 is the paper's formula, undefined for a batch
    without positives). ``L`` = 73 (default, the original notebooks; about the largest
    value before 1 - A(1) = e^{-L/2} falls below float64 resolution): larger L approximates the hard metric
    better but gives gradient only near p = 1/2. A batch with no positives (or no negatives) gives a metric
    of 0 for F1, balanced accuracy and G-mean, so loss 1 up to s, with zero gradient: never NaN. Use
    batches large enough to hold positives (or a sampler that guarantees them).
    """
    _check_anyloss(metric, L, beta, eps)
    c = soft_confusion(logits, target, float(L))
    if metric == "accuracy":
        score = (c["tp"] + c["tn"]) / max(len(logits), 1)
    elif metric in ("f1", "fbeta"):
        b2 = 1.0 if metric == "f1" else float(beta) ** 2
        score = (1 + b2) * c["tp"] / (b2 * c["P"] + c["tp"] + c["fp"] + eps)
    elif metric == "balanced_accuracy":
        score = (c["N"] * c["tp"] + c["P"] * c["tn"]) / (2 * c["P"] * c["N"] + eps)
    else:  # gmean; the 1e-12 keeps the square root's gradient finite when TP * TN = 0
        score = torch.sqrt(c["tp"] * c["tn"] / (c["P"] * c["N"] + eps) + 1e-12)
    return 1.0 - score


def _check_anyloss(metric: str, L: float, beta: float, eps: float) -> None:
    check_choice(metric, "metric", METRICS)
    check_positive(L, "L")
    check_positive(beta, "beta")
    check_nonnegative(eps, "eps")


# --- EnsLoss ---------------------------------------------------------------------------------------


def inverse_box_cox(z: Tensor, lam: float) -> Tensor:
    """:math:`BC^{-1}(z) = e^z` for lam = 0, else :math:`\\max(1 + \\lambda z, 0)^{1/\\lambda}`."""
    if lam == 0:
        return z.exp()
    return (1 + lam * z).clamp_min(0) ** (1 / lam)


def ensloss_derivatives(margins: Tensor, *, lam: float = 0.0, clip: float = -1.0, tail: bool = True,
                        eps: float = 1e-6, generator: torch.Generator | None = None) -> Tensor:
    r"""EnsLoss's random loss derivatives :math:`g_i = \phi'(s_i)` for the margins :math:`s_i = y_i f_i`.

    Draw :math:`\varepsilon_i \sim N(0, 1)`, :math:`r_i = -BC^{-1}_\lambda(\varepsilon_i)` (lam = 0: negative
    log-normal), sort ascending, clip at ``clip``, give the most negative derivative to the smallest margin
    (so g is non-decreasing in s: the implied loss is convex), divide by s where s > 1 (``tail``: |g| <= 1/s,
    a superlinear tail) and subtract ``eps`` (g < 0 everywhere: classification-calibrated). The draws use
    ``generator`` on its device (the CPU without one, so results do not depend on the margins' device) and move
    to the margins' device.
    """
    n = len(margins)
    # On the generator's device (the CPU without one, so results do not depend on the margins' device).
    device = generator.device if generator is not None else "cpu"
    eps_draw = torch.randn(n, generator=generator, dtype=torch.float64, device=device).to(margins.device, margins.dtype)
    r = (-inverse_box_cox(eps_draw, lam)).sort().values.clamp_min(clip)
    order = margins.detach().argsort(stable=True)
    g = torch.empty_like(r).scatter_(0, order, r)  # i-th smallest margin gets the i-th smallest derivative
    if tail:
        s = margins.detach()
        g = torch.where(s > 1, g / s.clamp_min(1), g)
    return g - eps


# --- AUC losses ------------------------------------------------------------------------------------


class _ReverseGradient(torch.autograd.Function):
    """Identity forward, negated gradient backward: a descent optimiser then ascends in this parameter."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def pairwise_auc_surrogate(logits: Tensor, target: Tensor, scale: float = 1.0) -> Tensor:
    r"""MW loss: :math:`\frac{1}{|P||N|}\sum_{i\in P}\sum_{j\in N} \log(1 + e^{-c(s_i - s_j)})`, c = ``scale``.

    Binary cross-entropy on every positive-minus-negative score difference, an upper bound of
    (1 - AUC) log 2. No positive or no negative: 0 with zero gradient.
    """
    y = check_binary(logits, target).bool()
    pos, neg = logits[y], logits[~y]
    if len(pos) == 0 or len(neg) == 0:
        return logits.sum() * 0.0
    return F.softplus(-scale * (pos[:, None] - neg[None, :])).mean()


@register(
    "bce", family="binary", kind="binary", reduces_over="sample",
    paper=Paper("The Regression Analysis of Binary Sequences (logistic regression)", 1958, "Cox"),
    formula=r"\ell_i = -w\,y_i \log\sigma(z_i) - (1 - y_i)\log(1 - \sigma(z_i))",
    params={"pos_weight": Param(1.0, 0.1, 50.0, "weight w of the positive class (imbalance: about #neg/#pos)",
                                log=True, valid=POSITIVE)},
)
class BCE(nn.Module):
    """Binary cross-entropy on raw scores (``F.binary_cross_entropy_with_logits``): the baseline the
    imbalanced-binary losses are compared with. ``pos_weight`` w multiplies the positives' term.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, pos_weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.pos_weight = check_positive(pos_weight, "pos_weight")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        y = check_binary(logits, target)
        weight = torch.tensor(self.pos_weight, dtype=logits.dtype, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"pos_weight={self.pos_weight}"


@register(
    "anyloss", family="binary", kind="binary", reduces_over="batch",
    paper=Paper("AnyLoss: Transforming Classification Metrics into Loss Functions", 2024, "Han, Moniz, Chawla"),
    formula=r"\ell = 1 - \mathrm{metric}(\mathrm{TP}, \mathrm{FP}, \mathrm{FN}, \mathrm{TN}),\;"
            r"\mathrm{TP} = \sum_i y_i A(\sigma(z_i)),\; A(p) = \frac{1}{1 + e^{-L(p - 1/2)}}",
    params={"metric": Param("f1", doc=f"one of {METRICS}"),
            "L": Param(73.0, 1.0, 100.0, "amplification: larger is closer to the hard metric, flatter gradient",
                       valid=POSITIVE),
            "beta": Param(1.0, 0.1, 5.0, "F-beta's beta (metric='fbeta'): recall counts beta^2 times precision",
                          log=True, valid=POSITIVE)},
)
class AnyLoss(nn.Module):
    """Module form of :func:`anyloss`; ``forward(logits[B], target[B])`` -> scalar (batch-level).

    Reduces over the batch (a metric of the whole batch): no ``reduction``.
    """

    def __init__(self, metric: str = "f1", L: float = 73.0, beta: float = 1.0, eps: float = 1e-5):
        super().__init__()
        _check_anyloss(metric, L, beta, eps)
        self.metric, self.L, self.beta, self.eps = metric, float(L), float(beta), float(eps)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return anyloss(logits, target, metric=self.metric, L=self.L, beta=self.beta, eps=self.eps)

    def extra_repr(self) -> str:
        return f"metric={self.metric!r}, L={self.L}, beta={self.beta}, eps={self.eps}"


@register(
    "ensloss", family="binary", kind="binary", reduces_over="batch",
    paper=Paper("EnsLoss: Stochastic Calibrated Loss Ensembles for Preventing Overfitting in Classification",
                2025, "Dai et al."),
    formula=r"\nabla_{f_i} = \frac{y_i\, g_i}{B},\; g = \mathrm{sort}\big(\max(-BC^{-1}_\lambda(\varepsilon), -1)\big)"
            r"\text{ matched to } \mathrm{sort}(y_i f_i),\; \varepsilon \sim N(0, 1)",
    params={"lam": Param(0.0, -1.0, 1.0, "Box-Cox lambda of the derivative law: 0 is a negative log-normal",
                         valid=REAL)},
)
class EnsLoss(nn.Module):
    r"""EnsLoss (Dai et al., ICML 2025): at every call a fresh random convex, calibrated loss, given by its
    derivative only.

    With labels :math:`y = 2t - 1` and margins :math:`s_i = y_i f_i`, :func:`ensloss_derivatives` draws
    :math:`g_i = \phi'(s_i)`: negative, non-decreasing in s (convex phi), at least ``clip`` = -1, at most
    1/s in size beyond s = 1. The returned value is :math:`\frac1B\sum_i g_i s_i` with g detached, so the
    gradient is :math:`g_i y_i / B`, exactly the official code (statmlben/ensLoss ``ensLoss``). **The value
    itself means nothing** (it can be negative); only its gradient trains. So the loss cannot be
    gradient-checked against finite differences: its tests check the derivative's properties instead.

    ``lam``: Box-Cox lambda of the derivative distribution (0, the default, gives -exp(N(0, 1))); the
    official code can resample lam from U(-1, 1) every few epochs, off by default, not done here.
    ``generator``: a ``torch.Generator`` (CPU) for reproducible draws; None uses torch's global RNG.
    Works on any device (the official code hard-codes CUDA). Binary only, as in the paper.

    Reduces over the batch (the derivatives are matched to the batch's sorted margins): no ``reduction``.
    """

    def __init__(self, lam: float = 0.0, clip: float = -1.0, tail: bool = True, eps: float = 1e-6,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_number(lam, "lam")
        check_number(clip, "clip (derivatives are negative)", high=0.0, high_open=True)
        check_nonnegative(eps, "eps")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.lam, self.clip, self.tail, self.eps = float(lam), float(clip), check_flag(tail, "tail"), float(eps)
        self.generator = generator

    def margins(self, logits: Tensor, target: Tensor) -> Tensor:
        """:math:`s_i = (2t_i - 1) f_i`."""
        return (2 * check_binary(logits, target) - 1) * logits

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        s = self.margins(logits, target)
        g = ensloss_derivatives(s, lam=self.lam, clip=self.clip, tail=self.tail, eps=self.eps,
                                generator=self.generator)
        return (g.detach() * s).mean() if len(s) else logits.sum() * 0.0

    def extra_repr(self) -> str:
        return f"lam={self.lam}, clip={self.clip}, tail={self.tail}, eps={self.eps}"


@register(
    "auc_margin", family="binary", kind="binary", reduces_over="batch",
    paper=Paper("Large-scale Robust Deep AUC Maximization: A New Surrogate Loss and Empirical Studies on "
                "Medical Image Classification", 2021, "Yuan, Yan, Sonka, Yang"),
    formula=r"\min_{a,b}\max_{\alpha\ge0} (1-p)E[(h-a)^2 1_{y=1}] + pE[(h-b)^2 1_{y=0}]"
            r" + 2\alpha\big(p(1-p)m + E[p h 1_{y=0} - (1-p) h 1_{y=1}]\big) - p(1-p)\alpha^2",
    params={"margin": Param(1.0, 0.0, 2.0, "desired gap between mean positive and mean negative score",
                            valid=NONNEGATIVE)},
)
class AUCMargin(nn.Module):
    r"""AUC-M, the AUC margin loss (Yuan et al., ICCV 2021), version v1 of LibAUC's ``AUCMLoss``.

    With scores :math:`h = \sigma(z)` in [0, 1], positive ratio p (of the batch, or ``imratio``):

    .. math::
        L = (1-p)E[(h-a)^2 1_{y=1}] + pE[(h-b)^2 1_{y=0}]
            + 2\alpha\big(p(1-p)m + E[p\,h\,1_{y=0} - (1-p)\,h\,1_{y=1}]\big) - p(1-p)\alpha^2

    (E: mean over the whole batch). Its saddle point value is
    :math:`p(1-p)[\mathrm{Var}_+(h) + \mathrm{Var}_-(h) + (m - \mu_+ + \mu_-)_+^2]`: tight classes,
    mean positive score above the mean negative one by the ``margin`` m (default 1.0, LibAUC's).

    ``a``, ``b`` and ``alpha`` are ``nn.Parameter`` (initialised 0), so ``model.parameters()`` plus
    ``loss.parameters()`` is all an optimiser needs: the model, a and b descend; alpha must *ascend* (it is
    the max player). Rather than needing LibAUC's PESG optimiser, alpha's gradient is reversed inside the
    loss (a gradient-reversal layer), so any descent optimiser performs the ascent step, and alpha is
    projected back to >= 0 at the start of every forward (PESG's projection, done lazily). With ``imratio``
    None (default) p is the batch's positive fraction at every call (LibAUC's ``auto=True`` behaviour). A
    batch with no positives or no negatives has p(1 - p) = 0 and gives 0 with zero gradient (LibAUC warns).

    ``closed_form=True`` (not in LibAUC) puts a, b and alpha at their optimum for the batch instead of learning
    them (a = mean positive score, b = mean negative score, alpha = max(m - a + b, 0)), i.e. returns the
    saddle value itself. Same model gradient as the min-max at its saddle point, and no lagging a, b: with Adam
    at lr 0.01 the learned a, b move about 0.01 per step and the scores, pulled towards them from 0, can
    collapse on rare positives (notebook 03). The parameters then stay unused.

    Reduces over the batch (means and the positive ratio of the batch): no ``reduction``.
    """

    def __init__(self, margin: float = 1.0, imratio: float | None = None, closed_form: bool = False):
        super().__init__()
        check_nonnegative(margin, "margin")
        if imratio is not None:
            check_in_range(imratio, "imratio (or None)", 0.0, 1.0, low_open=True, high_open=True)
        self.margin, self.imratio = float(margin), imratio
        self.closed_form = check_flag(closed_form, "closed_form")
        self.a = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.zeros(()))
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        y = check_binary(logits, target)
        with torch.no_grad():
            self.alpha.clamp_(min=0)  # projection onto alpha >= 0
        h = torch.sigmoid(logits)
        p = y.mean() if self.imratio is None else torch.tensor(self.imratio, dtype=h.dtype, device=h.device)
        if self.closed_form:
            return self._saddle_value(h, y.bool(), p)
        alpha = _ReverseGradient.apply(self.alpha)
        pos, neg = y, 1 - y
        return ((1 - p) * ((h - self.a) ** 2 * pos).mean() + p * ((h - self.b) ** 2 * neg).mean()
                + 2 * alpha * (p * (1 - p) * self.margin + (p * h * neg - (1 - p) * h * pos).mean())
                - p * (1 - p) * alpha ** 2)

    def _saddle_value(self, h: Tensor, pos: Tensor, p: Tensor) -> Tensor:
        """:math:`p(1-p)[\\mathrm{Var}_+ + \\mathrm{Var}_- + (m - \\mu_+ + \\mu_-)_+^2]` on the batch."""
        if pos.all() or not pos.any():
            return h.sum() * 0.0
        hp, hn = h[pos], h[~pos]
        gap = F.relu(self.margin - hp.mean() + hn.mean())
        return p * (1 - p) * (hp.var(unbiased=False) + hn.var(unbiased=False) + gap ** 2)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, imratio={self.imratio}, closed_form={self.closed_form}"


@register(
    "mw", family="binary", kind="binary", reduces_over="batch",
    paper=Paper("Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval", 2025,
                "Sheikholeslami et al."),
    formula=r"\ell = \frac{1}{|P||N|}\sum_{i\in P}\sum_{j\in N}\log\big(1 + e^{-\,\mathrm{scale}\,(s_i - s_j)}\big)",
    params={"scale": Param(1.0, 0.1, 10.0, "multiplies every score difference", log=True, valid=POSITIVE)},
)
class MW(nn.Module):
    r"""MW loss: binary cross-entropy on every positive-minus-negative score difference (the Mann-Whitney
    U statistic, i.e. AUC, made smooth); see :func:`pairwise_auc_surrogate`.

    Pairs every positive with every negative of the batch ("global" pairing). The paper's retrieval
    setting (positives on the diagonal of a query-passage similarity matrix) and any temperature it uses
    are not confirmed by code; ``scale`` (default 1) plays that role. Invariant to adding a constant to all
    scores. No positives or no negatives: 0 with zero gradient.

    Reduces over the batch (every positive-negative pair of the batch): no ``reduction``.
    """

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = check_positive(scale, "scale")

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return pairwise_auc_surrogate(logits, target, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
