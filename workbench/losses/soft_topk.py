"""DEXML's differentiable top-k loss (kind ``crossmodal``, like :class:`~workbench.losses.DecoupledSoftmax`):
each positive label should be among the query's top k scores, where "being in the top k" is the smooth
indicator σ(α(s_ij + t_i)) with the per-query threshold t_i chosen so that the indicators sum to k.

Source: nilesh2797/DEXML@7690769 ``losses.py`` (``SimLoss``, ``loss_criterion == 'topk'``) and
``utils/topk_utils.py`` (``_dist_find_ts``, ``DistLogTopK``: bisection for t, implicit gradient);
``configs/dual-encoder.yaml`` (``topk_K: 5``, ``topk_alpha: 2``, ``topk_n_iter: 32``, ``tau: 0.05``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import POSITIVE, POSITIVE_INT, check_flag, check_float_tensor, check_reduction, reduce
from .registry import Paper, Param, register
from .relevance import _check_pair, _cosines, check_relevance, check_score_relevance

# DEXML sets the scores of positives that were not drawn this step to this value (in units of s = cos/τ)
MASKED_SCORE = -100.0
_MAX_BISECTIONS = 200  # far more than needed: the loop stops once the bracket no longer shrinks


def soft_topk_threshold(scores: Tensor, k: int, alpha: float) -> Tensor:
    """The per-row threshold t [B, 1] with Σ_j σ(α(s_ij + t_i)) = k, by DEXML's bisection (no gradient).

    Same bracket as ``_find_ts`` (lo = -max s - 10/α, hi = -min s + 10/α) and the same update, but run until the
    bracket stops shrinking instead of DEXML's 32 steps: the root is the same, ours to the dtype's precision
    (theirs to (hi - lo)·2⁻³², a few 1e-9 on cosine scores / 0.05), which float64 gradcheck needs."""
    with torch.no_grad():
        s = scores.detach()
        lo = -s.max(1, keepdim=True).values - 10 / alpha
        hi = -s.min(1, keepdim=True).values + 10 / alpha
        for _ in range(_MAX_BISECTIONS):
            mid = (hi + lo) / 2
            below = torch.sigmoid(alpha * (s + mid)).sum(1, keepdim=True) < k
            if bool(((mid == lo) | (mid == hi)).all()):
                break
            lo = torch.where(below, mid, lo)
            hi = torch.where(below, hi, mid)
        return (lo + hi) / 2


def soft_topk_log_indicator(scores: Tensor, k: int, alpha: float) -> Tensor:
    """log σ(α(s_ij + t_i(s))) [B, L], DEXML's ``dist_log_topk``, differentiable through t by the implicit
    function theorem: ∂t_i/∂s_ij = -σ'_ij / Σ_l σ'_il (σ' at α(s + t)), the Jacobian of ``DistLogTopK.backward``.
    When k ≥ L every label is in the top k (t = +∞): 0 (DEXML asserts k < L)."""
    if k >= scores.shape[1]:
        return scores * 0
    t0 = soft_topk_threshold(scores, k, alpha)
    p = torch.sigmoid(alpha * (scores + t0))
    slope = (alpha * p * (1 - p)).sum(1, keepdim=True).detach()
    # the value is t0; the gradient is that of -Σ_j σ(α(s_j + t0)) / Σ_j ασ'_j, i.e. the implicit one. clamp: a row
    # whose every sigmoid saturates has σ' = 0 everywhere (zero gradient, not 0/0)
    moved = -p.sum(1, keepdim=True) / slope.clamp(min=torch.finfo(scores.dtype).tiny)
    t = t0 + (moved - moved.detach())
    return -nn.functional.softplus(-alpha * (scores + t))  # log σ(z), stable


def _soft_topk(scores: Tensor, relevance: Tensor, k: int, alpha: float, sample: bool) -> Tensor:
    """Per query: -(1/|S_i|) Σ_{j∈S_i} log σ(α(s_ij + t_i)), S_i the positives (or the k drawn ones)."""
    positive = relevance > 0
    if sample:  # DEXML: draw min(k, L) labels per row without replacement, ∝ relevance (all positives when a row
        # has <= k of them: zero-relevance columns are drawn last and dropped), mask the positives not drawn
        with torch.no_grad():
            drawn = torch.multinomial(relevance.detach().double(), min(k, relevance.shape[1]), replacement=False)
            chosen = torch.zeros_like(positive).scatter_(1, drawn, True) & positive
        scores = scores.masked_fill(positive & ~chosen, MASKED_SCORE)
        positive = chosen
    log_in_top = soft_topk_log_indicator(scores, k, alpha)
    count = positive.sum(1).clamp(min=1).to(scores.dtype)
    return -(log_in_top * positive).sum(1) / count


def _check_topk(temperature, k, alpha, sample) -> tuple[float, int, float, bool]:
    return (POSITIVE.check(temperature, "temperature"), POSITIVE_INT.check(k, "k"), POSITIVE.check(alpha, "alpha"),
            check_flag(sample, "sample"))


def soft_topk_loss(x: Tensor, y: Tensor, relevance: Tensor | None = None, *, temperature: float = 0.05, k: int = 5,
                   alpha: float = 2.0, sample: bool = False, reduction: str = "mean") -> Tensor:
    """Functional twin of :class:`SoftTopK`."""
    _check_pair(x, y)
    temperature, k, alpha, sample = _check_topk(temperature, k, alpha, sample)
    r = check_relevance(relevance, len(x), x)
    return reduce(_soft_topk(_cosines(x, y) / temperature, r, k, alpha, sample), check_reduction(reduction))


def soft_topk_scores(scores: Tensor, relevance: Tensor, *, k: int = 5, alpha: float = 2.0, sample: bool = False,
                     reduction: str = "mean") -> Tensor:
    """The soft top-k loss on given scores ``[B, L]`` (already divided by τ) against *all* L labels, as DEXML
    trains it; ``relevance[B, L]`` >= 0 (> 0 marks a positive; multi-hot targets work)."""
    check_float_tensor(scores, "scores", 2, "[B, L]", nonempty=True)
    _, k, alpha, sample = _check_topk(1.0, k, alpha, sample)
    check_score_relevance(relevance, scores)
    return reduce(_soft_topk(scores, relevance.to(scores.dtype), k, alpha, sample), check_reduction(reduction))


@register(
    "soft_topk", family="multilabel", kind="crossmodal", reduces_over="sample",
    paper=Paper("Dual-Encoders for Extreme Multi-Label Classification (DEXML), soft top-k criterion", 2024,
                "Gupta et al."),
    formula=r"\ell_i = -\frac{1}{|P_i|}\sum_{j\in P_i}\log\sigma\big(\alpha(s_{ij} + t_i)\big),\;"
            r"\sum_l \sigma\big(\alpha(s_{il} + t_i)\big) = k,\; s_{ij} = \cos(x_i, y_j)/\tau",
    params={
        "temperature": Param(0.05, 0.01, 1.0, "τ (DEXML configs: 0.05)", log=True, valid=POSITIVE),
        "k": Param(5, 1, 20, "k: how many labels the soft top-k keeps (DEXML topk_K: 5)", valid=POSITIVE_INT),
        "alpha": Param(2.0, 0.25, 10.0, "α: sharpness of the soft top-k indicator σ(α(s + t)) (DEXML topk_alpha: 2)",
                       log=True, valid=POSITIVE),
    },
)
class SoftTopK(nn.Module):
    r"""DEXML's differentiable top-k loss (Gupta et al., ICLR 2024; the ``'topk'`` criterion of its code): every
    positive label of a query should be among its k best-scored labels. With :math:`s_{ij} = \cos(x_i, y_j)/\tau`,
    the soft indicator that label j is in the top k is :math:`\sigma(\alpha(s_{ij} + t_i))`, the threshold
    :math:`t_i` solving :math:`\sum_l \sigma(\alpha(s_{il} + t_i)) = k` (bisection; gradient through
    :math:`t_i` by the implicit function theorem, :math:`\partial t_i/\partial s_{ij} = -\sigma'_{ij}/\sum_l
    \sigma'_{il}`), and

    .. math:: \ell_i = -\frac{1}{|P_i|}\sum_{j\in P_i}\log\sigma\big(\alpha(s_{ij} + t_i)\big).

    Unlike a softmax, the positives do not compete with each other as long as there are at most k of them: they
    only need to beat the (L - k)-th best negative; the loss is 0 once they are all clearly in the top k.
    Defaults (nilesh2797/DEXML@7690769 ``configs/dual-encoder.yaml``, ``configs/*/dist-de-all_topk.yaml``):
    τ = 0.05 (cosine scores, ``norm_embs=True``), k = 5 (``topk_K``), α = 2 (``topk_alpha``), mean over the
    batch (``loss_weighted=False``). ``sample=True`` is DEXML's ``loss_sample=True``: per query and call, draw
    min(k, L) labels without replacement ∝ relevance (``torch.multinomial``, global RNG), keep the drawn positives,
    set the scores of the other positives to -100 (neither positive nor competing). A query with at most k
    positives keeps them all either way, so with ≤ k positives per query both settings give DEXML's value.
    Departures: ``sample=False`` (default, deterministic) keeps every positive when a query has more than k of
    them; the bisection runs to convergence (DEXML: 32 steps, ``topk_n_iter``; values agree to ~1e-8); k ≥ L
    gives 0 (every label is in the top k; DEXML asserts 0 < k < L). DEXML's labels are *all* labels (gathered
    over GPUs); here the columns are the batch's y rows — :func:`soft_topk_scores` takes scores against all labels.
    Edge cases: a query with no positive contributes 0 (counted in the mean, as DEXML divides by the batch).

    Reduction: ``"none"`` gives one value per query x_i [B]; ``"mean"`` averages over all B.
    """

    def __init__(self, temperature: float = 0.05, k: int = 5, alpha: float = 2.0, sample: bool = False,
                 reduction: str = "mean"):
        super().__init__()
        self.temperature, self.k, self.alpha, self.sample = _check_topk(temperature, k, alpha, sample)
        self.reduction = check_reduction(reduction)

    def forward(self, x: Tensor, y: Tensor, relevance: Tensor | None = None) -> Tensor:
        _check_pair(x, y)
        r = check_relevance(relevance, len(x), x)
        scores = _cosines(x, y) / self.temperature
        return reduce(_soft_topk(scores, r, self.k, self.alpha, self.sample), self.reduction)
