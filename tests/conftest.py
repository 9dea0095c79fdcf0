"""Shared test helpers: inputs for every loss from its kind (``workbench.kinds``), so every standard is checked
on every loss."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from workbench import kinds, losses  # noqa: E402


def make_inputs(name: str, *, batch: int = 6, classes: int = 3, dim: int = 4, dtype=torch.float64, seed: int = 0,
                scale: float = 1.0):
    """A loss built with defaults and valid inputs for its kind: ``(loss, args)`` with ``loss(*args)`` working.

    The inputs are the kind's example inputs (``workbench.kinds``); a loss with its own parameters (a margin
    head's class weights, AUC-M's a and b) is cast to ``dtype`` like its inputs."""
    kind = kinds.get(losses.info(name).kind)
    args = kind.example_inputs(batch=batch, classes=classes, dim=dim, dtype=dtype, seed=seed, scale=scale)
    loss = _loss(name, **kind.loss_args(classes=classes, dim=dim))
    if any(True for _ in loss.parameters()):
        loss = loss.to(dtype)
    if name == "bias_loss":  # its weights come from features; fixed ones make it a function of the logits
        g = torch.Generator().manual_seed(seed + 1)
        loss = WithExtra(loss, features=torch.randn(batch, 8, generator=g, dtype=dtype))
    if kind.name == "distill":  # the teacher's outputs are held fixed: the loss is a function of the student's
        student, teacher, target = args
        loss, args = WithTeacher(loss, teacher), (student, target)
    return loss, args


class WithExtra(torch.nn.Module):
    """``loss(x, target, **extra)`` as a two-argument loss, for losses that take one more input."""

    def __init__(self, loss: torch.nn.Module, **extra):
        super().__init__()
        self.loss, self.extra = loss, extra

    def forward(self, x, target):
        return self.loss(x, target, **self.extra)


class WithTeacher(torch.nn.Module):
    """A distill loss ``loss(student, teacher, target)`` as the two-argument ``loss(student, target)`` with the
    teacher's outputs fixed, so every standard of a two-argument loss checks distillation losses too."""

    def __init__(self, loss: torch.nn.Module, teacher: torch.Tensor):
        super().__init__()
        self.loss, self.teacher = loss, teacher

    def forward(self, student, target):
        return self.loss(student, self.teacher.to(student.dtype), target)


# Random losses draw from their own generator; restarting it at every call makes value and gradient
# checks exact.
RANDOM = {"metrix", "elasticface_arc", "elasticface_cos", "supremix"}


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


def clusters(classes=4, per=10, dim=6, spread=0.05, seed=0):
    """``(points, labels)``: ``per`` points around each of ``classes`` random unit centres, Gaussian spread."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(classes, dim, generator=g), dim=1)
    y = torch.arange(classes).repeat_interleave(per)
    return centres[y] + spread * torch.randn(len(y), dim, generator=g), y


def unit(*degrees):
    """Unit vectors in the plane at the given angles (degrees), float64 ``[N, 2]``."""
    t = torch.tensor(degrees, dtype=torch.float64).deg2rad()
    return torch.stack([t.cos(), t.sin()], dim=1)


def cosines(x):
    """The cosine-similarity matrix of the rows of ``x``, written out (not the losses' helper)."""
    z = x / x.norm(dim=1, keepdim=True)
    return z @ z.T
