"""Classification metrics on predictions and scores."""

from __future__ import annotations

import torch
from sklearn.metrics import accuracy_score
from torch import Tensor, nn

from .._checks import check_number


def accuracy(logits_or_pred: Tensor, target: Tensor) -> float:
    """Top-1 accuracy from logits ``[N, C]`` (argmax) or from predicted labels ``[N]``."""
    pred = logits_or_pred.argmax(1) if logits_or_pred.dim() == 2 else logits_or_pred
    return float(accuracy_score(target.cpu().numpy(), pred.detach().cpu().numpy()))


def topk_accuracy(logits: Tensor, target: Tensor, k: int = 1) -> float:
    """Fraction of rows whose target is among the ``k`` largest logits."""
    if logits.dim() != 2 or isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= logits.shape[1]:
        raise ValueError(f"logits must be [N, C] with 1 <= k <= C, got shape {tuple(logits.shape)} and k={k}")
    top = logits.topk(k, dim=1).indices
    return float((top == target[:, None]).any(dim=1).double().mean())


def binary_metrics(scores: Tensor, target: Tensor, threshold: float = 0.0) -> dict[str, float]:
    """F1 and balanced accuracy of ``scores > threshold`` (raw logits: 0 is probability 1/2) and the
    threshold-free ROC AUC, all by scikit-learn. A ranking loss (MW) sets no threshold, so judge it by
    ROC AUC."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
    s, y = scores.detach().cpu().double().numpy(), target.cpu().numpy()
    pred = (s > check_number(threshold, "threshold")).astype(int)
    return {"f1": float(f1_score(y, pred, zero_division=0)),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)), "roc_auc": float(roc_auc_score(y, s))}


@torch.no_grad()
def outputs_on_test(model: nn.Module, data) -> Tensor:
    """The model's outputs on ``data.X_test`` in eval mode (a binary model's [N, 1] squeezed to [N])."""
    model.eval()
    out = model(data.X_test)
    return out.squeeze(-1) if out.dim() == 2 and out.shape[1] == 1 else out
