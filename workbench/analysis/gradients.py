"""Gradients and loss curves: pair weights dL/dS (the gradient lens), per-sample gradient norms, a loss
or its weight as a function of one margin or similarity, Wang & Liu's relative penalty."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .._checks import check_int, check_number
from ..losses.binary import amplified
from ..losses.crossmodal import crossmodal_logits
from ..losses.noncontrastive import cross_correlation
from ..losses.similarity import cosine_similarity_matrix, pair_masks, views_to_rows
from ..losses.zloss import zscore_loss


def pair_weights(loss: nn.Module, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
    r"""dL/dS for every pair: the General Pair Weighting view (Wang et al. 2019).

    Any loss that depends on the embeddings only through ``S`` has the gradient of
    :math:`\sum_{ij} w_{ij} S_{ij}` with :math:`w_{ij} = \partial L/\partial S_{ij}`: a positive weight
    pushes the pair apart, a negative one pulls it together. Works for every pairs or views loss
    (anything with ``from_similarity``). ``embeddings`` is ``[N, D]`` with ``labels[N]``, or
    ``[B, V, D]`` views (labels optional), flattened row ``b·V + v``.
    """
    if not hasattr(loss, "from_similarity"):
        why = getattr(loss, "similarity_free", None)
        raise ValueError(f"pair_weights needs a loss with from_similarity (pairs/views kinds), got "
                         f"{type(loss).__name__}" + (f", which is {why}: see correlation_weights" if why else ""))
    if embeddings.dim() == 3:
        embeddings, labels = views_to_rows(embeddings, labels)
    if labels is None:
        raise ValueError("labels must be given for embeddings of shape [N, D]")
    # A loss with its own similarity (AMCL's per-head matrices [H, N, N]) says so with similarity_matrix.
    similarity = getattr(loss, "similarity_matrix", cosine_similarity_matrix)
    sim = similarity(embeddings.detach()).requires_grad_(True)
    value = loss.from_similarity(sim, labels)
    if value.dim() != 0:
        raise ValueError("pair_weights needs a loss with a scalar reduction ('mean' or 'sum')")
    (grad,) = torch.autograd.grad(value, sim, allow_unused=True)
    return torch.zeros_like(sim) if grad is None else grad.detach()


def correlation_weights(loss: nn.Module, views: Tensor) -> Tensor:
    r"""dL/dC for Barlow Twins' cross-correlation matrix C [D, D] of two views: the feature-space counterpart of
    :func:`pair_weights` for a loss that is a function of C (anything with ``from_correlation``). A positive
    entry pushes features i (view 1) and j (view 2) to decorrelate, a negative one pulls them to correlate:
    the diagonal carries the invariance term -2(1 - C_ii), the off-diagonal the redundancy term 2λC_ij.
    ``views`` is ``[B, 2, D]``."""
    if not hasattr(loss, "from_correlation"):
        raise ValueError(f"correlation_weights needs a loss with from_correlation (barlow_twins), got "
                         f"{type(loss).__name__}")
    if views.dim() != 3 or views.shape[1] != 2:
        raise ValueError(f"views must have shape [B, 2, D], got {tuple(views.shape)}")
    c = cross_correlation(views[:, 0].detach(), views[:, 1].detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(loss.from_correlation(c), c)
    return grad.detach()


def crossmodal_weights(loss: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    r"""dL/dS for the cross-modal cosines ``S[B, B] = x̂ ŷᵀ`` of a crossmodal loss (CLIP, CWCL, SigLIP: anything
    with ``from_similarity(S, y)``): the pair-weight lens across two modalities. A negative weight pulls the pair
    together, a positive one pushes it apart: for CLIP and SigLIP the matching pairs ``w_ii`` are pulled and the
    mismatched ones pushed; CWCL's soft targets can pull mismatched pairs too. With ``reduction="mean"``, for CLIP,
    :math:`w_{ij} = \frac{1}{2B\tau}\big(\mathrm{softmax}_j(S_{i\cdot}/\tau) + \mathrm{softmax}_i(S_{\cdot j}/\tau)
    - 2[i = j]\big)`; for SigLIP, :math:`w_{ij} = -\frac{t}{B} z_{ij}\,\sigma(-z_{ij}(tS_{ij} + b))`, every pair on
    its own."""
    if not hasattr(loss, "from_similarity") or getattr(loss, "kind", None) != "crossmodal":
        raise ValueError(f"crossmodal_weights needs a crossmodal loss with from_similarity (clip, cwcl, siglip), "
                         f"got {type(loss).__name__}")
    similarity = crossmodal_logits(x.detach(), y.detach(), 1.0).requires_grad_(True)  # x̂ ŷᵀ
    value = loss.from_similarity(similarity, y.detach())
    if value.dim() != 0:
        raise ValueError("crossmodal_weights needs a loss with a scalar reduction ('mean' or 'sum')")
    (grad,) = torch.autograd.grad(value, similarity)
    return grad.detach()


def sample_gradient_norms(loss: nn.Module, outputs: Tensor, *targets) -> Tensor:
    """‖∂L/∂outputs_i‖ for every row i: how hard the loss pulls on each sample's output
    (logits or embedding). Useful to see which samples a loss listens to (e.g. noisy labels)."""
    outputs = outputs.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(outputs, *targets), outputs)
    return grad.flatten(1).norm(dim=1)


def margin_curve(loss: nn.Module, margins: Sequence[float] | np.ndarray, num_classes: int = 10) -> pd.DataFrame:
    """Loss and dL/dm as a function of the true-class margin m (logits kind).

    The logits are ``[m, 0, ..., 0]`` with target 0, so m is the gap between the true logit and every
    other logit; negative m means a misclassified sample. Each margin is its own one-sample batch, so
    the curve does not depend on the loss's reduction.
    """
    num_classes = check_int(num_classes, "num_classes", low=2)  # a margin needs another class
    m = torch.as_tensor(np.asarray(margins, dtype=np.float64)).requires_grad_(True)
    logits = torch.cat([m[:, None], torch.zeros(len(m), num_classes - 1, dtype=torch.float64)], dim=1)
    target = torch.zeros(1, dtype=torch.long)
    values = torch.stack([loss(logits[i:i + 1], target).reshape(()) for i in range(len(m))])
    (grad,) = torch.autograd.grad(values.sum(), m)  # one backward: value i depends on m_i only
    return pd.DataFrame({"margin": m.detach().numpy(), "loss": values.detach().numpy(), "grad": grad.numpy()})


def _check_sweep(loss: nn.Module, which: str, caller: str) -> None:
    if which not in ("positive", "negative"):
        raise ValueError(f"which must be 'positive' or 'negative', got {which!r}")
    if not hasattr(loss, "from_similarity"):
        raise ValueError(f"{caller} needs a loss with from_similarity, got {type(loss).__name__}")


def _sweep(loss: nn.Module, similarities, labels: Tensor, base: Tensor,
           varied: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(s, L(s), dL/ds)`` for each s in ``similarities``: the loss through ``from_similarity`` of the
    similarity matrix ``base`` with its ``varied`` entries set to s (float64). Shared by
    :func:`similarity_curve` and :func:`weight_curve`."""
    s = torch.as_tensor(np.asarray(similarities, dtype=np.float64)).requires_grad_(True)
    values = torch.stack([loss.from_similarity(torch.where(varied, s_k, base), labels) for s_k in s])
    (grad,) = torch.autograd.grad(values.sum(), s, allow_unused=True)  # value k depends on s_k only
    grad = torch.zeros_like(s) if grad is None else grad
    return s.detach().numpy(), values.detach().numpy(), grad.numpy()


