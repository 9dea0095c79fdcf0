"""Cross-modal contrastive losses (kind ``crossmodal``): ``forward(x[B, D], y[B, D])``, row i of x pairs
with row i of y. CLIP's symmetric InfoNCE, CWCL's continuously weighted version of it and SigLIP's pairwise
sigmoid loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    POSITIVE,
    REAL,
    check_flag,
    check_float_tensor,
    check_paired,
    check_positive,
    check_reduction,
    reduce,
)
from . import distributed
from .registry import Paper, Param, register
from .similarity import normalize


def _check_pair(x: Tensor, y: Tensor) -> None:
    check_float_tensor(x, "x", 2, "[B, D]", nonempty=True)
    check_float_tensor(y, "y", 2, "[B, D]")
    check_paired(x, y, ("x", "y"))


def _check_cross_similarity(similarity: Tensor, y: Tensor | None) -> None:
    """A square cross-modal similarity ``S[B, B]``, ``S_ij = x̂_i·ŷ_j`` (row i's match is column i), and ``y[B, D]``
    where given."""
    check_float_tensor(similarity, "similarity", 2, "[B, B]", nonempty=True)
    b = similarity.shape[0]
    if similarity.shape[1] != b:
        raise ValueError(f"similarity must be square [B, B] (x_i matches y_i), got shape {tuple(similarity.shape)}")
    if y is not None:
        check_float_tensor(y, "y", 2, f"[{b}, D]")
        if len(y) != b:
            raise ValueError(f"y must have {b} rows (one per row of the similarity), got shape {tuple(y.shape)}")


def crossmodal_logits(x: Tensor, y: Tensor, temperature: float) -> Tensor:
    """``x̂ ŷᵀ / τ`` [B, B]: row i scores x_i against every y_j (for a nearest-match or zero-shot read-out)."""
    return normalize(x, dim=1) @ normalize(y, dim=1).T / temperature


def _soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Per row: -Σ_j targets_ij log softmax(logits)_ij (targets rows sum to 1)."""
    return -(targets * torch.log_softmax(logits, dim=1)).sum(1)


def cwcl_weights(reference: Tensor) -> Tensor:
    r"""CWCL's continuous targets from the frozen modality: :math:`w_{ij} = \hat q_i^\top \hat q_j / 2 + 1/2`
    in [0, 1] with :math:`w_{ii} = 1`, computed without gradient."""
    q = normalize(reference.detach(), dim=1)
    return (q @ q.T) / 2 + 0.5


def clip_loss(x: Tensor, y: Tensor, *, temperature: float = 0.07, reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`CLIP`."""
    _check_pair(x, y)
    return _clip(crossmodal_logits(x, y, check_positive(temperature, "temperature")), check_reduction(reduction))


def _clip(logits: Tensor, reduction: str) -> Tensor:
    target = torch.arange(len(logits), device=logits.device)
    per_pair = (F.cross_entropy(logits, target, reduction="none")
                + F.cross_entropy(logits.T, target, reduction="none")) / 2
    return reduce(per_pair, reduction)


class _LogitScale(nn.Module):
    """The temperature, fixed or learned as CLIP does (log of 1/τ, 1/τ capped at 100)."""

    def __init__(self, temperature: float, learn_temperature: bool):
        super().__init__()
        self.temperature_init = check_positive(temperature, "temperature")
        log_scale = torch.tensor(-math.log(self.temperature_init))
        if check_flag(learn_temperature, "learn_temperature"):
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def temperature(self) -> float:
        return float(1 / self.log_scale.detach().exp().clamp(max=100.0))

    def logits(self, x: Tensor, y: Tensor) -> Tensor:
        return self.scaled(normalize(x, dim=1) @ normalize(y, dim=1).T)

    def scaled(self, similarity: Tensor) -> Tensor:
        """``S / τ`` (1/τ capped at 100)."""
        return similarity * self.log_scale.exp().clamp(max=100.0).to(similarity.dtype)


class _CrossModal(nn.Module):
    """Shared plumbing of CLIP and CWCL: the temperature (fixed or learned), checks, the reduction; ``gather=True``:
    every process's pairs under torch.distributed (:mod:`workbench.losses.distributed`)."""

    def __init__(self, temperature: float = 0.07, learn_temperature: bool = False, reduction: str = "mean",
                 gather: bool = False):
        super().__init__()
        self.scale = _LogitScale(temperature, learn_temperature)
        self.reduction = check_reduction(reduction)
        self.gather = distributed.check_gather(gather)

    @property
    def temperature(self) -> float:
        return self.scale.temperature

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_pair(x, y)
        if distributed.active(self.gather):  # every rank's pairs, the whole batch on every rank (see .distributed)
            x, y = distributed.gather_batch(x, y)
        return self._from_logits(self.scale.logits(x, y), y)

    def from_similarity(self, similarity: Tensor, y: Tensor | None = None) -> Tensor:
        """The loss as a function of the cross-modal cosines ``S[B, B] = x̂ ŷᵀ`` (the pair-weight lens,
        ``analysis.crossmodal_weights``): ``forward(x, y) == from_similarity(x̂ ŷᵀ, y)`` in one process (the lens
        does not gather). ``y`` is needed only where the targets come from it (CWCL)."""
        _check_cross_similarity(similarity, y)
        return self._from_logits(self.scale.scaled(similarity), y)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:.4g}"


@register(
    "clip", family="contrastive", kind="crossmodal", reduces_over="sample",
    paper=Paper("Learning Transferable Visual Models From Natural Language Supervision (CLIP)", 2021,
                "Radford, Kim, Hallacy, Ramesh, Goh, Agarwal, Sastry, Askell, Mishkin, Clark, Krueger, Sutskever"),
    formula=r"\ell_i = \tfrac12\Big(-\log\frac{e^{\hat x_i^\top\hat y_i/\tau}}{\sum_j e^{\hat x_i^\top\hat y_j/\tau}}"
            r" - \log\frac{e^{\hat x_i^\top\hat y_i/\tau}}{\sum_j e^{\hat x_j^\top\hat y_i/\tau}}\Big)",
    params={"temperature": Param(0.07, 0.01, 1.0, "τ (CLIP initialises 1/τ at 1/0.07 and learns it)", log=True,
                                 valid=POSITIVE)},
)
class CLIP(_CrossModal):
    r"""CLIP's symmetric InfoNCE (Radford et al. 2021): cross-entropy of x_i against every y_j and of y_i
    against every x_j, the matching row being the target, averaged over the two directions:

    .. math:: \ell_i = \tfrac12\Big(\mathrm{CE}\big(\tfrac{\hat x_i^\top \hat Y}{\tau}, i\big) +
              \mathrm{CE}\big(\tfrac{\hat y_i^\top \hat X}{\tau}, i\big)\Big)

    ``learn_temperature=True`` learns log(1/τ) as CLIP does (initialised at 1/τ, capped at 100), as an
    ``nn.Parameter`` that ``train.fit`` optimises with the model. ``reduction="none"`` gives [B].

    ``gather=True``: under torch.distributed, every rank's pairs are gathered and every rank computes the loss of
    the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`; ``"none"`` gives all N
    pairs' values), as open_clip's ``ClipLoss(local_loss=False, gather_with_grad=True)`` computes the [N, N] logits
    of the gathered features.

    Reduction: ``"none"`` gives one value per matched pair (x_i, y_i) [B]; ``"mean"`` averages over all B.
    """

    def _from_logits(self, logits: Tensor, y: Tensor) -> Tensor:
        return _clip(logits, self.reduction)


REVERSE = ("weighted", "clip")


def _check_reverse(reverse: str) -> str:
    if reverse not in REVERSE:
        raise ValueError(f"reverse must be one of {REVERSE}, got {reverse!r}")
    return reverse


def cwcl_loss(x: Tensor, y: Tensor, *, temperature: float = 0.07, weights: Tensor | None = None,
              reverse: str = "weighted", reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`CWCL`; ``weights[B, B]`` overrides the targets computed from ``y``
    (the identity gives CLIP)."""
    _check_pair(x, y)
    logits = crossmodal_logits(x, y, check_positive(temperature, "temperature"))
    return _cwcl(logits, _check_weights(weights, len(x)) if weights is not None else cwcl_weights(y),
                 check_reduction(reduction), _check_reverse(reverse))


def _check_weights(weights: Tensor, n: int) -> Tensor:
    check_float_tensor(weights, "weights", 2, f"[{n}, {n}]")
    if weights.shape != (n, n) or (weights < 0).any() or (weights.sum(1) <= 0).any():
        raise ValueError(f"weights must be a non-negative [{n}, {n}] matrix with positive row sums, "
                         f"got shape {tuple(weights.shape)}")
    return weights


def _cwcl(logits: Tensor, weights: Tensor, reduction: str, reverse: str = "weighted") -> Tensor:
    # Each anchor's targets are its weight row normalised by the weight mass; the y -> x direction uses the
    # same weights ("weighted") or the matching row only ("clip").
    targets = weights / weights.sum(1, keepdim=True)
    back = targets if reverse == "weighted" else torch.eye(len(logits), dtype=logits.dtype, device=logits.device)
    per_pair = (_soft_cross_entropy(logits, targets) + _soft_cross_entropy(logits.T, back)) / 2
    return reduce(per_pair, reduction)


@register(
    "cwcl", family="contrastive", kind="crossmodal", reduces_over="sample",
    paper=Paper("CWCL: Cross-Modal Transfer with Continuously Weighted Contrastive Loss", 2023,
                "Srinivasa, Cho, Yang, Mo, Kim, Jin, Sui, Seo"),
    formula=r"\ell_i = -\frac{1}{\sum_j w_{ij}}\sum_j w_{ij}\log\frac{e^{\hat x_i^\top\hat y_j/\tau}}"
            r"{\sum_k e^{\hat x_i^\top\hat y_k/\tau}},\; w_{ij} = \tfrac12\hat y_i^\top\hat y_j + \tfrac12",
    params={"temperature": Param(0.07, 0.01, 1.0, "τ", log=True, valid=POSITIVE)},
)
class CWCL(_CrossModal):
    r"""Continuously Weighted Contrastive Loss (Srinivasa et al., NeurIPS 2023).

    ``y`` is the reference modality, from a frozen pre-trained encoder; ``x`` the modality being trained.
    Instead of "only the matching row is positive", every pair gets a target weight from the similarity
    *within* the frozen modality, :math:`w_{ij} = \hat y_i^\top \hat y_j/2 + 1/2` (no gradient), and the
    loss is a soft-target cross-entropy normalised by each anchor's weight mass:

    .. math:: \ell_i^{x\to y} = -\frac{1}{\sum_j w_{ij}}\sum_j w_{ij}\log\mathrm{softmax}_j(\hat x_i^\top\hat y_j/\tau)

    and, by default, the same weights for the y→x direction (the logits transposed). We average the two
    directions, as :class:`CLIP` does, so that identity weights give exactly CLIP (the paper adds them; a
    factor 2). ``reverse="clip"`` uses plain CLIP targets (the matching row) in the y→x direction instead.

    Evidence, unverified: which targets the y→x direction uses is not settled here. Neither the paper's
    text (only its abstract was available to us) nor official code (none found) could be read. The one
    published use we could read, CellCLIP (Lu, Weinberger, Kim & Lee, 2025, §3.3), applies CWCL with the
    frozen modality's weights :math:`w^U_{ij} = \langle\cdot,\cdot\rangle/2 + 0.5` in the U→V direction and "the
    standard CLIP loss" in V→U, adding the two, because similarities in their V gave no useful soft labels:
    that is ``reverse="clip"``, but it is their adaptation, not the CWCL paper's equation. Our default keeps
    the frozen modality's weights in both directions (the structure of the frozen space is what CWCL
    transfers, and both directions train the same x). What is missing: CWCL's equation for V→U.
    ``reduction="none"`` gives [B].

    ``gather=True``: as :class:`CLIP`, the whole gathered batch on every rank (the targets then come from every
    rank's frozen modality).

    Reduction: ``"none"`` gives one value per matched pair (x_i, y_i) [B]; ``"mean"`` averages over all B.
    """

    def __init__(self, temperature: float = 0.07, learn_temperature: bool = False, reverse: str = "weighted",
                 reduction: str = "mean", gather: bool = False):
        super().__init__(temperature, learn_temperature, reduction, gather)
        self.reverse = _check_reverse(reverse)

    def _from_logits(self, logits: Tensor, y: Tensor) -> Tensor:
        if y is None:
            raise ValueError("y (the frozen reference modality, [B, D]) must be given: CWCL's targets come from it")
        return _cwcl(logits, cwcl_weights(y), self.reduction, self.reverse)


def siglip_loss(x: Tensor, y: Tensor, *, scale: float = 10.0, bias: float = -10.0, reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`SigLIP` with a fixed ``scale`` and ``bias``."""
    _check_pair(x, y)
    scale, bias = POSITIVE.check(scale, "scale"), REAL.check(bias, "bias")
    return _siglip(x, y, x.new_tensor(scale), x.new_tensor(bias), check_reduction(reduction))


def _siglip(x: Tensor, y: Tensor, scale: Tensor, bias: Tensor, reduction: str, offset: int = 0) -> Tensor:
    """``offset``: the anchors x are rows ``offset ...`` of a longer y (x_i pairs with y_{offset + i})."""
    # Half precision sums the B log σ terms of a row in float32, the result in the input's dtype; the vectors are
    # normalised in their own dtype (normalize's floor adapts to it, so a zero vector's gradient stays finite).
    half = x.dtype in (torch.float16, torch.bfloat16)
    x_hat, y_hat = normalize(x, dim=1), normalize(y, dim=1)
    wide = x_hat.float() if half else x_hat
    return _siglip_from_similarity(wide @ y_hat.to(wide.dtype).T, scale, bias, reduction, offset).to(x.dtype)


def _siglip_from_similarity(similarity: Tensor, scale: Tensor, bias: Tensor, reduction: str,
                            offset: int = 0) -> Tensor:
    """:func:`_siglip` on the cosines ``S[n, N]`` (row i's match is column ``offset + i``)."""
    logits = similarity * scale.to(similarity.dtype) + bias.to(similarity.dtype)
    sign = -torch.ones_like(logits)  # +1 on the matching pairs, -1 elsewhere
    anchors = torch.arange(len(logits), device=logits.device)
    sign[anchors, anchors + offset] = 1
    per_anchor = -F.logsigmoid(sign * logits).sum(1)
    return reduce(per_anchor, reduction)


@register(
    "siglip", family="contrastive", kind="crossmodal", reduces_over="sample",
    paper=Paper("Sigmoid Loss for Language Image Pre-Training (SigLIP)", 2023, "Zhai, Mustafa, Kolesnikov, Beyer"),
    formula=r"\ell_i = -\sum_j \log\sigma\big(z_{ij}(t\,\hat x_i^\top\hat y_j + b)\big),\;"
            r"z_{ii} = 1,\ z_{ij} = -1\ (i\neq j)",
    params={"scale": Param(10.0, 1.0, 100.0, "t, the initial logit scale (learned as log t)", log=True,
                           valid=POSITIVE),
            "bias": Param(-10.0, -20.0, 0.0, "b, the initial logit bias", valid=REAL),
            "learnable": Param(True, doc="learn t (as log t) and b with the model")},
)
class SigLIP(nn.Module):
    r"""SigLIP's pairwise sigmoid loss (Zhai et al., ICCV 2023; official google-research/big_vision
    ``trainers/proj/image_text/siglip.py``): every (x_i, y_j) is an independent binary problem, positive only
    on the diagonal,

    .. math:: \ell_i = -\sum_{j}\log\sigma\big(z_{ij}(t\,\hat x_i^\top \hat y_j + b)\big),\qquad
              z_{ij} = 2\,[i = j] - 1,\qquad L = \tfrac1B\sum_i \ell_i

    (big_vision's ``-sum(log_sigmoid(...), -1)`` then ``mean``). No softmax normaliser couples the batch, which
    is the paper's argument for small batches. Defaults t = 10, b = -10, both learnable (t stored as log t, as
    big_vision's ``t_prime``), the paper's initialisation (from the brief and recollection; big_vision's
    ``two_towers`` defaults differ: t 1, no bias; its COCO demo uses t 10, b -2.71). ``learnable=False``
    keeps them fixed. b = -10 keeps the B - 1 negatives of each row from dominating the loss at the start.
    Normalisation is :func:`normalize` (big_vision divides by ‖z‖ + 1e-8: equal to 1e-8 relative). One
    direction only: the matrix already holds every pair once. Any B >= 1.

    ``gather=True``: under torch.distributed, this rank's x rows (anchors) against every rank's y (the own-anchor
    semantics of :mod:`workbench.losses.distributed`: a [n, N] matrix per rank; the value, and the DDP-averaged
    gradient, of the whole batch; ``"none"`` gives this rank's anchors' values). big_vision@179d020's
    ``siglip.py`` computes the [N, N] logits of the global (sharded) batch under ``jit``, and leaves the paper's
    chunked implementation as a TODO; that chunked form (described in the paper: each device scores its images
    against every device's texts, the text chunks passed from device to device instead of all-gathered) computes
    per device what this rank computes here.

    Reduction: ``"none"`` gives one value per anchor x_i [B] (its sum over the B candidates); ``"mean"``
    averages over the B anchors.
    """

    def __init__(self, scale: float = 10.0, bias: float = -10.0, learnable: bool = True, reduction: str = "mean",
                 gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        log_scale = torch.tensor(math.log(POSITIVE.check(scale, "scale")))
        bias_t = torch.tensor(REAL.check(bias, "bias"))
        self.learnable = check_flag(learnable, "learnable")
        self.reduction = check_reduction(reduction)
        if self.learnable:
            self.log_scale, self.bias = nn.Parameter(log_scale), nn.Parameter(bias_t)
        else:
            self.register_buffer("log_scale", log_scale)
            self.register_buffer("bias", bias_t)

    @property
    def scale(self) -> float:
        return float(self.log_scale.detach().exp())

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_pair(x, y)
        if not distributed.active(self.gather):
            return _siglip(x, y, self.log_scale.exp(), self.bias, self.reduction)
        everyone, start = distributed.gather_rows(y)  # this rank's anchors against every rank's y
        per_anchor = _siglip(x, everyone, self.log_scale.exp(), self.bias, "none", offset=start)
        if self.reduction == "none":
            return per_anchor
        return distributed.combine(per_anchor.sum(), len(per_anchor) if self.reduction == "mean" else None)

    def from_similarity(self, similarity: Tensor, y: Tensor | None = None) -> Tensor:
        """The loss as a function of the cross-modal cosines ``S[B, B] = x̂ ŷᵀ`` (the pair-weight lens,
        ``analysis.crossmodal_weights``), equal to the forward in one process (no gather; computed in the
        similarity's dtype, where the forward sums half precision in float32); ``y`` is not needed (accepted, and
        checked, for one signature across the kind)."""
        _check_cross_similarity(similarity, y)
        return _siglip_from_similarity(similarity, self.log_scale.exp(), self.bias, self.reduction)

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}, bias={float(self.bias):.4g}, learnable={self.learnable}"
