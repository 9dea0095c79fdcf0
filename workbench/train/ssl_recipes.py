"""Training recipes that add a self-supervised term to a registered loss (``batch_loss`` functions for
:func:`workbench.train.fit`), with the weights of the official code:

- :func:`pretext_batch_loss`: ScatSimCLR's pretext-task regulariser, NT-Xent + λ·CE(rotation) (vkinakh/scatsimclr
  ``config_pretext.yaml``: λ = 0.3, rotation task, NT-Xent τ = 0.5).
- :func:`barlip_batch_loss`: BarLIP of "Improved baselines for vision-language pre-training" (Fini et al. 2023;
  facebookresearch/clip-rocket ``losses.py``): CLIP + 0.025·Barlow Twins(λ = 5e-3) between the two towers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import kinds
from .._checks import NONNEGATIVE, check_int
from ..losses import get as get_loss

#: ScatSimCLR's regulariser weight (``pretext.lambda``) and NT-Xent temperature, vkinakh/scatsimclr@7630b12.
SCATSIMCLR_LAMBDA, SCATSIMCLR_TEMPERATURE = 0.3, 0.5
#: BarLIP's ``--barlip-lamb`` and ``--barlip-scale-loss``, facebookresearch/clip-rocket@ebd9e58 ``main.py``.
BARLIP_LAMBDA, BARLIP_SCALE = 5e-3, 0.025


def rotations(x: Tensor, side: int) -> tuple[Tensor, Tensor]:
    """Every image of ``x[B, side*side]`` (flattened, row-major) rotated by 0, 90, 180 and 270 degrees
    (counter-clockwise, ``torch.rot90``): ``(rotated[4B, side*side], label[4B] in {0, 1, 2, 3})``, as ScatSimCLR's
    rotation task puts all four rotations of every image in the batch."""
    images = x.reshape(len(x), side, side)
    rotated = torch.cat([torch.rot90(images, k, dims=(1, 2)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(len(x))
    return rotated.reshape(4 * len(x), side * side), labels


def pretext_batch_loss(augment, *, lam: float = SCATSIMCLR_LAMBDA, side: int = 8) -> kinds.BatchLoss:
    r"""ScatSimCLR's objective (Kinakh, Taran, Voloshynovskiy, ICCV-W 2021) as a ``batch_loss``:

    .. math:: L = \mathrm{NT\text{-}Xent}(z^{(1)}, z^{(2)}) + \lambda\,\mathrm{CE}(g(h(\mathrm{rot}_k x)), k)

    ``loss=`` is the registered NT-Xent (ScatSimCLR uses τ = 0.5: ``losses.get("ntxent", temperature=0.5)``);
    the model is ``models.WithHead(encoder, head)`` whose head maps the encoder's representation to 4 rotation
    logits (ScatSimCLR's is an MLP 2048-512-128-4 with dropout; any head works here), so the head's parameters
    train with the encoder and probes read ``embed`` (the encoder). Two views come from ``augment`` (the data's);
    the rotations from the un-augmented images, all four per image. Default λ = 0.3 (official config);
    ``lam=0`` is plain SimCLR. The jigsaw task of the paper is not offered. Unverified: whether the official code
    rotates the augmented or the plain images, and its exact rotation directions (the four labels here are the
    four distinct multiples of 90°).
    """
    lam = NONNEGATIVE.check(lam, "lam")
    check_int(side, "side", low=1)

    def batch_loss(model, loss, x, y, generator):
        if not (hasattr(model, "encoder") and hasattr(model, "head")):
            raise ValueError("pretext_batch_loss needs models.WithHead(encoder, rotation_head)")
        views = kinds.embed_views(model.encoder, x, augment, 2, generator)
        value = loss(views, None)
        if lam == 0:
            return value
        rotated, labels = rotations(x, side)
        return value + lam * F.cross_entropy(model.head(model.encoder(rotated)), labels)
    return batch_loss


def barlip_batch_loss(*, scale: float = BARLIP_SCALE, lam: float = BARLIP_LAMBDA) -> kinds.BatchLoss:
    r"""BarLIP (Fini et al. 2023, facebookresearch/clip-rocket) as a ``batch_loss`` for a dual encoder:

    .. math:: L = L_{\mathrm{CLIP}}(x, y) + s\,\Big[\sum_i (1 - C_{ii})^2 + \lambda\sum_{i\neq j} C_{ij}^2\Big],
              \qquad C = \mathrm{BN}(x)^\top \mathrm{BN}(y) / N

    ``loss=`` is the registered CLIP (or SigLIP) loss on the towers' outputs ``model(x) -> (x_emb, y_emb)``
    (``models.DualEncoder``); the extra term is the registered ``barlow_twins`` across the two modalities, with the
    official weights s = 0.025 and λ = 5e-3. Departures: clip-rocket puts the Barlow term on a separate projector
    (3000-3000-8192, final BatchNorm with affine) of both towers and over local crops too; here it acts on the same
    embeddings as CLIP, standardised by the loss's own BatchNorm (affine=False). The other add-ons (SiamLIP, BYOLIP,
    SwALIP) are not offered.
    """
    scale, lam = NONNEGATIVE.check(scale, "scale"), NONNEGATIVE.check(lam, "lam")
    barlow = get_loss("barlow_twins", lam=lam)

    def batch_loss(model, loss, x, y, generator):
        a, b = model(x)
        value = loss(a, b)
        return value + scale * barlow(torch.stack([a, b], dim=1)) if scale > 0 else value
    return batch_loss


__all__ = ["BARLIP_LAMBDA", "BARLIP_SCALE", "SCATSIMCLR_LAMBDA", "SCATSIMCLR_TEMPERATURE", "barlip_batch_loss",
           "pretext_batch_loss", "rotations"]
