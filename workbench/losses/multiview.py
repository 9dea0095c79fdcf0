"""Self-supervised losses that separate alignment from uniformity (kind ``views``, labels must be None):
alignment & uniformity (Wang & Isola), DHEL, MV-InfoNCE and MV-DHEL (Koromilas et al.).

``from_similarity(S[N, N], labels[N])`` takes the instance id of every row as ``labels`` (what
``views_to_rows(views, None)`` gives): each instance must own the same number V >= 2 of rows, and the
k-th row of an instance (in row order) is its view k. So pair weights work for every loss here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    check_flag,
    check_float_tensor,
    check_nonnegative,
    check_positive,
    check_reduction,
    reduce,
)
from . import distributed
from .registry import Paper, Param, register
from .similarity import (
    check_similarity,
    cosine_similarity_matrix,
    masked_logsumexp,
    normalize,
    pair_masks,
    views_to_rows,
)

# --- the two quantities of Wang & Isola (also analysis.alignment / analysis.uniformity) ---------


def alignment(x: Tensor, y: Tensor, alpha: float = 2.0) -> Tensor:
    r"""Alignment of positive pairs (Wang & Isola 2020): :math:`\mathbb{E}\,\lVert x_i - y_i\rVert_2^{\alpha}`.
    Lower is better; inputs are expected L2-normalised (not normalised here, as in the paper's code)."""
    check_float_tensor(x, "x", 2, "[B, D]")
    check_float_tensor(y, "y", 2, "[B, D]")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    check_positive(alpha, "alpha")
    return _distance_power((x - y).pow(2).sum(1), alpha).mean()


def _distance_power(d2: Tensor, alpha: float) -> Tensor:
    """``d2 ** (alpha / 2)`` (a distance to the power alpha, from its square) with gradient 0 where ``d2 = 0``:
    the limit for alpha > 1 and a subgradient for alpha = 1 (a plain ``pow`` gives 0 * inf = NaN there for
    alpha < 2, e.g. for a perfectly aligned pair). Values are unchanged."""
    if alpha == 2:
        return d2
    apart = d2 > 0
    return torch.where(apart, torch.where(apart, d2, 1.0).pow(alpha / 2), 0.0)


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    r"""Uniformity (Wang & Isola 2020): :math:`\log \frac{1}{\#\{i<j\}}\sum_{i<j} e^{-t\lVert x_i - x_j\rVert^2}`.

    More negative means more uniform on the sphere; for unit vectors it lies in [-4t, 0]. Computed as a
    logsumexp over squared distances (no sqrt, so coincident points have a finite gradient).
    Fewer than two points have no pairs: ValueError.
    """
    check_float_tensor(x, "x", 2, "[B, D]")
    check_positive(t, "t")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"uniformity needs at least 2 points, got {n}")
    sq = x.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp(min=0)
    i, j = torch.triu_indices(n, n, offset=1, device=x.device)
    return torch.logsumexp(-t * d2[i, j], dim=0) - math.log(len(i))


# --- rows of instances and views -----------------------------------------------------------------


def instance_views(labels: Tensor) -> tuple[Tensor, Tensor, int]:
    """``(instance[N], view[N], V)`` from the instance id of every row: instances numbered 0..B-1 in
    sorted order of their ids (``torch.unique``), view = how many earlier rows share the instance."""
    instance = torch.unique(labels, return_inverse=True)[1]
    counts = torch.bincount(instance)
    if len(counts) == 0 or (counts != counts[0]).any() or counts[0] < 2:
        raise ValueError("labels must be instance ids, every instance with the same number V >= 2 of rows "
                         f"(views); got rows per instance {counts.tolist()}")
    same = instance[:, None] == instance[None, :]
    view = torch.tril(same, diagonal=-1).sum(1)
    return instance, view, int(counts[0])


def _self_supervised_rows(views: Tensor, labels: Tensor | None, name: str) -> tuple[Tensor, Tensor]:
    if labels is not None:
        raise ValueError(f"labels must be None: {name} is self-supervised (its positives are the views of an "
                         "instance)")
    return views_to_rows(views, None)


def _per_instance(row_values: Tensor, instance: Tensor, n_instances: int, how: str) -> Tensor:
    """Combine per-row values into one per instance: ``"sum"`` or ``"lse"`` (logsumexp)."""
    member = instance[None, :] == torch.arange(n_instances, device=instance.device)[:, None]
    if how == "sum":
        return (row_values[None, :] * member).sum(1)
    return masked_logsumexp(row_values.expand(n_instances, -1), member)


# --- alignment + uniformity as a loss -----------------------------------------------------------


