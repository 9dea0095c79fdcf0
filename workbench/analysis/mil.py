"""Multiple-instance learning: attention entropy and top-k mass, key-to-other attention ratio, bag AUC,
localisation AUC."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import check_int
from ..losses.mil import attention_inputs, branch_diversity, masked_log_softmax, negative_entropy
from ..models.mil import predict_bags


def attention_entropy(attention_logits: Tensor, mask: Tensor | None = None, *, normalize: bool = True) -> Tensor:
    r"""Entropy of the attention over each bag, ``[B]`` (mean over branches; one value for an unbatched input).

    .. math:: \tilde H = -\frac{1}{\log n_b}\sum_{i=1}^{n_b} a_i \log a_i \in [0, 1]

    Normalised by the log of the bag size so that bags of different sizes compare: 1 = uniform attention,
    0 = all attention on one instance. A one-instance bag has no entropy to normalise (NaN when
    ``normalize``). Takes the logits a model returns (``[N]``, ``[K, N]`` or ``[B, K, N]``, ``-inf`` or
    ``mask`` on padding).
    """

    logits, real, batched = attention_inputs(attention_logits.detach(), mask)
    H = -negative_entropy(logits, real)  # [B, K]
    if normalize:
        H = H / real.sum(-1).to(H.dtype).log()
    H = H.mean(-1)
    return H if batched else H[0]


def top_k_attention_mass(attention_logits: Tensor, mask: Tensor | None = None, k: int = 1) -> Tensor:
    """Share of the attention on each bag's ``k`` most attended instances, ``[B]`` (mean over branches):
    near 1 when attention has collapsed onto k instances, k / n for uniform attention."""

    k = check_int(k, "k", low=1)
    logits, real, batched = attention_inputs(attention_logits.detach(), mask)
    a = masked_log_softmax(logits, real).exp()
    mass = a.topk(min(k, a.shape[-1]), dim=-1).values.sum(-1).mean(-1)
    return mass if batched else mass[0]


def key_attention_ratio(attention: Tensor, instance_labels: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean attention weight on a bag's key instances divided by the mean weight on its other instances,
    ``[B]`` (NaN for a bag without key or without other instances).

    Localisation AUC only asks whether the key instances are ranked first; this asks by how much. A ratio of
    1 is uniform attention (no explanation left); 0.74 on a key instance against 0.008 on each other gives 92.
    ``attention``: weights ``[B, N]`` (or ``[N]``) summing to 1 over the real instances.
    """
    a, y = attention.detach().double(), instance_labels.detach()
    if a.dim() == 1:
        a, y = a[None], y[None]
        mask = None if mask is None else mask[None]
    if a.shape != y.shape or (mask is not None and mask.shape != a.shape):
        raise ValueError(f"attention, instance_labels and mask must have one shape, got {tuple(a.shape)}, "
                         f"{tuple(y.shape)}{'' if mask is None else ', ' + str(tuple(mask.shape))}")
    real = torch.ones_like(y, dtype=torch.bool) if mask is None else mask.bool()
    key, other = (y == 1) & real, (y != 1) & real
    key_mean = (a * key).sum(-1) / key.sum(-1)      # 0 / 0 = NaN when a bag has no key instance
    other_mean = (a * other).sum(-1) / other.sum(-1)
    return key_mean / other_mean


def bag_auc(scores: Tensor, labels: Tensor) -> float:
    """ROC AUC of bag scores (logits or probabilities) against bag labels in {0, 1}; NaN with one class."""
    from sklearn.metrics import roc_auc_score

    y = labels.detach().cpu().numpy()
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, scores.detach().cpu().double().numpy()))


def localisation_auc(instance_scores: Tensor, instance_labels: Tensor, mask: Tensor | None = None) -> float:
    """How well instance scores (attention weights, instance logits) find the key instances: the ROC AUC
    of the scores against the true instance labels WITHIN each bag, averaged over the bags that hold both
    key and other instances (attention is a softmax per bag, so only within-bag ranks mean anything).

    AUC of one bag = P(score of a key instance > score of another) + P(tie) / 2. NaN if no bag qualifies.
    """
    s, y = instance_scores.detach().double(), instance_labels.detach()
    if s.dim() == 1:
        s, y = s[None], y[None]
        mask = None if mask is None else mask[None]
    real = torch.ones_like(y, dtype=torch.bool) if mask is None else mask
    pos, neg = (y == 1) & real, (y != 1) & real
    pairs = pos[:, :, None] & neg[:, None, :]  # [B, N, N]: (key i, other j)
    diff = s[:, :, None] - s[:, None, :]
    wins = torch.where(pairs, (diff > 0).double() + 0.5 * (diff == 0).double(), 0.0).sum((1, 2))
    n_pairs = pairs.sum((1, 2))
    ok = n_pairs > 0
    return float((wins[ok] / n_pairs[ok]).mean()) if ok.any() else float("nan")


def mil_metrics(model: nn.Module, data, split: str = "test") -> dict[str, float]:
    """Per-epoch measurements for :func:`workbench.train.fit_bags` on ``split``.

    Classification: ``{split}_auc`` (bag ROC AUC), ``{split}_loc_auc`` (localisation AUC of the instance
    scores), and for attention models ``{split}_entropy`` (mean normalised attention entropy) and
    ``{split}_top1_mass``, and for multiple branches ``{split}_diversity`` (ACMIL's mean pairwise cosine
    between branch attention maps). Regression: ``{split}_bag_mse`` and ``{split}_instance_mse`` (against the hidden
    instance responses).
    """
    _, mask, y, inst = data.padded(split)
    out = predict_bags(model, data, split)
    if isinstance(out, Tensor):  # instance predictions for aggregate responses
        k = mask.sum(1)
        return {f"{split}_bag_mse": float(((out.sum(1) / k - y) ** 2).mean()),
                f"{split}_instance_mse": float(((out - inst)[mask] ** 2).mean())}
    scores = out.logits if out.logits.dim() == 1 else out.logits.softmax(-1)[:, 1]
    row = {f"{split}_auc": bag_auc(scores, y), f"{split}_loc_auc": localisation_auc(out.instance_scores, inst, mask)}
    if out.attention_logits is not None:
        row[f"{split}_entropy"] = float(attention_entropy(out.attention_logits, mask).nanmean())
        row[f"{split}_top1_mass"] = float(top_k_attention_mass(out.attention_logits, mask, 1).mean())
    if out.branch_logits is not None:
        row[f"{split}_diversity"] = float(branch_diversity(out.attention_logits, mask))
    return row
