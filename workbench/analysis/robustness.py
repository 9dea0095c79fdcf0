"""Robustness and sample quality of a classifier that is also an energy model (dual adversarial training,
``workbench.train.fit_dat``): accuracy under the L2 PGD attack, and how far generated samples lie from the data."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_float_tensor
from ..train.adversarial import adversarial_examples


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, eps: float = 0.5, step_size: float = 0.1,
                    steps: int = 10) -> float:
    """Accuracy on the L2 PGD adversarial examples of ``(x, y)`` (``train.adversarial_examples``; the defaults of
    the official ``eval_robust_acc``, xuwangyin/DAT@fb2ffc7 ``rebm/eval/eval_utils.py``: eps 0.5, 10 steps of 0.1,
    no random start). ``steps = 0`` gives the clean accuracy. The model is evaluated in eval mode."""
    was_training = model.training
    model.eval()
    adv = adversarial_examples(model, x, y, eps=eps, step_size=step_size, steps=steps)
    with torch.no_grad():
        acc = float((model(adv).argmax(1) == y).double().mean())
    model.train(was_training)
    return acc


def nearest_distance(samples: Tensor, reference: Tensor) -> Tensor:
    """The L2 distance from each sample to its nearest reference row (``[N]``; inputs flattened per row): how far
    generated samples lie from the training data, in the data's own units."""
    check_float_tensor(samples, "samples", None, "[N, ...]", nonempty=True)
    check_float_tensor(reference, "reference", None, "[M, ...]", nonempty=True)
    a, b = samples.flatten(1), reference.flatten(1).to(samples.dtype)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"samples and reference must have as many features per row, got {a.shape[1]}, {b.shape[1]}")
    return torch.cdist(a, b).min(dim=1).values
