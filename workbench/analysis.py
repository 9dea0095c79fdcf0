"""Measurements on embeddings, losses and gradients. Plain functions in, numbers or tables out.

Where scikit-learn already has the metric it is used; everything else is written with the formula
in the docstring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score
from torch import Tensor, nn

from .data import episode
from .losses.multiview import alignment, uniformity  # defined beside the align_uniform loss that uses them
from .losses.similarity import cosine_similarity_matrix, pair_masks, views_to_rows
from .train import knn_probe, linear_probe

__all__ = [
    "accuracy", "knn_accuracy", "linear_probe_accuracy", "recall_at_k", "alignment", "uniformity",
    "tolerance", "class_similarity_stats", "pair_weights", "sample_gradient_norms", "margin_curve",
    "similarity_curve",
]
__all__ += ["attention_entropy", "top_k_attention_mass", "bag_auc", "localisation_auc", "mil_metrics",
            "mil_unit_tests"]
__all__ += ["topk_accuracy", "binary_metrics", "outputs_on_test", "compare_losses", "summarise", "amplifier_curve",
            "zscore_curve", "invariance_table"]


def accuracy(logits_or_pred: Tensor, target: Tensor) -> float:
    """Top-1 accuracy from logits ``[N, C]`` (argmax) or from predicted labels ``[N]``."""
    pred = logits_or_pred.argmax(1) if logits_or_pred.dim() == 2 else logits_or_pred
    return float(accuracy_score(target.cpu().numpy(), pred.detach().cpu().numpy()))


knn_accuracy = knn_probe
linear_probe_accuracy = linear_probe


def recall_at_k(embeddings: Tensor, labels: Tensor, ks: Sequence[int] = (1, 2, 4, 8)) -> dict[int, float]:
    """Leave-one-out retrieval Recall@k with cosine similarity: the fraction of queries with at least
    one same-label item among their k nearest other items (the metric-learning benchmarks' R@k)."""
    sim = cosine_similarity_matrix(embeddings.detach().double())
    sim.fill_diagonal_(-math.inf)
    top = sim.topk(max(ks), dim=1).indices
    hit = labels[top] == labels[:, None]
    return {k: float(hit[:, :k].any(1).double().mean()) for k in ks}


def tolerance(embeddings: Tensor, labels: Tensor) -> float:
    r"""Tolerance to semantically similar samples (Wang & Liu 2021): the mean cosine similarity over
    same-class pairs :math:`\frac{1}{|\{(i,j): i\neq j, y_i = y_j\}|}\sum \hat z_i^\top \hat z_j`.

    We normalise by the number of same-class pairs (not by all pairs, the other reading of the paper's
    expectation; the two differ by the constant share of same-class pairs). Higher = classes kept tight.
    """
    sim = cosine_similarity_matrix(embeddings.detach())
    positive, _ = pair_masks(labels)
    return float(sim[positive].mean()) if positive.any() else float("nan")


def class_similarity_stats(embeddings: Tensor, labels: Tensor) -> dict[str, float]:
    """Angular structure of labelled embeddings.

    ``intra``/``inter``: mean cosine of same-class / different-class pairs; ``gap`` = intra - inter
    (larger = more angularly separated); ``min_centroid_angle``: the smallest angle in degrees between
    two class-mean directions.
    """
    z = embeddings.detach().double()
    sim = cosine_similarity_matrix(z)
    positive, negative = pair_masks(labels)
    classes = labels.unique()
    centroids = F.normalize(torch.stack([F.normalize(z[labels == c], dim=1).mean(0) for c in classes]), dim=1)
    cos = (centroids @ centroids.T).clamp(-1, 1)
    cos.fill_diagonal_(-1.0)
    stats = {"intra": float(sim[positive].mean()), "inter": float(sim[negative].mean())}
    stats["gap"] = stats["intra"] - stats["inter"]
    stats["min_centroid_angle"] = math.degrees(math.acos(float(cos.max()))) if len(classes) > 1 else float("nan")
    return stats


def pair_weights(loss: nn.Module, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
    r"""dL/dS for every pair: the General Pair Weighting view (Wang et al. 2019).

    Any loss that depends on the embeddings only through ``S`` has the gradient of
    :math:`\sum_{ij} w_{ij} S_{ij}` with :math:`w_{ij} = \partial L/\partial S_{ij}`: a positive weight
    pushes the pair apart, a negative one pulls it together. Works for every pairs or views loss
    (anything with ``from_similarity``). ``embeddings`` is ``[N, D]`` with ``labels[N]``, or
    ``[B, V, D]`` views (labels optional), flattened row ``b·V + v``.
    """
    if not hasattr(loss, "from_similarity"):
        raise ValueError(f"pair_weights needs a loss with from_similarity (pairs/views kinds), got "
                         f"{type(loss).__name__}")
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
    m = torch.as_tensor(np.asarray(margins, dtype=np.float64)).requires_grad_(True)
    logits = torch.cat([m[:, None], torch.zeros(len(m), num_classes - 1, dtype=torch.float64)], dim=1)
    target = torch.zeros(1, dtype=torch.long)
    values = torch.stack([loss(logits[i:i + 1], target).reshape(()) for i in range(len(m))])
    (grad,) = torch.autograd.grad(values.sum(), m)  # one backward: value i depends on m_i only
    return pd.DataFrame({"margin": m.detach().numpy(), "loss": values.detach().numpy(), "grad": grad.numpy()})


def similarity_curve(loss: nn.Module, similarities: Sequence[float] | np.ndarray, which: str = "positive",
                     other: float = 0.0) -> pd.DataFrame:
    """Loss and its derivative as one kind of similarity varies (pairs and views kinds).

    Four rows with labels [0, 0, 1, 1]: with ``which="positive"`` both positive pairs have similarity s
    and every negative pair ``other``; with ``which="negative"`` every negative pair has s and both
    positive pairs ``other``. ``grad`` is dL/ds.
    """
    if which not in ("positive", "negative"):
        raise ValueError(f"which must be 'positive' or 'negative', got {which!r}")
    if not hasattr(loss, "from_similarity"):
        raise ValueError(f"similarity_curve needs a loss with from_similarity, got {type(loss).__name__}")
    labels = torch.tensor([0, 0, 1, 1])
    positive, negative = pair_masks(labels)
    varied = positive if which == "positive" else negative
    base = torch.full((4, 4), float(other), dtype=torch.float64).fill_diagonal_(1.0)
    s = torch.as_tensor(np.asarray(similarities, dtype=np.float64)).requires_grad_(True)
    values = torch.stack([loss.from_similarity(torch.where(varied, s_k, base), labels) for s_k in s])
    (grad,) = torch.autograd.grad(values.sum(), s, allow_unused=True)  # value k depends on s_k only
    grad = torch.zeros_like(s) if grad is None else grad
    return pd.DataFrame({"similarity": s.detach().numpy(), "loss": values.detach().numpy(), "grad": grad.numpy()})


# --- classification and imbalanced-binary experiments (issue 3) ------------------------------------


def topk_accuracy(logits: Tensor, target: Tensor, k: int = 1) -> float:
    """Fraction of rows whose target is among the ``k`` largest logits."""
    if logits.dim() != 2 or not 1 <= k <= logits.shape[1]:
        raise ValueError(f"logits must be [N, C] with 1 <= k <= C, got shape {tuple(logits.shape)} and k={k}")
    top = logits.topk(k, dim=1).indices
    return float((top == target[:, None]).any(dim=1).double().mean())


def binary_metrics(scores: Tensor, target: Tensor, threshold: float = 0.0) -> dict[str, float]:
    """F1 and balanced accuracy of ``scores > threshold`` (raw logits: 0 is probability 1/2) and the
    threshold-free ROC AUC, all by scikit-learn. A ranking loss (MW) sets no threshold, so judge it by
    ROC AUC."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
    s, y = scores.detach().cpu().double().numpy(), target.cpu().numpy()
    pred = (s > threshold).astype(int)
    return {"f1": float(f1_score(y, pred, zero_division=0)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)), "roc_auc": float(roc_auc_score(y, s))}


@torch.no_grad()
def outputs_on_test(model: nn.Module, data) -> Tensor:
    """The model's outputs on ``data.X_test`` in eval mode (a binary model's [N, 1] squeezed to [N])."""
    model.eval()
    out = model(data.X_test)
    return out.squeeze(-1) if out.dim() == 2 and out.shape[1] == 1 else out


def compare_losses(make_loss, make_data, make_model, score, *, seeds: Sequence[int] = (0, 1, 2),
                   settings: dict[str, Sequence] | None = None, keep: dict | None = None,
                   pretrain: dict | None = None, pretrain_epochs: int = 0, verbose: bool = True,
                   **fit_kwargs) -> pd.DataFrame:
    """Train one model per (loss, setting, seed) and score it: the grid behind a "which loss wins" table.

    Args:
        make_loss: ``{label: callable() -> loss module}`` (a fresh loss per run: some keep state).
        make_data: ``callable(seed, **setting) -> Dataset``.
        make_model: ``callable(data, seed) -> model``.
        score: ``callable(model, data) -> {metric: value}`` (e.g. :func:`binary_metrics` of
            :func:`outputs_on_test`).
        settings: ``{name: values}``, every combination is a setting (e.g. ``{"noise": [0, 0.2, 0.4]}``).
        pretrain: ``{label: callable() -> loss}``: those runs first train ``pretrain_epochs`` epochs with
            that loss, then ``epochs - pretrain_epochs`` with their own (e.g. AUC-M after cross-entropy,
            as its authors recommend), so every run sees the same number of epochs.
        keep: a dict to receive the trained models (and their data), keyed ``(loss, *setting values, seed)``
            -> ``(model, dataset)``, e.g. for ROC curves.
        fit_kwargs: passed to :func:`workbench.train.fit` (epochs, lr, batch_size, batch_loss, ...).

    Returns a DataFrame with one row per run: ``loss``, the setting columns, ``seed``, the metrics and
    ``seconds``. One tqdm bar over all runs (silent with ``verbose=False``).
    """
    import itertools
    import time

    from tqdm.auto import tqdm

    from .train import fit

    settings = dict(settings or {})
    combos = [dict(zip(settings, values)) for values in itertools.product(*settings.values())]
    runs = [(label, combo, seed) for combo in combos for seed in seeds for label in make_loss]
    rows, cache = [], {}
    for label, combo, seed in tqdm(runs, desc="compare losses", disable=not verbose):
        key = (tuple(combo.items()), seed)
        if key not in cache:
            cache = {key: make_data(seed, **combo)}  # runs are ordered so that each dataset is built once
        ds = cache[key]
        start = time.perf_counter()
        model = make_model(ds, seed)
        kwargs = dict(fit_kwargs)
        if pretrain and label in pretrain:
            warm = {**kwargs, "epochs": pretrain_epochs}
            fit(model, pretrain[label](), ds, seed=seed, verbose=False, record=(), **warm)
            kwargs["epochs"] = kwargs.get("epochs", 10) - pretrain_epochs
        fit(model, make_loss[label](), ds, seed=seed, verbose=False, record=(), **kwargs)
        rows.append({"loss": label, **combo, "seed": seed, **score(model, ds),
                     "seconds": time.perf_counter() - start})
        if keep is not None:
            keep[(label, *combo.values(), seed)] = (model, ds)
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame, metric: str, by: Sequence[str] = ("loss",)) -> pd.DataFrame:
    """Mean and standard deviation of ``metric`` over seeds, one row per ``by`` group."""
    return frame.groupby(list(by), sort=False)[metric].agg(["mean", "std"]).reset_index()


def amplifier_curve(Ls: Sequence[float], points: int = 101) -> pd.DataFrame:
    """AnyLoss's amplifying sigmoid A(p) = sigmoid(L (p - 1/2)) on a grid of probabilities, one column per L."""
    from .losses.binary import amplified
    p = torch.linspace(0, 1, points, dtype=torch.float64)
    logits = torch.logit(p)  # amplified() takes logits; p = 0 and 1 become -inf and +inf, which sigmoid maps back
    return pd.DataFrame({"p": p.numpy(), **{f"L={L:g}": amplified(logits, float(L)).numpy() for L in Ls}})


def zscore_curve(zs: Sequence[float] | np.ndarray, ab: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """The Z-loss and its derivative as a function of the true-class z-score, one column pair per
    ``{label: (a, b)}`` (columns ``label`` and ``label grad``)."""
    from .losses.zloss import zscore_loss
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


# --- contrastive temperature, uniformity-tolerance, collapse and transfer (issue 4) ---


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


def effective_rank(embeddings: Tensor, center: bool = True) -> float:
    r"""Effective rank (Roy & Vetterli 2007) of an embedding matrix ``[N, D]``: :math:`\exp H(p)` with
    :math:`p_k = \sigma_k/\sum\sigma` the normalised singular values (of the centred matrix when ``center``).
    D for a spread-out embedding, 1 for one that collapsed onto a line (dimensional collapse)."""
    z = embeddings.detach().double()
    if center:
        z = z - z.mean(0)
    sigma = torch.linalg.svdvals(z)
    if float(sigma.sum()) == 0.0:
        return 0.0
    p = sigma / sigma.sum()
    return float(torch.exp(torch.special.entr(p).sum()))


def contrastive_metrics(embeddings: Tensor, labels: Tensor, t: float = 2.0) -> dict[str, float]:
    """Uniformity (of the L2-normalised embeddings, t=2), tolerance (mean same-class cosine, see
    :func:`tolerance`) and effective rank of one embedding, for tables over runs."""
    z = F.normalize(embeddings.detach().double(), dim=1)
    return {"uniformity": float(uniformity(z, t)), "tolerance": tolerance(z, labels),
            "effective_rank": effective_rank(z)}


def feature_transform(views: Tensor, *, extrapolation: float | None = None, interpolation: float | None = None,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    r"""Feature Transformation of Zhu et al. ("Improving Contrastive Learning by Visualizing Feature
    Transformation", ICCV 2021) on two views ``[B, 2, D]``; returns ``(views, extra_negatives)``.

    *Positive extrapolation* (``extrapolation`` = α): :math:`\lambda \sim 1 + \mathrm{Beta}(\alpha, \alpha)`
    per pair, :math:`\hat z_1 = \lambda z_1 + (1-\lambda) z_2` and symmetrically: the positives move apart
    (harder positives, lower similarity). *Negative interpolation* (``interpolation`` = α):
    :math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)`, extra negatives :math:`\lambda z_{2,j} + (1-\lambda)
    z_{2,\pi(j)}` mixing second views of two instances (``[B, D]``, empty when not asked for). Views are
    L2-normalised before and after.
    """
    if views.dim() != 3 or views.shape[1] != 2:
        raise ValueError(f"views must have shape [B, 2, D], got {tuple(views.shape)}")
    generator = generator or torch.Generator().manual_seed(0)
    z = F.normalize(views.detach().double(), dim=-1)
    b = len(z)
    if extrapolation is not None:
        lam = 1 + _beta_sample(float(extrapolation), b, generator)[:, None]
        z = F.normalize(torch.stack([lam * z[:, 0] + (1 - lam) * z[:, 1], lam * z[:, 1] + (1 - lam) * z[:, 0]], 1),
                        dim=-1)
    extra = z.new_zeros(0, z.shape[-1])
    if interpolation is not None:
        lam = _beta_sample(float(interpolation), b, generator)[:, None]
        perm = torch.randperm(b, generator=generator)
        extra = F.normalize(lam * z[:, 1] + (1 - lam) * z[perm, 1], dim=-1)
    return z, extra


def _beta_sample(alpha: float, n: int, generator: torch.Generator) -> Tensor:
    # numpy's Beta sampler seeded from the torch generator: the generator stays the only source of randomness.
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    return torch.as_tensor(rng.beta(alpha, alpha, size=n), dtype=torch.float64)


def view_similarities(views: Tensor, *, extrapolation: float | None = None, interpolation: float | None = None,
                      generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Cosine similarities of the positive pairs (view 1 with view 2 of the same instance, [B]) and of the
    negative pairs (view 1 of i with view 2 of j ≠ i, plus the interpolated negatives, flattened) of two
    views ``[B, 2, D]``, optionally after :func:`feature_transform`."""
    z, extra = feature_transform(views, extrapolation=extrapolation, interpolation=interpolation,
                                 generator=generator)
    cross = z[:, 0] @ z[:, 1].T
    off = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
    negatives = [cross[off]]
    if len(extra):
        negatives.append((z[:, 0] @ extra.T).flatten())
    return {"positive": cross.diagonal().clone(), "negative": torch.cat(negatives)}


def similarity_distributions(view_snapshots: Sequence[Tensor], epochs: Sequence[int] | None = None,
                             **transform) -> pd.DataFrame:
    """Positive and negative similarities at several epochs of a run recorded with ``record=("views",)``:
    a long DataFrame (epoch, pair in {"positive", "negative"}, similarity) for histograms. ``transform``
    goes to :func:`view_similarities` (``extrapolation``, ``interpolation``, ``generator``)."""
    epochs = range(len(view_snapshots)) if epochs is None else epochs
    frames = []
    for epoch in epochs:
        sims = view_similarities(view_snapshots[epoch][:, :2], **transform)
        for kind, values in sims.items():
            frames.append(pd.DataFrame({"epoch": epoch, "pair": kind, "similarity": values.numpy()}))
    return pd.concat(frames, ignore_index=True)


def projection_head_probes(model: nn.Module, data, probe: str = "linear") -> dict[str, float]:
    """Probe accuracy of the representation before (``model.encoder``) and after (``model``, the head's
    output) a projection head, e.g. ``models.with_projection`` ("Investigating the Benefits of Projection
    Head for Representation Learning", Gupta et al. 2024: the pre-head features usually transfer better)."""
    if not hasattr(model, "encoder"):
        raise ValueError("model must have an encoder and a head (models.with_projection)")
    probe_fn = linear_probe if probe == "linear" else knn_probe
    model.eval()
    with torch.no_grad():
        out = {}
        for where, fn in (("pre", model.encoder), ("post", model)):
            out[where] = probe_fn(fn(data.X_train), data.y_train, fn(data.X_test), data.y_test)
    return out


def zero_shot_accuracy(embeddings: Tensor, prototypes: Tensor, labels: Tensor) -> float:
    """Accuracy of classifying each embedding by its most similar (cosine) class prototype, row c of
    ``prototypes`` standing for class c: zero-shot transfer through the other modality."""
    sim = F.normalize(embeddings.detach(), dim=1) @ F.normalize(prototypes.detach(), dim=1).T
    return float((sim.argmax(1) == labels).double().mean())


def per_class_values(values: Tensor, labels: Tensor) -> pd.DataFrame:
    """Mean, std and count of per-sample ``values`` (e.g. iSogCLR's learned temperatures) per class."""
    frame = pd.DataFrame({"class": labels.cpu().numpy(), "value": values.detach().cpu().double().numpy()})
    return frame.groupby("class")["value"].agg(["mean", "std", "count"])


__all__ += ["relative_penalty", "penalty_entropy", "effective_rank", "contrastive_metrics", "feature_transform",
            "view_similarities", "similarity_distributions", "projection_head_probes", "zero_shot_accuracy",
            "per_class_values"]


# --- metric learning and margin heads (issue 5) -----------------------------------------------------------

__all__ += ["utilization", "map_at_r", "nmi", "retrieval_metrics", "weight_curve", "gpw_dependence",
            "prototype_accuracy", "angular_stats", "verification_roc", "target_logit_curve"]

def utilization(queries: Tensor, references: Tensor) -> float:
    r"""Utilization (Metrix, Venkataramanan et al. 2022): how close queries land to the training points,
    :math:`u(Q) = \frac{1}{|Q|}\sum_{q\in Q}\min_{x\in X}\lVert q - x\rVert_2^2`.

    Lower = the training points (for Metrix, clean and mixed) cover more of where the queries (e.g.
    unseen classes) fall. 0 when every query is a reference; never increases when X grows.
    """
    q, x = queries.detach().double(), references.detach().double()
    best = torch.full((len(q),), math.inf, dtype=torch.float64, device=q.device)
    for start in range(0, len(x), 4096):  # chunks keep memory small for the many mixed points
        chunk = x[start:start + 4096]
        d2 = (q.pow(2).sum(1)[:, None] + chunk.pow(2).sum(1)[None, :] - 2 * q @ chunk.T).clamp(min=0)
        best = torch.minimum(best, d2.min(1).values)
    return float(best.mean())


def map_at_r(embeddings: Tensor, labels: Tensor) -> float:
    r"""MAP@R (Musgrave, Belongie & Lim, "A Metric Learning Reality Check", 2020), cosine similarity.

    For a query with R other items of its class, retrieve its R nearest items:
    :math:`\mathrm{MAP@R} = \frac1R\sum_{i=1}^R P(i)\,\mathrm{rel}(i)`, averaged over queries (queries
    alone in their class are skipped). Unlike Recall@k it rewards ranking *all* same-class items first.
    """
    sim = cosine_similarity_matrix(embeddings.detach().double())
    sim.fill_diagonal_(-math.inf)
    same = labels[:, None] == labels[None, :]
    r = same.sum(1) - 1
    keep = r > 0
    order = sim.topk(int(r.max()), dim=1).indices
    rel = (labels[order] == labels[:, None]).double()
    ranks = torch.arange(1, order.shape[1] + 1, dtype=torch.float64, device=order.device)
    within = ranks[None, :] <= r[:, None]
    precision = rel.cumsum(1) / ranks
    ap = (precision * rel * within).sum(1) / r.clamp(min=1)
    return float(ap[keep].mean())


def nmi(embeddings: Tensor, labels: Tensor, seed: int = 0) -> float:
    """Normalised mutual information between the labels and a k-means clustering (k = #classes) of the
    L2-normalised embeddings (scikit-learn's KMeans and normalized_mutual_info_score)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score
    z = F.normalize(embeddings.detach().double(), dim=1).numpy()
    y = labels.cpu().numpy()
    clusters = KMeans(len(np.unique(y)), n_init=5, random_state=seed).fit_predict(z)
    return float(normalized_mutual_info_score(y, clusters))


def retrieval_metrics(embeddings: Tensor, labels: Tensor, ks: Sequence[int] = (1, 2, 4), seed: int = 0) -> dict:
    """Recall@k (:func:`recall_at_k`), MAP@R and NMI in one dict: ``{"R@1": ..., "MAP@R": ..., "NMI": ...}``."""
    out = {f"R@{k}": v for k, v in recall_at_k(embeddings, labels, ks).items()}
    out["MAP@R"] = map_at_r(embeddings, labels)
    out["NMI"] = nmi(embeddings, labels, seed)
    return out


def weight_curve(loss: nn.Module, similarities: Sequence[float] | np.ndarray, which: str = "negative", *,
                 positive: float = 0.7, negative: float = 0.3, per_class: int = 3) -> pd.DataFrame:
    """The pair weight dL/ds of ONE pair as its similarity s varies, the rest of the batch held fixed.

    A batch of two classes with ``per_class`` rows each; every positive pair has similarity
    ``positive``, every negative pair ``negative``, except pair (0, j) (and (j, 0)): j = 1 (a positive)
    for ``which="positive"``, j = per_class (a negative) for ``which="negative"``, set to s.
    Comparing curves drawn with different ``positive``/``negative`` contexts shows which similarities
    of the GPW framework a loss's weights use (:func:`gpw_dependence`).
    """
    if which not in ("positive", "negative"):
        raise ValueError(f"which must be 'positive' or 'negative', got {which!r}")
    if not hasattr(loss, "from_similarity"):
        raise ValueError(f"weight_curve needs a loss with from_similarity, got {type(loss).__name__}")
    labels = torch.arange(2).repeat_interleave(per_class)
    pos_mask, neg_mask = pair_masks(labels)
    base = torch.where(pos_mask, positive, torch.where(neg_mask, negative, 1.0)).double()
    j = 1 if which == "positive" else per_class
    entry = torch.zeros_like(base, dtype=torch.bool)
    entry[0, j] = entry[j, 0] = True
    s = torch.as_tensor(np.asarray(similarities, dtype=np.float64)).requires_grad_(True)
    values = torch.stack([loss.from_similarity(torch.where(entry, s_k, base), labels) for s_k in s])
    (grad,) = torch.autograd.grad(values.sum(), s, allow_unused=True)
    grad = torch.zeros_like(s) if grad is None else grad
    return pd.DataFrame({"similarity": s.detach().numpy(), "weight": grad.numpy(), "loss": values.detach().numpy()})


def gpw_dependence(loss: nn.Module, similarities: Sequence[float] | np.ndarray | None = None,
                   tol: float = 1e-9) -> dict[str, set[str]]:
    """Which similarities the pair weights of ``loss`` use, found by experiment (the GPW table of the MS paper).

    For a negative and for a positive pair: "S" when the weight changes with the pair's own
    similarity, "N" when it changes with the other negatives' similarity, "P" when it changes with
    the other positives'. Returns ``{"negative": {...}, "positive": {...}}``.
    """
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


def prototype_accuracy(embeddings: Tensor, labels: Tensor, *, n_way: int = 5, shot: int = 5, queries: int = 5,
                       episodes: int = 100, seed: int = 0) -> float:
    """Few-shot accuracy: mean over random N-way K-shot episodes (:func:`workbench.data.episode`) of
    nearest-prototype classification (ProtoNet: prototype = mean support embedding, squared Euclidean
    distance on L2-normalised embeddings). Episodes are drawn with a generator seeded by ``seed``."""
    z = F.normalize(embeddings.detach().double(), dim=1)
    g = torch.Generator().manual_seed(seed)
    correct = []
    for _ in range(episodes):
        x, y = episode(z, labels, n_way=n_way, shot=shot, queries=queries, generator=g)
        n_support = n_way * shot  # supports first, class by class, then the queries
        protos = x[:n_support].reshape(n_way, shot, -1).mean(1)
        pred = torch.cdist(x[n_support:], protos).argmin(1)
        correct.append((y[:n_support:shot][pred] == y[n_support:]).double().mean())
    return float(torch.stack(correct).mean())


def angular_stats(embeddings: Tensor, labels: Tensor) -> dict[str, float]:
    """Angles on the hypersphere, in degrees: ``min_centre_angle`` / ``mean_centre_angle`` between class
    centres (mean unit embedding per class) and ``intra_spread``, the mean angle of a sample to its
    own class centre. Margin losses should raise the first two and lower the third."""
    z = F.normalize(embeddings.detach().double(), dim=1)
    classes = labels.unique()
    centres = F.normalize(torch.stack([z[labels == c].mean(0) for c in classes]), dim=1)
    angles = torch.rad2deg(torch.acos((centres @ centres.T).clamp(-1, 1)))
    off = ~torch.eye(len(classes), dtype=torch.bool, device=centres.device)
    own = centres[torch.searchsorted(classes, labels)]
    spread = torch.rad2deg(torch.acos((z * own).sum(1).clamp(-1, 1)))
    return {"min_centre_angle": float(angles[off].min()), "mean_centre_angle": float(angles[off].mean()),
            "intra_spread": float(spread.mean())}


def verification_roc(embeddings: Tensor, labels: Tensor, *, pairs: int = 2000, seed: int = 0) -> dict:
    """Face-verification style ROC on random pairs (half same-class, half different-class): the score of a
    pair is its cosine similarity. Returns ``{"fpr", "tpr", "auc"}`` (scikit-learn's roc_curve / AUC)."""
    from sklearn.metrics import roc_auc_score, roc_curve
    z = F.normalize(embeddings.detach().double(), dim=1)
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    i, j = torch.randint(0, n, (8 * pairs,), generator=g), torch.randint(0, n, (8 * pairs,), generator=g)
    ok = i != j
    i, j = i[ok], j[ok]
    same = labels[i] == labels[j]
    half = pairs // 2
    pos, neg = same.nonzero().squeeze(1)[:half], (~same).nonzero().squeeze(1)[:half]
    idx = torch.cat([pos, neg])
    score = (z[i[idx]] * z[j[idx]]).sum(1).numpy()
    truth = same[idx].numpy()
    fpr, tpr, _ = roc_curve(truth, score)
    return {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(truth, score))}


def target_logit_curve(head: nn.Module, angles_deg: Sequence[float] | np.ndarray, num_classes: int = 2) -> pd.DataFrame:
    """The target logit of a margin head as a function of the angle θ_y between embedding and class weight
    (unit-norm embedding, other classes orthogonal), next to the margin-free ``s·cos θ``. The head is
    evaluated in eval mode (ElasticFace then uses its mean margin)."""
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


# --- multiple-instance learning: attention entropy and localisation ----------------------------------


def attention_entropy(attention_logits: Tensor, mask: Tensor | None = None, *, normalize: bool = True) -> Tensor:
    r"""Entropy of the attention over each bag, ``[B]`` (mean over branches; one value for an unbatched input).

    .. math:: \tilde H = -\frac{1}{\log n_b}\sum_{i=1}^{n_b} a_i \log a_i \in [0, 1]

    Normalised by the log of the bag size so that bags of different sizes compare: 1 = uniform attention,
    0 = all attention on one instance. A one-instance bag has no entropy to normalise (NaN when
    ``normalize``). Takes the logits a model returns (``[N]``, ``[K, N]`` or ``[B, K, N]``, ``-inf`` or
    ``mask`` on padding).
    """
    from .losses.mil import attention_inputs, negative_entropy

    logits, real, batched = attention_inputs(attention_logits.detach(), mask)
    H = -negative_entropy(logits, real)  # [B, K]
    if normalize:
        H = H / real.sum(-1).to(H.dtype).log()
    H = H.mean(-1)
    return H if batched else H[0]


def top_k_attention_mass(attention_logits: Tensor, mask: Tensor | None = None, k: int = 1) -> Tensor:
    """Share of the attention on each bag's ``k`` most attended instances, ``[B]`` (mean over branches):
    near 1 when attention has collapsed onto k instances, k / n for uniform attention."""
    from .losses.mil import attention_inputs, masked_log_softmax

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    logits, real, batched = attention_inputs(attention_logits.detach(), mask)
    a = masked_log_softmax(logits, real).exp()
    mass = a.topk(min(k, a.shape[-1]), dim=-1).values.sum(-1).mean(-1)
    return mass if batched else mass[0]


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
    from .train import predict_bags

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
        from .losses.mil import branch_diversity

        row[f"{split}_diversity"] = float(branch_diversity(out.attention_logits, mask))
    return row


def mil_unit_tests(poolings: Sequence[str] | None = None, tests: Sequence[str] | None = None, *,
                   seeds: Sequence[int] = (0,), n_train: int = 100, n_test: int = 100, dim: int = 16,
                   epochs: int = 15, lr: float = 3e-3, batch_size: int = 10, pass_auc: float = 0.6,
                   verbose: bool = True) -> pd.DataFrame:
    """Raff & Holt's algorithmic unit tests: train every pooling on every test's (poisoned) train bags and
    score the bag ROC AUC on its test bags, which break the shortcut a model that violates the MIL
    assumption would learn.

    Every pooling gets the same small encoder (32 hidden units, 16-dimensional embedding) and budget.
    Returns one row per (pooling, test, seed) with ``train_auc``, ``test_auc`` and ``passed``
    (``test_auc >= pass_auc``; our threshold: the paper's criterion was not checked against its code).
    A test AUC far BELOW 0.5 means the model learned the forbidden rule (poison => negative, many copies
    => positive); near 0.5 means it could not express the rule at all.
    """
    from tqdm.auto import tqdm

    from .data import MIL_UNIT_TESTS, mil_unit_test
    from .models import MIL_POOLINGS, MILModel
    from .train import fit_bags

    poolings, tests = list(poolings or MIL_POOLINGS), list(tests or MIL_UNIT_TESTS)
    rows = []
    jobs = [(t, s, p) for t in tests for s in seeds for p in poolings]
    for test, seed, pooling in tqdm(jobs, desc="MIL unit tests", disable=not verbose):
        bags = mil_unit_test(test, dim=dim, n_train=n_train, n_test=n_test, seed=seed)
        model = MILModel(dim, pooling, embedding_dim=16, hidden=(32,), seed=seed)
        fit_bags(model, bags, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, verbose=False)
        train_auc = mil_metrics(model, bags, "train")["train_auc"]
        test_auc = mil_metrics(model, bags, "test")["test_auc"]
        rows.append({"pooling": pooling, "test": test, "seed": seed, "train_auc": train_auc, "test_auc": test_auc,
                     "passed": test_auc >= pass_auc})
    return pd.DataFrame(rows)
