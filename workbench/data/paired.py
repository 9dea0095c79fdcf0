"""Paired modalities: digit pixels paired with a noisy code of class and style (cross-modal losses)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_int, check_number
from ._build import _bundled, _make, _split, _standardise, check_split
from .containers import Dataset


def digit_style(X: np.ndarray) -> np.ndarray:
    """Three style numbers per 8x8 digit (flat [N, 64], pixels in [0, 1]): ink mass, and the centre of
    mass of the ink in x and in y. None of them names the class, all of them vary within one."""
    img = X.reshape(-1, 8, 8)
    mass = img.sum((1, 2))
    grid = np.arange(8.0)
    safe = np.maximum(mass, 1e-8)
    cx = (img.sum(1) * grid).sum(1) / safe
    cy = (img.sum(2) * grid).sum(1) / safe
    return np.stack([mass, cx, cy], axis=1)


def paired_digits(
    *,
    code_dim: int = 16,
    class_dim: int = 6,
    style_weight: float = 1.0,
    noise: float = 0.3,
    seed: int = 0,
    test_size: float = 0.25,
) -> Dataset:
    """Digits paired with a second modality: a distorted low-dimensional code of each digit's class and style.

    Modality A is the 64 pixels. Modality B is ``tanh(A_mix [c_y ; style_weight * s]) + noise * N(0, I)``
    in ``code_dim`` dimensions: ``c_y`` a random ``class_dim``-vector of the digit's class, ``s`` its
    :func:`digit_style` standardised with train statistics, ``A_mix`` a fixed random mixing matrix.
    ``X_*`` holds both side by side, ``[pixels (64) | code (code_dim)]``; ``meta["modality_dims"]`` =
    ``(64, code_dim)`` says where to split (``models.DualEncoder`` does). ``meta["prototypes"]`` holds one
    noise-free code per class at the average style (``s = 0``): the "class prompts" for zero-shot
    transfer. Teaches: cross-modal contrastive learning (CLIP, CWCL) with a frozen encoder for the code
    modality, and zero-shot classification of digits through their nearest class prototype.
    """
    seed, test_size = check_split(seed, test_size)
    code_dim = check_int(code_dim, "code_dim", low=2)
    class_dim = check_int(class_dim, "class_dim", low=1)
    style_weight = check_number(style_weight, "style_weight", low=0.0)
    noise = check_number(noise, "noise", low=0.0)
    X, y = _bundled("digits")
    X = X / 16.0
    Xtr, Xte, ytr, yte = _split(X, y, test_size=test_size, seed=seed)
    rng = np.random.default_rng(seed)
    class_codes = rng.standard_normal((10, class_dim))
    mixing = rng.standard_normal((code_dim, class_dim + 3)) / math.sqrt(class_dim + 3)
    style_tr, style_te = _standardise(digit_style(Xtr), digit_style(Xte))

    def code(labels, style, noise_scale):
        latent = np.concatenate([class_codes[labels], style_weight * style], axis=1)
        return np.tanh(latent @ mixing.T) + noise_scale * rng.standard_normal((len(labels), code_dim))

    parts = [np.concatenate([Xs, code(ys, ss, noise)], axis=1) for Xs, ys, ss in ((Xtr, ytr, style_tr),
                                                                                  (Xte, yte, style_te))]
    prototypes = code(np.arange(10), np.zeros((10, 3)), 0.0)
    meta = {"modality_dims": (64, code_dim), "prototypes": torch.as_tensor(prototypes, dtype=torch.float32)}
    desc = f"digits (64 px) | code of class and style ({code_dim}-D, noise {noise:g})"
    return _make("paired_digits", parts[0], ytr, parts[1], yte, 10, description=desc, meta=meta)
