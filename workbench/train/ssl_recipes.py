"""Training recipes that add a self-supervised term to a registered loss (``batch_loss`` functions for
:func:`workbench.train.fit`), with the weights of the official code:

- :func:`pretext_batch_loss`: ScatSimCLR's pretext-task regulariser, NT-Xent + λ·CE(rotation) (vkinakh/scatsimclr
  ``config_pretext.yaml``: λ = 0.3, rotation task, NT-Xent τ = 0.5).
- :func:`barlip_batch_loss`: BarLIP of "Improved baselines for vision-language pre-training" (Fini et al. 2023;
  facebookresearch/clip-rocket ``losses.py``): CLIP + 0.025·Barlow Twins(λ = 5e-3) between the two towers.
- :func:`siamlip_batch_loss` and :func:`byolip_batch_loss`: SiamLIP / BYOLIP of the same paper, CLIP + the mean of
  2 - 2cos(prediction of one modality, stop-gradient target of the other) (``models.SiamLIPDual``).
- :func:`swalip_batch_loss`: SwALIP, CLIP + 0.2 · swapped cross-entropy against Sinkhorn targets of the other
  augmented pair (``models.SwALIPDual``).

Line numbers below refer to facebookresearch/clip-rocket@ebd9e58 (``losses.py`` and ``main.py`` are unchanged
since the code release 5e2dd91).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import kinds
from .._checks import NONNEGATIVE, check_int, check_number
from ..losses import get as get_loss

#: ScatSimCLR's regulariser weight (``pretext.lambda``) and NT-Xent temperature, vkinakh/scatsimclr@7630b12.
SCATSIMCLR_LAMBDA, SCATSIMCLR_TEMPERATURE = 0.3, 0.5
#: BarLIP's ``--barlip-lamb`` and ``--barlip-scale-loss``, facebookresearch/clip-rocket@ebd9e58 ``main.py``.
BARLIP_LAMBDA, BARLIP_SCALE = 5e-3, 0.025
#: SiamLIP / BYOLIP add their term with weight 1 (clip-rocket ``losses.py`` L258 ``loss = siamlip_loss + clip``).
SIAMLIP_WEIGHT = 1.0
#: SwALIP's ``--swalip-weight`` 0.2, ``--target-epsilon`` 0.05 and ``--sk-iters`` 3 (clip-rocket ``main.py`` L106-115).
SWALIP_WEIGHT, SWALIP_EPSILON, SWALIP_ITERS = 0.2, 0.05, 3


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
    embeddings as CLIP, standardised by the loss's own BatchNorm (affine=False). SiamLIP, BYOLIP and SwALIP are
    :func:`siamlip_batch_loss`, :func:`byolip_batch_loss` and :func:`swalip_batch_loss`.
    """
    scale, lam = NONNEGATIVE.check(scale, "scale"), NONNEGATIVE.check(lam, "lam")
    barlow = get_loss("barlow_twins", lam=lam)

    def batch_loss(model, loss, x, y, generator):
        a, b = model(x)
        value = loss(a, b)
        return value + scale * barlow(torch.stack([a, b], dim=1)) if scale > 0 else value
    return batch_loss


def siamlip_term(p_a: Tensor, p_b: Tensor, v_a: Tensor, v_b: Tensor) -> Tensor:
    r"""SiamLIP's extra term on the global pair (clip-rocket ``losses.py`` L215-218, L238-254):

    .. math:: \tfrac12\big[(2 - 2\,\overline{\cos}(p_a, \mathrm{sg}(v_b))) +
              (2 - 2\,\overline{\cos}(p_b, \mathrm{sg}(v_a)))\big]

    each cosine averaged over the batch and the sum divided by the number of pairs (2 without local crops).
    It is the registered ``byol`` loss with the modalities as its two views, halved (byol sums the two
    directions); the targets are detached there."""
    byol = get_loss("byol")
    return byol(torch.stack([p_a, p_b], dim=1), None, targets=torch.stack([v_a, v_b], dim=1)) / 2


def _siamlip_step(recipe: str, weight: float, momentum: bool) -> kinds.BatchLoss:
    def batch_loss(model, loss, x, y, generator):
        if not hasattr(model, "siamlip_outputs"):
            raise ValueError(f"{recipe} needs models.SiamLIPDual(dual, dim{', momentum=0.99' if momentum else ''})")
        if momentum and model.momentum_model is None:
            raise ValueError(f"{recipe} needs a momentum model: models.SiamLIPDual(..., momentum=0.99)")
        # The EMA step after the previous optimiser step (clip-rocket main.py L564-572); a no-op for SiamLIP.
        model.update_target()
        a, b, p_a, p_b, v_a, v_b = model.siamlip_outputs(x)
        value = loss(a, b)
        return value + weight * siamlip_term(p_a, p_b, v_a, v_b) if weight > 0 else value
    return batch_loss


