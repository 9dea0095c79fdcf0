"""Margin-softmax heads on the hypersphere (kind ``margin``).

A head owns the class weights ``weight[C, D]`` and turns embeddings into scaled, margin-adjusted
logits with ``.logits(embeddings, labels)``; ``forward`` is plain cross-entropy on those logits.
The margin lives in the logits, cross-entropy stays cross-entropy (as in insightface).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    ANGLE,
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    check_choice,
    check_flag,
    check_float_tensor,
    check_int,
    check_labels,
    check_nonnegative,
    check_positive,
    check_reduction,
)
from .registry import Paper, Param, register
from .similarity import cosine_similarity_matrix, norm_eps, normalize, pair_masks, vector_norm


def check_embedding_width(embeddings: Tensor, embedding_dim: int) -> None:
    """``embeddings[B, embedding_dim]``: a float matrix, at least one row, finite, of the width a loss that owns
    per-class parameters was built for."""
    check_float_tensor(embeddings, "embeddings", 2, f"[B, {embedding_dim}]", nonempty=True)
    if embeddings.shape[1] != embedding_dim:
        raise ValueError(f"embeddings must have shape [B, {embedding_dim}] (embedding_dim), "
                         f"got shape {tuple(embeddings.shape)}")


class MarginHead(nn.Module):
    """Shared plumbing: class weights, cosine logits, validation. Subclasses adjust the target logit."""

    def __init__(self, num_classes: int, embedding_dim: int, scale: float, reduction: str = "mean"):
        super().__init__()
        self.num_classes, self.embedding_dim = check_int(num_classes, "num_classes", 2), check_int(
            embedding_dim, "embedding_dim", 1)
        self.scale = check_positive(scale, "scale")
        self.reduction = check_reduction(reduction)
        # Small random directions (std 0.01, as in the ElasticFace code); only directions matter, and
        # with Adam small rows re-orient fast early on, which spreads the classes evenly in angle.
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_dim) * 0.01)

    def cosine(self, embeddings: Tensor) -> Tensor:
        """cos θ between each embedding and each class weight, shape [B, C]."""
        check_embedding_width(embeddings, self.embedding_dim)
        # Normalise after the product: dividing the [B, C] result by ‖x‖ is the same as normalising the
        # [B, D] embeddings first, and cheaper forward and backward when C < D.
        raw = embeddings @ normalize(self.weight.to(embeddings.dtype), dim=1).T
        return raw / vector_norm(embeddings, dim=1).clamp(min=norm_eps(embeddings.dtype))

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        """Margin-adjusted cosines (before the scale); identity for heads without a margin."""
        return cosine

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        """Scaled logits ``s · adjust(cos θ)``; ``labels=None`` gives the margin-free logits used to predict."""
        cosine = self.cosine(embeddings)
        if labels is not None:
            cosine = self.adjust(cosine, check_labels(labels, "labels", embeddings.shape[0], self.num_classes))
        return self.scale * cosine

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        if labels is None:
            raise ValueError("labels must be a tensor of shape [B]; a margin head needs the targets")
        logits = self.logits(embeddings, labels)  # checks the labels: any integer dtype, made long below
        return F.cross_entropy(logits, labels.long(), reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, scale={self.scale}"


def normface_scale_bound(num_classes: int, probability: float) -> float:
    r"""NormFace's lower bound on the scale needed for softmax probability ``probability`` on the
    target when features sit on their class weights: :math:`s \ge \frac{C-1}{C}\log\frac{(C-1)P}{1-P}`."""
    c, p = num_classes, probability
    return (c - 1) / c * math.log((c - 1) * p / (1 - p))


@register(
    "normface", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("NormFace: L2 Hypersphere Embedding for Face Verification", 2017, "Wang, Xiang, Cheng, Yuille"),
    formula=r"\ell = -\log \frac{e^{s\cos\theta_y}}{\sum_j e^{s\cos\theta_j}},\;"
            r"\cos\theta_j = \frac{x^\top w_j}{\lVert x\rVert\,\lVert w_j\rVert}",
    params={"scale": Param(20.0, 1.0, 64.0, "s: logits are s·cos θ; too small caps the reachable probability",
                           log=True, valid=POSITIVE)},
)
class NormFace(MarginHead):
    r"""NormFace: cross-entropy on cosine logits :math:`s\cos\theta_j` (features and weights L2-normalised,
    no bias).

    Without the scale, cosine logits live in [-1, 1] and the softmax can never become confident;
    the paper's bound :func:`normface_scale_bound` gives the smallest useful ``scale`` (about 6 for 10
    classes at p = 0.99). Default ``scale=20`` matches pytorch-metric-learning's
    ``NormalizedSoftmaxLoss(temperature=0.05)``. ``learn_scale=True`` makes s a parameter.

    Reduction (every margin head): ``"none"`` gives one cross-entropy per embedding [B]; ``"mean"`` averages
    them over all B embeddings.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 20.0, learn_scale: bool = False,
                 reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, reduction)
        if check_flag(learn_scale, "learn_scale"):
            self.scale = nn.Parameter(torch.tensor(float(scale)))


