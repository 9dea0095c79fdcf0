"""The model side of SimSiam and BYOL: a predictor head on an encoder, and (BYOL) an EMA target network.

``Siamese(encoder)`` embeds like its encoder (``forward`` and ``embed`` give the encoder's output z, what probes
and plots look at). For training, ``siamese_outputs(x)`` gives ``(p, z_target)``: the predictor's output on the
online embedding, and the target (the online z itself for SimSiam, the EMA network's for BYOL). The views kind's
training step (``workbench.kinds``) calls ``update_target()`` and then ``siamese_outputs`` when the model has
them, and feeds ``loss(p, None, targets=z_target)`` to ``simsiam`` / ``byol``. ``predictor=False`` gives
p = z, the ablation that collapses (SimSiam, Table 1 / Fig. 2 of Chen & He 2021).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .._checks import UNIT, check_flag, check_int


def predictor_head(dim: int, hidden: int) -> nn.Sequential:
    """SimSiam's predictor (official ``builder.py``): Linear(dim, hidden, no bias)-BN-ReLU-Linear(hidden, dim)."""
    return nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, dim))


class Siamese(nn.Module):
    """An encoder with SimSiam's predictor and, with ``momentum``, BYOL's EMA target network.

    Args:
        encoder: maps inputs to z [N, dim] (e.g. ``MLP(64, dim)``).
        dim: the encoder's output width.
        hidden: the predictor's bottleneck width (SimSiam: 512 for dim 2048; 64 here for small embeddings).
        predictor: False gives p = z (no predictor).
        momentum: None (SimSiam: the target is the online z, detached by the loss) or τ in [0, 1] (BYOL: the
            target network ξ ← τ ξ + (1 - τ) θ; lucidrains' default 0.99).
        seed: seeds the predictor's initialisation.
    """

    def __init__(self, encoder: nn.Module, dim: int, hidden: int = 64, predictor: bool = True,
                 momentum: float | None = None, seed: int = 0):
        super().__init__()
        check_int(dim, "dim", low=1)
        check_int(hidden, "hidden", low=1)
        self.encoder = encoder
        self.embedding_dim = dim
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.predictor = predictor_head(dim, hidden) if check_flag(predictor, "predictor") else nn.Identity()
        self.momentum = None if momentum is None else UNIT.check(momentum, "momentum")
        self.target = None
        if self.momentum is not None:
            self.target = copy.deepcopy(encoder).requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    @torch.no_grad()
    def update_target(self) -> None:
        """BYOL's EMA step ξ ← τ ξ + (1 - τ) θ (a no-op for SimSiam). Called by the training step before each
        batch, i.e. after the previous optimiser step, which is when BYOL updates it."""
        if self.target is None:
            return
        for online, target in zip(self.encoder.parameters(), self.target.parameters()):
            target.mul_(self.momentum).add_(online.detach(), alpha=1 - self.momentum)
        for online, target in zip(self.encoder.buffers(), self.target.buffers()):
            target.copy_(online)

    def siamese_outputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(p, z_target)`` for a batch of (flattened) views x."""
        z = self.encoder(x)
        p = self.predictor(z)
        if self.target is None:
            return p, z
        with torch.no_grad():
            return p, self.target(x)
