"""LaSO's label-set operation networks (Alfassy et al., CVPR 2019, "LaSO: Label-Set Operations networks for
multi-label few-shot learning"): three small networks that take the feature vectors of two images and return a
feature vector whose labels are the union, the intersection or the difference of theirs.

Architecture as the official code builds it by default (leokarlin/LaSO@eea81de
``oneshot/setops_models/res_setops.py``: ``SetOpsResModule`` with ``SetopResBlock_v1`` blocks and
``SetopResBasicBlock`` layers; ``scripts_coco/train_setops_stripped.py`` defaults): each operation is

    h = LeakyReLU_0.2(BN(W_ab [a; b]))                          (Linear 2D -> D)
    h = LeakyReLU_0.2(BN(W_l h) + op(a, b))   for each of ``layers`` residual layers
    out = ReLU(W_out h)                                          (ReLU: the features it imitates are post-ReLU)

with the residual ``op`` the operation done on the features directly: ``a + b`` (union), ``min(a, b)``
(intersection), ``relu(a - b)`` (subtraction). ``op`` alone, without the network, is the analytic baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoders import seeded


def _subtract(a: Tensor, b: Tensor) -> Tensor:
    return F.relu(a - b)  # the official ``subrelu``


# the residual of each network: the set operation done on the feature vectors themselves
FEATURE_OPS = {"union": torch.add, "intersection": torch.minimum, "subtraction": _subtract}

# LaSO.forward's outputs, in the official order (``SetOpsResModule.forward``): the two reconstructions
# (a \ (b ∩ a)) ∪ (a ∩ b) and its mirror, the three operations both ways, and the "tautologies" the code also
# trains on ((a \ b) \ b = a \ b, (a ∩ b) ∩ b = a ∩ b, (a ∪ b) ∪ b = a ∪ b, a \ (b ∩ a) = a \ b, ...).
OUTPUTS = ("fake_a", "fake_b", "a_S_b", "b_S_a", "a_U_b", "b_U_a", "a_I_b", "b_I_a",
           "a_S_b_b", "b_S_a_a", "a_I_b_b", "b_I_a_a", "a_U_b_b", "b_U_a_a",
           "a_S_b_I_a", "b_S_a_I_b", "a_S_a_I_b", "b_S_b_I_a")


class SetOpBlock(nn.Module):
    """One label-set operation network (``SetopResBlock_v1`` with ``SetopResBasicBlock`` layers)."""

    def __init__(self, dim: int, operation: str, layers: int = 1):
        super().__init__()
        if operation not in FEATURE_OPS:
            raise ValueError(f"operation must be one of {sorted(FEATURE_OPS)}, got {operation!r}")
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
            raise ValueError(f"layers must be an int >= 0, got {layers!r}")
        self.operation = operation
        self.net_ab = nn.Sequential(nn.Linear(2 * dim, dim), nn.BatchNorm1d(dim), nn.LeakyReLU(0.2))
        self.res_layers = nn.ModuleList(nn.Sequential(nn.Linear(dim, dim), nn.BatchNorm1d(dim))
                                        for _ in range(layers))
        self.fc_out = nn.Linear(dim, dim)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        out = self.net_ab(torch.cat((a, b), dim=1))
        residual = FEATURE_OPS[self.operation](a, b)
        for layer in self.res_layers:
            out = F.leaky_relu(layer(out) + residual, 0.2)
        return F.relu(self.fc_out(out))


class LaSO(nn.Module):
    """The three operation networks on ``dim``-dimensional features (``SetOpsResModule``).

    ``forward(a, b)`` returns a dict of the 18 official outputs (:data:`OUTPUTS`; ``S`` subtraction, ``U`` union,
    ``I`` intersection, ``a_S_b`` = a \\ b); :meth:`operations` only the three operations a → b;
    :meth:`feature_arithmetic` the same operations done on the features without the networks (the baseline).
    Official depth: ``ops_layer_num`` 1 (class default and the README's test runs; 2 in its training command).
    """

    def __init__(self, dim: int, layers: int = 1, seed: int | None = None):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an int >= 1, got {dim!r}")
        self.dim = dim
        with seeded(seed):
            self.subtract_op = SetOpBlock(dim, "subtraction", layers)
            self.intersect_op = SetOpBlock(dim, "intersection", layers)
            self.union_op = SetOpBlock(dim, "union", layers)

    def _check(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
        if a.shape != b.shape or a.shape[1] != self.dim:
            raise ValueError(f"a and b must both be [B, {self.dim}] features, got {tuple(a.shape)} and "
                             f"{tuple(b.shape)}")
        return a, b

    def forward(self, a: Tensor, b: Tensor) -> dict[str, Tensor]:
        a, b = self._check(a, b)
        s, i, u = self.subtract_op, self.intersect_op, self.union_op
        out = {"a_S_b": s(a, b), "b_S_a": s(b, a), "a_I_b": i(a, b), "b_I_a": i(b, a),
               "a_U_b": u(a, b), "b_U_a": u(b, a)}
        out["a_S_b_b"], out["b_S_a_a"] = s(out["a_S_b"], b), s(out["b_S_a"], a)
        out["a_S_b_I_a"], out["b_S_a_I_b"] = s(a, out["b_I_a"]), s(b, out["a_I_b"])
        out["a_S_a_I_b"], out["b_S_b_I_a"] = s(a, out["a_I_b"]), s(b, out["b_I_a"])
        out["a_I_b_b"], out["b_I_a_a"] = i(out["a_I_b"], b), i(out["b_I_a"], a)
        out["a_U_b_b"], out["b_U_a_a"] = u(out["a_U_b"], b), u(out["b_U_a"], a)
        out["fake_a"], out["fake_b"] = u(out["a_S_b_I_a"], out["a_I_b"]), u(out["b_S_a_I_b"], out["b_I_a"])
        return {name: out[name] for name in OUTPUTS}

    def operations(self, a: Tensor, b: Tensor) -> dict[str, Tensor]:
        """``{"union": a ∪ b, "intersection": a ∩ b, "subtraction": a \\ b}`` through the networks."""
        a, b = self._check(a, b)
        return {"union": self.union_op(a, b), "intersection": self.intersect_op(a, b),
                "subtraction": self.subtract_op(a, b)}

    @staticmethod
    def feature_arithmetic(a: Tensor, b: Tensor) -> dict[str, Tensor]:
        """The baseline without networks: ``a + b``, ``min(a, b)``, ``relu(a - b)`` on the features."""
        return {name: op(a, b) for name, op in FEATURE_OPS.items()}
