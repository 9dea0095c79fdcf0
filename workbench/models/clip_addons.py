"""The model side of the CLIP add-ons of "Improved baselines for vision-language pre-training" (Fini, Astolfi,
Romero-Soriano, Verbeek, Drozdzal, 2023, arXiv:2305.08675; code facebookresearch/clip-rocket@ebd9e58): a dual
encoder with SiamLIP's projector and predictor heads on both towers and, for BYOLIP, a momentum (EMA) copy that
gives the targets; and a dual encoder with SwALIP's learnable local logit scale. The losses are training recipes in
``workbench.train.ssl_recipes``.

Both wrappers embed like the dual encoder they wrap (``forward``, ``embed``, ``embed_reference``), so the plain
crossmodal training step, the probes and zero-shot transfer see the towers, not the heads.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from .._checks import UNIT, check_flag, check_int, check_number
from .dual import DualEncoder
from .encoders import seeded
from .mil_hard import ema_update
from .siamese import predictor_head

#: clip-rocket ``main.py`` L70 ``--momentum-tau`` 0.99 (BYOLIP), L117-120 ``--siamlip-proj-dim`` 128 and
#: ``--siamlip-hidden-dim`` 2048.
BYOLIP_MOMENTUM, SIAMLIP_PROJ_DIM, SIAMLIP_HIDDEN_DIM = 0.99, 128, 2048
#: clip-rocket ``models.py`` L278-279 (CL2L): ``l2l_logit_scale`` initialised at log(1/0.1); ``main.py`` L577 clamps
#: it to [0, log 100] after every step.
SWALIP_SCALE_INIT, LOGIT_SCALE_MAX = 1 / 0.1, 100.0


def siamlip_projector(dim: int, hidden: int, out: int, last_bn: bool = True) -> nn.Sequential:
    """SiamLIP's projector (clip-rocket ``models.py`` L412-473, ``SIAMLIP.__init__``): Linear(dim, hidden, no bias)-
    BN-ReLU-Linear(hidden, out, no bias), then BatchNorm(out, affine=False) unless ``last_bn=False``
    (``--siamlip-no-last-bn``). The official middle layer is commented out, so it has two linear layers."""
    layers = [nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
              nn.Linear(hidden, out, bias=False)]
    if last_bn:
        layers.append(nn.BatchNorm1d(out, affine=False))
    return nn.Sequential(*layers)


class _WrappedDual(nn.Module):
    """What both add-on wrappers share: they embed and score exactly like the :class:`DualEncoder` they wrap
    (``self.dual``), so probes and zero-shot see the towers, not the add-on heads."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.dual(x)

    def embed(self, x: Tensor) -> Tensor:
        return self.dual.embed(x)

    def embed_reference(self, b: Tensor) -> Tensor:
        return self.dual.embed_reference(b)


