"""Decoupled contrastive learning (kind ``views``, two views, labels must be None): DCL and its weighted form
DCLW (Yeh et al., ECCV 2022): InfoNCE with the positive removed from the denominator.

No official code was found; the reference is lightly 1.6.0 ``lightly/loss/dcl_loss.py`` (``DCLLoss``,
``DCLWLoss``), which matches the paper's equation and raminnakhli/Decoupled-Contrastive-Learning; the values
are tested equal to lightly's (tests/losses/test_self_supervised.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import POSITIVE, check_reduction, reduce
from . import distributed
from .multiview import _self_supervised_rows, instance_views
from .registry import Paper, Param, register
from .similarity import check_similarity, masked_logsumexp, normalize


def _one_way(uv: Tensor, uu: Tensor, weight: Tensor | None, temperature: float) -> Tensor:
    """ℓ_i = -w_i S(u_i, v_i)/τ + log Σ_{k≠i} [e^{S(u_i,u_k)/τ} + e^{S(u_i,v_k)/τ}] from the cross-view [B, B]
    and within-view [B, B] similarities."""
    off = ~torch.eye(len(uv), dtype=torch.bool, device=uv.device)
    positive = uv.diagonal() / temperature
    if weight is not None:
        positive = positive * weight
    negatives = torch.cat([uu, uv], dim=1) / temperature
    return -positive + masked_logsumexp(negatives, torch.cat([off, off], dim=1))


class _Decoupled(nn.Module):
    self_supervised = True

    def __init__(self, temperature: float = 0.1, reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.temperature = POSITIVE.check(temperature, "temperature")
        self.reduction = check_reduction(reduction)
        self.gather = distributed.check_gather(gather)

    def _weights(self, positives: Tensor) -> Tensor | None:
        return None

    def _loss(self, uv: Tensor, uu: Tensor, vv: Tensor) -> Tensor:
        if len(uv) < 2:
            raise ValueError(f"views must hold B >= 2 instances for {self.name} (its denominator sums over the "
                             f"other instances), got B={len(uv)}")
        weight = self._weights(uv.diagonal())
        per = (_one_way(uv, uu, weight, self.temperature) + _one_way(uv.T, vv, weight, self.temperature)) / 2
        return reduce(per, self.reduction)

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        check_similarity(similarity, labels)
        instance, view, v = instance_views(labels)
        if v != 2:
            raise ValueError(f"{self.name} takes exactly 2 views per instance, got {v}")
        order = torch.argsort(instance * 2 + view)  # rows b*2 + view
        s = similarity[order][:, order]
        return self._loss(s[0::2, 1::2], s[0::2, 0::2], s[1::2, 1::2])

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        _self_supervised_rows(views, labels, self.name)
        if views.shape[1] != 2:
            raise ValueError(f"views must have shape [B, 2, D] for {self.name}, got V={views.shape[1]}")
        if views.shape[0] < 2:
            raise ValueError(f"views must hold B >= 2 instances for {self.name} (its denominator sums over the "
                             f"other instances), got B={views.shape[0]}")
        (views,) = distributed.whole_batch(self.gather, views)  # the whole gathered batch on every rank
        u, v = normalize(views[:, 0], dim=1), normalize(views[:, 1], dim=1)
        return self._loss(u @ v.T, u @ u.T, v @ v.T)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


@register(
    "dcl", family="contrastive", kind="views", reduces_over="instance",
    paper=Paper("Decoupled Contrastive Learning", 2022, "Yeh, Hong, Hsu, Liu, Chen, LeCun"),
    formula=r"\ell_i = -\frac{\hat u_i^\top\hat v_i}{\tau} + \log\sum_{k\neq i}\big(e^{\hat u_i^\top\hat u_k/\tau}"
            r" + e^{\hat u_i^\top\hat v_k/\tau}\big)\;\text{(and }u\leftrightarrow v\text{, averaged)}",
    params={"temperature": Param(0.1, 0.01, 2.0, "τ", log=True, valid=POSITIVE)},
)
class DCL(_Decoupled):
    r"""Decoupled Contrastive Learning (Yeh et al., ECCV 2022): NT-Xent without the positive in the
    denominator (the paper's "negative-positive coupling" removed),

    .. math:: \ell_i^{u\to v} = -\hat u_i^\top\hat v_i/\tau + \log\sum_{k\neq i}\big(e^{\hat u_i^\top\hat u_k/\tau}
              + e^{\hat u_i^\top\hat v_k/\tau}\big),\qquad \ell_i = \tfrac12(\ell_i^{u\to v} + \ell_i^{v\to u})

    Default τ = 0.1 (lightly and raminnakhli; the paper's per-dataset values are unverified here). Equal to
    lightly's ``DCLLoss`` (tested). **The loss can be negative** (no positive in the denominator); collapsed
    embeddings give log(2(B-1)). Two views, B >= 2, self-supervised (``labels`` None). The paper claims a
    smaller sensitivity to the batch size than SimCLR's (notebook 13 tests it at digit scale).
    ``gather=True``: the whole batch of every process under torch.distributed, computed on every rank (the
    whole-batch semantics of :mod:`workbench.losses.distributed`; ``"none"`` gives all N instances' values).
    lightly 1.6.0's ``DCLLoss(gather_distributed=True)`` instead computes this rank's anchors against every
    rank's negatives and averages over this rank's anchors only.

    Reduction: ``"none"`` gives one value per instance [B] (its two directions averaged); ``"mean"`` averages
    over the B instances.
    """

    def __init__(self, temperature: float = 0.1, reduction: str = "mean", gather: bool = False):
        super().__init__(temperature, reduction, gather)


@register(
    "dclw", family="contrastive", kind="views", reduces_over="instance",
    paper=Paper("Decoupled Contrastive Learning", 2022, "Yeh, Hong, Hsu, Liu, Chen, LeCun"),
    formula=r"\ell_i = -w_i\frac{\hat u_i^\top\hat v_i}{\tau} + \log\sum_{k\neq i}\big(e^{\hat u_i^\top\hat u_k/\tau}"
            r" + e^{\hat u_i^\top\hat v_k/\tau}\big),"
            r"\; w_i = 2 - B\,\mathrm{softmax}_k(\hat u_k^\top\hat v_k/\sigma)_i",
    params={"temperature": Param(0.1, 0.01, 2.0, "τ", log=True, valid=POSITIVE),
            "sigma": Param(0.5, 0.05, 5.0, "σ of the von Mises-Fisher weight of the positives", log=True,
                           valid=POSITIVE)},
)
class DCLW(_Decoupled):
    r"""Weighted DCL (Yeh et al., ECCV 2022): :class:`DCL` with the positive term weighted by a negative von
    Mises-Fisher weight, :math:`w_i = 2 - B\,\mathrm{softmax}_k(\hat u_k^\top \hat v_k/\sigma)_i` (mean weight 1;
    an easy, well-aligned positive gets less than 1, a hard one more). The weights are computed without
    gradient, as lightly's ``DCLWLoss`` does (raminnakhli's code keeps the gradient; not offered). Defaults
    τ = 0.1, σ = 0.5 (lightly). Equal to lightly's ``DCLWLoss`` (tested). Can be negative. Two views, B >= 2,
    self-supervised. ``gather=True``: as :class:`DCL`, the whole gathered batch on every rank; the weights then
    take the softmax over all N positives of the whole batch, as the single-process loss of that batch does
    (lightly 1.6.0's ``gather_distributed`` weights each rank's positives among its own).

    Reduction: ``"none"`` gives one value per instance [B] (its two directions averaged); ``"mean"`` averages
    over the B instances.
    """

    def __init__(self, temperature: float = 0.1, sigma: float = 0.5, reduction: str = "mean",
                 gather: bool = False):
        super().__init__(temperature, reduction, gather)
        self.sigma = POSITIVE.check(sigma, "sigma")

    def _weights(self, positives: Tensor) -> Tensor:
        return 2 - len(positives) * torch.softmax(positives.detach() / self.sigma, dim=0)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, sigma={self.sigma}"


__all__ = ["DCL", "DCLW"]
