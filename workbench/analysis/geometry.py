"""Geometry of an embedding: class tolerance and separation, uniformity, effective rank, angles,
and the similarity distributions of views."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.views import feature_transform
from ..losses.multiview import uniformity  # defined beside the align_uniform loss that uses them
from ..losses.similarity import cosine_similarity_matrix, pair_masks


def tolerance(embeddings: Tensor, labels: Tensor) -> float:
    r"""Tolerance to semantically similar samples (Wang & Liu 2021): the mean cosine similarity over
    same-class pairs :math:`\frac{1}{|\{(i,j): i\neq j, y_i = y_j\}|}\sum \hat z_i^\top \hat z_j`.

    We normalise by the number of same-class pairs (not by all pairs, the other reading of the paper's
    expectation; the two differ by the constant share of same-class pairs). Higher = classes kept tight.
    """
    sim = cosine_similarity_matrix(embeddings.detach())
    positive, _ = pair_masks(labels)
    return float(sim[positive].mean()) if positive.any() else float("nan")


def _class_centre_angles(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(z, centres, angles)``: the unit embeddings (float64), each class's centre (the normalised mean of
    its unit embeddings, classes in ``labels.unique()`` order) and the ``[C, C]`` angles in degrees
    between centres. The one place :func:`class_similarity_stats` and :func:`angular_stats` get them."""
    z = F.normalize(embeddings.detach().double(), dim=1)
    classes = labels.unique()
    centres = F.normalize(torch.stack([z[labels == c].mean(0) for c in classes]), dim=1)
    return z, centres, torch.rad2deg(torch.acos((centres @ centres.T).clamp(-1, 1)))


def _off_diagonal(matrix: Tensor) -> Tensor:
    return matrix[~torch.eye(len(matrix), dtype=torch.bool, device=matrix.device)]


def class_similarity_stats(embeddings: Tensor, labels: Tensor) -> dict[str, float]:
    """Angular structure of labelled embeddings.

    ``intra``/``inter``: mean cosine of same-class / different-class pairs; ``gap`` = intra - inter
    (larger = more angularly separated); ``min_centroid_angle``: the smallest angle in degrees between
    two class-mean directions.
    """
    _, _, angles = _class_centre_angles(embeddings, labels)
    sim = cosine_similarity_matrix(embeddings.detach().double())
    positive, negative = pair_masks(labels)
    stats = {"intra": float(sim[positive].mean()), "inter": float(sim[negative].mean())}
    stats["gap"] = stats["intra"] - stats["inter"]
    stats["min_centroid_angle"] = _off_diagonal(angles).min().item() if len(angles) > 1 else float("nan")
    return stats


def singular_value_spectrum(embeddings: Tensor, center: bool = True) -> Tensor:
    r"""The normalised singular values :math:`p_k = \sigma_k/\sum_j\sigma_j` of an embedding matrix ``[N, D]``
    (of the centred matrix when ``center``), largest first, float64; all zeros for a constant matrix.

    The picture of dimensional collapse: a spectrum that drops to ~0 after a few values uses few
    directions. It is scale-free: embeddings that collapsed to one point plus tiny isotropic jitter have a
    *flat* spectrum, since centring removes the point and leaves the jitter (see :func:`effective_rank`)."""
    z = embeddings.detach().double()
    if center:
        z = z - z.mean(0)
    sigma = torch.linalg.svdvals(z)
    total = sigma.sum()
    return sigma / total if float(total) > 0.0 else sigma


def effective_rank(embeddings: Tensor, center: bool = True) -> float:
    r"""Effective rank (Roy & Vetterli 2007) of an embedding matrix ``[N, D]``: :math:`\exp H(p)` with
    :math:`p_k = \sigma_k/\sum\sigma` the normalised singular values (of the centred matrix when ``center``,
    :func:`singular_value_spectrum`). D for a spread-out embedding, 1 for one that collapsed onto a line
    (dimensional collapse). It measures the *shape* of the spread, not its size: read it beside the
    uniformity, because points collapsed to one direction plus isotropic jitter score close to D."""
    p = singular_value_spectrum(embeddings, center)
    if float(p.sum()) == 0.0:
        return 0.0
    return float(torch.exp(torch.special.entr(p).sum()))


def contrastive_metrics(embeddings: Tensor, labels: Tensor, t: float = 2.0) -> dict[str, float]:
    """Uniformity (of the L2-normalised embeddings, t=2), tolerance (mean same-class cosine, see
    :func:`tolerance`) and effective rank of one embedding, for tables over runs."""
    z = F.normalize(embeddings.detach().double(), dim=1)
    return {"uniformity": float(uniformity(z, t)), "tolerance": tolerance(z, labels),
            "effective_rank": effective_rank(z)}


def angular_stats(embeddings: Tensor, labels: Tensor) -> dict[str, float]:
    """Angles on the hypersphere, in degrees: ``min_centre_angle`` / ``mean_centre_angle`` between class
    centres (mean unit embedding per class) and ``intra_spread``, the mean angle of a sample to its
    own class centre. Margin losses should raise the first two and lower the third."""
    z, centres, angles = _class_centre_angles(embeddings, labels)
    between = _off_diagonal(angles)
    own = centres[torch.searchsorted(labels.unique(), labels)]
    spread = torch.rad2deg(torch.acos((z * own).sum(1).clamp(-1, 1)))
    return {"min_centre_angle": between.min().item() if len(between) else float("nan"),
            "mean_centre_angle": float(between.mean()), "intra_spread": float(spread.mean())}


def per_class_values(values: Tensor, labels: Tensor) -> pd.DataFrame:
    """Mean, std and count of per-sample ``values`` (e.g. iSogCLR's learned temperatures) per class."""
    frame = pd.DataFrame({"class": labels.cpu().numpy(), "value": values.detach().cpu().double().numpy()})
    return frame.groupby("class")["value"].agg(["mean", "std", "count"])


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


@torch.no_grad()
def on_dominant_subcenter(loss, embeddings: Tensor, labels: Tensor) -> Tensor:
    """For a sub-centre head (``subcenter_arcface``): whether each sample's nearest sub-centre of its *labelled*
    class is that class's dominant one (the sub-centre most of the class's samples are nearest to), ``[B]`` bool.
    Sub-center ArcFace's claim (Deng et al. 2020): clean samples gather on the dominant sub-centre, noisy-labelled
    ones on the others."""
    if not hasattr(loss, "sub_center_cosine"):
        raise ValueError(f"on_dominant_subcenter needs a sub-centre head, got {type(loss).__name__}")
    _, dominant = loss.outliers(embeddings, labels)  # checks the embeddings and labels
    labels = labels.long()
    nearest = loss.sub_center_cosine(embeddings)[torch.arange(len(labels)), labels].argmax(1)
    return nearest == dominant[labels]
