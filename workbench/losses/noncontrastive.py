"""Self-supervised losses without negatives (kind ``views``, two views, labels must be None): Barlow Twins and
VICReg, which act on the *feature* statistics of a batch, and SimSiam and BYOL, which align a prediction with a
stop-gradient target.

Barlow Twins and VICReg are not functions of the sample similarity matrix S[N, N] (they use the D x D
cross-correlation or covariance of the features, and VICReg the raw squared error), so they have no
``from_similarity``: the pair-weight lens (``analysis.pair_weights``) refuses them and says why
(``similarity_free``). Their lens is the feature-space one: ``analysis.correlation_weights`` gives dL/dC for
Barlow Twins' cross-correlation C (``BarlowTwins.from_correlation``).

SimSiam and BYOL are functions of the cosine between a prediction and a target. The predictor head and the
EMA target network are the model's (``models.Siamese``); the loss receives ``views`` (the predictions) and
``targets`` (the projections, detached here unless ``stop_gradient=False``), so the collapse without the
stop-gradient or without the predictor can be switched on and watched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import NONNEGATIVE, POSITIVE, check_flag, check_float_tensor, check_reduction, reduce
from . import distributed
from .multiview import _self_supervised_rows, instance_views
from .registry import Paper, Param, register
from .similarity import check_similarity, normalize

_SIMILARITY_FREE = ("a function of the D x D feature statistics (cross-correlation / covariance) of the two "
                    "views, not of the sample similarity matrix S")


def _two_views(views: Tensor, labels: Tensor | None, name: str, min_batch: int = 2) -> tuple[Tensor, Tensor]:
    """The two views [B, D] each, after the checks every loss here shares (labels None, V = 2, B >= min_batch)."""
    _self_supervised_rows(views, labels, name)  # validates shape, dtype, values; refuses labels
    if views.shape[1] != 2:
        raise ValueError(f"views must have shape [B, 2, D] for {name} (two views), got V={views.shape[1]}")
    if views.shape[0] < min_batch:
        raise ValueError(f"views must hold B >= {min_batch} instances for {name} (its batch statistics need them), "
                         f"got B={views.shape[0]}")
    return views[:, 0], views[:, 1]


def _wide(x: Tensor) -> Tensor:
    """``x`` in float64: the feature statistics of unnormalised embeddings (variances of 1e20-scale inputs) would
    overflow float32; the result goes back to the input's dtype."""
    return x if x.dtype == torch.float64 else x.double()


# --- Barlow Twins -----------------------------------------------------------------------------------------------


def batch_standardize(z: Tensor, eps: float = 1e-5) -> Tensor:
    """``BatchNorm1d(affine=False)`` in training mode: each feature minus its batch mean over
    ``sqrt(biased batch variance + eps)`` (``F.batch_norm(z, None, None, training=True)``)."""
    centred = z - z.mean(0, keepdim=True)
    return centred / (centred.pow(2).mean(0, keepdim=True) + eps).sqrt()


def cross_correlation(z1: Tensor, z2: Tensor) -> Tensor:
    r"""Barlow Twins' cross-correlation :math:`C = \mathrm{BN}(z_1)^\top \mathrm{BN}(z_2) / N` [D, D] of two
    views [N, D] (BN: :func:`batch_standardize`); C_ii is the correlation of feature i across the views."""
    return batch_standardize(z1).T @ batch_standardize(z2) / z1.shape[0]