@register(
    "align_uniform", family="contrastive", kind="views", reduces_over="batch",
    paper=Paper("Understanding Contrastive Representation Learning through Alignment and Uniformity on the "
                "Hypersphere", 2020, "Wang, Isola"),
    formula=r"L = w_a\,\mathbb{E}\lVert \hat z_i^{(1)} - \hat z_i^{(2)}\rVert^{\alpha} + "
            r"w_u\,\tfrac{1}{V}\sum_v \log \mathbb{E}_{i<j} e^{-t\lVert \hat z_i^{(v)} - \hat z_j^{(v)}\rVert^2}",
    params={"alpha": Param(2.0, 1.0, 4.0, "exponent of the positive-pair distance", valid=POSITIVE),
            "t": Param(2.0, 0.5, 8.0, "sharpness of the uniformity kernel", valid=POSITIVE),
            "alignment_weight": Param(1.0, 0.0, 4.0, "weight of the alignment term", valid=NONNEGATIVE),
            "uniformity_weight": Param(1.0, 0.0, 4.0, "weight of the uniformity term", valid=NONNEGATIVE)},
)
class AlignUniform(nn.Module):
    r"""Alignment plus uniformity as a training objective (Wang & Isola 2020; official ssnl/align_uniform):

    .. math:: L = w_a\,\overline{\lVert \hat z_{il} - \hat z_{il'}\rVert^{\alpha}}^{\,l\neq l'} +
              w_u\,\frac{1}{V}\sum_{l}\log\frac{1}{\binom{B}{2}}\sum_{i<j} e^{-t\lVert \hat z_{il}-\hat z_{jl}\rVert^2}

    With two views this is the official example's ``align(x, y) + (uniform(x) + uniform(y)) / 2`` with
    the defaults α = 2, t = 2 and both weights 1; the two terms are :func:`alignment` and
    :func:`uniformity` (also ``analysis.alignment`` / ``analysis.uniformity``) on the L2-normalised views.
    With V > 2 views alignment averages over every pair of views and uniformity over the views.
    Self-supervised: ``labels`` must be None. Not a per-sample loss (uniformity is a log-mean over pairs),
    so there is no ``reduction``. Needs B >= 2 instances. ``gather=True``: the whole batch of every process
    under torch.distributed (:mod:`workbench.losses.distributed`).
    """

    self_supervised = True  # labels must be None: the positives are an instance's own views

    def __init__(self, alpha: float = 2.0, t: float = 2.0, alignment_weight: float = 1.0,
                 uniformity_weight: float = 1.0, gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.alpha, self.t = check_positive(alpha, "alpha"), check_positive(t, "t")
        self.alignment_weight = check_nonnegative(alignment_weight, "alignment_weight")
        self.uniformity_weight = check_nonnegative(uniformity_weight, "uniformity_weight")

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        instance, view, _ = instance_views(labels)
        # ‖a - b‖² = 2 - 2S for unit vectors.
        d2 = (2 - 2 * similarity).clamp(min=0)
        positive, _ = pair_masks(instance)
        align = _distance_power(d2[positive], self.alpha).mean()
        upper = torch.triu(torch.ones_like(positive), diagonal=1) & (view[:, None] == view[None, :]) & ~positive
        views = view.unique()
        if int(upper.sum()) == 0:
            raise ValueError("align_uniform needs at least 2 instances")
        unif = torch.stack([_log_mean_exp(-self.t * d2[upper & (view[:, None] == v)]) for v in views]).mean()
        return self.alignment_weight * align + self.uniformity_weight * unif

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        _self_supervised_rows(views, labels, "align_uniform")  # validates the shape
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            views = distributed.gather_rows(views)[0]
        z = normalize(views, dim=-1)
        v = z.shape[1]
        align = torch.stack([alignment(z[:, a], z[:, b], self.alpha) for a in range(v) for b in range(a + 1, v)])
        unif = torch.stack([uniformity(z[:, a], self.t) for a in range(v)])
        return self.alignment_weight * align.mean() + self.uniformity_weight * unif.mean()

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, t={self.t}, alignment_weight={self.alignment_weight}, "
                f"uniformity_weight={self.uniformity_weight}")


def _log_mean_exp(values: Tensor) -> Tensor:
    return torch.logsumexp(values, dim=0) - math.log(values.numel())


# --- DHEL ----------------------------------------------------------------------------------------


def _check_instances(n: int) -> None:
    if n < 2:
        raise ValueError(f"views must hold B >= 2 instances (the energy terms sum over other instances), got B={n}")


