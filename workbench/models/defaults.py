"""The default model of each loss kind (which one is ``kinds.get(kind).model``)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .. import kinds
from .dual import DualEncoder, pca_encoder
from .encoders import MLP
from .heads import classifier
from .mil import MILModel


def for_kind(kind: str, in_features: int, num_classes: int, embedding_dim: int = 2,
             hidden: Sequence[int] = (128, 64), seed: int | None = 0, *, data=None, branches: int = 1) -> nn.Module:
    """The default MLP-based model for a loss kind, as ``kinds.get(kind).model`` names it:

    - ``classifier``: encoder + linear layer to ``num_classes`` logits (logits, distill);
    - ``scalar``: encoder + one raw score (binary); ``multilabel``: one logit per label;
    - ``encoder``: the bare encoder, its output the embedding (margin, pairs, views, regression, clustering);
    - ``dual``: a :class:`DualEncoder` for paired inputs, the second tower a frozen PCA of that modality in
      ``data`` (``data.meta["modality_dims"]``, as ``data.paired_digits`` stores it): pass ``data=``;
    - ``bags``: an attention :class:`MILModel` over instances of ``in_features`` (``branches`` > 1 for ACMIL);
    - ``instances``: a linear model of one response per instance (aggregate responses).
    """
    spec = kinds.get(kind).model
    if spec is None:
        raise ValueError(f"kind {kind!r} has no default model yet; build one from workbench.models")
    if spec in ("classifier", "scalar", "multilabel"):
        outputs = 1 if spec == "scalar" else num_classes
        return classifier(MLP(in_features, embedding_dim, hidden, seed=seed), outputs, seed=seed)
    if spec == "encoder":
        return MLP(in_features, embedding_dim, hidden, seed=seed)
    if spec == "dual":
        if data is None or "modality_dims" not in getattr(data, "meta", {}):
            raise ValueError(f"kind {kind!r} builds its frozen reference tower from paired data: pass data= "
                             "(e.g. data.paired_digits())")
        split, _ = data.meta["modality_dims"]
        reference = pca_encoder(data.X_train[:, split:], dim=embedding_dim)
        return DualEncoder(MLP(split, embedding_dim, hidden, seed=seed), reference, split)
    if spec == "bags":
        return MILModel(in_features, embedding_dim=embedding_dim, hidden=tuple(hidden)[:1], branches=branches,
                        seed=seed)
    if spec == "instances":
        return MLP(in_features, 1, hidden=(), seed=seed)
    raise ValueError(f"unknown model spec {spec!r} for kind {kind!r}")  # a new spec in kinds needs a builder here