class SiamLIPDual(_WrappedDual):
    """A :class:`DualEncoder` with SiamLIP's heads and, with ``momentum``, BYOLIP's momentum model.

    Each tower's output t (the embedding CLIP sees) gets a projector v = g(t) and a predictor p = h(v), one pair
    per modality (clip-rocket ``models.py`` L476-488 and L509-515: ``siamlip_{image,text}_projector_global``,
    ``{image_text,text_image}_predictor_global``; the predictor is SimSiam's, :func:`predictor_head`).
    ``siamlip_outputs(x)`` gives ``(a, b, p_a, p_b, v_a, v_b)``: the two towers' outputs, the predictions, and
    the targets -- the online projections for SiamLIP, the momentum model's for BYOLIP (computed without gradient,
    in the same train/eval mode as the model: clip-rocket keeps its momentum model in train mode, ``main.py``
    L499-500 and L530-533, so its BatchNorms use batch statistics).

    Args:
        dual: the two towers (``models.DualEncoder``; a frozen reference tower stays frozen, its heads train).
        dim: the towers' output width.
        proj_dim, hidden: the heads' widths (official 128 and 2048 for ResNet-50/ViT features; 16 and 64 suit the
            16-d towers of the paired digits).
        last_bn: the projector's final BatchNorm(affine=False) (official default on).
        momentum: None (SiamLIP) or τ in [0, 1] (BYOLIP, official 0.99): the momentum copy of towers and
            projectors follows ξ ← τ ξ + (1 - τ) θ through :meth:`update_target` (``models.ema_update``).
        seed: seeds the heads' initialisation.

    Departure from clip-rocket: there the heads sit on the backbone features, beside CLIP's own projection, and
    also on every augmented crop / caption ("local" pairs); here they sit on the towers' outputs, global pair only.
    """

    def __init__(self, dual: DualEncoder, dim: int, *, proj_dim: int = 16, hidden: int = 64, last_bn: bool = True,
                 momentum: float | None = None, seed: int = 0):
        super().__init__()
        check_int(dim, "dim", low=1)
        check_int(proj_dim, "proj_dim", low=1)
        check_int(hidden, "hidden", low=1)
        last_bn = check_flag(last_bn, "last_bn")
        self.dual = dual
        self.embedding_dim = getattr(dual, "embedding_dim", dim)
        with seeded(seed):
            self.projector_a = siamlip_projector(dim, hidden, proj_dim, last_bn)
            self.projector_b = siamlip_projector(dim, hidden, proj_dim, last_bn)
            self.predictor_a = predictor_head(proj_dim, hidden)
            self.predictor_b = predictor_head(proj_dim, hidden)
        self.momentum = None if momentum is None else UNIT.check(momentum, "momentum")
        self.momentum_model = None
        if self.momentum is not None:
            self.momentum_model = copy.deepcopy(self._online()).requires_grad_(False)

    def _online(self) -> nn.ModuleDict:
        # What the momentum model copies: the towers and the projectors (the predictors give no targets).
        return nn.ModuleDict({"dual": self.dual, "projector_a": self.projector_a, "projector_b": self.projector_b})

    @torch.no_grad()
    def update_target(self) -> None:
        """BYOLIP's EMA step p_mom ← τ p_mom + (1 - τ) p over every parameter (clip-rocket ``main.py``, after
        each optimiser step); a no-op for SiamLIP. ``ema_update`` also copies the BatchNorm running statistics,
        which clip-rocket leaves alone; its momentum model runs in train mode, where they are not used."""
        if self.momentum_model is not None:
            ema_update(self.momentum_model, self._online(), self.momentum)

    def siamlip_outputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(a, b, p_a, p_b, v_a, v_b)`` for a batch of paired inputs ``x`` (see the class docstring)."""
        a, b = self.dual(x)
        v_a, v_b = self.projector_a(a), self.projector_b(b)
        p_a, p_b = self.predictor_a(v_a), self.predictor_b(v_b)
        if self.momentum_model is not None:
            with torch.no_grad():
                ma, mb = self.momentum_model["dual"](x)
                v_a, v_b = self.momentum_model["projector_a"](ma), self.momentum_model["projector_b"](mb)
        return a, b, p_a, p_b, v_a, v_b


class SwALIPDual(_WrappedDual):
    """A :class:`DualEncoder` with SwALIP's learnable logit scale for the augmented ("local") pairs:
    ``scale = exp(log_scale)``, initialised at 1/0.1 (clip-rocket ``CL2L.l2l_logit_scale``) and capped at 100
    (main.py clamps the log-scale to [0, log 100] after every step; here the cap acts in ``scale``).

    Departure from clip-rocket: there the local pairs go through a separate projector (``--separate-proj``,
    3-layer MLP, 4096 hidden) and also feed a local CLIP loss (the CL2L baseline); here SwALIP scores the towers'
    outputs of the augmented inputs, and the base loss is plain CLIP on the un-augmented pair.
    """

    def __init__(self, dual: DualEncoder, scale_init: float = SWALIP_SCALE_INIT):
        super().__init__()
        scale_init = check_number(scale_init, "scale_init", low=1.0, high=LOGIT_SCALE_MAX)
        self.dual = dual
        self.embedding_dim = getattr(dual, "embedding_dim", None)
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale_init)))

    @property
    def scale(self) -> Tensor:
        return self.log_scale.clamp(0.0, math.log(LOGIT_SCALE_MAX)).exp()


__all__ = ["BYOLIP_MOMENTUM", "LOGIT_SCALE_MAX", "SIAMLIP_HIDDEN_DIM", "SIAMLIP_PROJ_DIM", "SWALIP_SCALE_INIT",
           "SiamLIPDual", "SwALIPDual", "siamlip_projector"]