def similarity_curve(loss: nn.Module, similarities: Sequence[float] | np.ndarray, which: str = "positive",
                     other: float = 0.0) -> pd.DataFrame:
    """Loss and its derivative as one kind of similarity varies (pairs and views kinds).

    Four rows with labels [0, 0, 1, 1]: with ``which="positive"`` both positive pairs have similarity s
    and every negative pair ``other``; with ``which="negative"`` every negative pair has s and both
    positive pairs ``other``. ``grad`` is dL/ds.
    """
    _check_sweep(loss, which, "similarity_curve")
    other = check_number(other, "other")
    labels = torch.tensor([0, 0, 1, 1])
    positive, negative = pair_masks(labels)
    varied = positive if which == "positive" else negative
    base = torch.full((4, 4), float(other), dtype=torch.float64).fill_diagonal_(1.0)
    s, values, grad = _sweep(loss, similarities, labels, base, varied)
    return pd.DataFrame({"similarity": s, "loss": values, "grad": grad})


def weight_curve(loss: nn.Module, similarities: Sequence[float] | np.ndarray, which: str = "negative", *,
                 positive: float = 0.7, negative: float = 0.3, per_class: int = 3) -> pd.DataFrame:
    """The pair weight dL/ds of ONE pair as its similarity s varies, the rest of the batch held fixed.

    A batch of two classes with ``per_class`` rows each; every positive pair has similarity
    ``positive``, every negative pair ``negative``, except pair (0, j) (and (j, 0)): j = 1 (a positive)
    for ``which="positive"``, j = per_class (a negative) for ``which="negative"``, set to s.
    Comparing curves drawn with different ``positive``/``negative`` contexts shows which similarities
    of the GPW framework a loss's weights use (:func:`gpw_dependence`).
    """
    _check_sweep(loss, which, "weight_curve")
    positive, negative = check_number(positive, "positive"), check_number(negative, "negative")
    per_class = check_int(per_class, "per_class", low=2)  # pair (0, 1) is a positive
    labels = torch.arange(2).repeat_interleave(per_class)
    pos_mask, neg_mask = pair_masks(labels)
    base = torch.where(pos_mask, positive, torch.where(neg_mask, negative, 1.0)).double()
    j = 1 if which == "positive" else per_class
    entry = torch.zeros_like(base, dtype=torch.bool)
    entry[0, j] = entry[j, 0] = True
    s, values, grad = _sweep(loss, similarities, labels, base, entry)
    return pd.DataFrame({"similarity": s, "weight": grad, "loss": values})


