"""Shared test helpers: one input factory per loss kind, so every standard is checked on every loss."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from workbench import losses  # noqa: E402


def make_inputs(name: str, *, batch: int = 6, classes: int = 3, dim: int = 4, dtype=torch.float64, seed: int = 0,
                scale: float = 1.0):
    """A loss built with defaults and valid inputs for its kind: ``(loss, args)`` with ``loss(*args)`` working."""
    g = torch.Generator().manual_seed(seed)
    kind = losses.info(name).kind
    labels = torch.arange(batch) % classes
    if kind == "logits":
        logits = scale * torch.randn(batch, classes, generator=g, dtype=dtype)
        if name == "bias_loss":  # its weights come from features; fixed ones make it a function of the logits
            return WithExtra(_loss(name), features=torch.randn(batch, 8, generator=g, dtype=dtype)), (
                logits, labels)
        return _loss(name), (logits, labels)
    if kind == "margin":
        loss = _loss(name, num_classes=classes, embedding_dim=dim).to(dtype)
        return loss, (scale * torch.randn(batch, dim, generator=g, dtype=dtype), labels)
    if kind == "pairs":
        return _loss(name), (scale * torch.randn(batch, dim, generator=g, dtype=dtype), labels)
    if kind == "views":
        return _loss(name), (scale * torch.randn(batch, 2, dim, generator=g, dtype=dtype), None)
    if kind == "binary":
        return _loss(name).to(dtype), (scale * torch.randn(batch, generator=g, dtype=dtype), labels % 2)
    if kind == "crossmodal":  # x and y: two modalities, row i of x pairs with row i of y
        return _loss(name), (scale * torch.randn(batch, dim, generator=g, dtype=dtype),
                         scale * torch.randn(batch, dim, generator=g, dtype=dtype))
    if kind == "attention":  # a padded batch of 3 bags, 2 branches, up to `dim + 1` instances; mask as 2nd arg
        mask = torch.ones(3, dim + 1, dtype=torch.bool)
        mask[1, 3:], mask[2, 1:] = False, False  # bag 1 has 3 instances, bag 2 only one
        return _loss(name), (scale * torch.randn(3, 2, dim + 1, generator=g, dtype=dtype), mask)
    if kind == "aggregate":  # instance predictions [B, N] and one aggregate response per bag
        return _loss(name), (scale * torch.randn(batch, dim, generator=g, dtype=dtype),
                         torch.randn(batch, generator=g, dtype=dtype))
    raise NotImplementedError(kind)


class WithExtra(torch.nn.Module):
    """``loss(x, target, **extra)`` as a two-argument loss, for losses that take one more input."""

    def __init__(self, loss: torch.nn.Module, **extra):
        super().__init__()
        self.loss, self.extra = loss, extra

    def forward(self, x, target):
        return self.loss(x, target, **self.extra)


# Random losses draw from their own generator; restarting it at every call makes value and gradient
# checks exact.
RANDOM = {"metrix", "elasticface_arc", "elasticface_cos"}


class Reseeded(torch.nn.Module):
    """Wraps a loss that draws from ``loss.generator``: every call restarts the generator at ``seed``."""

    def __init__(self, loss, seed: int = 0):
        super().__init__()
        self.loss, self.seed = loss, seed

    def forward(self, *args):
        self.loss.generator.manual_seed(self.seed)
        return self.loss(*args)


def _loss(name: str, **kwargs) -> torch.nn.Module:
    """The registered loss built with defaults (random ones wrapped in :class:`Reseeded`)."""
    if name in RANDOM:
        return Reseeded(losses.get(name, generator=torch.Generator(), **kwargs))
    return losses.get(name, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _one_thread_per_worker():
    # The suite runs on 2 cores with 2 xdist workers; tiny models and t-SNE only contend with more
    # threads (seconds become minutes when torch's and OpenMP's pools spin against each other).
    from threadpoolctl import threadpool_limits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")
