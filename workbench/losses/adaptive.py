"""Contrastive losses whose temperatures adapt (kind ``views``): iSogCLR, with a learned temperature per
sample kept in buffers indexed by the sample ids, and AMCL, with several heads and a temperature per pair.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    UNIT,
    check_in_range,
    check_index,
    check_int,
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

# --- iSogCLR -------------------------------------------------------------------------------------


@register(
    "isogclr", family="contrastive", kind="views", reduces_over="anchor",
    paper=Paper("Not All Semantics are Created Equal: Contrastive Self-supervised Learning with Automatic "
                "Temperature Individualization", 2023, "Qiu, Hu, Zhou, Yuan, Yang"),
    formula=r"F = \frac1n\sum_i \tau_i \log \frac{1}{|S_i^-|}\sum_{z\in S_i^-} e^{(s(a_i,z)-s(a_i,a_i^+))/\tau_i}"
            r" + \tau_i\rho",
    params={"temperature": Param(0.1, 0.05, 0.7, "initial τ_i of every sample", log=True, valid=POSITIVE),
            "rho": Param(0.3, 0.0, 8.0, "KL radius ρ: larger ρ pushes the temperatures down", valid=NONNEGATIVE),
            "gamma": Param(0.9, 0.0, 1.0, "weight of the new batch estimate in the moving average u_i", valid=UNIT),
            "beta": Param(0.9, 0.0, 1.0, "weight of the new τ-gradient in its momentum", valid=UNIT),
            "eta": Param(0.01, 0.0, 0.1, "step size of the temperature update", valid=NONNEGATIVE),
            # the tau_min/tau_max sliders stop at the default temperature 0.1, which must lie between them
            "tau_min": Param(0.05, 0.005, 0.1, "lower bound of τ_i (at most the temperature)", log=True,
                             valid=POSITIVE),
            "tau_max": Param(0.7, 0.1, 2.0, "upper bound of τ_i (at least the temperature)", log=True,
                             valid=POSITIVE)},
)
class ISogCLR(nn.Module):
    r"""iSogCLR: robust global contrastive loss with a temperature per sample (Qiu et al., ICML 2023).

    Objective (the KL-DRO dual, a decoupled InfoNCE: the positive is not in the denominator):

    .. math:: F = \frac1n\sum_i \tau_i \log \frac{1}{|S_i^-|}\sum_{z\in S_i^-} e^{h_i(z)/\tau_i} + \tau_i\rho,
              \qquad h_i(z) = s(a_i, z) - s(a_i, a_i^+)

    Per batch, for each anchor row r of sample i (every view of every instance is an anchor; its
    negatives are the rows of other labels, its positive similarity the mean over its positives):

    1. :math:`g_r` = mean over the row's negatives of :math:`e^{s/\tau_i}` (raw similarities, as the
       official code; the shift by :math:`s^+` cancels in the gradients but not in the moving average);
    2. :math:`u_r = (1-\gamma) u_i + \gamma g_r`, one per row (the official code's ``u1``/``u2``, one per
       view/direction; first visit: :math:`\gamma = 1`); the sample keeps :math:`u_i \leftarrow
       \mathrm{mean}_r u_r` (the official ``(u1 + u2)/2``), kept in log space;
    3. the gradient is that of the surrogate :math:`\sum_j p_{rj} s_{rj}/|S^-| - \bar s_r^+` with
       :math:`p_{rj} = e^{s_{rj}/\tau_i}/u_r` (detached);
    4. :math:`\nabla\tau_i = \mathrm{mean}_r\big(\log u_r + \rho - \sum_j p_{rj} s_{rj}/\tau_i/|S^-|\big)`
       clipped to [-``grad_clip``, ``grad_clip``], momentum :math:`m_i \leftarrow (1-\beta) m_i + \beta
       \nabla\tau_i`, :math:`\tau_i \leftarrow \mathrm{clip}(\tau_i - \eta m_i, \tau_{min}, \tau_{max})`.

    This is LibAUC's unimodal ``GCLoss_v1(enable_isogclr=True)`` step by step (tested against it over
    several steps: same τ, u, momentum and, times 2, embedding gradient), plus the ±3 clip of the τ-gradient
    of the authors' ``SogCLR_DRO_Loss`` (zhqiu/contrastive-learning-iSogCLR, ``unimodal_exps/losses.py``),
    the default; ``grad_clip=None`` is LibAUC's unclipped step. Defaults follow ``GCLoss_v1`` (τ init
    0.1, ρ 0.3, γ 0.9, β 0.9, η 0.01, τ in [0.05, 0.7]); the authors' unimodal script uses τ 0.1, ρ 6,
    γ 0.8, η 0.001, τ in [0.05, 1]. Two departures, neither of which changes a run in which every epoch
    visits every sample once: the first visit is decided per sample (LibAUC: γ = 1 for the whole batch when
    its stored u sum to 0; the authors: γ = 1 during the first epoch), and u lives in log space (no overflow
    at small τ; LibAUC clamps u >= 1e-8 for the weights). The value returned is the batch estimate of F
    (with each row's batch g), its gradient the surrogate's, so the number means something and the
    gradient is the algorithm's. We average over anchor rows where LibAUC adds the two directions (a
    factor 2).

    State: ``tau``, ``log_u``, ``momentum`` and ``seen`` are buffers indexed by sample id (``index``, the
    dataset rows of the batch's instances; ``train.fit`` passes it because ``uses_index`` is true). They
    grow to the largest id seen (or are sized by ``num_samples``) and are updated only when ``index`` is
    given and the module is in training mode. Without ``index`` the loss is stateless: every anchor row
    has τ = ``temperature`` and u = its own batch g (so the gradient is exactly that of F on the batch).
    ``reduction="none"`` gives the per-anchor-row values [B·V].

    ``gather=True``: under torch.distributed, every rank's views, labels and ``index`` are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`;
    ``"none"`` gives all N·V rows' values). Every rank then updates the state of every sample of the whole batch
    the same way, so the per-sample τ and u stay equal across ranks. (We did not check how the authors' code
    distributes the loss.)

    Reduction: ``"none"`` gives one value per anchor row [B·V]; ``"mean"`` averages over all B·V rows (a row
    without negatives counts, with 0).
    """

    uses_index = True

    def __init__(self, temperature: float = 0.1, rho: float = 0.3, gamma: float = 0.9, beta: float = 0.9,
                 eta: float = 0.01, tau_min: float = 0.05, tau_max: float = 0.7, num_samples: int = 0,
                 grad_clip: float | None = 3.0, reduction: str = "mean", gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.temperature = check_positive(temperature, "temperature")
        self.rho = check_in_range(rho, "rho", 0.0, math.inf)
        self.gamma = check_in_range(gamma, "gamma", 0.0, 1.0)
        self.beta = check_in_range(beta, "beta", 0.0, 1.0)
        self.eta = check_in_range(eta, "eta", 0.0, math.inf)
        self.tau_min, self.tau_max = check_positive(tau_min, "tau_min"), check_positive(tau_max, "tau_max")
        if not self.tau_min <= self.temperature <= self.tau_max:
            raise ValueError(f"temperature must lie in [tau_min, tau_max] = [{tau_min}, {tau_max}], "
                             f"got {temperature}")
        self.grad_clip = None if grad_clip is None else check_positive(grad_clip, "grad_clip (None: no clip)")
        self.reduction = check_reduction(reduction)
        num_samples = check_int(num_samples, "num_samples", 0)
        self.register_buffer("tau", torch.full((num_samples,), self.temperature))
        self.register_buffer("log_u", torch.zeros(num_samples))
        self.register_buffer("momentum", torch.zeros(num_samples))
        self.register_buffer("seen", torch.zeros(num_samples, dtype=torch.bool))

    def _grow(self, n: int) -> None:
        extra = n - len(self.tau)
        if extra > 0:
            like = self.tau
            fresh = torch.full((extra,), self.temperature, dtype=like.dtype, device=like.device)
            self.tau = torch.cat([self.tau, fresh])
            self.log_u = torch.cat([self.log_u, self.log_u.new_zeros(extra)])
            self.momentum = torch.cat([self.momentum, self.momentum.new_zeros(extra)])
            self.seen = torch.cat([self.seen, self.seen.new_zeros(extra)])

    def from_similarity(self, similarity: Tensor, labels: Tensor, index: Tensor | None = None) -> Tensor:
        """From S over N rows; ``index`` (optional) is the sample id of every ROW (rows of one sample share
        its temperature and moving average)."""
        check_similarity(similarity, labels)
        if index is not None:
            check_index(index, len(labels))
        return self._loss(similarity, labels, index)

    def forward(self, views: Tensor, labels: Tensor | None = None, index: Tensor | None = None) -> Tensor:
        rows, row_labels = views_to_rows(views, labels)
        if index is not None:
            index = check_index(index, views.shape[0], distinct=True)
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            views, labels, index = distributed.gather_batch(views, labels, index)
            if index is not None:  # sample ids must differ across ranks too
                index = check_index(index, views.shape[0], distinct=True)
            rows, row_labels = views_to_rows(views, labels)
        row_index = None if index is None else index.repeat_interleave(views.shape[1])
        return self._loss(cosine_similarity_matrix(rows), row_labels, row_index)

    def _loss(self, similarity: Tensor, labels: Tensor, row_index: Tensor | None) -> Tensor:
        positive, negative = pair_masks(labels)
        pos_f = positive.to(similarity.dtype)
        n_pos, n_neg = pos_f.sum(1), negative.sum(1).to(similarity.dtype)
        s_pos = (similarity * pos_f).sum(1) / n_pos.clamp(min=1)   # 0 for an anchor without a positive
        if row_index is None:
            tau = torch.full_like(s_pos, self.temperature)
        else:
            self._grow(int(row_index.max()) + 1)
            tau = self.tau[row_index].to(similarity.dtype)
        has_neg = n_neg > 0
        # Official code: the moving average is of e^{s/τ} on the raw similarities (not of e^{(s - s+)/τ}).
        logits = similarity / tau[:, None]
        # log g_r = log mean over negatives of e^{s/τ}; 0 for a row without negatives (its loss is 0).
        log_g = torch.where(has_neg, masked_logsumexp(logits, negative) - n_neg.clamp(min=1).log(), 0.0)
        # batch estimate of F: τ log mean e^{(s - s+)/τ} + τρ = τ (log g + ρ) - s+
        value = tau * (log_g + self.rho) - s_pos
        with torch.no_grad():
            samples = None if row_index is None else self._samples(row_index, has_neg)
            log_u = self._moving_average(log_g.detach(), samples)
            p = torch.exp(logits.detach() - log_u[:, None]).masked_fill(~negative, 0.0)
            if samples is not None and self.training:
                self._update_tau(p, logits.detach(), log_u, samples, n_neg)
        surrogate = (p * similarity).sum(1) / n_neg.clamp(min=1) - s_pos
        per_row = torch.where(has_neg, value.detach() + surrogate - surrogate.detach(), torch.zeros_like(value))
        return reduce(per_row, self.reduction)

    @staticmethod
    def _samples(row_index: Tensor, has_neg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(ids, inverse, member)``: the batch's distinct sample ids, each row's position among them, and
        ``member[k, r]``, row r belongs to sample ``ids[k]`` and has negatives (rows without count for nothing)."""
        ids, inverse = torch.unique(row_index, return_inverse=True)
        member = (inverse[None, :] == torch.arange(len(ids), device=ids.device)[:, None]) & has_neg[None, :]
        return ids, inverse, member

    def _moving_average(self, log_g: Tensor, samples: tuple[Tensor, Tensor, Tensor] | None) -> Tensor:
        """log u for every row: its own batch g when stateless; else the row's own moving average
        ``u_r = (1 - γ) u_i + γ g_r`` (one per view, as the official code keeps u1 and u2 per direction),
        and the sample's stored ``u_i`` becomes the mean of its rows' ``u_r`` (the official ``(u1 + u2)/2``)."""
        if samples is None:
            return log_g
        ids, inverse, member = samples
        # built in log_g's dtype: a float32 γ would round the average of a float64 run
        gamma = torch.where(self.seen[ids][inverse], log_g.new_tensor(self.gamma), log_g.new_tensor(1.0))
        old = self.log_u[ids].to(log_g.dtype)
        log_u_row = torch.logaddexp(torch.log1p(-gamma) + old[inverse], gamma.log() + log_g)
        if self.training:
            count = member.sum(1).clamp(min=1).to(log_g.dtype)
            stored = masked_logsumexp(log_u_row[None, :].expand_as(member), member) - count.log()
            self.log_u[ids] = torch.where(member.any(1), stored, old).to(self.log_u.dtype)
            self.seen[ids] = self.seen[ids] | member.any(1)
        return log_u_row

    def _update_tau(self, p, logits, log_u, samples, n_neg) -> None:
        ids, _, member = samples
        per_row = log_u + self.rho - (p * logits).sum(1) / n_neg.clamp(min=1)
        grad = (per_row[None, :] * member).sum(1) / member.sum(1).clamp(min=1)
        if self.grad_clip is not None:
            grad = grad.clamp(-self.grad_clip, self.grad_clip)
        grad = grad.to(self.momentum.dtype)
        active = member.any(1)
        m = torch.where(active, (1 - self.beta) * self.momentum[ids] + self.beta * grad, self.momentum[ids])
        self.momentum[ids] = m
        self.tau[ids] = torch.where(active, (self.tau[ids] - self.eta * m).clamp(self.tau_min, self.tau_max),
                                    self.tau[ids])

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, rho={self.rho}, gamma={self.gamma}, beta={self.beta}, "
                f"eta={self.eta}, tau_min={self.tau_min}, tau_max={self.tau_max}, samples={len(self.tau)}")


