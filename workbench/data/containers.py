"""The train/test container every dataset returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


# eq=False: the generated __eq__/__hash__ would compare tensors elementwise (ambiguous truth value)
# and try to hash the meta dict; identity semantics are what a container of tensors needs.
@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split ready for training.

    ``X_*`` are float32 (flat features ``[N, D]``, or images ``[N, 1, 8, 8]`` for image digits),
    ``y_*`` are int64 class ids in ``[0, num_classes)``. ``augment(X, generator)`` returns one random
    view of a batch (same shape), for multi-view and contrastive losses. ``meta`` holds extras such
    as clean labels, class counts or sub-cluster ids; per-sample entries have ``train``/``test`` in
    their key (``"y_train_clean"``, ``"subclass_test"``) so the variants can keep them aligned.
    """

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    description: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        # Catch misaligned hand-built datasets here, not as an index error deep inside a training loop.
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"X_{split} has {X.shape[0]} rows but y_{split} has {y.shape[0]}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(64,)`` or ``(1, 8, 8)``."""
        return tuple(self.X_train.shape[1:])

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    def __repr__(self) -> str:
        aug = ", augment" if self.augment is not None else ""
        return (
            f"Dataset({self.name!r}, train={self.n_train}, test={self.n_test}, "
            f"input_shape={self.input_shape}, classes={self.num_classes}{aug})"
        )