# --- SphereFace, CosFace, ArcFace, ElasticFace, UNPG -------------------------------------------------

def cos_margin(cosine: Tensor, labels: Tensor, margin: float | Tensor) -> Tensor:
    """CosFace's additive cosine margin: ``cos θ_y - m`` on the target column (m may be per sample [B, 1])."""
    index = labels[:, None]
    return cosine.scatter(1, index, cosine.gather(1, index) - margin)


def arc_margin(cosine: Tensor, labels: Tensor, margin: float | Tensor, easy_margin: bool = False) -> Tensor:
    r"""ArcFace's additive angular margin on the target column, as insightface computes it.

    :math:`\cos(\theta+m) = \cos\theta\cos m - \sin\theta\sin m` (no acos, so no infinite slope at
    cos = ±1). Where θ + m would pass π (cos θ <= cos(π - m)) the target becomes
    :math:`\cos\theta - m\sin m`, which keeps it decreasing in θ; ``easy_margin=True`` instead applies
    the margin only where cos θ > 0. ``margin`` may be a per-sample column [B, 1] (ElasticFace).
    """
    trig = torch if isinstance(margin, Tensor) else math  # per-sample margins, or plain floats (faster)
    cos_m, sin_m = trig.cos(margin), trig.sin(margin)
    target = cosine.gather(1, labels[:, None])
    # the floor keeps sqrt's slope finite at cos = ±1; 1e-12 is 0 in float16, so it is at least the dtype's tiny
    sine = (1 - target * target).clamp(min=max(1e-12, torch.finfo(target.dtype).tiny)).sqrt()
    shifted = target * cos_m - sine * sin_m
    if easy_margin:
        shifted = torch.where(target > 0, shifted, target)
    else:
        shifted = torch.where(target > -cos_m, shifted, target - margin * sin_m)  # cos(π - m) = -cos m
    return cosine.scatter(1, labels[:, None], shifted)


def sphereface_psi(cosine: Tensor, margin: int) -> Tensor:
    r""":math:`\psi(\theta) = (-1)^k\cos(m\theta) - 2k` for :math:`\theta\in[k\pi/m, (k+1)\pi/m]`: SphereFace's
    monotone extension of cos(mθ) over [0, π]. cos(mθ) is the Chebyshev polynomial T_m(cos θ), exact
    and differentiable; only the branch k uses the angle."""
    with torch.no_grad():
        k = torch.floor(margin * torch.acos(cosine.clamp(-1, 1)) / math.pi).clamp_(max=margin - 1)
    prev, cur = torch.ones_like(cosine), cosine
    for _ in range(margin - 1):
        prev, cur = cur, 2 * cosine * cur - prev
    return torch.where(k.remainder(2) == 0, cur, -cur) - 2 * k


def sphereface_lambda(iteration: int, base: float = 1000.0, gamma: float = 0.12, power: float = 1.0,
                      lambda_min: float = 5.0) -> float:
    r"""The official SphereFace annealing weight at training iteration t (Caffe ``margin_inner_product_layer``:
    :math:`\lambda = \max(\text{base}\,(1+\gamma t)^{-\text{power}}, \lambda_{min})`, defaults of
    ``sphereface_model.prototxt``)."""
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        raise ValueError(f"iteration must be an int >= 0, got {iteration!r}")
    return max(base * (1.0 + gamma * iteration) ** (-power), lambda_min)


