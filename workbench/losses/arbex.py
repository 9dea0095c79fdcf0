"""ARBEx's reliability-balanced training loss (kind ``margin``): learnable class anchors, an anchor loss that
pushes them apart, and a label distribution corrected by the anchors and by attention across the batch.

Transcribed from the official code, takihasan/ARBEx @ b85c37b4a7 (``arbex/train.py``, ``arbex/loss.py``,
``arbex/models/anchors.py``, ``arbex/models/attn.py``, ``arbex/utils.py``): Wasi, Šerbetar, Islam, Rafi, Chae,
"ARBEx: Attentive Feature Extraction with Reliability Balancing for Robust Facial Expression Learning", 2023
(arXiv 2305.01486). The backbone (POSTER ViT) is the model's business; this module holds everything the official
training step puts after the embedding: the classification head, the anchors and the self-attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    UNIT,
    check_float_tensor,
    check_labels,
    check_not_float16,
    reduce,
)
from .margin import MarginHead
from .registry import Paper, Param, register


def anchor_distances(embeddings: Tensor, anchors: Tensor) -> Tensor:
    """Euclidean distances ``‖x_b - a_j‖``, shape [B, J] for anchors [J, D] (official ``Anchors.forward``:
    ``sqrt(sum((a - x)^2))``). Computed as ``m·‖(x - a)/m‖`` with ``m`` the largest coordinate, so embeddings of
    1e20 do not overflow float32; a zero distance has value 0 and gradient 0 (the official sqrt's is infinite)."""
    diff = embeddings[:, None, :] - anchors[None]  # [B, J, D]
    peak = diff.abs().amax(-1, keepdim=True)
    safe = torch.where(peak > 0, peak, torch.ones_like(peak))
    return (peak * torch.linalg.vector_norm(diff / safe, dim=-1, keepdim=True)).squeeze(-1)


def anchor_loss(anchors: Tensor, embedding_dim: int) -> Tensor:
    r"""ARBEx's anchor loss on anchors [C, K, D] (official ``AnchorLoss``):
    :math:`-\frac{1}{K^2\sqrt D}\sum_{c,c'}\lVert A_c - A_{c'}\rVert^2` with :math:`A_c` class c's K anchors
    concatenated (so anchor k of class c meets only anchor k of the other classes, and every pair counts twice).
    Unbounded below: the anchors move apart for ever (the official code ramps its weight in with ``trust``)."""
    c, k, _ = anchors.shape
    flat = anchors.reshape(c, -1)
    return -((flat[None] - flat[:, None]) ** 2).sum() / math.sqrt(embedding_dim) / (k * k)


def _log_class_probabilities(scores: Tensor, num_classes: int, per_class: int) -> Tensor:
    """log of ``softmax(scores).view(B, C, K).sum(-1)``: the official pattern (similarities and attention), in log
    space so that a class whose probability underflows still has a finite log and gradient."""
    return torch.logsumexp(F.log_softmax(scores, dim=1).view(len(scores), num_classes, per_class), dim=2)


def confidence(log_probs: Tensor) -> Tensor:
    """``1 - H(p)/log C`` for rows of log-probabilities [B, C] (official ``1 - normalized_entropy(p)``): 1 on a
    one-hot row, 0 on the uniform one. From the log-probabilities, so a zero probability adds 0, not 0·log 0."""
    plogp = torch.where(torch.isneginf(log_probs), 0.0, log_probs.exp() * log_probs)  # 0 log 0 = 0
    return 1 + plogp.sum(1) / math.log(log_probs.shape[1])


@register(
    "arbex", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("ARBEx: Attentive Feature Extraction with Reliability Balancing for Robust Facial Expression "
                "Learning", 2023, "Wasi, Šerbetar, Islam, Rafi, Chae"),
    formula=r"\ell_i = -\log\tilde p_{i,y_i} + t\lambda_c\,\rho_i\frac{\min_k\lVert x_i-a_{y_i}^k\rVert}{\sqrt D}"
            r" - t\lambda_\mu\frac{\sum_{c,c'}\lVert A_c-A_{c'}\rVert^2}{K^2\sqrt D},\;"
            r"\tilde p = (1-t)p + t\big(\rho p + (1-\rho)\frac{\rho_g s + \rho_a q}{\rho_g+\rho_a}\big)",
    params={"anchors_per_class": Param(1, 1, 10, "K: learnable anchors per class (official train.py: 1)",
                                       valid=POSITIVE_INT),
            "temperature": Param(1.0, 0.1, 10.0, "T: p = softmax(logits / T)", log=True, valid=POSITIVE),
            "delta": Param(1.0, 0.1, 10.0, "δ: anchor similarities s = softmax(-distance / δ), summed per class",
                           log=True, valid=POSITIVE),
            "lambda_mu": Param(1.0, 0.0, 2.0, "λ_μ: weight of the anchor loss (pushes anchors apart)",
                               valid=NONNEGATIVE),
            "lambda_center": Param(1.0, 0.0, 2.0, "λ_c: weight of the centre loss (embedding to nearest own anchor)",
                                   valid=NONNEGATIVE),
            "trust": Param(1.0, 0.0, 1.0, "t: how much the corrections count (official: iteration / iterations)",
                           valid=UNIT)},
)
class ARBEx(MarginHead):
    r"""ARBEx's training loss (Wasi et al. 2023): cross-entropy on a label distribution corrected by learnable
    class anchors and by attention across the batch, plus an anchor loss and a centre loss.

    For embeddings :math:`x_i` (official code: the POSTER ViT's, D = 768) and labels :math:`y_i`:

    * :math:`p_i = \mathrm{softmax}(f(x_i)/T)`, f the classification head; :math:`\rho(p) = 1 - H(p)/\log C`.
    * anchors :math:`a_c^k` (``.weight``, [C·K, D], class-major; the official ``Anchors`` [C, K, D] flattened),
      :math:`d_{ick} = \lVert x_i - a_c^k\rVert`, :math:`s_{ic} = \sum_k\mathrm{softmax}_{(c,k)}(-d_{i}/\delta)`.
    * :math:`q_i`: self-attention *across the batch* (official ``SelfAttn``: Q, K, V linear maps D → C·K, one
      ``nn.MultiheadAttention(C·K, 1)`` head over the B samples as a sequence, a softmax over C·K, summed per class).
    * :math:`c_i = (\rho(s_i)s_i + \rho(q_i)q_i)/(\rho(s_i)+\rho(q_i))`,
      :math:`\tilde p_i = (1-t)p_i + t(\rho(p_i)p_i + (1-\rho(p_i))c_i)`.
    * :math:`L = \frac1B\sum_i -\log\tilde p_{i,y_i} + t\lambda_\mu L_\mu + t\lambda_c L_c` with the anchor loss
      :func:`anchor_loss` :math:`L_\mu = -\sum_{c,c'}\lVert A_c - A_{c'}\rVert^2/(K^2\sqrt D)` and the centre loss
      :math:`L_c = \frac1B\sum_i\rho(p_i)\min_k d_{iy_ik}/\sqrt D` (:math:`\rho(p_i)` not detached, as official).

    Defaults are the official ``train.py``'s: K = 1 (``--num-anchors``; the ``Anchors`` class's own default is
    10), T = 1, δ = 1 (the code sets ``delta`` from ``--hyperparam-temp``, so δ = T always; here they are
    separate), λ_CE = λ_μ = λ_c = 1, anchors initialised to zero. The official ``trust`` t grows linearly from 0 to
    1 over training (``n_iter / num_iters``); here it is a parameter (default 1, the end of training):
    ``experiments.arbex_run`` ramps it. The anchor loss is unbounded below, so the total loss keeps falling as
    the anchors spread; compare runs by accuracy, not loss.

    Departures, all where the official code gives NaN or needs the whole dataset: probabilities and confidences are
    computed in log space (the official ``log`` of a softmax that underflows is -inf); when both correction
    confidences are 0 (uniform s and q, e.g. at the zero initialisation) the correction averages s and q equally
    (official: 0/0); the cross-entropy is unweighted (official: weighted by the training set's inverse class
    frequencies, 1 on balanced data); the head f is one linear layer (official: an MLP 768-384-192-96-C with
    batch norm and dropout 0.5). float16 is refused (the attention scores overflow it); embeddings so large that
    the attention scores overflow raise a ValueError. ``.logits(x)`` is ``f(x)/T``, what the official evaluation
    predicts with (without test-time correction, its default).

    Reduction: ``"none"`` gives one value per sample [B], its cross-entropy and weighted centre term plus the
    weighted anchor loss (the same for every sample); ``"mean"`` averages them over all B samples, the official
    total loss; ``"sum"`` adds them.
    """

    def __init__(self, num_classes: int, embedding_dim: int, anchors_per_class: int = 1, temperature: float = 1.0,
                 delta: float = 1.0, lambda_mu: float = 1.0, lambda_center: float = 1.0, trust: float = 1.0,
                 reduction: str = "mean"):
        temperature = POSITIVE.check(temperature, "temperature")
        super().__init__(num_classes, embedding_dim, 1.0 / temperature, reduction)
        self.temperature = temperature
        self.anchors_per_class = POSITIVE_INT.check(anchors_per_class, "anchors_per_class")
        self.delta = POSITIVE.check(delta, "delta")
        self.lambda_mu = NONNEGATIVE.check(lambda_mu, "lambda_mu")
        self.lambda_center = NONNEGATIVE.check(lambda_center, "lambda_center")
        self.trust = UNIT.check(trust, "trust")
        width = num_classes * self.anchors_per_class
        self.weight = nn.Parameter(torch.zeros(width, embedding_dim))  # official: zero anchors
        self.head = nn.Linear(embedding_dim, num_classes)
        self.query, self.key, self.value = (nn.Linear(embedding_dim, width) for _ in range(3))
        self.attention = nn.MultiheadAttention(width, num_heads=1)

    # --- the pieces ---------------------------------------------------------------------------------------------

    def anchors(self) -> Tensor:
        """The anchors as the official [C, K, D]."""
        return self.weight.view(self.num_classes, self.anchors_per_class, self.embedding_dim)

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        """``f(x)/T``: the head's logits over the temperature (no margin; ``labels`` are only checked)."""
        _check(embeddings, self.embedding_dim)
        if labels is not None:
            check_labels(labels, "labels", embeddings.shape[0], self.num_classes)
        return self.scale * _linear(self.head, embeddings)

    def log_attention(self, embeddings: Tensor) -> Tensor:
        """log q, [B, C]: the official ``SelfAttn`` (one-head ``nn.MultiheadAttention`` over the batch)."""
        mha, width = self.attention, self.attention.embed_dim
        w, b = mha.in_proj_weight.to(embeddings.dtype), mha.in_proj_bias.to(embeddings.dtype)
        q = F.linear(_linear(self.query, embeddings), w[:width], b[:width])
        k = F.linear(_linear(self.key, embeddings), w[width:2 * width], b[width:2 * width])
        v = F.linear(_linear(self.value, embeddings), w[2 * width:], b[2 * width:])
        scores = q @ k.T / math.sqrt(width)  # [B, B]: sample i attends to every sample of the batch
        if not torch.isfinite(scores).all():
            raise ValueError(f"embeddings are too large: the attention scores overflow dtype {embeddings.dtype}")
        out = _linear(mha.out_proj, torch.softmax(scores, dim=1) @ v)
        return _log_class_probabilities(out, self.num_classes, self.anchors_per_class)

    def log_similarities(self, distances: Tensor) -> Tensor:
        """log s, [B, C]: softmax of -distance/δ over all C·K anchors, summed over each class's K."""
        return _log_class_probabilities(-distances / self.delta, self.num_classes, self.anchors_per_class)

    def anchor_loss(self) -> Tensor:
        """L_μ (unweighted), see :func:`anchor_loss`."""
        return anchor_loss(self.anchors(), self.embedding_dim)

    # --- the loss -----------------------------------------------------------------------------------------------

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        if labels is None:
            raise ValueError("labels must be a tensor of shape [B]; ARBEx needs the targets")
        log_p = F.log_softmax(self.logits(embeddings), dim=1)  # checks the embeddings
        labels = check_labels(labels, "labels", embeddings.shape[0], self.num_classes).long()
        rows = torch.arange(len(labels), device=labels.device)
        distances = anchor_distances(embeddings, self.weight)  # [B, C·K]
        log_s, log_q = self.log_similarities(distances), self.log_attention(embeddings)
        rho, rho_s, rho_q = confidence(log_p), confidence(log_s), confidence(log_q)
        total = rho_s + rho_q
        both_zero = total <= 0
        w_s = torch.where(both_zero, torch.full_like(total, 0.5), rho_s / torch.where(both_zero, 1.0, total))
        t = self.trust
        # log p~_y = log(a p_y + b w_s s_y + b w_q q_y), a = 1 - t + t rho, b = t (1 - rho): a log-sum-exp whose
        # zero coefficients drop out (their log would be -inf with a NaN gradient)
        coefs = torch.stack([1 - t + t * rho, t * (1 - rho) * w_s, t * (1 - rho) * (1 - w_s)], dim=1)
        logs = torch.stack([log_p[rows, labels], log_s[rows, labels], log_q[rows, labels]], dim=1)
        positive = coefs > 0
        terms = torch.where(positive, torch.where(positive, coefs, 1.0).log() + logs, -math.inf)
        per_sample = -torch.logsumexp(terms, dim=1)
        if t > 0 and self.lambda_center > 0:
            own = distances.view(len(labels), self.num_classes, self.anchors_per_class)[rows, labels]
            per_sample = per_sample + t * self.lambda_center * rho * own.amin(1) / math.sqrt(self.embedding_dim)
        if t > 0 and self.lambda_mu > 0:
            per_sample = per_sample + t * self.lambda_mu * self.anchor_loss().to(per_sample.dtype)
        return reduce(per_sample, self.reduction)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, "
                f"anchors_per_class={self.anchors_per_class}, temperature={self.temperature}, delta={self.delta}, "
                f"lambda_mu={self.lambda_mu}, lambda_center={self.lambda_center}, trust={self.trust}")


def _check(embeddings: Tensor, dim: int) -> None:
    check_float_tensor(embeddings, "embeddings", 2, f"[B, {dim}]", nonempty=True)
    if embeddings.shape[1] != dim:
        raise ValueError(f"embeddings must have shape [B, {dim}] (embedding_dim), got shape {tuple(embeddings.shape)}")
    check_not_float16(embeddings, "embeddings", "the attention scores across the batch overflow it")


def _linear(layer: nn.Linear, x: Tensor) -> Tensor:
    return F.linear(x, layer.weight.to(x.dtype), layer.bias.to(x.dtype))


__all__ = ["ARBEx", "anchor_distances", "anchor_loss", "confidence"]
