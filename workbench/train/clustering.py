"""Deep clustering recipes: pre-train an autoencoder on reconstruction, then train its encoder with a clustering
loss (DEC, DEPICT) against a target distribution recomputed on the whole data set and held fixed in between.

DEC (Xie et al. 2016): a denoising autoencoder pre-trained on reconstruction, centres initialised by k-means
on its embedding, then the encoder and the centres trained on KL(P‖Q) alone (the decoder is dropped).
DEPICT's code keeps the reconstruction loss during clustering (weight 1): ``reconstruction_weight``.
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from torch import Tensor, nn

from .._checks import NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, UNIT, check_flag, check_float_tensor
from .adam import Adam


def _batches(n: int, batch_size: int, g: torch.Generator):
    order = torch.randperm(n, generator=g)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def pretrain_autoencoder(autoencoder: nn.Module, X: Tensor, *, epochs: int = 30, lr: float = 1e-3,
                         batch_size: int = 128, corruption: float = 0.2, seed: int = 0) -> list[float]:
    """Train ``autoencoder`` (``forward`` reconstructs, e.g. :class:`workbench.models.Autoencoder`) to reconstruct
    ``X`` from a copy with a fraction ``corruption`` of its inputs zeroed (DEC's denoising autoencoder: dropout
    0.2 on the input); Adam, mean squared error. Returns the mean training loss of every epoch."""
    check_float_tensor(X, "X", 2, "[N, D]", nonempty=True)
    epochs, batch_size = POSITIVE_INT.check(epochs, "epochs"), POSITIVE_INT.check(batch_size, "batch_size")
    lr, corruption = POSITIVE.check(lr, "lr"), UNIT.check(corruption, "corruption")
    g = torch.Generator().manual_seed(NONNEGATIVE_INT.check(seed, "seed"))
    optimiser = Adam(autoencoder.parameters(), lr=lr)
    autoencoder.train()
    curve = []
    for _ in range(epochs):
        total = 0.0
        for idx in _batches(len(X), batch_size, g):
            x = X[idx]
            keep = (torch.rand(x.shape, generator=g) >= corruption).to(x.dtype)
            loss = F.mse_loss(autoencoder(x * keep), x)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        curve.append(total / len(X))
    return curve


@torch.no_grad()
def kmeans_init(loss: nn.Module, embeddings: Tensor, seed: int = 0) -> Tensor:
    """Set the loss's cluster parameters from k-means (10 restarts) on ``embeddings``; returns the k-means
    assignments."""
    seed = NONNEGATIVE_INT.check(seed, "seed")
    km = KMeans(loss.num_clusters, n_init=10, random_state=seed).fit(embeddings.detach().cpu().double().numpy())
    loss.init_centres(torch.as_tensor(km.cluster_centers_, dtype=loss.weight.dtype))
    return torch.as_tensor(km.labels_, dtype=torch.long)


def fit_clustering(autoencoder: nn.Module, loss: nn.Module, X: Tensor, *, epochs: int = 20, lr: float = 1e-3,
                   batch_size: int = 256, reconstruction_weight: float = 0.0, init: bool = True,
                   seed: int = 0) -> dict:
    """Train ``autoencoder.encoder`` and the clustering ``loss`` (``dec``/``depict``) on ``X``.

    Every epoch starts by computing the target distribution on the whole of ``X`` (held fixed during the epoch,
    as DEPICT's code does; DEC-keras recomputes every 140 iterations); each batch then uses its rows. With
    ``reconstruction_weight`` > 0 the decoder's mean squared error is added (DEPICT's code, weight 1).
    ``init``: initialise the centres by k-means on the starting embedding (both papers do).

    Returns ``{"history": DataFrame(epoch, loss, changed), "targets": [P per epoch], "soft": [Q per epoch],
    "assignments": final argmax of Q}``; ``changed`` is the fraction of hard assignments that moved since the
    previous epoch (DEC stops below 0.1%)."""
    check_float_tensor(X, "X", 2, "[N, D]", nonempty=True)
    epochs, batch_size = POSITIVE_INT.check(epochs, "epochs"), POSITIVE_INT.check(batch_size, "batch_size")
    lr = POSITIVE.check(lr, "lr")
    reconstruction_weight = NONNEGATIVE.check(reconstruction_weight, "reconstruction_weight")
    seed = NONNEGATIVE_INT.check(seed, "seed")
    init = check_flag(init, "init")
    encoder = autoencoder.encoder
    if init:
        with torch.no_grad():
            kmeans_init(loss, encoder(X), seed)
    g = torch.Generator().manual_seed(seed)
    params = list(encoder.parameters()) + list(loss.parameters())
    if reconstruction_weight:
        params += list(autoencoder.decoder.parameters())
    optimiser = Adam(params, lr=lr)
    rows, targets, soft, previous = [], [], [], None
    for epoch in range(epochs + 1):
        with torch.no_grad():
            embedded = encoder(X)
            q, p = loss.soft_assignment(embedded), loss.target_distribution(embedded)
        hard = q.argmax(1)
        changed = float("nan") if previous is None else float((hard != previous).double().mean())
        previous = hard
        targets.append(p)
        soft.append(q)
        if epoch == epochs:  # the last pass only measures
            rows.append(dict(epoch=epoch, loss=float("nan"), changed=changed))
            break
        total = 0.0
        for idx in _batches(len(X), batch_size, g):
            z = encoder(X[idx])
            value = loss(z, p[idx])
            if reconstruction_weight:
                value = value + reconstruction_weight * F.mse_loss(autoencoder.decoder(z), X[idx])
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            total += float(value.detach()) * len(idx)
        rows.append(dict(epoch=epoch, loss=total / len(X), changed=changed))
    return {"history": pd.DataFrame(rows), "targets": targets, "soft": soft, "assignments": previous}
