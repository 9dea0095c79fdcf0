"""Loss-based sample reweighting (Sow et al., ICLR 2025): weight each sample of a batch by its own loss.

"Dynamic Loss-Based Sample Reweighting for Improved Large Language Model Pretraining" normalises the
per-sample losses of a batch to [-delta, delta], maps them through a strategy g and turns g into weights with
a softmax at temperature r. We could not read the authors' code; this follows a third-party implementation
that states it reproduces it (DataFlex's ``LossWeighter``), and the strategies' shapes described in the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_positive
from .registry import available, info

STRATEGIES = ("none", "linear", "linupper", "quadratic", "extremes")


def strategy_scores(normalised: Tensor, strategy: str, delta: float = 1.0) -> Tensor:
    """g(l) for losses normalised to [-delta, delta] (low loss -> -delta, high loss -> +delta).

    ``none``: 0 (equal weights, the plain mean); ``linear``: l (the higher the loss, the larger the weight);
    ``linupper``: min(l + delta, delta) (up-weights low-to-medium losses, caps the highest, which are often
    noise); ``quadratic``: 1 - l^2/delta^2 (favours medium losses); ``extremes``: |l| (favours both ends).
    """
    if strategy == "none":
        return torch.zeros_like(normalised)
    if strategy == "linear":
        return normalised
    if strategy == "linupper":
        return torch.minimum(normalised + delta, torch.full_like(normalised, delta))
    if strategy == "quadratic":
        return 1 - normalised.square() / delta ** 2
    if strategy == "extremes":
        return normalised.abs()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def loss_weights(values: Tensor, strategy: str = "linupper", delta: float = 1.0, temperature: float = 1.0) -> Tensor:
    r"""Weights (summing to 1, detached) for per-sample losses ``values[B]``:

    .. math::
        \tilde\ell_i = \delta\,\frac{2\ell_i - \ell_{max} - \ell_{min}}{\ell_{max} - \ell_{min}},\qquad
        w = \operatorname{softmax}\big(g(\tilde\ell) / r\big)

    A batch whose losses are all equal gets equal weights.
    """
    check_choice(strategy, "strategy", STRATEGIES)
    check_positive(delta, "delta")
    check_positive(temperature, "temperature")
    v = values.detach()
    low, high = v.min(), v.max()
    spread = (high - low).clamp_min(torch.finfo(v.dtype).tiny)
    normalised = delta * (2 * v - high - low) / spread
    return torch.softmax(strategy_scores(normalised, strategy, delta) / temperature, dim=0)


class LossReweighting(nn.Module):
    """Wraps a loss that returns one value per sample and returns the weighted sum
    :math:`\\sum_i w_i \\ell_i` with :func:`loss_weights` (no gradient flows through the weights).

    ``loss`` must return shape [B]: build it with ``reduction="none"`` (e.g.
    ``LossReweighting(losses.get("cross_entropy", reduction="none"), strategy="linupper")``). A registered
    loss must reduce over samples (``losses.info(name).reduces_over == "sample"``): weights over anchors,
    pairs, instances or bags are not sample weights, and a batch-level loss has none. Extra
    arguments and ``index=`` pass through; ``kind`` and ``uses_index`` are the wrapped loss's, so
    ``train.fit`` treats the wrapper like the loss it wraps. ``last_weights`` keeps the latest weights
    for plots. Strategy ``"none"`` gives the plain mean.
    """

    def __init__(self, loss: nn.Module, strategy: str = "linupper", delta: float = 1.0, temperature: float = 1.0):
        super().__init__()
        if not callable(loss):
            raise ValueError(f"loss must be a callable returning per-sample losses, got {type(loss).__name__}")
        name = getattr(loss, "name", None)
        if isinstance(name, str) and name in available():
            reduces_over = info(name).reduces_over
            if reduces_over != "sample":
                raise ValueError(f"loss must reduce over samples to be reweighted; {name!r} reduces over "
                                 f"{reduces_over!r} (losses.info(name).reduces_over)")
        if getattr(loss, "reduction", "none") != "none":
            raise ValueError(f"loss must return per-sample values: build it with reduction='none', got "
                             f"reduction={loss.reduction!r}")
        self.loss, self.strategy = loss, check_choice(strategy, "strategy", STRATEGIES)
        self.delta, self.temperature = check_positive(delta, "delta"), check_positive(temperature, "temperature")
        self.kind = getattr(loss, "kind", "logits")
        self.uses_index = getattr(loss, "uses_index", False)
        self.name = f"{getattr(loss, 'name', type(loss).__name__)}+{strategy}"
        self.last_weights: Tensor | None = None

    def forward(self, *args, **kwargs) -> Tensor:
        values = self.loss(*args, **kwargs)
        if values.dim() != 1:
            raise ValueError(f"the wrapped loss must return per-sample values of shape [B] (build it with "
                             f"reduction='none'), got shape {tuple(values.shape)}")
        weights = loss_weights(values, self.strategy, self.delta, self.temperature)
        self.last_weights = weights
        return (weights * values).sum()

    def extra_repr(self) -> str:
        return f"strategy={self.strategy!r}, delta={self.delta}, temperature={self.temperature}"