@register(
    "barlow_twins", family="contrastive", kind="views", reduces_over="batch",
    paper=Paper("Barlow Twins: Self-Supervised Learning via Redundancy Reduction", 2021,
                "Zbontar, Jing, Misra, LeCun, Deny"),
    formula=r"L = \sum_i (1 - C_{ii})^2 + \lambda \sum_{i\neq j} C_{ij}^2,\;"
            r"C = \mathrm{BN}(z^{(1)})^\top \mathrm{BN}(z^{(2)}) / N",
    params={"lam": Param(5e-3, 1e-4, 1.0, "λ, weight of the redundancy (off-diagonal) term", log=True,
                         valid=NONNEGATIVE)},
)
class BarlowTwins(nn.Module):
    r"""Barlow Twins (Zbontar et al., ICML 2021; official facebookresearch/barlowtwins ``main.py``):

    .. math:: C = \mathrm{BN}(z^{(1)})^\top \mathrm{BN}(z^{(2)}) / N,\qquad
              L = \sum_i (1 - C_{ii})^2 + \lambda \sum_{i\neq j} C_{ij}^2

    BN is ``BatchNorm1d(affine=False)`` in training mode (batch mean, biased batch variance, eps 1e-5), inside
    the loss. The diagonal asks each feature to agree across the two views (invariance); the off-diagonal asks
    different features to be decorrelated (redundancy reduction), which is what prevents collapse.
    Default λ = 5e-3, lightly's ``BarlowTwinsLoss(lambda_param=5e-3)`` (equal to it, tested); the official
    code's ``--lambd`` is 0.0051. The loss is a sum over the D x D matrix, not a mean, so it grows with D.

    Not a function of the sample similarity matrix: no ``from_similarity`` (``similarity_free`` says why);
    :meth:`from_correlation` takes C instead, and ``analysis.correlation_weights`` gives dL/dC, the
    feature-space counterpart of the pair-weight lens. Self-supervised (``labels`` None), exactly two views,
    B >= 2 (a batch variance needs two rows). Computed in float64 (variances of unnormalised inputs), returned
    in the input's dtype.

    ``gather=True``: under torch.distributed, every rank's views are gathered and every rank computes C, and the
    loss, of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`). The official
    code (facebookresearch/barlowtwins@046eec3 ``main.py``) instead all-reduces each rank's C (divided by the
    global batch size) after a SyncBatchNorm over the ranks: the same C, hence the same value, for D x D numbers
    sent instead of N x D; its in-place ``all_reduce`` carries no gradient, so after DDP's average its gradient is
    1/world_size of the single-process one (ours is the single-process one). lightly 1.6.0's
    ``gather_distributed`` all-reduces C with gradient, but standardises each rank's shard with its own
    statistics: not the single-process loss of the whole batch.

    Reduction: no ``reduction``; one value for the batch (a sum over the D x D cross-correlation matrix).
    """

    self_supervised = True
    similarity_free = _SIMILARITY_FREE

    def __init__(self, lam: float = 5e-3, gather: bool = False):
        super().__init__()
        self.lam = NONNEGATIVE.check(lam, "lam")
        self.gather = distributed.check_gather(gather)

    def from_correlation(self, correlation: Tensor) -> Tensor:
        """The loss of a cross-correlation matrix ``correlation[D, D]`` (see :func:`cross_correlation`)."""
        check_float_tensor(correlation, "correlation", 2, "[D, D]", nonempty=True)
        if correlation.shape[0] != correlation.shape[1]:
            raise ValueError(f"correlation must be square [D, D], got shape {tuple(correlation.shape)}")
        diagonal = correlation.diagonal()
        off = correlation.pow(2).sum() - diagonal.pow(2).sum()
        return (1 - diagonal).pow(2).sum() + self.lam * off

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        _two_views(views, labels, "barlow_twins")
        (views,) = distributed.whole_batch(self.gather, views)  # the whole gathered batch on every rank
        z1, z2 = views[:, 0], views[:, 1]
        return self.from_correlation(cross_correlation(_wide(z1), _wide(z2))).to(views.dtype)

    def extra_repr(self) -> str:
        return f"lam={self.lam}"


# --- VICReg -----------------------------------------------------------------------------------------------------


def _variance_term(z: Tensor, eps: float) -> Tensor:
    """mean over features of relu(1 - sqrt(unbiased batch variance + eps))."""
    return torch.relu(1 - (z.var(0) + eps).sqrt()).mean()


