"""Subclass-balancing contrastive learning, SBCL (Hou, Zhang, Wang, Zhou; ICCV 2023), kind ``views``.

The loss of the official code (JackHck/SBCL, ``SimCLR/loss.py`` ``SupConLoss_rank``): a SupCon term whose
positives share a *subclass* (head classes are split by k-means into subclasses about the size of the tail
classes) and a class term whose positives are the other view and same-class samples of *other* subclasses,
contrasted only against other subclasses, at a per-class temperature. The clustering and the per-class
temperatures are computed from the model's features during training (``workbench.train.sbcl``); the loss
holds the result in buffers and reads it through the sample ``index``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    check_float_tensor,
    check_index,
    check_int,
    check_labels,
    check_nonnegative,
    check_positive,
    check_reduction,
    reduce,
)
from . import distributed
from .registry import Paper, Param, register
from .similarity import check_similarity, cosine_similarity_matrix, masked_logsumexp, views_to_rows

SBCL_PAPER = Paper("Subclass-balancing Contrastive Learning for Long-tailed Recognition", 2023,
                   "Hou, Zhang, Wang, Zhou")


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    count = mask.sum(1)
    return torch.where(mask, values, torch.zeros_like(values)).sum(1) / count.clamp(min=1)


def _sbcl(similarity: Tensor, labels: Tensor, subclasses: Tensor, instances: Tensor, temperature: float,
          base_temperature: float, gamma: float, anchor_temperatures: Tensor | None, reduction: str) -> Tensor:
    n = len(labels)
    self_mask = torch.eye(n, dtype=torch.bool, device=similarity.device)
    other_view = (instances[:, None] == instances[None, :]) & ~self_mask
    same_sub = (subclasses[:, None] == subclasses[None, :]) & ~self_mask
    same_class = (labels[:, None] == labels[None, :]) & ~self_mask
    # Subclass term: SupCon over subclasses at temperature tau, denominator every row but the anchor.
    logits = similarity / temperature
    sub_term = masked_logsumexp(logits, ~self_mask) - _masked_mean(logits, same_sub)
    sub_term = torch.where(same_sub.any(1), sub_term, torch.zeros_like(sub_term))
    # Class term (official "rank" branch): positives Q = other view + same class in another subclass;
    # denominator D = other view + every row of another subclass; temperature tau_{y_a} per anchor.
    other_sub = ~same_sub & ~self_mask
    positives = other_view | (same_class & other_sub)
    denominator = other_view | other_sub
    tau_a = similarity.new_full((n, 1), temperature) if anchor_temperatures is None else anchor_temperatures[:, None]
    class_logits = similarity / tau_a
    class_term = masked_logsumexp(class_logits, denominator) - _masked_mean(class_logits, positives)
    class_term = torch.where(positives.any(1), class_term, torch.zeros_like(class_term))
    per_anchor = (temperature / base_temperature) * sub_term + gamma * class_term
    return reduce(per_anchor, reduction)


def _check_temperatures(values: Tensor | None, labels: Tensor) -> Tensor | None:
    if values is None:
        return None
    check_float_tensor(values, "class_temperatures", 1, "[C] (one temperature per class)")
    if not (values > 0).all():
        raise ValueError("class_temperatures must all be > 0")
    if len(labels) and int(labels.max()) >= len(values):
        raise ValueError(f"labels must be < len(class_temperatures)={len(values)}, got {int(labels.max())}")
    return values


def sbcl_from_similarity(similarity: Tensor, labels: Tensor, subclasses: Tensor | None = None, *,
                         n_views: int = 2, temperature: float = 0.1, base_temperature: float = 0.07,
                         gamma: float = 0.25, class_temperatures: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    r"""SBCL from the cosine-similarity matrix of N = B·V rows ordered instance-major (row ``b·V + v``, as
    ``views.reshape(B·V, D)``), ``labels[N]`` and ``subclasses[N]`` per row (None: one subclass per class);
    see :class:`SBCL`. ``reduction="none"`` gives the per-anchor losses [N]."""
    check_similarity(similarity, labels)
    n_views = check_int(n_views, "n_views", low=2)
    if len(labels) % n_views:
        raise ValueError(f"similarity must have B*n_views rows (n_views={n_views}), got {len(labels)}")
    labels = labels.long()
    subclasses = labels if subclasses is None else check_labels(subclasses, "subclasses", len(labels))
    temps = _check_temperatures(class_temperatures, labels)
    instances = torch.arange(len(labels) // n_views, device=labels.device).repeat_interleave(n_views)
    return _sbcl(similarity, labels, subclasses, instances, check_positive(temperature, "temperature"),
                 check_positive(base_temperature, "base_temperature"), check_nonnegative(gamma, "gamma"),
                 None if temps is None else temps.to(similarity)[labels], check_reduction(reduction))


@register(
    "sbcl", family="contrastive", kind="views", reduces_over="anchor", paper=SBCL_PAPER,
    formula=r"\ell_a = \frac{\tau}{\tau_b}\,\ell^{sub}_a + \gamma\Big(-\frac{1}{|Q_a|}\sum_{p\in Q_a}"
            r"\log\frac{e^{S_{ap}/\tau_{y_a}}}{\sum_{k\in D_a} e^{S_{ak}/\tau_{y_a}}}\Big)",
    params={"temperature": Param(0.1, 0.01, 2.0, "τ of the subclass SupCon term", log=True, valid=POSITIVE),
            "base_temperature": Param(0.07, 0.01, 2.0, "the subclass term is scaled by τ/τ_b", log=True,
                                      valid=POSITIVE),
            "gamma": Param(0.25, 0.0, 2.0, "weight of the class term (official 'grama')", valid=NONNEGATIVE)},
)
class SBCL(nn.Module):
    r"""Subclass-balancing contrastive loss (Hou et al., ICCV 2023; official ``SupConLoss_rank``).

    For every row a of the B·V views (subclass :math:`s_a`, class :math:`y_a`):

    .. math::
        \ell^{sub}_a = -\frac{1}{|P_a|}\sum_{p\in P_a}\log\frac{e^{S_{ap}/\tau}}{\sum_{k\ne a} e^{S_{ak}/\tau}},
        \quad P_a = \{p \ne a: s_p = s_a\}

        \ell^{cls}_a = -\frac{1}{|Q_a|}\sum_{p\in Q_a}\log\frac{e^{S_{ap}/\tau_{y_a}}}
        {\sum_{k\in D_a} e^{S_{ak}/\tau_{y_a}}}, \quad L = \frac{1}{BV}\sum_a
        \Big(\frac{\tau}{\tau_b}\ell^{sub}_a + \gamma\,\ell^{cls}_a\Big)

    with Q_a = the other views of a's instance plus the same-class rows of other subclasses, and D_a = the
    other views plus every row of another subclass. Defaults τ = 0.1, τ_b = 0.07, γ = 0.25 and per-class
    temperatures τ_c (default τ) are the official code's; the official code takes exactly 2 views, more are
    handled here by taking all other views of the instance. Rows are L2-normalised (the official model
    normalises its features).

    Subclasses: ``subclasses[B]`` in ``forward``, or, during training, the per-sample buffer ``subclass_of[N]``
    read through ``index`` (``uses_index``), set with :meth:`set_clusters` by :func:`workbench.train.sbcl_clusters`
    (k-means of each class into ``n_c // max(min_c n_c, 10)`` subclasses, re-run every 10 epochs in the
    official recipe). Without subclasses every class is one subclass: the subclass term is SupCon and the
    class term contrasts the other view against other classes. Without labels every instance is its own
    class (self-supervised).

    ``gather=True``: under torch.distributed, every rank's views, labels and subclasses (those given, or read
    through ``index`` on each rank) are gathered and every rank computes the loss of the whole batch (the
    whole-batch semantics of :mod:`workbench.losses.distributed`; ``"none"`` gives all N·V anchors' values).
    (We did not check whether the official code gathers.)

    Reduction: ``"none"`` gives one value per anchor row [B·V]; ``"mean"`` averages over all B·V anchors (an
    anchor without a positive contributes 0 and counts).
    """

    uses_index = True

    def __init__(self, temperature: float = 0.1, base_temperature: float = 0.07, gamma: float = 0.25,
                 reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.temperature = check_positive(temperature, "temperature")
        self.base_temperature = check_positive(base_temperature, "base_temperature")
        self.gamma = check_nonnegative(gamma, "gamma")
        self.reduction = check_reduction(reduction)
        self.register_buffer("subclass_of", None)
        self.register_buffer("class_temperatures", None)

    def set_clusters(self, subclass_of: Tensor | None, class_temperatures: Tensor | None = None) -> None:
        """Hold each training sample's subclass id (``[N]``, globally unique across classes) and the per-class
        temperatures (``[C]``; None: τ for every class) for the following batches."""
        if subclass_of is not None:
            subclass_of = check_labels(subclass_of, "subclass_of", len(subclass_of)).clone()
        if class_temperatures is not None:
            check_float_tensor(class_temperatures, "class_temperatures", 1, "[C]")
            if not (class_temperatures > 0).all():
                raise ValueError("class_temperatures must all be > 0")
            class_temperatures = class_temperatures.detach().clone()
        self.subclass_of, self.class_temperatures = subclass_of, class_temperatures

    def from_similarity(self, similarity: Tensor, labels: Tensor, subclasses: Tensor | None = None) -> Tensor:
        return sbcl_from_similarity(similarity, labels, subclasses, temperature=self.temperature,
                                    base_temperature=self.base_temperature, gamma=self.gamma,
                                    class_temperatures=self.class_temperatures, reduction=self.reduction)

    def forward(self, views: Tensor, labels: Tensor | None = None, subclasses: Tensor | None = None,
                index: Tensor | None = None) -> Tensor:
        rows, row_labels = views_to_rows(views, labels)
        b, v = views.shape[:2]
        if index is not None:
            known = None if self.subclass_of is None else len(self.subclass_of)
            index = check_index(index, b, distinct=True, num_samples=known)
            if subclasses is None and self.subclass_of is not None:
                subclasses = self.subclass_of[index]
        if subclasses is not None:
            subclasses = check_labels(subclasses, "subclasses", b)
        temps = None if labels is None else _check_temperatures(self.class_temperatures, row_labels)
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            views, labels, subclasses = distributed.gather_batch(views, labels, subclasses)
            rows, row_labels = views_to_rows(views, labels)
            b = views.shape[0]
            temps = None if labels is None else _check_temperatures(self.class_temperatures, row_labels)
        if subclasses is not None:
            subclasses = subclasses.repeat_interleave(v)
        instances = torch.arange(b, device=views.device).repeat_interleave(v)
        return _sbcl(cosine_similarity_matrix(rows), row_labels, row_labels if subclasses is None else subclasses,
                     instances, self.temperature, self.base_temperature, self.gamma,
                     None if temps is None else temps.to(rows)[row_labels], self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, base_temperature={self.base_temperature}, gamma={self.gamma}"
