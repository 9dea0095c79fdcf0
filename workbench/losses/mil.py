"""Multiple-instance learning (family ``mil``).

Kind ``attention``: regularisers on the attention logits of an attention-MIL model,
``forward(attention_logits, mask=None)`` with ``attention_logits`` of shape ``[N]`` (one bag, one branch),
``[K, N]`` (one bag, K branches) or ``[B, K, N]`` (a padded batch of B bags) and ``mask`` (bool, True =
a real instance) of shape ``[N]`` or ``[B, N]``. Masked instances, and instances whose logit is ``-inf``,
get zero attention and play no part in the loss.

Kind ``aggregate``: squared losses for regression from aggregate responses (one mean response per bag),
``forward(predictions[B, N], target[B], mask=None)``: the model predicts every instance, the label is the
bag's mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    UNIT,
    check_binary_labels,
    check_float_tensor,
    check_in_range,
    check_labels,
    check_mask,
    check_reduction,
    reduce,
)
from .distill import check_pair
from .registry import Paper, Param, register

# --------------------------------------------------------------------------------------------------
# Shared input handling
# --------------------------------------------------------------------------------------------------


def _check_mask(mask: Tensor, name: str, shape: tuple[int, ...], doc: str) -> Tensor:
    check_mask(mask, name, shape, f"{doc} (True = a real instance)")
    if mask.numel() and not mask.any(-1).all():
        raise ValueError(f"{name} leaves a bag without any instance; every bag needs at least one")
    return mask


def attention_inputs(attention_logits: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, bool]:
    """Validate and bring attention logits to ``[B, K, N]`` with a ``[B, K, N]`` mask of real instances.

    Returns ``(logits, mask, batched)``; ``batched`` is False for ``[N]`` and ``[K, N]`` inputs (one bag).
    An instance counts as real when ``mask`` says so and its logit is not ``-inf``.
    """
    ndim = attention_logits.dim() if isinstance(attention_logits, Tensor) else 0
    check_float_tensor(attention_logits, "attention_logits", ndim if ndim in (1, 2, 3) else -1,
                       "[N], [K, N] or [B, K, N]", nonempty=True, allow_neginf=True)
    if attention_logits.shape[-1] == 0:
        raise ValueError("attention_logits must have at least one instance (N >= 1), got N = 0")
    batched = attention_logits.dim() == 3
    logits = attention_logits if batched else attention_logits.reshape(1, -1, attention_logits.shape[-1])
    B, _, N = logits.shape
    real = torch.ones(B, N, dtype=torch.bool, device=logits.device)
    if mask is not None:
        shape, doc = ((B, N), f"[B, N] = [{B}, {N}]") if batched else ((N,), f"[N] = [{N}]")
        real = _check_mask(mask, "mask", shape, doc).reshape(B, N)
    real = real[:, None, :] & torch.isfinite(logits)
    if not real.any(-1).all():
        raise ValueError("attention_logits: a bag or branch has no finite logit on a real instance")
    return logits, real, batched


def masked_log_softmax(logits: Tensor, real: Tensor) -> Tensor:
    """log-softmax over the last dim with masked entries at ``-inf`` (exp gives exactly 0 there)."""
    return torch.log_softmax(logits.masked_fill(~real, float("-inf")), dim=-1)


def negative_entropy(logits: Tensor, real: Tensor) -> Tensor:
    r""":math:`\sum_i a_i \log a_i` over the real instances, per ``[..., N]`` row; finite gradients
    (masked ``0 \cdot \log 0`` terms are dropped before the product, not after)."""
    log_a = masked_log_softmax(logits, real)
    return (log_a.exp() * log_a.masked_fill(~real, 0.0)).sum(-1)


def _finish(per_bag: Tensor, batched: bool, reduction: str) -> Tensor:
    if not batched and reduction == "none":
        return per_bag[0]
    return reduce(per_bag, reduction)


# --------------------------------------------------------------------------------------------------
# AEM
# --------------------------------------------------------------------------------------------------


def aem(attention_logits: Tensor, mask: Tensor | None = None, *, weight: float = 0.1,
        reduction: str = "mean") -> Tensor:
    r"""AEM's attention-entropy regulariser: ``weight`` times the negative attention entropy.

    .. math::
        \mathcal{L}_{\mathrm{AEM}} = \lambda \, \frac1K \sum_{k=1}^{K} \sum_{i=1}^{N} a_{ki} \log a_{ki},
        \qquad a_k = \operatorname{softmax}(A_k)

    added to the bag loss, so minimising it *maximises* the attention entropy and spreads the attention
    over more instances (Zhang et al. 2024, official ``dazhangyu123/AEM`` ``main.py``: ``div_loss`` on the
    pre-softmax logits, a plain sum for ABMIL, divided by the number of heads for multi-head attention;
    here always the mean over the K branches, which is the same for K = 1). Uniform attention over N
    instances gives the minimum :math:`-\lambda \log N`. ``reduction`` acts over bags.
    """
    weight = check_in_range(weight, "weight", 0.0, float("inf"))
    check_reduction(reduction)
    logits, real, batched = attention_inputs(attention_logits, mask)
    return _finish(weight * negative_entropy(logits, real).mean(-1), batched, reduction)


@register(
    "aem", family="mil", kind="attention", reduces_over="bag",
    paper=Paper("AEM: Attention Entropy Maximization for Multiple Instance Learning based Whole Slide Image "
                "Classification", 2024, "Zhang et al."),
    formula=r"\mathcal{L} = \mathcal{L}_{\mathrm{bag}} + \lambda \sum_i a_i \log a_i,\;"
            r"a = \mathrm{softmax}(A)",
    params={"weight": Param(0.1, 0.0, 2.0, "lambda: how strongly attention entropy is rewarded "
                                           "(official default 0 = plain ABMIL; README example 0.1)",
                                           valid=NONNEGATIVE)},
)
class AEM(nn.Module):
    """Module form of :func:`aem`; ``forward(attention_logits, mask=None)``.

    Reduction: ``"none"`` gives one value per bag [B] (a scalar for a single unbatched bag); ``"mean"`` averages
    over all bags.
    """

    def __init__(self, weight: float = 0.1, reduction: str = "mean"):
        super().__init__()
        self.weight = check_in_range(weight, "weight", 0.0, float("inf"))
        self.reduction = check_reduction(reduction)

    def forward(self, attention_logits: Tensor, mask: Tensor | None = None) -> Tensor:
        return aem(attention_logits, mask, weight=self.weight, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


# --------------------------------------------------------------------------------------------------
# ACMIL
# --------------------------------------------------------------------------------------------------


def branch_diversity(attention_logits: Tensor, mask: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    r"""ACMIL's diversity term: the mean cosine similarity between the attention maps of the K branches.

    .. math::
        \mathcal{L}_{\mathrm{div}} = \frac{2}{K(K-1)} \sum_{i<j}
        \frac{\langle a_i, a_j \rangle}{\lVert a_i\rVert \lVert a_j\rVert}, \qquad a_k = \operatorname{softmax}(A_k)

    1 when all branches attend alike, 0 when they attend to disjoint instances; 0 for K = 1.
    """
    check_reduction(reduction)
    logits, real, batched = attention_inputs(attention_logits, mask)
    K = logits.shape[1]
    if K < 2:
        # Zero, but still a function of the logits, so that autograd sees a (zero) gradient.
        return _finish(0.0 * logits.masked_fill(~real, 0.0).sum((1, 2)), batched, reduction)
    a = F.normalize(masked_log_softmax(logits, real).exp(), dim=-1)
    cos = a @ a.transpose(1, 2)  # [B, K, K]
    i, j = torch.triu_indices(K, K, offset=1, device=logits.device)
    return _finish(cos[:, i, j].mean(-1), batched, reduction)


def _branch_loss(branch_logits: Tensor, target: Tensor) -> Tensor:
    """Mean over bags and branches of the classification loss of every branch against the bag label:
    binary cross-entropy for ``[B, K]`` logits and targets in {0, 1}, cross-entropy for ``[B, K, C]``."""
    if branch_logits.dim() == 2:
        t = check_binary_labels(target, "target", branch_logits.shape[0]).to(branch_logits.dtype)
        t = t[:, None].expand_as(branch_logits)
        return F.binary_cross_entropy_with_logits(branch_logits, t)
    B, K, C = branch_logits.shape  # [B, K] and [B, K, C] are all the caller lets through
    return F.cross_entropy(branch_logits.flatten(0, 1), check_labels(target, "target", B, C).repeat_interleave(K))


@register(
    "acmil", family="mil", kind="attention", reduces_over="bag",
    paper=Paper("Attention-Challenging Multiple Instance Learning for Whole Slide Image Classification", 2024,
                "Zhang et al."),
    formula=r"\mathcal{L} = \mathcal{L}_{\mathrm{slide}} + \frac1K\sum_k \mathcal{L}_{\mathrm{CE}}(\hat y_k, y)"
            r" + \lambda \tfrac{2}{K(K-1)}\sum_{i<j}\cos(a_i, a_j)",
    params={"weight": Param(1.0, 0.0, 5.0, "weight of the branch-diversity term (official: 1)", valid=NONNEGATIVE)},
)
class ACMIL(nn.Module):
    r"""ACMIL's losses on a multiple-branch attention model (Zhang et al., ECCV 2024).

    ``forward(attention_logits, mask=None)`` gives ``weight`` times the branch-diversity term
    (:func:`branch_diversity`). With ``branch_logits`` (``[B, K]`` binary or ``[B, K, C]``) and ``target``
    it adds the per-branch classification loss :math:`\frac1K\sum_k \ell(\hat y_k, y)` (only when K > 1,
    as in the official ``Step3_WSI_classification_ACMIL.py``). The slide (bag) loss on the model's pooled
    prediction is the ordinary bag loss and stays outside, so ``bag loss + ACMIL(...)`` is the official
    ``L_div + L_sub + L_slide`` with unit weights. Stochastic top-K instance masking (STKIM) lives in the
    model (:class:`workbench.models.MILModel` with ``n_masked``/``mask_drop``), not in the loss.
    ``reduction`` acts over bags on the diversity term; the branch loss is always a mean.

    Reduction: ``"none"`` gives the diversity term per bag [B]; ``"mean"`` averages over all bags. The branch
    loss is always one batch mean, added to the reduced value (with ``"none"`` to every bag's, so ``"sum"`` then
    differs from the sum of ``"none"``).
    """

    def __init__(self, weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.weight = check_in_range(weight, "weight", 0.0, float("inf"))
        self.reduction = check_reduction(reduction)

    def forward(self, attention_logits: Tensor, mask: Tensor | None = None, *, branch_logits: Tensor | None = None,
                target: Tensor | None = None) -> Tensor:
        value = self.weight * branch_diversity(attention_logits, mask, reduction=self.reduction)
        if (branch_logits is None) != (target is None):
            raise ValueError("branch_logits and target go together: pass both or neither")
        if branch_logits is not None:
            ndim = branch_logits.dim() if isinstance(branch_logits, Tensor) else 0
            check_float_tensor(branch_logits, "branch_logits", ndim if ndim in (2, 3) else -1, "[B, K] or [B, K, C]")
            if branch_logits.shape[1] > 1:
                value = value + _branch_loss(branch_logits, target)
        return value

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


# --------------------------------------------------------------------------------------------------
# Aggregate responses
# --------------------------------------------------------------------------------------------------


def _aggregate_inputs(predictions: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    check_float_tensor(predictions, "predictions", 2, "[B, N]", nonempty=True)
    B, N = predictions.shape
    check_float_tensor(target, "target", 1, f"[B] = [{B}]")
    if target.shape[0] != B:
        raise ValueError(f"target must have shape [B] = [{B}] (one aggregate response per bag), "
                         f"got shape {tuple(target.shape)}")
    real = torch.ones(B, N, dtype=torch.bool, device=predictions.device)
    if mask is not None:
        real = _check_mask(mask, "mask", (B, N), f"[B, N] = [{B}, {N}]")
    if N == 0:
        raise ValueError("predictions must have at least one instance per bag (N >= 1), got N = 0")
    return predictions.masked_fill(~real, 0.0), target.to(predictions.dtype), real


def aggregate_response_loss(predictions: Tensor, target: Tensor, mask: Tensor | None = None, *, rho: float = 1.0,
                            reduction: str = "mean") -> Tensor:
    r"""Squared loss for learning from aggregate responses, interpolating bag- and instance-level.

    For bag b with real instances :math:`i \in b` (:math:`k_b` of them), predictions :math:`f_i`, their mean
    :math:`\bar f_b` and the bag's aggregate response :math:`\bar y_b`:

    .. math::
        \ell_b(\rho) = (\bar y_b - \bar f_b)^2 + \rho\,\frac{1}{k_b}\sum_{i\in b}(f_i - \bar f_b)^2

    ``rho = 0`` is the bag-level loss (match the mean), ``rho = 1`` the instance-level loss: since
    :math:`\frac1{k}\sum_i(\bar y - f_i)^2 = (\bar y - \bar f)^2 + \frac1k\sum_i (f_i-\bar f)^2`, it equals
    :math:`\frac1{k_b}\sum_i (\bar y_b - f_i)^2`, the loss of giving every instance its bag's label. So the
    instance-level loss is the bag-level loss plus a within-bag variance penalty (Javanmard et al., ICLR 2024,
    "Learning from Aggregate responses: Instance Level versus Bag Level Loss Functions"); ``rho`` in between
    is their interpolating estimator (the exact parametrisation is our reading of the paper, not checked
    against code). ``reduction="mean"`` weights bags equally; for the paper's per-instance average over
    bags of unequal size, use ``"none"`` and weight by the bag sizes.
    """
    rho = check_in_range(rho, "rho", 0.0, 1.0)
    check_reduction(reduction)
    f, y, real = _aggregate_inputs(predictions, target, mask)
    k = real.sum(-1).to(f.dtype)
    mean = f.sum(-1) / k
    variance = ((f - mean[:, None]).masked_fill(~real, 0.0) ** 2).sum(-1) / k
    return reduce((y - mean) ** 2 + rho * variance, reduction)


def bag_level_loss(predictions: Tensor, target: Tensor, mask: Tensor | None = None, *,
                   reduction: str = "mean") -> Tensor:
    r"""Bag-level squared loss :math:`(\bar y_b - \frac1{k_b}\sum_{i\in b} f_i)^2` (``rho = 0``)."""
    return aggregate_response_loss(predictions, target, mask, rho=0.0, reduction=reduction)


def instance_level_loss(predictions: Tensor, target: Tensor, mask: Tensor | None = None, *,
                        reduction: str = "mean") -> Tensor:
    r"""Instance-level squared loss :math:`\frac1{k_b}\sum_{i\in b}(\bar y_b - f_i)^2` (``rho = 1``)."""
    return aggregate_response_loss(predictions, target, mask, rho=1.0, reduction=reduction)


@register(
    "aggregate_response", family="mil", kind="aggregate", reduces_over="bag",
    paper=Paper("Learning from Aggregate responses: Instance Level versus Bag Level Loss Functions", 2024,
                "Javanmard et al."),
    formula=r"\ell_b = (\bar y_b - \bar f_b)^2 + \rho\,\tfrac{1}{k_b}\textstyle\sum_{i\in b}(f_i-\bar f_b)^2",
    params={"rho": Param(1.0, 0.0, 1.0, "0 = bag-level loss, 1 = instance-level loss, between: interpolation",
                         valid=UNIT)},
)
class AggregateResponseLoss(nn.Module):
    """Module form of :func:`aggregate_response_loss`; ``forward(predictions[B, N], target[B], mask=None)``.

    Reduction: ``"none"`` gives one value per bag [B]; ``"mean"`` averages over all B bags (each bag counts
    once, whatever its size).
    """

    def __init__(self, rho: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.rho = check_in_range(rho, "rho", 0.0, 1.0)
        self.reduction = check_reduction(reduction)

    def forward(self, predictions: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return aggregate_response_loss(predictions, target, mask, rho=self.rho, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"rho={self.rho}"


# --------------------------------------------------------------------------------------------------
# MHIM-MIL: consistency between a masked student and its EMA teacher
# --------------------------------------------------------------------------------------------------


def mhim_consistency(student_features: Tensor, teacher_features: Tensor, target: Tensor | None = None, *,
                     temperature: float = 0.1, student_temperature: float = 1.0, reduction: str = "mean") -> Tensor:
    r"""MHIM-MIL's consistency loss: soft-target cross-entropy between the student's and the teacher's
    **bag features** (not their logits), the teacher's sharpened by a low temperature.

    .. math::
        \ell_b = -\sum_d \operatorname{softmax}(t_b/\tau_t)_d\,\log\operatorname{softmax}(s_b/\tau_s)_d

    Defaults: :math:`\tau_t` = ``temperature`` = 0.1 (official ``--temp_t 0.1``), :math:`\tau_s` =
    ``student_temperature`` = 1 (``temp_s``), as ``SoftTargetCrossEntropy_v2`` in DearCaat/MHIM-MIL
    (``modules/mhim*.py``; the teacher's features are detached there, and here: no gradient reaches
    ``teacher_features``). The student sees the bag with its most-attended instances masked, the teacher the
    whole bag (:func:`workbench.models.hard_instance_mask`, :func:`workbench.train.fit_mhim`).
    ``target`` is accepted for the distill kind's signature and validated, but not used.

    Reference (spec wave 2 §5.1): s = [0.5, 1, -0.5, 0.2], t = [0.3, 1.2, -0.4, 0] give 0.823799
    (:math:`\tau_t` = 0.1) and 1.21495 (:math:`\tau_t` = 1). With :math:`\tau_t = \tau_s` the minimum over s
    is the teacher's entropy, reached at s = t; with a sharper teacher it pushes s to be sharper than t.

    Reduction: ``"none"`` gives one value per bag [B]; ``"mean"`` averages them over the B bags (official).
    """
    temperature = check_in_range(temperature, "temperature", 0.0, float("inf"), low_open=True)
    student_temperature = check_in_range(student_temperature, "student_temperature", 0.0, float("inf"),
                                         low_open=True)
    check_reduction(reduction)
    check_pair(student_features, teacher_features, target, names=("student_features", "teacher_features"),
               shape="[B, D]")
    soft = torch.softmax(teacher_features.detach() / temperature, dim=-1)
    return reduce(-(soft * torch.log_softmax(student_features / student_temperature, dim=-1)).sum(-1), reduction)


@register(
    "mhim_consistency", family="mil", kind="distill", reduces_over="bag",
    paper=Paper("Multiple Instance Learning Framework with Masked Hard Instance Mining for Whole Slide Image "
                "Classification", 2023, "Tang et al."),
    formula=r"\ell = -\sum_d \mathrm{softmax}(t/\tau_t)_d \log \mathrm{softmax}(s/\tau_s)_d;\;"
            r"L = \mathrm{CE}(\hat y_s, y) + \alpha\,\ell",
    params={
        "temperature": Param(0.1, 0.05, 1.0, "teacher temperature tau_t (official --temp_t 0.1)", log=True,
                             valid=POSITIVE),
        "student_temperature": Param(1.0, 0.1, 2.0, "student temperature tau_s (official 1)", log=True,
                                     valid=POSITIVE),
        "weight": Param(0.5, 0.0, 2.0, "alpha, weight of the consistency term in the objective (official v2 "
                                       "README --aux_alpha 0.5; v1 recipes cl_alpha 0.1-0.5)", valid=NONNEGATIVE),
    },
)
class MHIMConsistency(nn.Module):
    r"""Module form of :func:`mhim_consistency`;
    ``forward(student_features[B, D], teacher_features[B, D], target[B] or None)``.

    ``objective(out, target)`` is MHIM-MIL's training loss :math:`\mathrm{CE}(\hat y_s, y) + \alpha\,\ell`
    (official ``main_alpha = 1``, ``aux_alpha``) on a :class:`workbench.models.DistillOutputs`: on the
    features when both models give them, else on the logits (what a generic student/teacher pair offers).
    :func:`workbench.train.fit_mhim` trains the MIL version: EMA teacher, masked student, bag features.

    Reduction: ``"none"`` gives one value per bag [B]; ``"mean"`` averages them over the B bags.
    """

    def __init__(self, temperature: float = 0.1, student_temperature: float = 1.0, weight: float = 0.5,
                 reduction: str = "mean"):
        super().__init__()
        self.temperature = check_in_range(temperature, "temperature", 0.0, float("inf"), low_open=True)
        self.student_temperature = check_in_range(student_temperature, "student_temperature", 0.0, float("inf"),
                                                  low_open=True)
        self.weight = check_in_range(weight, "weight", 0.0, float("inf"))
        self.reduction = check_reduction(reduction)

    def forward(self, student_features: Tensor, teacher_features: Tensor, target: Tensor | None = None) -> Tensor:
        return mhim_consistency(student_features, teacher_features, target, temperature=self.temperature,
                                student_temperature=self.student_temperature, reduction=self.reduction)

    def objective(self, out, target: Tensor) -> Tensor:
        features = out.features is not None and out.teacher_features is not None
        s, t = (out.features, out.teacher_features) if features else (out.logits, out.teacher_logits)
        ce = F.cross_entropy(out.logits, target, reduction="none")
        per = ce + self.weight * mhim_consistency(s, t, temperature=self.temperature,
                                                  student_temperature=self.student_temperature, reduction="none")
        return per.sum() if self.reduction == "sum" else per.mean()

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, student_temperature={self.student_temperature}, "
                f"weight={self.weight}")


# --------------------------------------------------------------------------------------------------
# INS: instance pseudo-labels (partial-label learning) and the instance contrastive loss
# --------------------------------------------------------------------------------------------------


def ins_partial_loss(logits: Tensor, confidence: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""INS's (PiCO's) partial-label classification loss on instance logits ``[B, C]`` against the current
    pseudo-targets ``confidence[B, C]`` (rows on the simplex, zero outside each instance's candidate set):

    .. math:: \ell_i = -\sum_k c_{ik} \log \operatorname{softmax}(o_i)_k

    (official ``utils/utils_loss.py`` ``partial_loss``; "mean" over instances is the official value).
    Reference (spec wave 2 §5.2): o = [[2, -1], [0, 0.5], [1, 1]], c = [[1, 0], [.5, .5], [.3, .7]] -> 0.488604.
    """
    check_reduction(reduction)
    check_float_tensor(logits, "logits", 2, "[B, C]", nonempty=True)
    check_float_tensor(confidence, "confidence", 2, f"[B, C] = {list(logits.shape)}")
    if confidence.shape != logits.shape:
        raise ValueError(f"confidence must have the shape of logits {tuple(logits.shape)}, got "
                         f"{tuple(confidence.shape)}")
    if (confidence < 0).any() or not torch.allclose(confidence.sum(-1), confidence.new_ones(len(confidence)),
                                                    atol=1e-4):
        raise ValueError("confidence rows must be probability vectors (non-negative, summing to 1)")
    return reduce(-(confidence.to(logits.dtype) * torch.log_softmax(logits, -1)).sum(-1), reduction)