def _covariance_term(z: Tensor) -> Tensor:
    """Sum of the squared off-diagonal covariances (unbiased, N - 1) over D."""
    centred = z - z.mean(0, keepdim=True)
    cov = centred.T @ centred / (z.shape[0] - 1)
    return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / z.shape[1]


@register(
    "vicreg", family="contrastive", kind="views", reduces_over="batch",
    paper=Paper("VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning", 2022,
                "Bardes, Ponce, LeCun"),
    formula=r"L = \lambda\,\tfrac{1}{ND}\lVert z^{(1)} - z^{(2)}\rVert^2 + \mu\,\tfrac12\sum_{v}\tfrac1D\sum_d"
            r"\max(0, 1 - \sqrt{\mathrm{Var}(z^{(v)}_d) + \epsilon}) + \nu \sum_v \tfrac1D\sum_{i\neq j}"
            r"\mathrm{Cov}(z^{(v)})_{ij}^2",
    params={"lam": Param(25.0, 0.0, 50.0, "λ, weight of the invariance (mean squared error) term",
                         valid=NONNEGATIVE),
            "mu": Param(25.0, 0.0, 50.0, "μ, weight of the variance hinge (0: nothing stops collapse)",
                        valid=NONNEGATIVE),
            "nu": Param(1.0, 0.0, 10.0, "ν, weight of the covariance (decorrelation) term", valid=NONNEGATIVE),
            "eps": Param(1e-4, 1e-6, 1e-2, "ε under the square root of the variance", log=True, valid=POSITIVE)},
)
class VICReg(nn.Module):
    r"""VICReg (Bardes, Ponce & LeCun, ICLR 2022; official facebookresearch/vicreg ``main_vicreg.py``):

    .. math:: L = \lambda\, s(z^{(1)}, z^{(2)}) + \mu\,\tfrac12\big(v(z^{(1)}) + v(z^{(2)})\big)
              + \nu\,\big(c(z^{(1)}) + c(z^{(2)})\big)

    with s the mean squared error over the N·D entries (invariance), :math:`v(z) = \frac1D\sum_d
    \max(0, 1 - \sqrt{\mathrm{Var}(z_d) + \epsilon})` (variance hinge, unbiased variance) and
    :math:`c(z) = \frac1D\sum_{i\neq j}\mathrm{Cov}(z)_{ij}^2` (covariance, N - 1). Defaults λ = 25, μ = 25,
    ν = 1, ε = 1e-4 (official arguments; lightly's ``VICRegLoss`` is equal, tested). The covariance divides by
    the actual N - 1 (the official code uses the batch-size argument; equal on full batches). ``mu=0`` removes
    the variance hinge: nothing then stops the embeddings shrinking to a point (the notebook's collapse).

    Not a function of the sample similarity matrix (``similarity_free``): the invariance term is the squared
    error of *unnormalised* embeddings. Self-supervised (``labels`` None), two views, B >= 2. Computed in
    float64; a value that does not fit the input's dtype (embeddings of 1e20 in float32, of 100 in float16:
    the squared error itself overflows) is refused with a ValueError rather than returned as inf.

    ``gather=True``: under torch.distributed, every rank's views are gathered and every rank computes the loss of
    the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`), as the official code
    does (``main_vicreg.py``: ``torch.cat(FullGatherLayer.apply(x))``, whose backward all-reduces the gradient
    and keeps this rank's rows, as ours).

    Reduction: no ``reduction``; one value for the batch (means over the N·D entries and over the features).
    """

    self_supervised = True
    similarity_free = _SIMILARITY_FREE

    def __init__(self, lam: float = 25.0, mu: float = 25.0, nu: float = 1.0, eps: float = 1e-4,
                 gather: bool = False):
        super().__init__()
        self.lam, self.mu = NONNEGATIVE.check(lam, "lam"), NONNEGATIVE.check(mu, "mu")
        self.nu, self.eps = NONNEGATIVE.check(nu, "nu"), POSITIVE.check(eps, "eps")
        self.gather = distributed.check_gather(gather)

    def terms(self, views: Tensor) -> dict[str, Tensor]:
        """The three unweighted terms ``{"invariance", "variance", "covariance"}`` (float64)."""
        z1, z2 = (_wide(z) for z in _two_views(views, None, "vicreg"))
        return {"invariance": (z1 - z2).pow(2).mean(),
                "variance": (_variance_term(z1, self.eps) + _variance_term(z2, self.eps)) / 2,
                "covariance": _covariance_term(z1) + _covariance_term(z2)}

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        _two_views(views, labels, "vicreg")
        (views,) = distributed.whole_batch(self.gather, views)  # the whole gathered batch on every rank
        t = self.terms(views)
        value = self.lam * t["invariance"] + self.mu * t["variance"] + self.nu * t["covariance"]
        if not torch.isfinite(value.detach().to(views.dtype)):
            raise ValueError(f"views of this scale give a VICReg value ({float(value.detach()):.3g}) that "
                             f"overflows their dtype {views.dtype} (the invariance term is the squared error of "
                             "unnormalised embeddings); use a wider dtype or smaller embeddings")
        return value.to(views.dtype)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, mu={self.mu}, nu={self.nu}, eps={self.eps}"