def siamlip_batch_loss(*, weight: float = SIAMLIP_WEIGHT) -> kinds.BatchLoss:
    r"""SiamLIP (Fini et al. 2023, facebookresearch/clip-rocket ``SiamLIPLoss``) as a ``batch_loss``:

    .. math:: L = L_{\mathrm{CLIP}}(a, b) + w\cdot\tfrac12\big[(2 - 2\cos(p_a, \mathrm{sg}\,v_b)) +
              (2 - 2\cos(p_b, \mathrm{sg}\,v_a))\big]

    with v = projector(tower output), p = predictor(v), one pair of heads per modality
    (``models.SiamLIPDual(dual, dim)``, momentum None) and cos averaged over the batch (:func:`siamlip_term`).
    ``loss=`` is the registered CLIP on the towers' outputs. Default w = 1 (official: the term is added as is,
    ``losses.py`` L258). Official choices kept: cross-modal targets (the image predicts the *text* projection),
    the targets detached (L218 and L240-251), projector with a final BatchNorm(affine=False), predictor
    Linear-BN-ReLU-Linear. Departures: no local crops / caption augmentations (their pairs would be averaged in
    with the global ones), heads on the towers' outputs; CLIP's logit-scale clamp is the loss's own.
    """
    weight = NONNEGATIVE.check(weight, "weight")
    return _siamlip_step("siamlip_batch_loss", weight, momentum=False)


def byolip_batch_loss(*, weight: float = SIAMLIP_WEIGHT) -> kinds.BatchLoss:
    r"""BYOLIP (Fini et al. 2023): SiamLIP whose targets v come from a momentum model, an EMA of the whole online
    model (clip-rocket runs ``CL2L_*_SIAMLIP --momentum``: the same ``SiamLIPLoss``, fed ``v_*_momentum``,
    ``losses.py`` L226-230; the EMA p_mom ← τ p_mom + (1 - τ) p with ``--momentum-tau`` 0.99 after every step,
    ``main.py`` L564-572). The model is ``models.SiamLIPDual(dual, dim, momentum=0.99)``; the EMA step runs at
    the start of each batch, i.e. after the previous optimiser step, as in BYOL (``kinds`` views step).
    """
    weight = NONNEGATIVE.check(weight, "weight")
    return _siamlip_step("byolip_batch_loss", weight, momentum=True)


@torch.no_grad()
def sinkhorn_targets(scores: Tensor, *, epsilon: float = SWALIP_EPSILON, iters: int = SWALIP_ITERS) -> Tensor:
    r"""SwAV's Sinkhorn-Knopp as clip-rocket's ``SwALIPLoss.sinkhorn_knopp`` computes it (``losses.py`` L293-329,
    one device): Q = exp(S/ε)ᵀ, Q /= ΣQ, then ``iters`` times: rows (the K "prototypes", here the other
    modality's samples) to 1/K, columns (the B samples) to 1/B; returns (B·Q)ᵀ, each sample's row a distribution.
    ``scores[B, K]`` are cosine similarities; the targets carry no gradient."""
    epsilon = check_number(epsilon, "epsilon", low=0.0, low_open=True)
    iters = check_int(iters, "iters", low=0)
    q = torch.exp(scores.detach() / epsilon).t()
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iters):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / b
    return (q * b).t()