@register(
    "sphereface", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("SphereFace: Deep Hypersphere Embedding for Face Recognition", 2017,
                "Liu, Wen, Yu, Li, Raj, Song"),
    formula=r"\ell = -\log\frac{e^{\lVert x\rVert\psi(\theta_y)}}{e^{\lVert x\rVert\psi(\theta_y)}"
            r" + \sum_{j\neq y} e^{\lVert x\rVert\cos\theta_j}},\; \psi(\theta) = (-1)^k\cos(m\theta) - 2k",
    params={"margin": Param(4, 1, 6, "m: multiplicative angular margin (integer)", valid=POSITIVE_INT),
            "lam": Param(0.0, 0.0, 10.0, "annealing λ: target (λ cos θ + ψ(θ))/(1 + λ); 0 = pure A-Softmax",
                         valid=NONNEGATIVE)},
)
class SphereFace(MarginHead):
    r"""SphereFace / A-Softmax (Liu et al. 2017): multiplicative angular margin, feature norm kept.

    Class weights are normalised but the embedding norm is not: logits are :math:`s\lVert x\rVert\cos\theta_j`
    and the target one :math:`s\lVert x\rVert\,(\lambda\cos\theta_y + \psi(\theta_y))/(1+\lambda)`, with
    :func:`sphereface_psi`. ``lam`` is the training-time annealing of the official recipe. Default
    ``lam=0``: the paper's A-Softmax loss itself, as pytorch-metric-learning's ``SphereFaceLoss(margin=4,
    scale=1)``, whose value this equals. ``anneal=True`` follows the official Caffe recipe instead
    (``margin_inner_product_layer``, ``sphereface_model.prototxt``: base 1000, gamma 0.12, power 1,
    lambda_min 5): every training-mode ``forward`` counts an iteration t and uses
    :func:`sphereface_lambda` (t), :math:`\lambda = \max(1000/(1+0.12\,t), 5)`, never below 5, in place of
    ``lam``. Why not the default: the schedule is tuned for ~28k iterations of CASIA-WebFace; in a notebook
    run of a few hundred steps λ stays above 25, so the target logit is mostly the plain cosine and the
    margin that the notebooks study would hardly act.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, margin: int = 4, scale: float = 1.0, lam: float = 0.0,
                 anneal: bool = False, reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, reduction)
        self.margin, self.lam = check_int(margin, "margin (SphereFace's m)", 1), check_nonnegative(lam, "lam")
        self.anneal = check_flag(anneal, "anneal")
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    @property
    def current_lam(self) -> float:
        """The λ in use: ``lam``, or with ``anneal`` the official schedule at the iterations counted so far."""
        return sphereface_lambda(int(self.iteration)) if self.anneal else self.lam

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        if self.anneal and self.training:
            self.iteration += 1  # the Caffe layer counts before it computes λ: the first step uses t = 1
        return super().forward(embeddings, labels)

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        target = cosine.gather(1, labels[:, None])
        lam = self.current_lam
        psi = (lam * target + sphereface_psi(target, self.margin)) / (1 + lam)
        return cosine.scatter(1, labels[:, None], psi)

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        # vector_norm: ‖x‖ without squaring overflow (x.norm() is inf for entries above ~1e19 in float32)
        return super().logits(embeddings, labels) * vector_norm(embeddings, dim=1)


@register(
    "cosface", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("CosFace: Large Margin Cosine Loss for Deep Face Recognition", 2018,
                "Wang, Wang, Zhou, Ji, Gong, Zhou, Li, Liu"),
    formula=r"\ell = -\log\frac{e^{s(\cos\theta_y - m)}}{e^{s(\cos\theta_y - m)} + \sum_{j\neq y} e^{s\cos\theta_j}}",
    params={"scale": Param(64.0, 1.0, 64.0, "s: logit scale", log=True, valid=POSITIVE),
            "margin": Param(0.35, 0.0, 0.8, "m: subtracted from the target cosine", valid=ANGLE)},
)
class CosFace(MarginHead):
    r"""CosFace / LMCL (Wang et al. 2018): target logit :math:`s(\cos\theta_y - m)`, others :math:`s\cos\theta_j`.

    Defaults s = 64, m = 0.35 (paper, pytorch-metric-learning's ``CosFaceLoss``; insightface uses 0.4).

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 64.0, margin: float = 0.35,
                 reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, reduction)
        self.margin = _check_margin(margin)

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        return cos_margin(cosine, labels, self.margin)


