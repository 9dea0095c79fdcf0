"""Training objectives that need the model, not only its output: they are ``batch_loss`` functions for
:func:`workbench.train.fit` (``f(model, loss, x, y, generator) -> scalar``).

- :func:`multi_sample_batch_loss`: the encoder once, the multi-sample dropout head's M-sample loss.
- :func:`opl_batch_loss`: cross-entropy on the logits plus OPL on the penultimate features.
- :func:`episodic_batch_loss`: few-shot losses trained on N-way K-shot episodes instead of batches.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import kinds
from .._checks import check_int, check_number
from ..data import episode
from ..models import MultiSampleDropout, WithHead


def multi_sample_batch_loss(model: WithHead, loss, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
    """``batch_loss`` for ``train.fit``: the encoder once, the M-sample head loss on its output (Inoue 2019)."""
    if not isinstance(getattr(model, "head", None), MultiSampleDropout):
        raise ValueError("multi_sample_batch_loss needs a model whose head is a MultiSampleDropout "
                         "(see models.multi_sample_dropout_classifier)")
    return model.head.loss(loss, model.encoder(x), y, generator)


def opl_batch_loss(opl: nn.Module, lam: float = 1.0) -> kinds.BatchLoss:
    """A ``batch_loss`` that trains a classifier with ``CE + lam·OPL`` (Orthogonal Projection Loss, Ranasinghe
    et al. 2021: OPL acts on the penultimate features, cross-entropy on the logits).

    The model must have ``encoder`` (to the penultimate features) and ``head`` (to the logits), as
    :func:`workbench.models.classifier` builds. Train with a ``cross_entropy`` loss as ``loss=`` (it scores
    the logits) and this as ``batch_loss=``.
    """
    lam = check_number(lam, "lam", low=0.0)

    def batch_loss(model, loss, x, y, generator):
        features = model.encoder(x)
        return loss(model.head(features), y) + lam * opl(features, y)
    return batch_loss


def episodic_batch_loss(X: Tensor, y: Tensor, *, n_way: int = 5, shot: int = 5, queries: int = 5) -> kinds.BatchLoss:
    """A ``batch_loss`` that ignores the batch and draws one N-way K-shot episode from ``(X, y)`` with the
    training generator instead (support first, then queries, as :func:`workbench.data.episode` orders them):
    how few-shot losses such as ``proto_triplet`` and ``icnn`` are trained. ``fit`` still runs one step per
    batch of the data, so ``batch_size`` sets the number of episodes per epoch."""
    # checked now rather than at the first step, with data.episode's ranges
    n_way, shot = check_int(n_way, "n_way", low=1), check_int(shot, "shot", low=1)
    queries = check_int(queries, "queries", low=0)

    def batch_loss(model, loss, x, labels, generator):
        ex, ey = episode(X, y, n_way=n_way, shot=shot, queries=queries, generator=generator)
        return loss(model(ex), ey)
    return batch_loss


def pseudo_negative_batch_loss(sampler) -> kinds.BatchLoss:
    """A ``batch_loss`` for one-class training (Hyp-OC, Narayan & Patel 2024, official ``train.py``): every
    batch of the normal class (label 0) is joined by as many pseudo-negatives (label 1) drawn by ``sampler``
    (``losses.PseudoNegatives``) from the batch's *inputs*, as the official code draws them in its input feature
    space in front of the trainable MLP; the model embeds both and ``loss`` sees ``[2B]`` rows with labels
    ``0…0 1…1``. Works with ``hyp_pc``/``hyp_ce`` (kind margin) and with ``cross_entropy`` on a classifier (a
    Euclidean baseline). Call ``sampler.reset()`` before each training run: it keeps a running mean.
    """
    def batch_loss(model, loss, x, y, generator):
        pseudo = sampler(x.flatten(1), generator).view_as(x)
        labels = torch.cat([torch.zeros(len(x), dtype=torch.long), torch.ones(len(x), dtype=torch.long)])
        return loss(model(torch.cat([x, pseudo])), labels.to(x.device))
    return batch_loss
