"""Contrastive losses whose temperatures adapt (kind ``views``): iSogCLR, with a learned temperature per
sample kept in buffers indexed by the sample ids, and AMCL, with several heads and a temperature per pair.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_in_range, check_index, check_positive, check_reduction, reduce
from .multiview import _masked_lse
from .registry import Paper, Param, register
from .similarity import check_similarity, cosine_similarity_matrix, pair_masks, views_to_rows

# --- iSogCLR -------------------------------------------------------------------------------------


@register(
    "isogclr", family="contrastive", kind="views", reduces_over="anchor",
    paper=Paper("Not All Semantics are Created Equal: Contrastive Self-supervised Learning with Automatic "
                "Temperature Individualization", 2023, "Qiu, Hu, Zhou, Yuan, Yang"),
    formula=r"F = \frac1n\sum_i \tau_i \log \frac{1}{|S_i^-|}\sum_{z\in S_i^-} e^{(s(a_i,z)-s(a_i,a_i^+))/\tau_i}"
            r" + \tau_i\rho",
    params={"temperature": Param(0.1, 0.05, 0.7, "initial τ_i of every sample", log=True),
            "rho": Param(0.3, 0.0, 8.0, "KL radius ρ: larger ρ pushes the temperatures up"),
            "gamma": Param(0.9, 0.0, 1.0, "weight of the new batch estimate in the moving average u_i"),
            "beta": Param(0.9, 0.0, 1.0, "weight of the new τ-gradient in its momentum"),
            "eta": Param(0.01, 0.0, 0.1, "step size of the temperature update"),
            "tau_min": Param(0.05, 0.005, 0.5, "lower bound of τ_i", log=True),
            "tau_max": Param(0.7, 0.05, 2.0, "upper bound of τ_i", log=True)},
)
class ISogCLR(nn.Module):
    r"""iSogCLR: robust global contrastive loss with a temperature per sample (Qiu et al., ICML 2023).

    Objective (the KL-DRO dual, a decoupled InfoNCE: the positive is not in the denominator):

    .. math:: F = \frac1n\sum_i \tau_i \log \frac{1}{|S_i^-|}\sum_{z\in S_i^-} e^{h_i(z)/\tau_i} + \tau_i\rho,
              \qquad h_i(z) = s(a_i, z) - s(a_i, a_i^+)

    Per batch, for each anchor row r of sample i (every view of every instance is an anchor; its
    negatives are the rows of other labels, its positive similarity the mean over its positives):

    1. :math:`g_i` = mean over the sample's rows and their negatives of :math:`e^{h/\tau_i}`;
    2. :math:`u_i \leftarrow (1-\gamma) u_i + \gamma g_i` (first visit: :math:`u_i = g_i`), kept in log space;
    3. the gradient is that of the surrogate :math:`\sum_j p_{rj} s_{rj}/|S^-| - \bar s_r^+` with
       :math:`p_{rj} = e^{h_{rj}/\tau_i}/u_i` (detached);
    4. :math:`\nabla\tau_i = \log u_i + \rho - \overline{p\,h}/\tau_i` clipped to [-3, 3], momentum
       :math:`m_i \leftarrow (1-\beta) m_i + \beta\nabla\tau_i`, :math:`\tau_i \leftarrow
       \mathrm{clip}(\tau_i - \eta m_i, \tau_{min}, \tau_{max})`.

    Defaults follow LibAUC's unimodal ``GCLoss_v1`` (τ init 0.1, ρ 0.3, γ 0.9, β 0.9, η 0.01,
    τ in [0.05, 0.7]); the ±3 clip of the τ-gradient is the official iSogCLR code's. The value returned is
    the batch estimate of F (with the batch's g, per anchor row), its gradient the surrogate's, so the
    number means something and the gradient is the algorithm's. We average over anchor rows where LibAUC
    adds the two directions (a factor 2).

    State: ``tau``, ``log_u``, ``momentum`` and ``seen`` are buffers indexed by sample id (``index``, the
    dataset rows of the batch's instances; ``train.fit`` passes it because ``uses_index`` is true). They
    grow to the largest id seen (or are sized by ``num_samples``) and are updated only when ``index`` is
    given and the module is in training mode. Without ``index`` the loss is stateless: every anchor row
    has τ = ``temperature`` and u = its own batch g (so the gradient is exactly that of F on the batch).
    ``reduction="none"`` gives the per-anchor-row values [B·V].

    Reduction: ``"none"`` gives one value per anchor row [B·V]; ``"mean"`` averages over all B·V rows (a row
    without negatives counts, with 0).
    """

    uses_index = True

    def __init__(self, temperature: float = 0.1, rho: float = 0.3, gamma: float = 0.9, beta: float = 0.9,
                 eta: float = 0.01, tau_min: float = 0.05, tau_max: float = 0.7, num_samples: int = 0,
                 grad_clip: float = 3.0, reduction: str = "mean"):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.rho = check_in_range(rho, "rho", 0.0, math.inf)
        self.gamma = check_in_range(gamma, "gamma", 0.0, 1.0)
        self.beta = check_in_range(beta, "beta", 0.0, 1.0)
        self.eta = check_in_range(eta, "eta", 0.0, math.inf)
        self.tau_min, self.tau_max = check_positive(tau_min, "tau_min"), check_positive(tau_max, "tau_max")
        if not self.tau_min <= self.temperature <= self.tau_max:
            raise ValueError(f"temperature must lie in [tau_min, tau_max] = [{tau_min}, {tau_max}], "
                             f"got {temperature}")
        self.grad_clip = check_positive(grad_clip, "grad_clip")
        self.reduction = check_reduction(reduction)
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 0:
            raise ValueError(f"num_samples must be an int >= 0, got {num_samples!r}")
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
        row_index = None
        if index is not None:
            row_index = check_index(index, views.shape[0], distinct=True).repeat_interleave(views.shape[1])
        return self._loss(cosine_similarity_matrix(rows), row_labels, row_index)

    def _loss(self, similarity: Tensor, labels: Tensor, row_index: Tensor | None) -> Tensor:
        positive, negative = pair_masks(labels)
        pos_f = positive.to(similarity.dtype)
        n_pos, n_neg = pos_f.sum(1), negative.sum(1).to(similarity.dtype)
        s_pos = (similarity * pos_f).sum(1) / n_pos.clamp(min=1)   # 0 for an anchor without a positive
        h = similarity - s_pos[:, None]
        if row_index is None:
            tau = torch.full_like(s_pos, self.temperature)
        else:
            self._grow(int(row_index.max()) + 1)
            tau = self.tau[row_index].to(similarity.dtype)
        has_neg = n_neg > 0
        logits = h / tau[:, None]
        # log g_r = log mean over negatives of e^{h/τ}; 0 for a row without negatives (its loss is 0).
        log_g = torch.where(has_neg, _masked_lse(logits, negative) - n_neg.clamp(min=1).log(), 0.0)
        value = tau * (log_g + self.rho)
        with torch.no_grad():
            samples = None if row_index is None else self._samples(row_index, has_neg)
            log_u = self._moving_average(log_g.detach(), samples)
            p = torch.exp(logits.detach() - log_u[:, None]).masked_fill(~negative, 0.0)
            if samples is not None and self.training:
                self._update_tau(p, h.detach(), tau, log_u, samples, n_neg)
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
        """log u for every row: its own batch g when stateless, else the sample's updated moving average."""
        if samples is None:
            return log_g
        ids, inverse, member = samples
        count = member.sum(1).clamp(min=1).to(log_g.dtype)
        log_g_sample = torch.logsumexp(log_g[None, :].masked_fill(~member, float("-inf")), dim=1) - count.log()
        gamma = torch.where(self.seen[ids], self.gamma, 1.0).to(log_g.dtype)
        old = self.log_u[ids].to(log_g.dtype)
        new = torch.logaddexp(torch.log1p(-gamma) + old, gamma.log() + log_g_sample)
        new = torch.where(member.any(1), new, old)
        if self.training:
            self.log_u[ids] = new.to(self.log_u.dtype)
            self.seen[ids] = self.seen[ids] | member.any(1)
        return new[inverse]

    def _update_tau(self, p, h, tau, log_u, samples, n_neg) -> None:
        ids, _, member = samples
        per_row = log_u + self.rho - (p * h).sum(1) / n_neg.clamp(min=1) / tau
        grad = (per_row[None, :] * member).sum(1) / member.sum(1).clamp(min=1)
        grad = grad.clamp(-self.grad_clip, self.grad_clip).to(self.momentum.dtype)
        active = member.any(1)
        m = torch.where(active, (1 - self.beta) * self.momentum[ids] + self.beta * grad, self.momentum[ids])
        self.momentum[ids] = m
        self.tau[ids] = torch.where(active, (self.tau[ids] - self.eta * m).clamp(self.tau_min, self.tau_max),
                                    self.tau[ids])

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, rho={self.rho}, gamma={self.gamma}, beta={self.beta}, "
                f"eta={self.eta}, tau_min={self.tau_min}, tau_max={self.tau_max}, samples={len(self.tau)}")


# --- AMCL ----------------------------------------------------------------------------------------


@register(
    "amcl", family="contrastive", kind="views", reduces_over="batch",
    paper=Paper("Adaptive Multi-head Contrastive Learning", 2024, "Wang, Koniusz, Gedeon, Zheng"),
    formula=r"L = \frac1H\sum_h \overline{-\log\frac{e^{S^h_{ip}/\tau^h_{ip}}}{e^{S^h_{ip}/\tau^h_{ip}} + "
            r"\sum_{k\in N_i} e^{S^h_{ik}/\tau^h_{ik}}}} + \lambda\,\overline{(\log\tau^h_{ij}/\tau_0)^2},\;"
            r"\log\tau^h_{ij} = \log\tau_0 + b_h + a_h S^h_{ij}",
    params={"temperature": Param(0.5, 0.01, 2.0, "τ_0, every pair's temperature at initialisation", log=True),
            "num_heads": Param(2, 1, 8, "projection heads: the embedding is split into this many parts"),
            "lam": Param(0.1, 0.0, 2.0, "weight of the regulariser that keeps log τ near log τ_0")},
)
class AMCL(nn.Module):
    r"""Adaptive Multi-head Contrastive Learning (Wang, Koniusz, Gedeon & Zheng, ECCV 2024) -- a
    documented reading, not the official formulation.

    What the paper states (abstract; its full loss was not available to us): several projection heads on
    one backbone each give a similarity for every pair; the loss comes from maximum likelihood over the
    heads' posteriors of the positive; every positive and negative similarity is re-weighted by its own
    adaptive temperature, and a regulariser prevents degenerate temperatures.

    What we implement. The embedding ``views[B, V, D]`` is the concatenation of ``num_heads`` head
    outputs (D divisible by H); each part is L2-normalised and gives its own similarity :math:`S^h`.
    Every pair has a temperature :math:`\log\tau^h_{ij} = \log\tau_0 + b_h + a_h\,\mathrm{sg}(S^h_{ij})`
    with learnable :math:`a_h, b_h` (``nn.Parameter``, initialised to 0; ``sg`` = no gradient through
    the temperature into the embedding), so hard and easy pairs can get different temperatures. Per head,
    NT-Xent with these per-pair temperatures (a term per positive pair, as :class:`NTXent`), averaged over
    heads, plus :math:`\lambda\,\mathrm{mean}_{h,i\neq j}(\log\tau^h_{ij} - \log\tau_0)^2`, which stops the
    temperatures from running to 0 (sharper is always cheaper on a separable batch) or to infinity.

    Structural properties (tested): one head with fixed temperatures (``learn_temperature=False``) and
    λ = 0 is NT-Xent; permuting the heads (parts and their parameters) leaves the loss unchanged;
    temperatures are positive. Not a per-sample loss (the regulariser is a batch term): no ``reduction``.
    ``from_similarity`` takes S as [H, N, N], or [N, N] shared by every head; ``similarity_matrix(rows)`` gives the
    [H, N, N] head similarities, which ``analysis.pair_weights`` uses.

    Reduces over the batch (the temperature regulariser is a batch term): no ``reduction``.
    """

    def __init__(self, temperature: float = 0.5, num_heads: int = 2, lam: float = 0.1,
                 learn_temperature: bool = True):
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"num_heads must be an int >= 1, got {num_heads!r}")
        self.num_heads = num_heads
        self.lam = check_in_range(lam, "lam", 0.0, math.inf)
        zeros = torch.zeros(num_heads)
        if learn_temperature:
            self.slope, self.bias = nn.Parameter(zeros.clone()), nn.Parameter(zeros.clone())
        else:
            self.register_buffer("slope", zeros.clone())
            self.register_buffer("bias", zeros.clone())

    def similarity_matrix(self, rows: Tensor) -> Tensor:
        """The heads' cosine similarities [H, N, N] of ``rows[N, D]`` (D split into H parts)."""
        n, d = rows.shape
        if d % self.num_heads:
            raise ValueError(f"the embedding dimension D={d} must be divisible by num_heads={self.num_heads}")
        parts = F.normalize(rows.reshape(n, self.num_heads, d // self.num_heads), dim=-1).transpose(0, 1)
        return parts @ parts.transpose(1, 2)

    def pair_temperatures(self, similarity: Tensor) -> Tensor:
        """τ^h_ij for head similarities [H, N, N] (always positive)."""
        log_tau = (math.log(self.temperature) + self.bias.to(similarity.dtype)[:, None, None]
                   + self.slope.to(similarity.dtype)[:, None, None] * similarity.detach())
        return log_tau.exp()

    def from_similarity(self, similarity: Tensor, labels: Tensor) -> Tensor:
        # [N, N]: every head sees the same similarities (what the loss explorer's curves vary).
        heads = similarity.expand(self.num_heads, -1, -1) if similarity.dim() == 2 else similarity
        if heads.dim() != 3 or heads.shape[0] != self.num_heads:
            raise ValueError(f"similarity must have shape [N, N] (one head) or [H={self.num_heads}, N, N], "
                             f"got {tuple(similarity.shape)}")
        for s in heads:
            check_similarity(s, labels)
        return self._loss(heads, labels)

    def forward(self, views: Tensor, labels: Tensor | None = None) -> Tensor:
        rows, row_labels = views_to_rows(views, labels)
        return self._loss(self.similarity_matrix(rows), row_labels)

    def _loss(self, heads: Tensor, labels: Tensor) -> Tensor:
        positive, negative = pair_masks(labels)
        tau = self.pair_temperatures(heads)
        logits = heads / tau
        neg_lse = _masked_lse(logits.flatten(0, 1), negative.repeat(len(heads), 1)).view(len(heads), -1, 1)
        per_pair = F.softplus(neg_lse - logits)
        contrastive = (per_pair * positive).sum((1, 2)) / positive.sum().clamp(min=1)
        off = ~torch.eye(len(labels), dtype=torch.bool, device=heads.device)
        reg = (tau.log() - math.log(self.temperature))[:, off].pow(2).mean() if off.any() else heads.new_zeros(())
        return contrastive.mean() + self.lam * reg

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, num_heads={self.num_heads}, lam={self.lam}"
