"""Loss Lab's losses and their registry (see ``registry`` for the contract).

Importing this package imports every family module, which registers its losses.
"""

from . import (  # noqa: F401  (registration side effects)
    adaptive,
    bias,
    binary,
    classification,
    contrastive,
    crossmodal,
    distill,
    fewshot,
    ldr,
    margin,
    metric,
    mil,
    multiview,
    pairs,
    reweighting,
    robust,
    zloss,
)
from .adaptive import AMCL, ISogCLR
from .bias import BiasLoss
from .binary import BCE, MW, AnyLoss, AUCMargin, EnsLoss, anyloss, ensloss_derivatives, pairwise_auc_surrogate
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
from .distill import DHKD, KD, ND, binary_kl_norm, class_means, kd_loss, nd_loss
from .ldr import ALDRKL, LDRKL, ldr_kl
from .margin import MarginHead, NormFace, normface_scale_bound
from .mil import ACMIL, AEM, AggregateResponseLoss, aem, aggregate_response_loss, branch_diversity
from .multiview import DHEL, MVDHEL, AlignUniform, MVInfoNCE, alignment, uniformity
from .pairs import ContrastiveLoss, contrastive_from_similarity
from .registry import FAMILIES, KINDS, REDUCES_OVER, LossInfo, Paper, Param, available, get, info, register
from .reweighting import LossReweighting, loss_weights
from .robust import GCE, MAE, CompSum, comp_sum, gce, mae
from .zloss import ZLoss, z_loss

__all__ = [
    "FAMILIES", "KINDS", "REDUCES_OVER", "LossInfo", "Paper", "Param", "available", "get", "info", "register",
    "CrossEntropy", "cross_entropy", "NormFace", "MarginHead", "normface_scale_bound",
    "ContrastiveLoss", "contrastive_from_similarity", "NTXent", "ntxent_from_similarity",
    "SupCon", "supcon_from_similarity", "HardContrastive", "hard_contrastive_from_similarity", "AlignUniform",
    "alignment", "uniformity", "DHEL", "MVInfoNCE", "MVDHEL", "ISogCLR", "AMCL", "CLIP", "CWCL", "clip_loss",
    "cwcl_loss", "cwcl_weights", "crossmodal_logits",
]
__all__ += [  # losses on logits and binary losses (issue 3)
    "CompSum", "comp_sum", "GCE", "gce", "MAE", "mae", "ZLoss", "z_loss", "LDRKL", "ldr_kl", "ALDRKL",
    "BiasLoss", "BCE", "AnyLoss", "anyloss", "EnsLoss", "ensloss_derivatives", "AUCMargin", "MW",
    "pairwise_auc_surrogate", "LossReweighting", "loss_weights",
]
__all__ += ["AEM", "aem", "ACMIL", "branch_diversity", "AggregateResponseLoss", "aggregate_response_loss"]
__all__ += ["KD", "kd_loss", "DHKD", "binary_kl_norm", "ND", "nd_loss", "class_means"]  # distillation (issue 14)