@register(
    "dhel", family="contrastive", kind="views", reduces_over="instance",
    paper=Paper("Bridging Mini-Batch and Asymptotic Analysis in Contrastive Learning: From InfoNCE to "
                "Kernel-Based Losses", 2024, "Koromilas, Bouritsas, Giannakopoulos, Nicolaou, Panagakis"),
    formula=r"\ell_i = -\log\frac{e^{u_i^\top v_i/\tau}}{\sum_{j\neq i} e^{u_i^\top u_j/\tau}"
            r"\,\sum_{j\neq i} e^{v_i^\top v_j/\tau}}",
    params={"temperature": Param(0.3, 0.01, 2.0, "τ of both energy terms", log=True, valid=POSITIVE),
            "include_augs": Param(True, doc="also repel the positives' view (the v-v energy factor)")},
)
class DHEL(nn.Module):
    r"""Decoupled Hyperspherical Energy Loss (Koromilas et al., ICML 2024; official pakoromilas/DHEL-KCL).

    For two views u (anchors) and v (positives) of B instances, L2-normalised:

    .. math:: \ell_i = -\log\frac{e^{u_i^\top v_i/\tau}}{\sum_{j\neq i} e^{u_i^\top u_j/\tau}\,
              \sum_{j\neq i} e^{v_i^\top v_j/\tau}}

    The positive never appears in a denominator, so alignment (numerator) and uniformity (the energies
    within each view) are decoupled. Defaults τ = 0.3 and ``include_augs=True`` as in the official
    code; ``include_augs=False`` drops the v-v factor. **The loss can be negative.** Exactly 2 views
    (use ``mv_dhel`` for more: with 2 views they agree), B >= 2, self-supervised (``labels`` None).
    ``reduction="none"`` gives one loss per instance [B]. ``gather=True``: the whole batch of every process
    under torch.distributed (:mod:`workbench.losses.distributed`).

    Reduction: ``"none"`` gives one value per instance [B]; ``"mean"`` averages over all B instances.
    """

    self_supervised = True  # labels must be None: the positives are an instance's own views

    def __init__(self, temperature: float = 0.3, include_augs: bool = True, reduction: str = "mean",
                 gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.temperature = check_positive(temperature, "temperature")
        self.include_augs = check_flag(include_augs, "include_augs")
        self.reduction = check_reduction(reduction)

    def _loss(self, pos: Tensor, uu: Tensor, vv: Tensor) -> Tensor:
        """From the positive similarities [B] and the within-view similarity matrices [B, B]."""
        off = ~torch.eye(len(pos), dtype=torch.bool, device=pos.device)
        per = -pos / self.temperature + masked_logsumexp(uu / self.temperature, off)
        if self.include_augs:
            per = per + masked_logsumexp(vv / self.temperature, off)
        return reduce(per, self.reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        instance, view, v = instance_views(labels)
        if v != 2:
            raise ValueError(f"dhel takes exactly 2 views per instance, got {v}; use mv_dhel for more")
        order = torch.argsort(instance * 2 + view)  # rows b*2 + view
        s = similarity[order][:, order]
        _check_instances(len(s) // 2)
        return self._loss(s[0::2, 1::2].diagonal(), s[0::2, 0::2], s[1::2, 1::2])

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        _self_supervised_rows(views, labels, "dhel")
        if views.shape[1] != 2:
            raise ValueError(f"views must have shape [B, 2, D] for dhel (use mv_dhel for V > 2), "
                             f"got V={views.shape[1]}")
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            views = distributed.gather_rows(views)[0]
        _check_instances(views.shape[0])
        u, v = normalize(views[:, 0], dim=1), normalize(views[:, 1], dim=1)
        return self._loss((u * v).sum(1), u @ u.T, v @ v.T)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, include_augs={self.include_augs}"


# --- MV-InfoNCE and MV-DHEL ----------------------------------------------------------------------


class _MultiView(nn.Module):
    """Shared plumbing: rows from views, instance/view ids from labels, one loss per instance; ``gather=True``:
    the whole batch of every process under torch.distributed (:mod:`workbench.losses.distributed`)."""

    self_supervised = True  # labels must be None: the positives are an instance's own views

    def __init__(self, temperature: float, reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.reduction = check_reduction(reduction)
        self.gather = distributed.check_gather(gather)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        instance, view, _ = instance_views(labels)
        n_instances = int(instance.max()) + 1
        _check_instances(n_instances)
        return reduce(self._per_instance(similarity / self.temperature, instance, view, n_instances),
                      self.reduction)

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        rows, row_labels = _self_supervised_rows(views, labels, self.name)
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            rows, row_labels = _self_supervised_rows(distributed.gather_rows(views)[0], None, self.name)
        return self.from_similarity(cosine_similarity_matrix(rows), row_labels)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


@register(
    "mv_infonce", family="contrastive", kind="views", reduces_over="instance",
    paper=Paper("A Principled Framework for Multi-View Contrastive Learning", 2025,
                "Koromilas, Bouritsas, Giannakopoulos, Nicolaou, Panagakis"),
    formula=r"\ell_i = -\log\frac{\sum_{l\neq l'} e^{U_{il}^\top U_{il'}/\tau}}"
            r"{\sum_l \sum_{(j,m)\neq(i,l)} e^{U_{il}^\top U_{jm}/\tau}}",
    params={"temperature": Param(0.2, 0.01, 2.0, "τ", log=True, valid=POSITIVE)},
)
class MVInfoNCE(_MultiView):
    r"""MV-InfoNCE (Koromilas et al. 2025; official pakoromilas/Multi-View-CL): one term per instance
    with all its V views at once,

    .. math:: \ell_i = -\log\frac{\sum_{l\neq l'} e^{U_{il}^\top U_{il'}/\tau}}
              {\sum_l \sum_{(j,m)\neq(i,l)} e^{U_{il}^\top U_{jm}/\tau}}

    Numerator: ordered pairs of the instance's views (the code's factor 2 over the upper triangle);
    denominator: for every view, every other row, the instance's own other views included (as in the
    code). Default τ = 0.2 (the class default of the official MV-DHEL; training configs use 0.5).
    Any V >= 2, B >= 2, ``labels`` None; ``reduction="none"`` gives one loss per instance [B].

    ``gather=True``: under torch.distributed, every rank's views are gathered and every rank computes the loss of
    the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`; ``"none"`` gives all N
    instances' values).

    Reduction: ``"none"`` gives one value per instance [B]; ``"mean"`` averages over all B instances.
    """

    def __init__(self, temperature: float = 0.2, reduction: str = "mean", gather: bool = False):
        super().__init__(temperature, reduction, gather)

    def _per_instance(self, logits, instance, view, n_instances):
        positive, negative = pair_masks(instance)
        numerator = _per_instance(masked_logsumexp(logits, positive), instance, n_instances, "lse")
        denominator = _per_instance(masked_logsumexp(logits, positive | negative), instance, n_instances, "lse")
        return denominator - numerator


@register(
    "mv_dhel", family="contrastive", kind="views", reduces_over="instance",
    paper=Paper("A Principled Framework for Multi-View Contrastive Learning", 2025,
                "Koromilas, Bouritsas, Giannakopoulos, Nicolaou, Panagakis"),
    formula=r"\ell_i = -\log\frac{\sum_{l<l'} e^{U_{il}^\top U_{il'}/\tau}}"
            r"{\prod_l \sum_{j\neq i} e^{U_{il}^\top U_{jl}/\tau}}",
    params={"temperature": Param(0.2, 0.01, 2.0, "τ", log=True, valid=POSITIVE)},
)
class MVDHEL(_MultiView):
    r"""MV-DHEL (Koromilas et al. 2025; official pakoromilas/Multi-View-CL): DHEL for V views,

    .. math:: \ell_i = -\log\frac{\sum_{l<l'} e^{U_{il}^\top U_{il'}/\tau}}
              {\prod_l \sum_{j\neq i} e^{U_{il}^\top U_{jl}/\tau}}

    Numerator: unordered pairs of the instance's views (no factor 2, as in the code); denominator: a
    product over views of the energy within that view (other instances only), computed as a sum of
    logsumexps. O(B²V) where MV-InfoNCE is O(B²V²). With 2 views it equals :class:`DHEL`
    (``include_augs=True``). Default τ = 0.2 (official class default). Can be negative. Any V >= 2,
    B >= 2, ``labels`` None; ``reduction="none"`` gives one loss per instance [B].

    ``gather=True``: under torch.distributed, every rank's views are gathered and every rank computes the loss of
    the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`; ``"none"`` gives all N
    instances' values).

    Reduction: ``"none"`` gives one value per instance [B]; ``"mean"`` averages over all B instances.
    """

    def __init__(self, temperature: float = 0.2, reduction: str = "mean", gather: bool = False):
        super().__init__(temperature, reduction, gather)

    def _per_instance(self, logits, instance, view, n_instances):
        positive, negative = pair_masks(instance)
        upper = positive & (view[:, None] < view[None, :])
        numerator = _per_instance(masked_logsumexp(logits, upper), instance, n_instances, "lse")
        energy = _per_instance(masked_logsumexp(logits, negative & (view[:, None] == view[None, :])), instance,
                               n_instances, "sum")
        return energy - numerator


__all__ = ["alignment", "uniformity", "instance_views", "AlignUniform", "DHEL", "MVInfoNCE", "MVDHEL"]
