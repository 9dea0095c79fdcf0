"""Loss Lab's losses and their registry (see ``registry`` for the contract).

Importing this package imports every family module, which registers its losses.
"""

from . import adaptive, classification, contrastive, crossmodal, margin, multiview, pairs  # noqa: F401  (registration side effects)  # noqa: F401  (contrastive family, issue 4)
from .adaptive import AMCL, ISogCLR
from .classification import CrossEntropy, cross_entropy
from .contrastive import (
                          HardContrastive,
                          NTXent,
                          SupCon,
                          hard_contrastive_from_similarity,
                          ntxent_from_similarity,
                          supcon_from_similarity,
)
from .crossmodal import CLIP, CWCL, clip_loss, crossmodal_logits, cwcl_loss, cwcl_weights
from .margin import MarginHead, NormFace, normface_scale_bound
from .multiview import DHEL, MVDHEL, AlignUniform, MVInfoNCE, alignment, uniformity
from .pairs import ContrastiveLoss, contrastive_from_similarity
from .registry import FAMILIES, KINDS, LossInfo, Paper, Param, available, get, info, register

__all__ = [
    "FAMILIES", "KINDS", "LossInfo", "Paper", "Param", "available", "get", "info", "register",
    "CrossEntropy", "cross_entropy", "NormFace", "MarginHead", "normface_scale_bound",
    "ContrastiveLoss", "contrastive_from_similarity", "NTXent", "ntxent_from_similarity",
    "SupCon", "supcon_from_similarity", "HardContrastive", "hard_contrastive_from_similarity", "AlignUniform",
    "alignment", "uniformity", "DHEL", "MVInfoNCE", "MVDHEL", "ISogCLR", "AMCL", "CLIP", "CWCL", "clip_loss",
    "cwcl_loss", "cwcl_weights", "crossmodal_logits",
]