def _check_margin(margin) -> float:
    return ANGLE.check(margin, "margin")


@register(
    "arcface", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("ArcFace: Additive Angular Margin Loss for Deep Face Recognition", 2019,
                "Deng, Guo, Xue, Zafeiriou"),
    formula=r"\ell = -\log\frac{e^{s\cos(\theta_y + m)}}{e^{s\cos(\theta_y + m)} + \sum_{j\neq y} e^{s\cos\theta_j}}",
    params={"scale": Param(64.0, 1.0, 64.0, "s: logit scale", log=True, valid=POSITIVE),
            "margin": Param(0.5, 0.0, 0.8, "m: added to the target angle (radians)", valid=ANGLE)},
)
class ArcFace(MarginHead):
    r"""ArcFace (Deng et al. 2019): target logit :math:`s\cos(\theta_y + m)` (see :func:`arc_margin` for the
    θ + m > π fallback and ``easy_margin``). Defaults s = 64, m = 0.5 rad (insightface).
    pytorch-metric-learning's ``ArcFaceLoss`` takes the margin in degrees (28.6 = 0.5 rad).

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 64.0, margin: float = 0.5,
                 easy_margin: bool = False, reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, reduction)
        self.margin, self.easy_margin = _check_margin(margin), check_flag(easy_margin, "easy_margin")

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        return arc_margin(cosine, labels, self.margin, self.easy_margin)


def elastic_margins(cosine_target: Tensor, margin: float, sigma: float, plus: bool = False,
                    legacy_gather: bool = False, generator: torch.Generator | None = None) -> Tensor:
    """ElasticFace's per-sample margins ``m_i ~ N(m, σ²)``, shape [B, 1].

    ``plus``: the margins are sorted and handed out by the target cosine so that harder samples (lower
    cos θ_y) get larger margins. The official code sorts cos descending (``idx``) and the margins
    ascending and then *gathers* ``margins[idx]``, which is the intended assignment only when ``idx``
    is its own inverse; we scatter (``assigned[idx] = sorted margins``), the paper's intent.
    ``legacy_gather=True`` reproduces the official code.
    """
    # Drawn on the generator's device (the CPU without one: the same margins whatever the inputs' device).
    draws = torch.normal(margin, sigma, size=(cosine_target.shape[0], 1), generator=generator,
                         dtype=cosine_target.dtype,
                         device=generator.device if generator is not None else "cpu").to(cosine_target.device)
    if not plus:
        return draws
    idx = cosine_target.detach().squeeze(1).argsort(descending=True)
    ascending = draws.squeeze(1).sort().values
    assigned = ascending[idx] if legacy_gather else torch.empty_like(ascending).scatter_(0, idx, ascending)
    return assigned[:, None]


class _ElasticFace(MarginHead):
    """Random per-sample margins drawn in training mode; in eval mode the mean margin (deterministic)."""

    def __init__(self, num_classes, embedding_dim, scale, margin, sigma, plus, legacy_gather, generator, reduction):
        super().__init__(num_classes, embedding_dim, scale, reduction)
        self.margin = _check_margin(margin)
        self.sigma = check_nonnegative(sigma, "sigma")
        self.plus, self.legacy_gather = check_flag(plus, "plus"), check_flag(legacy_gather, "legacy_gather")
        self.generator = generator

    def margins(self, cosine: Tensor, labels: Tensor) -> Tensor | float:
        if not self.training:
            return self.margin
        return elastic_margins(cosine.gather(1, labels[:, None]), self.margin, self.sigma, self.plus,
                               self.legacy_gather, self.generator)


ELASTIC_PAPER = Paper("ElasticFace: Elastic Margin Loss for Deep Face Recognition", 2022,
                      "Boutros, Damer, Kirchbuchner, Kuijper")
ELASTIC_DOC = {"sigma": Param(0.05, 0.0, 0.2, "σ: spread of the per-sample margins N(m, σ²)", valid=NONNEGATIVE)}


@register(
    "elasticface_arc", family="margin", kind="margin", reduces_over="sample",
    paper=ELASTIC_PAPER,
    formula=r"\ell = -\log\frac{e^{s\cos(\theta_y + m_i)}}{e^{s\cos(\theta_y + m_i)}"
            r" + \sum_{j\neq y}e^{s\cos\theta_j}},"
            r"\; m_i\sim\mathcal N(m, \sigma^2)",
    params={"scale": Param(64.0, 1.0, 64.0, "s: logit scale", log=True, valid=POSITIVE),
            "margin": Param(0.5, 0.0, 0.8, "m: mean angular margin (radians)", valid=ANGLE), **ELASTIC_DOC},
)
class ElasticFaceArc(_ElasticFace):
    r"""ElasticFace-Arc (Boutros et al. 2022): ArcFace with a margin drawn per sample and step,
    :math:`m_i\sim\mathcal N(m, \sigma^2)`. Defaults s = 64, m = 0.5, σ = 0.05 (official config; the
    "+" variant, ``plus=True``, uses σ = 0.0175 there; see :func:`elastic_margins` for how we resolved
    the official code's sorting). The margin is applied with :func:`arc_margin` (insightface identity
    and θ + m > π fallback; the official code uses clamp + acos without fallback), so σ = 0 gives
    exactly :class:`ArcFace`. Margins are random only in training mode; ``.eval()`` uses m. Pass a
    ``generator`` for reproducible draws.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 64.0, margin: float = 0.5,
                 sigma: float = 0.05, plus: bool = False, legacy_gather: bool = False,
                 generator: torch.Generator | None = None, reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, margin, sigma, plus, legacy_gather, generator, reduction)

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        return arc_margin(cosine, labels, self.margins(cosine, labels))


