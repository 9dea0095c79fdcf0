"""What every training loop shares: seeding, device, Adam over model and loss parameters, one epoch of
shuffled optimiser steps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import check_int, check_number
from .adam import Adam


def _check_schedule(*, epochs, batch_size, lr, seed, weight_decay) -> None:
    """The arguments every training loop takes, checked before any work is done."""
    check_int(epochs, "epochs", low=1)
    check_int(batch_size, "batch_size", low=1)
    check_int(seed, "seed", low=0)
    check_number(lr, "lr", low=0.0, low_open=True)
    check_number(weight_decay, "weight_decay", low=0.0)


def _start(model: nn.Module, loss: nn.Module | None, *, seed: int, device, lr: float,
           weight_decay: float) -> tuple[torch.Generator, list[nn.Parameter], Adam]:
    """What every training loop does first: seed the global RNG (dropout and anything else drawing from it)
    and a generator (batch order, augmentations), move model and loss to ``device``, and build Adam over
    their parameters, each once (a loss may hold the model's). Returns ``(generator, params, optimizer)``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    modules = [model] if loss is None else [model, loss.to(device)]
    params = list(dict.fromkeys(p for m in modules for p in m.parameters()))
    return generator, params, Adam(params, lr=lr, weight_decay=weight_decay)


def _train_epoch(model: nn.Module, optimizer: Adam, n: int, batch_size: int,
                 generator: torch.Generator, batch_value: Callable[[Tensor], Tensor],
                 grad_params: list[nn.Parameter] | None = None) -> tuple[float, float | None]:
    """One epoch in train mode: shuffle the ``n`` training rows with ``generator`` and take an optimiser
    step on ``batch_value(idx)`` for every ``batch_size`` of them. Returns the epoch's loss (batch means
    weighted by batch size) and, when ``grad_params`` is given, the mean norm of their gradient per step."""
    model.train()
    order = torch.randperm(n, generator=generator)
    losses, grad_norms, sizes = [], [], []
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        value = batch_value(idx)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        if grad_params is not None:
            grads = [p.grad.norm() for p in grad_params if p.grad is not None]
            grad_norms.append(float(torch.stack(grads).norm()) if grads else 0.0)
        optimizer.step()
        losses.append(float(value.detach()))
        sizes.append(len(idx))
    return float(np.average(losses, weights=sizes)), None if grad_params is None else float(np.mean(grad_norms))