def gpw_dependence(loss: nn.Module, similarities: Sequence[float] | np.ndarray | None = None,
                   tol: float = 1e-9) -> dict[str, set[str]]:
    """Which similarities the pair weights of ``loss`` use, found by experiment (the GPW table of the MS paper).

    For a negative and for a positive pair: "S" when the weight changes with the pair's own
    similarity, "N" when it changes with the other negatives' similarity, "P" when it changes with
    the other positives'. Returns ``{"negative": {...}, "positive": {...}}``.
    """
    tol = check_number(tol, "tol", low=0.0)
    similarities = np.linspace(-0.2, 0.9, 12) if similarities is None else similarities
    out = {}
    for which in ("negative", "positive"):
        ref = weight_curve(loss, similarities, which)["weight"].to_numpy()
        uses = set()
        if np.ptp(ref) > tol:
            uses.add("S")
        for tag, context in (("N", {"negative": 0.65}), ("P", {"positive": 0.4})):
            if np.abs(weight_curve(loss, similarities, which, **context)["weight"].to_numpy() - ref).max() > tol:
                uses.add(tag)
        out[which] = uses
    return out


def relative_penalty(negatives: Tensor, temperature: float) -> Tensor:
    r"""Relative penalty on each negative (Wang & Liu 2021): :math:`r_j = e^{s_j/\tau} / \sum_k e^{s_k/\tau}`,
    the ratio of a negative's gradient to the positive's in InfoNCE, a softmax over the negatives'
    similarities ``negatives[..., K]`` (last dim). Sums to 1; small τ puts it all on the hardest negatives."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    return torch.softmax(torch.as_tensor(negatives, dtype=torch.float64) / temperature, dim=-1)


def penalty_entropy(negatives: Tensor, temperature: float) -> Tensor:
    """Entropy (nats) of :func:`relative_penalty` over the last dim: log K when every negative is pushed
    alike (large τ), 0 when only the hardest one is (τ -> 0)."""
    r = relative_penalty(negatives, temperature)
    return torch.special.entr(r).sum(-1)


def amplifier_curve(Ls: Sequence[float], points: int = 101) -> pd.DataFrame:
    """AnyLoss's amplifying sigmoid A(p) = sigmoid(L (p - 1/2)) on a grid of probabilities, one column per L."""
    p = torch.linspace(0, 1, check_int(points, "points", low=2), dtype=torch.float64)
    logits = torch.logit(p)  # amplified() takes logits; p = 0 and 1 become -inf and +inf, which sigmoid maps back
    return pd.DataFrame({"p": p.numpy(), **{f"L={L:g}": amplified(logits, float(L)).numpy() for L in Ls}})