@register(
    "elasticface_cos", family="margin", kind="margin", reduces_over="sample",
    paper=ELASTIC_PAPER,
    formula=r"\ell = -\log\frac{e^{s(\cos\theta_y - m_i)}}{e^{s(\cos\theta_y - m_i)}"
            r" + \sum_{j\neq y}e^{s\cos\theta_j}},"
            r"\; m_i\sim\mathcal N(m, \sigma^2)",
    params={"scale": Param(64.0, 1.0, 64.0, "s: logit scale", log=True, valid=POSITIVE),
            "margin": Param(0.35, 0.0, 0.8, "m: mean cosine margin", valid=ANGLE), **ELASTIC_DOC},
)
class ElasticFaceCos(_ElasticFace):
    r"""ElasticFace-Cos (Boutros et al. 2022): CosFace with :math:`m_i\sim\mathcal N(m, \sigma^2)` per sample.
    Defaults s = 64, m = 0.35, σ = 0.05 (official config; "+" uses σ = 0.02). σ = 0 gives exactly
    :class:`CosFace`. See :class:`ElasticFaceArc` for ``plus``, ``legacy_gather``, eval mode and ``generator``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 64.0, margin: float = 0.35,
                 sigma: float = 0.05, plus: bool = False, legacy_gather: bool = False,
                 generator: torch.Generator | None = None, reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, margin, sigma, plus, legacy_gather, generator, reduction)

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        return cos_margin(cosine, labels, self.margins(cosine, labels))


def box_whisker_filter(values: Tensor, wisk: float) -> Tensor:
    """The values inside ``[Q1 - wisk·IQR, Q3 + wisk·IQR]`` with UNPG's quartiles
    ``Q1 = sorted[int(0.25 L)]``, ``Q3 = sorted[int(0.75 L)]`` (no interpolation)."""
    if values.numel() == 0:
        return values
    ordered = values.sort().values
    n = len(ordered)
    q1, q3 = ordered[int(0.25 * n)].detach(), ordered[int(0.75 * n)].detach()
    spread = wisk * (q3 - q1)
    return values[(values >= q1 - spread) & (values <= q3 + spread)]


def batch_negative_similarities(embeddings: Tensor, labels: Tensor) -> Tensor:
    """Cosines of the batch's different-label pairs i < j (UNPG's metric-loss negatives), with gradient."""
    _, negative = pair_masks(labels)
    return cosine_similarity_matrix(embeddings)[negative.triu_(1)]  # row-major order of (i, j), i < j


@register(
    "unpg", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("Unified Negative Pair Generation toward Well-discriminative Feature Space for Face Recognition",
                2022, "Jung, Son, Lee, Ko, Lee, Jang"),
    formula=r"\ell = -\log\frac{e^{s\,\phi(\theta_y)}}{e^{s\,\phi(\theta_y)} + \sum_{j\neq y}e^{s\cos\theta_j}"
            r" + \sum_{k\in\mathcal N'} e^{s\,\hat z_a^\top\hat z_b}}",
    params={"scale": Param(64.0, 1.0, 64.0, "s: logit scale", log=True, valid=POSITIVE),
            "margin": Param(0.5, 0.0, 0.8, "m of the underlying ArcFace/CosFace head", valid=ANGLE),
            "wisk": Param(1.5, 0.0, 5.0, "box-and-whisker width: negatives beyond Q1/Q3 ± wisk·IQR are dropped",
                          valid=NONNEGATIVE)},
)
class UNPG(MarginHead):
    r"""UNPG (Jung et al. 2022): a margin head whose softmax also sees the batch's negative pairs.

    1. The head's margin-adjusted cosines (``head="arcface"`` or ``"cosface"``, unscaled).
    2. The cosines of every different-label pair i < j of the batch (:func:`batch_negative_similarities`,
       not detached), filtered by :func:`box_whisker_filter` with ``wisk`` (noise removal).
    3. The K kept values are appended as K extra columns to every row, never a target:
       :math:`CE(s\,[\cos' \,\Vert\, s_n'], y)`. Adding negatives never lowers the loss.

    A batch with a single class has no negative pair and gives the plain head's loss (the official
    code crashes there). ``.logits(x, labels)`` returns the [B, C + K] logits; ``.logits(x)`` the
    plain [B, C] ones used to predict. Defaults: ArcFace s = 64, m = 0.5, wisk = 1.5 (the official
    head.zoo.yaml; the official CosFace config uses m = 0.5 too).

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples (the
    appended negative columns come from the whole batch).
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 64.0, margin: float = 0.5,
                 wisk: float = 1.5, head: str = "arcface", reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, scale, reduction)
        check_choice(head, "head", ("arcface", "cosface"))
        self.margin, self.wisk, self.head = _check_margin(margin), check_nonnegative(wisk, "wisk"), head

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        return (arc_margin if self.head == "arcface" else cos_margin)(cosine, labels, self.margin)

    def _negative_logits(self, embeddings: Tensor, labels: Tensor, dtype: torch.dtype) -> Tensor:
        return self.scale * box_whisker_filter(batch_negative_similarities(embeddings, labels), self.wisk).to(dtype)

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        plain = super().logits(embeddings, labels)
        if labels is None:
            return plain
        extra = self._negative_logits(embeddings, labels, plain.dtype)
        return torch.cat([plain, extra[None, :].expand(len(plain), -1)], dim=1)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy on :meth:`logits`, computed without the [B, K] block: the K appended columns are the
        same in every row, so they enter each row's softmax denominator as one column holding their
        logsumexp (O(K) instead of O(B·K); identical value and gradient)."""
        if labels is None:
            raise ValueError("labels must be a tensor of shape [B]; a margin head needs the targets")
        plain = super().logits(embeddings, labels)  # checks the labels (any integer dtype)
        labels = labels.long()
        extra = self._negative_logits(embeddings, labels, plain.dtype)
        if len(extra):
            plain = torch.cat([plain, torch.logsumexp(extra, 0).expand(len(plain), 1)], dim=1)
        return F.cross_entropy(plain, labels, reduction=self.reduction)
