"""Views: random augmentations of digits, for multi-view and contrastive losses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import POSITIVE, check_int, check_number
from .containers import Dataset
from .real import digits


@dataclass(frozen=True)
class DigitAugment:
    """One random view of a batch of 8x8 digits in [0, 1]: shift, then noise, then masking, clipped.

    ``shift``: per-sample integer translation of up to ``shift`` pixels in x and y, with zero fill
    (ink shifted off the edge is lost, none is created). ``noise``: std of additive gaussian noise.
    ``mask``: fraction of pixels set to 0 (in expectation). Works on ``[N, 1, 8, 8]``, ``[N, 8, 8]``
    and flat ``[N, 64]`` and returns the input's shape. All randomness comes from the generator, so
    a seeded generator reproduces the same views.
    """

    shift: int = 1
    noise: float = 0.1
    mask: float = 0.15

    def __post_init__(self):
        check_int(self.shift, "shift", low=0)
        if self.shift > 7:
            raise ValueError(f"shift must be <= 7 for 8x8 images, got {self.shift}")
        check_number(self.noise, "noise", low=0.0)
        if not 0.0 <= check_number(self.mask, "mask", low=0.0) < 1.0:
            raise ValueError(f"mask must be a fraction in [0, 1), got {self.mask!r}")

    def __call__(self, X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if X.dim() < 2 or X[0].numel() != 64:
            raise ValueError(
                f"X must be a batch of 8x8 digits, [N, 64] or [N, 1, 8, 8]; got {tuple(X.shape)}"
            )
        shape, N = X.shape, X.shape[0]
        img = X.reshape(N, 8, 8)

        def draw(fn, *size, **kw):
            # Draw on the generator's device (CPU) and move, so CUDA inputs work with a CPU generator.
            return fn(*size, generator=generator, **kw).to(X.device)

        if self.shift > 0:
            s = self.shift
            padded = torch.nn.functional.pad(img, (s, s, s, s))
            dy = draw(torch.randint, -s, s + 1, (N,))
            dx = draw(torch.randint, -s, s + 1, (N,))
            ar = torch.arange(8, device=X.device)
            rows = (s - dy)[:, None] + ar  # window start s - dy moves the content down by dy
            cols = (s - dx)[:, None] + ar
            img = padded[torch.arange(N, device=X.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
        if self.noise > 0:
            img = img + self.noise * draw(torch.randn, img.shape, dtype=img.dtype)
        if self.mask > 0:
            img = img.masked_fill(draw(torch.rand, img.shape) < self.mask, 0.0)
        return img.clamp(0.0, 1.0).reshape(shape)


def digit_views(
    *,
    seed: int = 0,
    test_size: float = 0.25,
    image: bool = True,
    shift: int = 1,
    noise: float = 0.1,
    mask: float = 0.15,
) -> Dataset:
    """Digits with a :class:`DigitAugment` as ``augment``: two calls give two views of the same digit.

    Teaches: self-supervised and multi-view contrastive learning (NT-Xent, SupCon, DHEL) -- the
    positive pair is two augmentations of one image, so what the augmentation destroys is what the
    representation learns to ignore.
    """
    aug = DigitAugment(shift=shift, noise=noise, mask=mask)  # first: bad arguments fail before loading
    base = digits(seed=seed, test_size=test_size, image=image)
    return dataclasses.replace(
        base,
        name="digit_views",
        augment=aug,
        description=f"{base.description}; views: shift {shift}, noise {noise:g}, mask {mask:g}",
    )

def feature_transform(views: Tensor, *, extrapolation: float | None = None, interpolation: float | None = None,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    r"""Feature Transformation of Zhu et al. ("Improving Contrastive Learning by Visualizing Feature
    Transformation", ICCV 2021) on two views ``[B, 2, D]``; returns ``(views, extra_negatives)``.

    *Positive extrapolation* (``extrapolation`` = α): :math:`\lambda \sim 1 + \mathrm{Beta}(\alpha, \alpha)`
    per pair, :math:`\hat z_1 = \lambda z_1 + (1-\lambda) z_2` and symmetrically: the positives move apart
    (harder positives, lower similarity). *Negative interpolation* (``interpolation`` = α):
    :math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)`, extra negatives :math:`\lambda z_{2,j} + (1-\lambda)
    z_{2,\pi(j)}` mixing second views of two instances (``[B, D]``, empty when not asked for). Views are
    L2-normalised before and after.
    """
    if views.dim() != 3 or views.shape[1] != 2:
        raise ValueError(f"views must have shape [B, 2, D], got {tuple(views.shape)}")
    # Beta(α, α) needs α > 0
    extrapolation, interpolation = (None if a is None else POSITIVE.check(a, name) for a, name in (
        (extrapolation, "extrapolation"), (interpolation, "interpolation")))
    generator = generator or torch.Generator().manual_seed(0)
    z = F.normalize(views.detach().double(), dim=-1)
    b = len(z)
    if extrapolation is not None:
        lam = 1 + _beta_sample(extrapolation, b, generator)[:, None]
        z = F.normalize(torch.stack([lam * z[:, 0] + (1 - lam) * z[:, 1], lam * z[:, 1] + (1 - lam) * z[:, 0]], 1),
                        dim=-1)
    extra = z.new_zeros(0, z.shape[-1])
    if interpolation is not None:
        lam = _beta_sample(interpolation, b, generator)[:, None]
        perm = torch.randperm(b, generator=generator)
        extra = F.normalize(lam * z[:, 1] + (1 - lam) * z[perm, 1], dim=-1)
    return z, extra


def _beta_sample(alpha: float, n: int, generator: torch.Generator) -> Tensor:
    # numpy's Beta sampler seeded from the torch generator: the generator stays the only source of randomness.
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    return torch.as_tensor(rng.beta(alpha, alpha, size=n), dtype=torch.float64)
