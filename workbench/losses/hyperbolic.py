"""Hyp-OC's losses on the Poincaré ball (kind ``margin``): Hyp-CE and Hyp-PC (Narayan & Patel, "Hyp-OC:
Hyperbolic One Class Classification for Face Anti-Spoofing", 2024; official code Kartik-3004/hyp-oc@f3345b2
``loss.py``, ``train.py``, ``models.py``, ``config.py``, ``hyptorch/pmath.py``, ``hyptorch/nn.py``).

The pipeline of the official ``hyp_classifier``: Euclidean embeddings → feature clipping to norm ≤ r →
exponential map at a learnable base point onto the Poincaré ball of curvature -c → hyperbolic multinomial
logistic regression (Ganea et al., NeurIPS 2018). The loss modules here own everything after the encoder
(base point, the MLR's normals ``.weight`` and offsets ``.offsets``), as a margin head owns its class weights.

One-class training as in the paper: the bona fide batch (label 0) is joined by as many pseudo-negatives
(label 1) drawn from a Gaussian around a running mean of the bona fide *features* (:class:`PseudoNegatives`;
the official code draws them in the 4096-d VGG-Face feature space, in front of the trainable MLP), and the
two-class Hyp-CE is minimised together with Hyp-PC on the bona fide rows. With ``num_classes`` > 2 and class
labels, Hyp-CE is plain hyperbolic multi-class logistic regression, which is what ``python -m workbench train``
runs on digits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    UNIT,
    check_flag,
    check_float_tensor,
    check_int,
    check_labels,
    check_reduction,
)
from .registry import Paper, Param, register

BALL_EPS = 1e-3  # project() keeps ‖x‖ ≤ (1 - 1e-3)/√c (hyptorch)
MOBIUS_EPS = 1e-5  # hyptorch adds 1e-5 to Möbius denominators
ARTANH_CLAMP = 1 - 1e-5  # hyptorch's Artanh clamps its argument to ±(1 - 1e-5)


# --- Poincaré-ball operations (hyptorch/pmath.py, curvature -c) -----------------------------------------

def mobius_add(x: Tensor, y: Tensor, c: float) -> Tensor:
    r""":math:`x\oplus_c y = \frac{(1+2c\langle x,y\rangle+c\lVert y\rVert^2)x + (1-c\lVert x\rVert^2)y}
    {1+2c\langle x,y\rangle+c^2\lVert x\rVert^2\lVert y\rVert^2}` over the last dimension (+1e-5 in the
    denominator, as hyptorch)."""
    x2, y2 = x.pow(2).sum(-1, keepdim=True), y.pow(2).sum(-1, keepdim=True)
    xy = (x * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    return num / (1 + 2 * c * xy + c * c * x2 * y2 + MOBIUS_EPS)


def project(x: Tensor, c: float) -> Tensor:
    """Pull points back inside the ball: norm at most ``(1 - 1e-3)/√c``."""
    norm = x.norm(dim=-1, keepdim=True).clamp(min=1e-5)
    max_norm = (1 - BALL_EPS) / math.sqrt(c)
    return torch.where(norm > max_norm, x / norm * max_norm, x)


def expmap0(u: Tensor, c: float) -> Tensor:
    r""":math:`\exp_0^c(u) = \tanh(\sqrt c\lVert u\rVert)\,\frac{u}{\sqrt c\lVert u\rVert}` (norm clamped at 1e-5, tanh
    argument at 15, as hyptorch)."""
    sqrt_c = math.sqrt(c)
    norm = u.norm(dim=-1, keepdim=True).clamp(min=1e-5)
    return (sqrt_c * norm).clamp(-15, 15).tanh() * u / (sqrt_c * norm)


def expmap(x: Tensor, u: Tensor, c: float) -> Tensor:
    r""":math:`\exp_x^c(u) = x\oplus_c\tanh\big(\tfrac{\sqrt c}{2}\lambda_x\lVert u\rVert\big)
    \frac{u}{\sqrt c\lVert u\rVert}`, :math:`\lambda_x = 2/(1-c\lVert x\rVert^2)`."""
    sqrt_c = math.sqrt(c)
    norm = u.norm(dim=-1, keepdim=True).clamp(min=1e-5)
    lam = 2 / (1 - c * x.pow(2).sum(-1, keepdim=True))
    return mobius_add(x, (sqrt_c / 2 * lam * norm).clamp(-15, 15).tanh() * u / (sqrt_c * norm), c)


def poincare_distance(x: Tensor, y: Tensor, c: float, official_arctan: bool = False) -> Tensor:
    r""":math:`d_c(x,y) = \frac{2}{\sqrt c}\operatorname{artanh}\big(\sqrt c\,\lVert(-x)\oplus_c y\rVert\big)`
    (hyptorch ``dist``; argument clamped below 1 - 1e-5). ``official_arctan=True`` uses arctan instead, as the
    official ``TPC_loss_hyp`` does (a bounded stand-in: arctan < artanh, equal to first order at 0)."""
    arg = math.sqrt(c) * mobius_add(-x, y, c).norm(dim=-1)
    if official_arctan:
        return 2 / math.sqrt(c) * torch.atan(arg)
    return 2 / math.sqrt(c) * torch.atanh(arg.clamp(max=ARTANH_CLAMP))


def clip_features(x: Tensor, radius: float) -> Tensor:
    r"""Feature clipping (Guo et al. 2022, as ``ToPoincare(clip_r)``):
    :math:`x\cdot\min(1, r/(\lVert x\rVert+10^{-5}))`."""
    return x * torch.minimum(torch.ones(1, dtype=x.dtype, device=x.device),
                             radius / (x.norm(dim=-1, keepdim=True) + 1e-5))


class _RiemannianGradient(torch.autograd.Function):
    """Identity forward; backward scales the Euclidean gradient by ``(1 - c‖x‖²)²/4``, the inverse of the
    Poincaré metric (hyptorch ``RiemannianGradient``). The gradient is then not the derivative of the value."""

    @staticmethod
    def forward(ctx, x, c):
        ctx.save_for_backward(x)
        ctx.c = c
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (1 - ctx.c * x.pow(2).sum(-1, keepdim=True)).pow(2) / 4, None


def hyperbolic_mlr_logits(x: Tensor, normals: Tensor, offsets: Tensor, c: float) -> Tensor:
    r"""Hyperbolic MLR logits [B, C] (Ganea et al. 2018; hyptorch ``HyperbolicMLR``): with :math:`p_k = \exp_0(P_k)`,
    :math:`a_k = A_k(1 - c\lVert p_k\rVert^2)` and :math:`z = (-p_k)\oplus_c x`,

    .. math:: \mathrm{logit}_k = \frac{\lambda_{p_k}\lVert a_k\rVert}{\sqrt c}
              \operatorname{asinh}\Big(\frac{2\sqrt c\,\langle z, a_k\rangle}
              {(1-c\lVert z\rVert^2)\lVert a_k\rVert}\Big)

    asinh is ``torch.asinh``: hyptorch's ``log(x + sqrt(1 + x²))`` loses everything to cancellation for
    x < -1e3 (then clamped at log 1e-5), a numerical fix with identical values elsewhere."""
    sqrt_c = math.sqrt(c)
    p = expmap0(offsets.to(x.dtype), c)                                    # [C, D]
    a = normals.to(x.dtype) * (1 - c * p.pow(2).sum(1, keepdim=True))     # [C, D]
    z = mobius_add(-p[None, :, :], x[:, None, :], c)                       # [B, C, D]
    a_norm = a.norm(dim=1)                                                 # [C]
    lam = 2 / (1 - c * p.pow(2).sum(1))
    num = 2 * sqrt_c * (z * a).sum(-1)
    den = a_norm * (1 - c * z.pow(2).sum(-1))
    return lam * a_norm / sqrt_c * torch.asinh(num / den)


def hyp_pc_loss(points: Tensor, c: float, official_arctan: bool = False) -> Tensor:
    r"""Hyp-PC, hyperbolic pairwise confusion (official ``TPC_loss_hyp``): the rows are split into halves, row i
    paired with row i + n/2, and :math:`L_{PC} = \frac1n\sum_{i<n/2} d_c(x_i, x_{i+n/2})` (divided by n, the
    number of rows, as the official code; an odd last row is left out, where the official code asserts)."""
    half = points.shape[0] // 2
    if half == 0:
        return points.sum() * 0.0
    return poincare_distance(points[:half], points[half:2 * half], c, official_arctan).sum() / points.shape[0]


class PseudoNegatives:
    """The Gaussian pseudo-negative class of Hyp-OC's training loop (official ``train.py``), with its state.

    Each call draws as many samples as the batch has rows from :math:`\\mathcal N(\\mu, \\sigma I)` with
    :math:`\\mu = \\alpha\\,\\bar f_{prev} + (1-\\alpha)\\,\\bar f`, the batch mean :math:`\\bar f` and the previous
    batch's raw mean :math:`\\bar f_{prev}` (0 before the first batch). As in the official code ``std_dev`` is
    the covariance scale (the draws' standard deviation is √σ) and the EMA reads the previous *raw* batch mean,
    not the previous μ. Defaults α = 0.8, σ = 1 (``config.py``). Call :meth:`reset` at the start of training.
    """

    def __init__(self, alpha: float = 0.8, std_dev: float = 1.0):
        self.alpha = UNIT.check(alpha, "alpha")
        self.std_dev = POSITIVE.check(std_dev, "std_dev")
        self.previous_mean: Tensor | None = None

    def reset(self) -> None:
        self.previous_mean = None

    def __call__(self, features: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_float_tensor(features, "features", 2, "[B, D]", nonempty=True)
        mean = features.detach().mean(0)
        previous = torch.zeros_like(mean) if self.previous_mean is None else self.previous_mean
        centre = self.alpha * previous + (1 - self.alpha) * mean
        self.previous_mean = mean
        noise = torch.randn(features.shape, generator=generator, dtype=features.dtype,
                            device=generator.device if generator is not None else features.device)
        return centre + math.sqrt(self.std_dev) * noise.to(features.device)


# --- the losses ---------------------------------------------------------------------------------------

HYP_OC = Paper("Hyp-OC: Hyperbolic One Class Classification for Face Anti-Spoofing", 2024, "Narayan, Patel")
BALL_PARAMS = {
    "curvature": Param(0.1, 0.01, 1.0, "c: the ball has curvature -c and radius 1/√c", log=True, valid=POSITIVE),
    "clip_r": Param(2.0, 0.5, 10.0, "r: Euclidean features are clipped to norm ≤ r before the exponential map",
                    valid=POSITIVE),
}


@register(
    "hyp_ce", family="margin", kind="margin", reduces_over="sample", paper=HYP_OC,
    formula=r"\ell_i = -\log\frac{e^{\zeta_{y_i}(z_i)}}{\sum_k e^{\zeta_k(z_i)}},\;"
            r"\zeta_k(z) = \frac{\lambda_{p_k}\lVert a_k\rVert}{\sqrt c}\sinh^{-1}\!\Big(\frac{2\sqrt c\,"
            r"\langle(-p_k)\oplus_c z, a_k\rangle}{(1-c\lVert(-p_k)\oplus_c z\rVert^2)\lVert a_k\rVert}\Big),\;"
            r"z_i = \exp^c_{x_p}(\mathrm{clip}_r(e_i))",
    params=BALL_PARAMS,
)
class HypCE(nn.Module):
    r"""Hyp-CE (Hyp-OC, Narayan & Patel 2024): cross-entropy on hyperbolic MLR logits of the embeddings mapped
    onto the Poincaré ball.

    :math:`z_i = \mathrm{proj}(\exp^c_{x_p}(\mathrm{clip}_r(e_i)))` with a learnable base point
    :math:`x_p = \mathrm{proj}(\exp^c_0(\xi))` (ξ initialised at 0) and :func:`clip_features`; the logits are
    :func:`hyperbolic_mlr_logits` with normals ``.weight`` [C, D] and offsets ``.offsets`` [C, D]
    (``kaiming_uniform_(a=√5)``, as hyptorch). Defaults c = 0.1, r = 2 (official ``config.py``,
    ``models.py``). In the paper C = 2: label 0 bona fide, label 1 the Gaussian pseudo-negatives of
    :class:`PseudoNegatives`; any C works.

    ``riemannian=True`` (official, hyptorch's ``ToPoincare`` default) rescales the gradient reaching the ball
    points by the inverse metric :math:`(1-c\lVert z\rVert^2)^2/4` (:class:`_RiemannianGradient`), so the
    gradient is not the derivative of the value; ``riemannian=False`` gives the plain derivative. The official
    training also clips the gradient norm at 3 (a training-loop setting, not part of the loss).
    ``.logits(x)`` are the MLR logits (there is no margin).

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, curvature: float = 0.1, clip_r: float = 2.0,
                 riemannian: bool = True, reduction: str = "mean"):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", low=2)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", low=1)
        self.curvature = POSITIVE.check(curvature, "curvature")
        self.clip_r = POSITIVE.check(clip_r, "clip_r")
        self.riemannian = check_flag(riemannian, "riemannian")
        self.reduction = check_reduction(reduction)
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        self.offsets = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.offsets, a=math.sqrt(5))
        self.base_point = nn.Parameter(torch.zeros(embedding_dim))

    def to_ball(self, embeddings: Tensor) -> Tensor:
        """The embeddings on the Poincaré ball, [B, D] (official ``ToPoincare(c, train_x=True, clip_r=r)``), in at
        least float32: half precision cannot hold hyptorch's 1e-5 guards (r / 1e-5 overflows float16, and the
        ball's edge 1 - 1e-3 rounds), so half inputs are mapped in float32 and the loss cast back."""
        check_float_tensor_2d(embeddings, self.embedding_dim)
        embeddings = embeddings.to(torch.promote_types(embeddings.dtype, torch.float32))
        c = self.curvature
        base = project(expmap0(self.base_point.to(embeddings.dtype), c), c)
        points = project(expmap(base, clip_features(embeddings, self.clip_r), c), c)
        return _RiemannianGradient.apply(points, c) if self.riemannian else points

    def ball_logits(self, points: Tensor) -> Tensor:
        return hyperbolic_mlr_logits(points, self.weight, self.offsets, self.curvature)

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is not None:
            check_labels(labels, "labels", embeddings.shape[0], self.num_classes)
        return self.ball_logits(self.to_ball(embeddings)).to(embeddings.dtype)

    def _points_and_labels(self, embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        check_float_tensor_2d(embeddings, self.embedding_dim, nonempty=True)  # before the labels are read
        if labels is None:
            raise ValueError("labels must be a tensor of shape [B]; Hyp-CE needs the targets")
        check_labels(labels, "labels", embeddings.shape[0], self.num_classes)
        return self.to_ball(embeddings), labels.long()  # cross_entropy wants int64; any integer dtype is accepted

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        points, labels = self._points_and_labels(embeddings, labels)
        return F.cross_entropy(self.ball_logits(points), labels, reduction=self.reduction).to(embeddings.dtype)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, curvature={self.curvature}, "
                f"clip_r={self.clip_r}, riemannian={self.riemannian}")


