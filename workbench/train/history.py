"""``History``: what a training run measured, epoch by epoch, plus optional snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import Tensor


@dataclass
class History:
    """Per-epoch metrics (``frame``, a DataFrame indexed by epoch) plus optional snapshots.

    ``snapshots["embeddings"][e]`` holds the test-set embeddings after epoch ``e`` (entry 0 is before
    training); ``labels`` are the matching test labels. ``history["test_acc"]`` reads a column.
    """

    frame: pd.DataFrame
    snapshots: dict[str, list[Tensor]] = field(default_factory=dict)
    labels: Tensor | None = None

    def __getitem__(self, column: str) -> pd.Series:
        return self.frame[column]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def last(self) -> dict:
        """The metrics of the final epoch."""
        return self.frame.iloc[-1].to_dict()

    def equals(self, other: History) -> bool:
        """Exactly the same metrics and snapshots (what the same seed must give)."""
        if not self.frame.equals(other.frame) or self.snapshots.keys() != other.snapshots.keys():
            return False
        return all(len(mine) == len(theirs) and all(torch.equal(a, b) for a, b in zip(mine, theirs))
                   for mine, theirs in ((self.snapshots[k], other.snapshots[k]) for k in self.snapshots))

    def to_csv(self, path) -> None:
        self.frame.to_csv(path)

    def _repr_html_(self) -> str:
        return self.frame._repr_html_()

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, columns={list(self.frame.columns)}, snapshots={list(self.snapshots)})"