def ins_confidence_update(confidence: Tensor, prototype_scores: Tensor, candidates: Tensor, phi: float) -> Tensor:
    r"""INS's pseudo-target update (official ``partial_loss.confidence_update``): the prototype scores
    restricted to each instance's candidate set pick a class :math:`\hat k_i`, and

    .. math:: c_i \leftarrow \phi\,c_i + (1-\phi)\,\mathrm{onehot}(\hat k_i)

    Instances whose candidate set is one class (those of negative bags: {0}) keep that class exactly
    (the official code resets them to [1, 0]). Returns the new ``[B, C]`` confidence (no gradient).
    Reference (spec): c = [.5, .5], phi = 0.95, pseudo label 1 -> [0.475, 0.525].
    """
    phi = check_in_range(phi, "phi", 0.0, 1.0)
    with torch.no_grad():
        picked = (prototype_scores * candidates).argmax(-1)
        new = phi * confidence + (1 - phi) * F.one_hot(picked, confidence.shape[-1]).to(confidence.dtype)
        fixed = candidates.sum(-1) == 1
        return torch.where(fixed[:, None], candidates.to(confidence.dtype), new)


def ins_contrastive(features: Tensor, batch_size: int, labels: Tensor | None = None, *,
                    temperature: float = 0.07, base_temperature: float = 0.07) -> Tensor:
    r"""INS's instance contrastive loss (official ``utils/utils_loss.py`` ``SupConLoss``, from PiCO):
    ``features`` = ``cat(q, k, queue)`` of L2-normalised embeddings, the first ``batch_size`` rows (the
    queries q) are the anchors.

    - ``labels`` given (pseudo labels of every row): SupCon, positives = rows with the anchor's pseudo
      label (the anchor itself excluded; its key k always counts),
      :math:`\ell_i = -\frac{\tau}{\tau_b}\frac{1}{|P(i)|}\sum_{p\in P(i)} \log
      \frac{e^{q_i\cdot f_p/\tau}}{\sum_{a\ne i} e^{q_i\cdot f_a/\tau}}`.
    - ``labels=None`` (warm-up): MoCo InfoNCE, positive = the key :math:`k_i`, negatives = the queue.

    Mean over the anchors. Defaults :math:`\tau = \tau_b = 0.07` (official).
    """
    temperature = check_in_range(temperature, "temperature", 0.0, float("inf"), low_open=True)
    base_temperature = check_in_range(base_temperature, "base_temperature", 0.0, float("inf"), low_open=True)
    check_float_tensor(features, "features", 2, "[M, D]", nonempty=True)
    M = features.shape[0]
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= M // 2:
        raise ValueError(f"batch_size must be an int in [1, M / 2] (queries then keys), got {batch_size!r}")
    q = features[:batch_size]
    if labels is None:
        k, queue = features[batch_size:2 * batch_size], features[2 * batch_size:]
        logits = torch.cat([(q * k).sum(-1, keepdim=True), q @ queue.T], dim=1) / temperature
        return F.cross_entropy(logits, torch.zeros(batch_size, dtype=torch.long, device=features.device))
    labels = check_labels(labels, "labels", M)
    logits = q @ features.T / temperature
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(batch_size), torch.arange(batch_size)] = True
    log_prob = logits - torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    positive = (labels[:batch_size, None] == labels[None, :]) & ~self_mask
    mean_pos = (log_prob * positive).sum(1) / positive.sum(1)  # the key is always a positive: never 0 / 0
    return -(temperature / base_temperature) * mean_pos.mean()