def zscore_curve(zs: Sequence[float] | np.ndarray, ab: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """The Z-loss and its derivative as a function of the true-class z-score, one column pair per
    ``{label: (a, b)}`` (columns ``label`` and ``label grad``)."""
    z = torch.as_tensor(np.asarray(zs, dtype=np.float64)).requires_grad_(True)
    columns = {"z": z.detach().numpy()}
    for label, (a, b) in ab.items():
        values = zscore_loss(z, a, b)
        (grad,) = torch.autograd.grad(values.sum(), z)
        columns[label], columns[f"{label} grad"] = values.detach().numpy(), grad.numpy()
    return pd.DataFrame(columns)


def invariance_table(named_losses: dict[str, nn.Module], logits: Tensor, target: Tensor,
                     transforms: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Each loss on ``scale * logits + shift`` for every ``{label: (scale, shift)}``: the shift and scale
    invariance of a loss, as a table (rows: transforms, columns: losses)."""
    return pd.DataFrame({name: [float(loss(scale * logits + shift, target)) for scale, shift in transforms.values()]
                         for name, loss in named_losses.items()}, index=list(transforms))


def target_logit_curve(head: nn.Module, angles_deg: Sequence[float] | np.ndarray, num_classes: int = 2) -> pd.DataFrame:
    """The target logit of a margin head as a function of the angle θ_y between embedding and class weight
    (unit-norm embedding, other classes orthogonal), next to the margin-free ``s·cos θ``. The head is
    evaluated in eval mode (ElasticFace then uses its mean margin)."""
    num_classes = check_int(num_classes, "num_classes", low=1)
    theta = torch.deg2rad(torch.as_tensor(np.asarray(angles_deg, dtype=np.float64)))
    cosine = torch.zeros(len(theta), num_classes, dtype=torch.float64)
    cosine[:, 0] = torch.cos(theta)
    labels = torch.zeros(len(theta), dtype=torch.long)
    was_training = head.training
    head.eval()
    with torch.no_grad():
        adjusted = head.adjust(cosine, labels)[:, 0]
    head.train(was_training)
    scale = float(head.scale)
    return pd.DataFrame({"angle": np.asarray(angles_deg, dtype=np.float64), "target_logit": scale * adjusted.numpy(),
                         "plain_logit": scale * cosine[:, 0].numpy(), "scale": scale})


def proxy_weights(loss: nn.Module, embeddings: Tensor, labels: Tensor, similarity: Tensor | None = None) -> Tensor:
    r"""dL/dS for every (sample, proxy) cosine: the proxy-to-sample weights of a margin-kind loss, ``[B, C]``.

    The proxy analogue of :func:`pair_weights`: a loss that sees the embeddings only through the cosines
    :math:`S_{ic} = \cos(x_i, w_c)` of its ``.cosine`` (Proxy-Anchor, SoftTriple's class similarities,
    the ArcFace family) has the gradient of :math:`\sum_{ic} w_{ic} S_{ic}` with :math:`w_{ic} = \partial L/\partial
    S_{ic}`: negative pulls sample i towards proxy c, positive pushes it away. ``similarity`` (``[B, C]``) replaces the
    cosines the loss would compute, to read the weights of a designed geometry (``embeddings`` then only give the
    batch's shape). Needs a scalar loss (``reduction`` "mean" or "sum", or none).
    """
    return _proxy_weights_and_value(loss, embeddings, labels, similarity)[0]


def _proxy_weights_and_value(loss: nn.Module, embeddings: Tensor, labels: Tensor,
                             similarity: Tensor | None = None) -> tuple[Tensor, float]:
    """:func:`proxy_weights` and the loss's value, from one forward pass."""
    if not callable(getattr(loss, "cosine", None)):
        raise ValueError(f"proxy_weights needs a margin-kind loss with .cosine(embeddings), got {type(loss).__name__}")
    captured = {}

    def cosine(x: Tensor) -> Tensor:
        s = loss.__class__.cosine(loss, x) if similarity is None else similarity
        captured["S"] = s.detach().clone().requires_grad_(True)
        return captured["S"]

    loss.cosine = cosine  # an instance attribute shadows the method for this one call
    try:
        with torch.enable_grad():
            value = loss(embeddings, labels)
    finally:
        del loss.cosine
    if "S" not in captured:  # a .cosine method the forward never calls
        raise ValueError(f"proxy_weights needs a loss whose forward reads .cosine; {type(loss).__name__}'s does not")
    if value.dim() != 0:
        raise ValueError("proxy_weights needs a loss with a scalar reduction ('mean' or 'sum')")
    (grad,) = torch.autograd.grad(value, captured["S"], allow_unused=True)
    return (torch.zeros_like(captured["S"]) if grad is None else grad.detach()), float(value.detach())


def proxy_weight_curve(loss: nn.Module, similarities: Sequence[float] | np.ndarray, which: str = "positive", *,
                       positive: float = 0.5, negative: float = 0.0, per_class: int = 4) -> pd.DataFrame:
    """The weight dL/ds of ONE (sample, proxy) cosine as it varies, the rest of the batch held fixed.

    ``loss`` has two proxies (``num_classes=2``); the batch holds ``per_class`` samples of each class, every
    sample at cosine ``positive`` to its own proxy and ``negative`` to the other, except sample 0 (class 0):
    its cosine to proxy 0 (``which="positive"``) or to proxy 1 (``which="negative"``) is set to s.
    Returns ``similarity``, ``weight`` (dL/ds, float64) and ``loss``.
    """
    if which not in ("positive", "negative"):
        raise ValueError(f"which must be 'positive' or 'negative', got {which!r}")
    if getattr(loss, "num_classes", None) != 2:
        raise ValueError("proxy_weight_curve needs a loss built with num_classes=2")
    per_class = check_int(per_class, "per_class", low=1)
    positive, negative = check_number(positive, "positive"), check_number(negative, "negative")
    loss = copy.deepcopy(loss).double()  # float64 curves, the caller's module untouched
    labels = torch.arange(2).repeat_interleave(per_class)
    own = torch.nn.functional.one_hot(labels, 2).bool()
    base = torch.where(own, positive, negative).double()
    column = 0 if which == "positive" else 1
    embeddings = torch.zeros(len(labels), getattr(loss, "embedding_dim", 2), dtype=torch.float64)
    rows = []
    for s in np.asarray(similarities, dtype=np.float64):
        sim = base.clone()
        sim[0, column] = s
        grad, value = _proxy_weights_and_value(loss, embeddings, labels, sim)
        rows.append({"similarity": float(s), "weight": float(grad[0, column]), "loss": value})
    return pd.DataFrame(rows)