def check_float_tensor_2d(embeddings: Tensor, dim: int, nonempty: bool = False) -> None:
    check_float_tensor(embeddings, "embeddings", 2, f"[B, {dim}]", nonempty=nonempty)
    if embeddings.shape[1] != dim:
        raise ValueError(f"embeddings must have shape [B, {dim}] (embedding_dim), got shape {tuple(embeddings.shape)}")


@register(
    "hyp_pc", family="margin", kind="margin", reduces_over="batch", paper=HYP_OC,
    formula=r"L = \frac1n\sum_{i<n/2} d_c(z_i, z_{i+n/2}) + w_{CE}\,L_{\text{Hyp-CE}},\;"
            r"d_c(x,y) = \frac{2}{\sqrt c}\tanh^{-1}\!\big(\sqrt c\,\lVert(-x)\oplus_c y\rVert\big)",
    params={**BALL_PARAMS,
            "ce_weight": Param(1.0, 0.0, 1.0, "weight of Hyp-CE added to Hyp-PC (1: the paper's total loss)",
                               valid=NONNEGATIVE)},
)
class HypPC(HypCE):
    r"""Hyp-PC, hyperbolic pairwise confusion (Hyp-OC, Narayan & Patel 2024), with Hyp-CE as in the paper's
    objective :math:`L = L_{PC} + L_{CE}` (official ``train.py``; ``ce_weight=0`` leaves Hyp-PC alone).

    Hyp-PC is :func:`hyp_pc_loss` on the ball points of the rows labelled ``confused_label`` (0, the bona fide
    class; the official code applies it to the real half of the batch and never to the pseudo-negatives): in
    batch order, the first half of those rows is paired with the second half and their Poincaré distances are
    summed and divided by the number of rows. Pulling random pairs of the class together shrinks the class on
    the ball, the "confusion" that keeps the one-class features from spreading.

    Departure: the official ``TPC_loss_hyp`` uses arctan where the Poincaré distance has artanh (its own
    ``pmath.dist`` uses artanh): the default follows the paper's distance, ``official_arctan=True`` the code.
    A batch with fewer than two such rows contributes 0 (the official code asserts an even batch). The loss is
    one number per batch (no ``reduction``; Hyp-CE inside is averaged over samples).
    """

    def __init__(self, num_classes: int, embedding_dim: int, curvature: float = 0.1, clip_r: float = 2.0,
                 ce_weight: float = 1.0, confused_label: int = 0, official_arctan: bool = False,
                 riemannian: bool = True):
        super().__init__(num_classes, embedding_dim, curvature, clip_r, riemannian)
        self.ce_weight = NONNEGATIVE.check(ce_weight, "ce_weight")
        self.confused_label = check_int(confused_label, "confused_label", low=0)
        if self.confused_label >= self.num_classes:
            raise ValueError(f"confused_label must be < num_classes={self.num_classes}, got {confused_label}")
        self.official_arctan = check_flag(official_arctan, "official_arctan")

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        points, labels = self._points_and_labels(embeddings, labels)
        pc = hyp_pc_loss(points[labels == self.confused_label], self.curvature, self.official_arctan)
        if self.ce_weight > 0:
            pc = pc + self.ce_weight * F.cross_entropy(self.ball_logits(points), labels)
        return pc.to(embeddings.dtype)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, ce_weight={self.ce_weight}, confused_label={self.confused_label}, "
                f"official_arctan={self.official_arctan}")


__all__ = ["HypCE", "HypPC", "PseudoNegatives", "clip_features", "expmap", "expmap0", "hyp_pc_loss",
           "hyperbolic_mlr_logits", "mobius_add", "poincare_distance", "project"]
