"""Loss Lab's losses and their registry (see ``registry`` for the contract).

Importing this package imports every family module, which registers its losses.
"""

from . import (  # noqa: F401  (registration side effects)
    classification,
    contrastive,
    margin,
    mil,  # noqa: F401  (registration side effects)
    pairs,
)
from .classification import CrossEntropy, cross_entropy
from .contrastive import NTXent, ntxent_from_similarity
from .margin import MarginHead, NormFace, normface_scale_bound
from .mil import ACMIL, AEM, AggregateResponseLoss, aem, aggregate_response_loss, branch_diversity
from .pairs import ContrastiveLoss, contrastive_from_similarity
from .registry import FAMILIES, KINDS, LossInfo, Paper, Param, available, get, info, register

__all__ = [
    "FAMILIES", "KINDS", "LossInfo", "Paper", "Param", "available", "get", "info", "register",
    "CrossEntropy", "cross_entropy", "NormFace", "MarginHead", "normface_scale_bound",
    "ContrastiveLoss", "contrastive_from_similarity", "NTXent", "ntxent_from_similarity",
]
__all__ += ["AEM", "aem", "ACMIL", "branch_diversity", "AggregateResponseLoss", "aggregate_response_loss"]