# --- SimSiam and BYOL -------------------------------------------------------------------------------------------


class _PredictionTarget(nn.Module):
    """Shared plumbing: ``forward(views, labels=None, targets=None)`` with predictions ``views[B, 2, D]`` and
    targets ``targets[B, 2, D]`` (the projections, or an EMA network's; ``None``: the views themselves, i.e. no
    predictor); view 1's prediction is scored against view 2's target and the other way round."""

    self_supervised = True

    def __init__(self, stop_gradient: bool = True, reduction: str = "mean"):
        super().__init__()
        self.stop_gradient = check_flag(stop_gradient, "stop_gradient")
        self.reduction = check_reduction(reduction)

    def forward(self, views: Tensor, labels: Tensor | None = None, targets: Tensor | None = None) -> Tensor:
        p1, p2 = _two_views(views, labels, self.name, min_batch=1)
        if targets is None:
            targets = views
        else:
            check_float_tensor(targets, "targets", 3, "[B, 2, D] like views")
            if targets.shape != views.shape or targets.dtype != views.dtype:
                raise ValueError(f"targets must match views: shape {tuple(views.shape)} and dtype {views.dtype}, "
                                 f"got {tuple(targets.shape)} and {targets.dtype}")
        if self.stop_gradient:  # never trust the caller to have detached the targets (SimSiam's point)
            targets = targets.detach()
        cos12 = (normalize(p1, dim=1) * normalize(targets[:, 1], dim=1)).sum(1)
        cos21 = (normalize(p2, dim=1) * normalize(targets[:, 0], dim=1)).sum(1)
        return reduce(self._per_instance(cos12, cos21), self.reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        """The loss as a function of the cosine matrix of the rows (instance ids as ``labels``, two views each),
        predictions and targets being the same rows (no predictor). The stop-gradient acts on embeddings, not
        on S: dL/dS is the same with and without it (only the positive pairs get a weight)."""
        check_similarity(similarity, labels)
        instance, view, v = instance_views(labels)
        if v != 2:
            raise ValueError(f"{self.name} takes exactly 2 views per instance, got {v}")
        order = torch.argsort(instance * 2 + view)
        s = similarity[order][:, order]
        cos = s[0::2, 1::2].diagonal()
        return reduce(self._per_instance(cos, s[1::2, 0::2].diagonal()), self.reduction)

    def extra_repr(self) -> str:
        return f"stop_gradient={self.stop_gradient}"


@register(
    "simsiam", family="contrastive", kind="views", reduces_over="instance",
    paper=Paper("Exploring Simple Siamese Representation Learning", 2021, "Chen, He"),
    formula=r"\ell_i = -\tfrac12\big(\cos(p^{(1)}_i, \mathrm{sg}(z^{(2)}_i))"
            r" + \cos(p^{(2)}_i, \mathrm{sg}(z^{(1)}_i))\big)",
    params={"stop_gradient": Param(True, doc="detach the targets (False: the collapse of SimSiam's Fig. 2)")},
)
class SimSiam(_PredictionTarget):
    r"""SimSiam's symmetric negative cosine with stop-gradient (Chen & He, CVPR 2021; official
    facebookresearch/simsiam ``main_simsiam.py``):

    .. math:: \ell_i = -\tfrac12\big(\cos(p^{(1)}_i, \mathrm{sg}(z^{(2)}_i))
              + \cos(p^{(2)}_i, \mathrm{sg}(z^{(1)}_i))\big)

    ``views`` are the predictor outputs p, ``targets`` the projector outputs z (``models.Siamese`` gives both);
    without ``targets`` the views are their own targets (SimSiam without a predictor, which collapses). The
    targets are detached here (``stop_gradient=True``, the default and the paper's); ``stop_gradient=False``
    lets the gradient through, the ablation that collapses. Range [-1, 1], minimum -1. Cosines use
    :func:`normalize` (eps 1e-12; the official ``nn.CosineSimilarity`` uses 1e-8): a zero vector has cosine 0.
    Self-supervised (``labels`` None), two views, any B >= 1.

    Reduction: ``"none"`` gives one value per instance [B]; ``"mean"`` averages over the B instances.
    """

    @staticmethod
    def _per_instance(cos12: Tensor, cos21: Tensor) -> Tensor:
        return -(cos12 + cos21) / 2


@register(
    "byol", family="contrastive", kind="views", reduces_over="instance",
    paper=Paper("Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning", 2020,
                "Grill, Strub, Altché, Tallec, Richemond, Buchatskaya, Doersch, Pires, Guo, Azar, Piot, "
                "Kavukcuoglu, Munos, Valko"),
    formula=r"\ell_i = \lVert \hat p^{(1)}_i - \mathrm{sg}(\hat z'^{(2)}_i)\rVert^2 + "
            r"\lVert \hat p^{(2)}_i - \mathrm{sg}(\hat z'^{(1)}_i)\rVert^2 = 4 - 2\cos(\cdot) - 2\cos(\cdot)",
    params={"stop_gradient": Param(True, doc="detach the targets (always true in BYOL)")},
)
class BYOL(_PredictionTarget):
    r"""BYOL's loss (Grill et al., NeurIPS 2020), as lucidrains/byol-pytorch computes it (the official JAX code
    was not available to us): the squared distance of the normalised prediction to the normalised target,

    .. math:: \ell_i = (2 - 2\cos(p^{(1)}_i, \mathrm{sg}(z'^{(2)}_i))) + (2 - 2\cos(p^{(2)}_i, \mathrm{sg}(z'^{(1)}_i)))

    summed over the two directions, averaged over the batch (range [0, 8]). The targets z' come from the
    target network, an EMA of the online one (``models.Siamese(momentum=0.99)``; 0.99 is the lucidrains default,
    the paper's 0.996 schedule is unverified here). With the online network as its own target (momentum 0)
    BYOL = 4 + 4·SimSiam on the same tensors (tested). ``targets=None``: the views are their own targets.
    Self-supervised (``labels`` None), two views, any B >= 1.

    Reduction: ``"none"`` gives one value per instance [B]; ``"mean"`` averages over the B instances.
    """

    @staticmethod
    def _per_instance(cos12: Tensor, cos21: Tensor) -> Tensor:
        return 4 - 2 * cos12 - 2 * cos21


__all__ = ["BYOL", "BarlowTwins", "SimSiam", "VICReg", "batch_standardize", "cross_correlation"]