# --- AMCL ----------------------------------------------------------------------------------------


def amcl_omega(tau: Tensor, dim: int) -> Tensor:
    r"""AMCL's temperature regulariser :math:`\Omega(\tau) = \tfrac{d'}{2}\log\tau + 1/\tau` (d' = head dimension)."""
    return 0.5 * dim * tau.log() + tau.reciprocal()


class _Phi(nn.Module):
    """AMCL's temperature network φ: Linear(d', h), ReLU, Linear(h, d') (nn.Linear's initialisation), run in
    the input's dtype (its weights cast), so float64 checks stay exact with float32 weights."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = dim if hidden is None else hidden
        self.weight1, self.bias1 = nn.Parameter(torch.empty(hidden, dim)), nn.Parameter(torch.empty(hidden))
        self.weight2, self.bias2 = nn.Parameter(torch.empty(dim, hidden)), nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight, bias in ((self.weight1, self.bias1), (self.weight2, self.bias2)):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(weight.shape[1])
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        hidden = F.relu(F.linear(x, self.weight1.to(x.dtype), self.bias1.to(x.dtype)))
        return F.linear(hidden, self.weight2.to(x.dtype), self.bias2.to(x.dtype))


class _LazyPhi(LazyModuleMixin, _Phi):
    """φ whose head dimension d' is read from its first input (``AMCL(head_dim=None)``); its parameters exist
    (uninitialised) from the start, so an optimiser built before the first batch still trains them."""

    cls_to_become = _Phi

    def __init__(self, hidden: int | None = None):
        super().__init__(1, 1)  # LazyModuleMixin's hooks, then placeholders (as torch's LazyLinear does)
        self.hidden = hidden
        self.weight1, self.bias1 = UninitializedParameter(), UninitializedParameter()
        self.weight2, self.bias2 = UninitializedParameter(), UninitializedParameter()

    def initialize_parameters(self, x: Tensor) -> None:
        if self.has_uninitialized_params():
            dim = x.shape[-1]
            hidden = dim if self.hidden is None else self.hidden
            with torch.no_grad():
                self.weight1.materialize((hidden, dim))
                self.bias1.materialize((hidden,))
                self.weight2.materialize((dim, hidden))
                self.bias2.materialize((dim,))
                self.reset_parameters()


@register(
    "amcl", family="contrastive", kind="views", reduces_over="batch",
    paper=Paper("Adaptive Multi-head Contrastive Learning", 2024, "Wang, Koniusz, Gedeon, Zheng"),
    formula=r"L = \sum_h \overline{-\frac{s^h_{ip}}{\tau^h_{ip}} + \frac1k\sum_{n\in\mathrm{top}_k}"
            r"\frac{s^h_{in}}{\tau^h_{in}} + \beta\,\Omega(\tau^h_{ip}) - \beta\sum_{n\in\mathrm{top}_k}"
            r"(\log\tau^h_{in} + 1/\tau^h_{in})},\;\tau = \tau_{min} + (\tau_{max}-\tau_{min})\,"
            r"\sigma(-\phi(z_i)^\top\phi(z_j))",
    params={"num_heads": Param(2, 1, 8, "projection heads: the embedding is split into this many parts",
                               valid=POSITIVE_INT),
            "beta": Param(0.01, 0.0, 0.1, "β: weight of the temperature regulariser", valid=NONNEGATIVE),
            "topk": Param(100, 1, 256, "hardest negatives kept per anchor (the Top-k approximation)",
                          valid=POSITIVE_INT)},
)
class AMCL(nn.Module):
    r"""Adaptive Multi-head Contrastive Learning (Wang, Koniusz, Gedeon & Zheng, ECCV 2024), SimCLR form,
    following the authors' code (LeiWangR/cl v2.0, ``amcl/losses.py``: ``AMCLNTXentLoss``,
    ``TemperatureHead``, ``omega``).

    ``views[B, V, D]`` holds ``num_heads`` projection-head outputs side by side (D = H·d', each head its
    own projection, as the authors' separate heads); each part is L2-normalised. One small network
    :math:`\phi` (Linear d'→hidden, ReLU, Linear hidden→d'; hidden = d' by default), shared by the heads,
    gives every pair a temperature

    .. math:: \tau_{ij} = \tau_{min} + (\tau_{max} - \tau_{min})\,\sigma(-\phi(z_i)^\top\phi(z_j)),
              \qquad \tau \in (10^{-5}, 2)

    (gradients flow into the embeddings through φ too). For each head, anchor row i, positive p (the other
    view; with labels, every same-label row) and the k most similar negatives (``topk``, the paper's
    Top-k approximation of the log-sum-exp):

    .. math:: \ell^h_{ip} = -\frac{s_{ip}}{\tau_{ip}} + \frac1k\sum_{n\in\mathrm{top}_k}\frac{s_{in}}{\tau_{in}}
              + \beta\,\Omega(\tau_{ip}) - \beta\sum_{n\in\mathrm{top}_k}\big(\log\tau_{in} + 1/\tau_{in}\big),
              \qquad \Omega(\tau) = \tfrac{d'}{2}\log\tau + \tfrac1\tau

    averaged over the (anchor, positive) pairs (for two views: the mean of the two directions, as the
    official code) and summed over heads. Defaults β = 0.01, τ in [1e-5, 2], top-k 100 are the
    official ``AMCLNTXentLoss``'s; the official run uses 3 heads of 128 dimensions. Here ``num_heads=2``
    (so that the default fits even embedding widths) and ``head_dim=None``: the head dimension is read from
    the first embeddings (D // num_heads) and then fixed, and φ's parameters are created uninitialised and
    filled at that first call (a lazy module), so an optimiser built before the first batch still trains
    them; pass ``head_dim`` to fix it up front. φ is an ``nn.Module`` of the loss (``train.fit`` optimises
    it). The official code computes φ and τ in float32; we compute them in the input's dtype.

    Earlier code in the same repository (``src/amcl_components/adaptive_temperature.py`` and
    ``src/models.py``) differs and does not run on current PyTorch (an ``nn.ModuleList`` of Parameters, a
    ``size(1)`` of a 1-D tensor): a per-head MLP on the concatenated pair with a sigmoid to [1e-5, 2],
    the regulariser 0.1·((n/2) log τ + 1/τ), and only positive pairs, -log σ(2s/τ). Its evident intent
    (n = the head dimension) is the v2.0 code's Ω, which we follow; Loss Lab's former per-head linear
    temperature with a λ(log τ - log τ0)² penalty appears in neither and is gone.

    ``from_similarity(S, labels, temperatures=None)``: S is [H, N, N] (``similarity_matrix(rows)``) or
    [N, N] shared by the heads; the temperatures need the embeddings (``pair_temperatures(rows)``), and
    without them every pair takes the temperature of a zero φ-score, (τ_min + τ_max)/2, so the pair-weight
    lens shows the weights at that fixed temperature (if no embedding has fixed d' yet, Ω's (d'/2) log τ, a
    constant there, is left out of the value). Not a per-sample loss: no ``reduction``.

    ``gather=True``: under torch.distributed, every rank's views and labels are gathered and every rank computes
    the loss of the whole batch, φ's temperatures of every pair included (the whole-batch semantics of
    :mod:`workbench.losses.distributed`): φ's gradient is then the whole batch's on every rank, and DDP's average
    keeps it. φ must start equal on every rank (seed the ranks alike before φ's first call, or broadcast it).
    (We did not check how the authors' code distributes the loss.)
    """

    def __init__(self, num_heads: int = 2, head_dim: int | None = None, beta: float = 0.01, topk: int = 100,
                 tau_min: float = 1e-5, tau_max: float = 2.0, hidden_dim: int | None = None, gather: bool = False):
        super().__init__()
        self.gather = distributed.check_gather(gather)
        self.num_heads, self.topk = check_int(num_heads, "num_heads", 1), check_int(topk, "topk", 1)
        self.head_dim = None if head_dim is None else check_int(head_dim, "head_dim (None: D // num_heads)", 1)
        if hidden_dim is not None:
            check_int(hidden_dim, "hidden_dim (None: the head width)", 1)
        self.beta = check_nonnegative(beta, "beta")
        self.tau_min, self.tau_max = check_positive(tau_min, "tau_min"), check_positive(tau_max, "tau_max")
        if not self.tau_min < self.tau_max:
            raise ValueError(f"tau_min must be < tau_max, got {tau_min} and {tau_max}")
        self.phi = _LazyPhi(hidden_dim) if head_dim is None else _Phi(head_dim, hidden_dim)

    def _parts(self, rows: Tensor) -> Tensor:
        n, d = rows.shape
        if self.head_dim is None and d % self.num_heads == 0:
            self.head_dim = d // self.num_heads  # read from the first embeddings, then fixed
        if d != self.num_heads * (self.head_dim or 0):
            hint = (f"pass head_dim={d // self.num_heads}" if d % self.num_heads == 0
                    else f"D must be divisible by num_heads={self.num_heads}")
            raise ValueError(f"the embedding dimension D={d} must equal num_heads * head_dim = "
                             f"{self.num_heads} * {self.head_dim} (one part per head): {hint}")
        return normalize(rows.reshape(n, self.num_heads, self.head_dim), dim=-1).transpose(0, 1)

    def similarity_matrix(self, rows: Tensor) -> Tensor:
        """The heads' cosine similarities [H, N, N] of ``rows[N, D]`` (D split into H parts)."""
        parts = self._parts(rows)
        return parts @ parts.transpose(1, 2)

    def _temperatures(self, parts: Tensor) -> Tensor:
        p = self.phi(parts)
        return self.tau_min + (self.tau_max - self.tau_min) * torch.sigmoid(-(p @ p.transpose(1, 2)))

    def pair_temperatures(self, rows: Tensor) -> Tensor:
        """τ^h_ij [H, N, N] of ``rows[N, D]``: in (tau_min, tau_max)."""
        return self._temperatures(self._parts(rows))

    def from_similarity(self, similarity: Tensor, labels: Tensor, temperatures: Tensor | None = None) -> Tensor:
        heads = similarity.expand(self.num_heads, -1, -1) if similarity.dim() == 2 else similarity
        if heads.dim() != 3 or heads.shape[0] != self.num_heads:
            raise ValueError(f"similarity must have shape [N, N] (one head) or [H={self.num_heads}, N, N], "
                             f"got {tuple(similarity.shape)}")
        for s in heads:
            check_similarity(s, labels)
        if temperatures is None:
            temperatures = torch.full_like(heads, (self.tau_min + self.tau_max) / 2)
        elif temperatures.shape != heads.shape:
            raise ValueError(f"temperatures must have shape {tuple(heads.shape)}, got {tuple(temperatures.shape)}")
        return self._loss(heads, temperatures, labels)

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        rows, row_labels = views_to_rows(views, labels)
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            self._parts(rows)  # refuse a wrong width before the gather (a rank that raises would leave the others)
            rows, row_labels = views_to_rows(*distributed.gather_batch(views, labels))
        parts = self._parts(rows)
        return self._loss(parts @ parts.transpose(1, 2), self._temperatures(parts), row_labels)

    def _loss(self, heads: Tensor, tau: Tensor, labels: Tensor) -> Tensor:
        positive, negative = pair_masks(labels)
        if not positive.any():
            return (heads * 0).sum()
        n_neg = negative.sum(1)
        k = min(self.topk, int(n_neg.max()))
        if k > 0:
            # the k most similar negatives of every anchor (fewer where a row has fewer negatives)
            idx = heads.detach().masked_fill(~negative, -math.inf).topk(k, dim=-1).indices
            valid = (torch.arange(k, device=heads.device) < n_neg.clamp(max=k)[:, None]).to(heads.dtype)
            s_top, tau_top = heads.gather(-1, idx), tau.gather(-1, idx)
            count = valid.sum(1).clamp(min=1)
            neg = (s_top / tau_top * valid).sum(-1) / count
            reg_neg = self.beta * ((tau_top.log() + tau_top.reciprocal()) * valid).sum(-1)
        else:  # one class in the batch: no negatives
            neg = reg_neg = heads.new_zeros(heads.shape[:2])
        # d' unknown only in from_similarity before any embedding was seen: Ω's (d'/2) log τ is then left out
        per_pair = -heads / tau + self.beta * amcl_omega(tau, self.head_dim or 0) + (neg - reg_neg)[..., None]
        return ((per_pair * positive).sum((1, 2)) / positive.sum()).sum()

    def extra_repr(self) -> str:
        return (f"num_heads={self.num_heads}, head_dim={self.head_dim}, beta={self.beta}, topk={self.topk}, "
                f"tau_min={self.tau_min}, tau_max={self.tau_max}")
