"""Bias loss (Abrahamyan et al., ICCV 2021): cross-entropy weighted by how much the features vary."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    UNIT,
    check_choice,
    check_float_tensor,
    check_in_range,
    check_nonnegative,
    check_reduction,
    reduce,
)
from .classification import per_sample_ce
from .registry import Paper, Param, register

NORMALISATIONS = ("global", "local")


@register(
    "bias_loss", family="classification", kind="logits", reduces_over="sample",
    paper=Paper("Bias Loss for Mobile Neural Networks", 2021, "Abrahamyan, Ziatchin, Chen, Deligiannis"),
    formula=r"\ell_i = \big(e^{\alpha \hat v_i} - \beta\big)\,\mathrm{CE}(z_i, y_i),\;"
            r"\hat v_i = \frac{v_i - m}{\max_j v_j - \min_j v_j},\; v_i = \mathrm{Var}(\text{features}_i)",
    params={"alpha": Param(0.3, 0.0, 2.0, "how strongly high-variance samples are up-weighted", valid=NONNEGATIVE),
            "beta": Param(0.3, 0.0, 1.0, "subtracted from every weight: low-variance samples count 1 - beta",
                          valid=UNIT)},
)
class BiasLoss(nn.Module):
    r"""Bias loss: cross-entropy weighted per sample by the (normalised) variance of its features.

    .. math::
        v_i = \operatorname{Var}(\text{features}_i),\quad
        \hat v_i = \frac{v_i - m}{\max_j v_j - \min_j v_j},\quad
        \ell_i = \big(e^{\alpha \hat v_i} - \beta\big)\,\mathrm{CE}(z_i, y_i)

    Features with little variance carry little information (a small network's "dead" activations); the
    paper down-weights those samples so their random predictions bias training less. ``features[B, ...]``
    are the activations of the last block before pooling (any shape whose first dimension is the batch);
    ``v_i`` is the unbiased variance of the flattened row, on a detached copy (no gradient flows through
    the weights). Without features the logits themselves are used.

    ``normalisation="global"`` (the official default): m is a running minimum of v over every call, kept in
    the buffer ``running_min`` (+inf until the first call; the official code starts at 1e5 and never
    resets; ``reset()`` here forgets it), so weights can exceed :math:`e^\alpha - \beta`. ``"local"``:
    m = min of the batch, so :math:`w \in [1-\beta, e^\alpha-\beta]`. A batch whose variances are all equal
    (or a batch of one) has a zero denominator; it gets :math:`\hat v = 0`, weights 1 - beta (the official
    code divides by zero). Defaults alpha = beta = 0.3 (official code).

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples (the
    weights come from the whole batch; the values are per sample).
    """

    def __init__(self, alpha: float = 0.3, beta: float = 0.3, normalisation: str = "global",
                 reduction: str = "mean"):
        super().__init__()
        # alpha >= 0 up-weights high-variance samples; beta <= 1 keeps every weight e^{alpha v} - beta >= 0
        # (v >= 0 under both normalisations)
        self.alpha, self.beta = check_nonnegative(alpha, "alpha"), check_in_range(beta, "beta", 0.0, 1.0)
        self.normalisation = check_choice(normalisation, "normalisation", NORMALISATIONS)
        self.reduction = check_reduction(reduction)
        self.register_buffer("running_min", torch.tensor(math.inf))

    def reset(self) -> None:
        """Forget the running minimum of the global normalisation."""
        self.running_min.fill_(math.inf)

    def weights(self, features: Tensor) -> Tensor:
        """The per-sample weights :math:`e^{\\alpha \\hat v} - \\beta` (updates the running minimum)."""
        flat = features.detach().flatten(1)
        if flat.shape[1] < 2:
            raise ValueError(f"features must have at least 2 values per sample for a variance, got shape "
                             f"{tuple(features.shape)}")
        v = flat.var(dim=1)
        low = v.min()
        spread = v.max() - low  # the batch's range, under either normalisation
        if self.normalisation == "global":
            self.running_min.copy_(torch.minimum(self.running_min, low.to(self.running_min)))
            low = self.running_min.to(v)
        v_hat = (v - low) / spread if spread > 0 else torch.zeros_like(v)
        return torch.exp(self.alpha * v_hat) - self.beta

    def forward(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        ce = per_sample_ce(logits, target)
        if features is None:
            features = logits
        else:
            doc = f"[B={logits.shape[0]}, ...]"
            check_float_tensor(features, "features", None, doc)
            if features.dim() < 2 or features.shape[0] != logits.shape[0]:
                raise ValueError(f"features must be a tensor of shape {doc}, got {tuple(features.shape)}")
        return reduce(self.weights(features).to(ce.dtype) * ce, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, normalisation={self.normalisation!r}"