def _soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    # clip-rocket losses.py L331-332: -mean_i sum_j t_ij log softmax(logits)_ij
    return -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def swalip_term(h_a: list[Tensor], h_b: list[Tensor], scale: Tensor | float, *, epsilon: float = SWALIP_EPSILON,
                iters: int = SWALIP_ITERS) -> Tensor:
    r"""SwALIP's swapped-prediction term (clip-rocket ``SwALIPLoss.forward``, ``losses.py`` L339-365) for two
    augmented embeddings per modality, ``h_a = [a_1, a_2]``, ``h_b = [b_1, b_2]`` (normalised here): with the
    cosine matrices :math:`S^{ab}_{lm} = \hat a_l \hat b_m^\top` and :math:`S^{ba}_{lm} = \hat b_l \hat a_m^\top`,

    .. math:: \frac{1}{4}\sum_{l,m\in\{1,2\}} \tfrac12\Big[\mathrm{CE}\big(s\,S^{ab}_{lm},
              \mathrm{SK}(S^{ab}_{\bar l\bar m})\big) + \mathrm{CE}\big(s\,S^{ba}_{lm}, \mathrm{SK}(S^{ba}_{\bar l
              \bar m})\big)\Big]

    where :math:`\bar l` is the other augmentation, SK the Sinkhorn targets (no gradient, :func:`sinkhorn_targets`)
    and s the learnable local logit scale (the code's ``h_logit_scale``). Each pair of augmentations is taught the
    assignment the *other* pair of augmentations makes."""
    if len(h_a) != 2 or len(h_b) != 2:
        raise ValueError(f"swalip_term takes exactly 2 augmentations per modality (the official loop is "
                         f"range(2)), got {len(h_a)} and {len(h_b)}")
    h_a = [F.normalize(h, dim=1) for h in h_a]
    h_b = [F.normalize(h, dim=1) for h in h_b]
    s_ab = [[h @ k.t() for k in h_b] for h in h_a]
    s_ba = [[h @ k.t() for k in h_a] for h in h_b]
    t_ab = [[sinkhorn_targets(s, epsilon=epsilon, iters=iters) for s in row] for row in s_ab]
    t_ba = [[sinkhorn_targets(s, epsilon=epsilon, iters=iters) for s in row] for row in s_ba]
    total = 0
    for l1 in range(2):
        for l2 in range(2):
            t1, t2 = 1 - l1, 1 - l2
            total = total + (_soft_cross_entropy(s_ab[l1][l2] * scale, t_ab[t1][t2])
                             + _soft_cross_entropy(s_ba[l1][l2] * scale, t_ba[t1][t2])) / 2
    return total / len(h_a) ** 2


def swalip_batch_loss(augment_a, augment_b, *, weight: float = SWALIP_WEIGHT, epsilon: float = SWALIP_EPSILON,
                      iters: int = SWALIP_ITERS) -> kinds.BatchLoss:
    r"""SwALIP (Fini et al. 2023, facebookresearch/clip-rocket ``SwALIPLoss``) as a ``batch_loss``:

    .. math:: L = L_{\mathrm{CLIP}}(a, b) + w\cdot \mathrm{SwALIP}(\{a_1, a_2\}, \{b_1, b_2\})

    where a, b are the towers' outputs on the paired inputs (CLIP, the registered ``loss=``) and a_l, b_m on two
    augmentations of each modality, ``augment_a(x_a, generator)`` and ``augment_b(x_b, generator)`` (clip-rocket:
    two image crops and two caption augmentations); the term is :func:`swalip_term` with the model's learnable
    scale (``models.SwALIPDual``, init 1/0.1). Official defaults: w = 0.2, Sinkhorn ε = 0.05, 3 iterations,
    targets without gradient (``losses.py`` L351-354); label smoothing 0 (asserted there; CLIP here has none).
    Departures: the CL2L local CLIP loss on the crops (part of the paper's baseline) is not added, and the
    augmented views go through the towers rather than a separate projector.
    """
    weight = NONNEGATIVE.check(weight, "weight")
    epsilon = check_number(epsilon, "epsilon", low=0.0, low_open=True)
    iters = check_int(iters, "iters", low=0)
    if not (callable(augment_a) and callable(augment_b)):
        raise ValueError("augment_a and augment_b must be callables f(x, generator) -> augmented x")

    def batch_loss(model, loss, x, y, generator):
        if not hasattr(model, "scale") or not hasattr(model, "dual"):
            raise ValueError("swalip_batch_loss needs models.SwALIPDual(dual)")
        value = loss(*model(x))
        if weight == 0:
            return value
        dual = model.dual
        x_a, x_b = x[:, :dual.split], x[:, dual.split:]
        h_a = [dual.encoder(augment_a(x_a, generator)) for _ in range(2)]
        h_b = [dual.reference(augment_b(x_b, generator)) for _ in range(2)]
        return value + weight * swalip_term(h_a, h_b, model.scale, epsilon=epsilon, iters=iters)
    return batch_loss


__all__ = ["BARLIP_LAMBDA", "BARLIP_SCALE", "SCATSIMCLR_LAMBDA", "SCATSIMCLR_TEMPERATURE", "SIAMLIP_WEIGHT",
           "SWALIP_EPSILON", "SWALIP_ITERS", "SWALIP_WEIGHT", "barlip_batch_loss", "byolip_batch_loss",
           "pretext_batch_loss", "rotations", "siamlip_batch_loss", "siamlip_term", "sinkhorn_targets",
           "swalip_batch_loss", "swalip_term"]
