"""Real data: the copies scikit-learn ships inside its wheel (nothing is downloaded)."""

from __future__ import annotations

from ._build import _bundled, _generated, _make, _split, check_split
from .containers import Dataset


def digits(*, seed: int = 0, test_size: float = 0.25, image: bool = False) -> Dataset:
    """Handwritten digits, 8x8 grey images, 10 classes (1797 samples; UCI, Alpaydin & Kaynak).

    Pixels are scaled to [0, 1]. ``image=True`` gives ``[N, 1, 8, 8]`` for convolutional encoders and
    augmentation. Teaches: the default real task -- big enough for embeddings with visible class
    structure, small enough to train any loss in seconds.
    """
    seed, test_size = check_split(seed, test_size)
    X, y = _bundled("digits")
    Xtr, Xte, ytr, yte = _split(X / 16.0, y, test_size=test_size, seed=seed)
    if image:
        Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
    return _make(
        "digits", Xtr, ytr, Xte, yte, 10, description="sklearn 8x8 handwritten digits, pixels in [0, 1]"
    )


def breast_cancer(*, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """Wisconsin diagnostic breast cancer, 30 features, 2 classes (569 samples; Wolberg et al.).

    Standardised with the train split's statistics. Teaches: a real, mildly imbalanced binary task
    (212 malignant vs 357 benign) for binary and AUC losses.
    """
    seed, test_size = check_split(seed, test_size)
    X, y = _bundled("breast_cancer")
    desc = "sklearn breast cancer (Wisconsin diagnostic), standardised; 0=malignant, 1=benign"
    return _generated(
        "breast_cancer", X, y, 2, test_size=test_size, seed=seed, standardise=True, description=desc
    )


def wine(*, seed: int = 0, test_size: float = 0.25) -> Dataset:
    """Wine recognition, 13 chemical features, 3 cultivars (178 samples; Forina et al.).

    Standardised with the train split's statistics. Teaches: a tiny tabular task where losses
    separate easily -- good for seeing overfitting and calibration with very few samples.
    """
    seed, test_size = check_split(seed, test_size)
    X, y = _bundled("wine")
    desc = "sklearn wine recognition, standardised"
    return _generated("wine", X, y, 3, test_size=test_size, seed=seed, standardise=True, description=desc)
