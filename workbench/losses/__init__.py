"""Loss Lab's losses and their registry (see ``registry`` for the contract).

Importing this package imports every family module, which registers its losses.
"""

from . import (  # noqa: F401  (registration side effects)
    adaptive,
    arbex,
    bias,
    binary,
    classification,
    clustering,
    contrastive,
    crossmodal,
    decoupled,
    distill,
    energy,
    fewshot,
    hyperbolic,
    ldr,
    long_tail,
    margin,
    metric,
    midam,
    mil,
    multilabel,
    multiview,
    noncontrastive,
    pairs,
    proxies,
    regression,
    relevance,
    reweighting,
    robust,
    sbcl,
    simlap,
    soft_topk,
    softmax_pairs,
    sorting,
    zloss,
)
from .adaptive import AMCL, ISogCLR
from .arbex import ARBEx, anchor_distances, anchor_loss
from .bias import BiasLoss
from .binary import BCE, MW, AnyLoss, AUCMargin, EnsLoss, anyloss, ensloss_derivatives, pairwise_auc_surrogate
from .classification import CrossEntropy, cross_entropy
from .clustering import DEC, DEPICT, depict_paper_target, sharpened_target
from .contrastive import (
    HardContrastive,
    NTXent,
    SupCon,
    hard_contrastive_from_similarity,
    ntxent_from_similarity,
    supcon_from_similarity,
)
from .crossmodal import CLIP, CWCL, SigLIP, clip_loss, crossmodal_logits, cwcl_loss, cwcl_weights, siglip_loss
from .decoupled import DCL, DCLW
from .distill import DHKD, KD, ND, binary_kl_norm, class_means, kd_loss, nd_loss
from .energy import DATBCE, NCE, CompositionalNLL, dat_bce_loss, nce_loss
from .fewshot import ICNNLoss, ProtoTripletLoss
from .hyperbolic import HypCE, HypPC, PseudoNegatives
from .ldr import ALDRKL, LDRKL, ldr_kl
from .long_tail import (
    DatasetEquity,
    Focal,
    LogitAdjusted,
    dataset_equity,
    equity_weights,
    focal,
    logit_adjusted,
    prior_offsets,
)
from .margin import (
    UNPG,
    ArcFace,
    CosFace,
    ElasticFaceArc,
    ElasticFaceCos,
    MarginHead,
    NormFace,
    SphereFace,
    normface_scale_bound,
)
from .metric import (
    BinomialDevianceLoss,
    GeneralizedLiftedStructureLoss,
    LiftedStructureLoss,
    Metrix,
    MultiSimilarityLoss,
    OrthogonalProjectionLoss,
    TripletLoss,
)
from .midam import MIDAM, MIDAMAttention, smoothed_max
from .mil import (
    ACMIL,
    AEM,
    AggregateResponseLoss,
    MHIMConsistency,
    aem,
    aggregate_response_loss,
    branch_diversity,
    ins_confidence_update,
    ins_contrastive,
    ins_partial_loss,
    mhim_consistency,
)
from .multilabel import ZLPR, AsymmetricLoss, MultilabelBCE, asymmetric_loss, zlpr
from .multiview import DHEL, MVDHEL, AlignUniform, MVInfoNCE, alignment, uniformity
from .noncontrastive import BYOL, BarlowTwins, SimSiam, VICReg, cross_correlation
from .pairs import ContrastiveLoss, contrastive_from_similarity
from .proxies import ProxyAnchor, ProxyNCA, SoftTriple, SubCenterArcFace
from .registry import FAMILIES, KINDS, REDUCES_OVER, LossInfo, Paper, Param, available, get, info, register
from .regression import RankNContrast, SupReMix, rank_n_contrast_loss
from .relevance import SMS, DecoupledSoftmax, decoupled_softmax_loss, decoupled_softmax_scores, sms_loss
from .reweighting import LossReweighting, loss_weights
from .robust import GCE, MAE, CompSum, comp_sum, gce, mae
from .sbcl import SBCL, sbcl_from_similarity
from .simlap import LabelGate, SimLAP, gated_cosine, multipositive_ce
from .soft_topk import SoftTopK, soft_topk_log_indicator, soft_topk_loss, soft_topk_scores, soft_topk_threshold
from .softmax_pairs import CircleLoss, NPairsLoss, circle_from_similarity, npairs_from_similarity
from .sorting import GroCo, soft_sort_permutation
from .zloss import ZLoss, z_loss

# Every registered class is importable from here (DESIGN.md), with the registry and the functional twins.
__all__ = [
    "ACMIL", "AEM", "aem", "aggregate_response_loss", "AggregateResponseLoss", "ALDRKL", "alignment", "AlignUniform",
    "AMCL", "anchor_distances", "anchor_loss", "AnyLoss", "anyloss", "ARBEx", "ArcFace", "asymmetric_loss",
    "AsymmetricLoss", "AUCMargin", "available", "BarlowTwins", "BCE", "BiasLoss", "binary_kl_norm",
    "BinomialDevianceLoss", "branch_diversity", "BYOL", "circle_from_similarity", "CircleLoss", "class_means", "CLIP",
    "clip_loss", "comp_sum", "CompositionalNLL", "CompSum", "contrastive_from_similarity", "ContrastiveLoss", "CosFace",
    "cross_correlation", "cross_entropy", "CrossEntropy", "crossmodal_logits", "CWCL", "cwcl_loss", "cwcl_weights",
    "dat_bce_loss", "dataset_equity", "DatasetEquity", "DATBCE", "DCL", "DCLW", "DEC", "decoupled_softmax_loss",
    "decoupled_softmax_scores", "DecoupledSoftmax", "DEPICT", "depict_paper_target", "DHEL", "DHKD", "ElasticFaceArc",
    "ElasticFaceCos", "EnsLoss", "ensloss_derivatives", "equity_weights", "FAMILIES", "Focal", "focal", "GCE", "gce",
    "gated_cosine", "GeneralizedLiftedStructureLoss", "get", "GroCo", "hard_contrastive_from_similarity",
    "HardContrastive", "HypCE", "HypPC", "ICNNLoss", "info", "ins_confidence_update", "ins_contrastive",
    "ins_partial_loss", "ISogCLR", "KD", "kd_loss", "KINDS", "LabelGate", "ldr_kl", "LDRKL", "LiftedStructureLoss",
    "logit_adjusted", "LogitAdjusted", "loss_weights", "LossInfo", "LossReweighting", "MAE", "mae", "MarginHead",
    "Metrix", "mhim_consistency", "MHIMConsistency", "MIDAM", "MIDAMAttention", "multipositive_ce", "MultilabelBCE",
    "MultiSimilarityLoss", "MVDHEL", "MVInfoNCE", "MW", "NCE", "nce_loss", "ND", "nd_loss", "NormFace",
    "normface_scale_bound", "npairs_from_similarity", "NPairsLoss", "NTXent", "ntxent_from_similarity",
    "OrthogonalProjectionLoss", "pairwise_auc_surrogate", "Paper", "Param", "prior_offsets", "ProtoTripletLoss",
    "ProxyAnchor", "ProxyNCA", "PseudoNegatives", "rank_n_contrast_loss", "RankNContrast", "REDUCES_OVER", "register",
    "SBCL", "sbcl_from_similarity", "sharpened_target", "SigLIP", "siglip_loss", "SimLAP", "SimSiam", "smoothed_max",
    "SMS", "sms_loss", "soft_sort_permutation", "soft_topk_log_indicator", "soft_topk_loss", "soft_topk_scores",
    "soft_topk_threshold", "SoftTopK", "SoftTriple", "SphereFace", "SubCenterArcFace", "SupCon",
    "supcon_from_similarity", "SupReMix", "TripletLoss", "uniformity", "UNPG", "VICReg", "z_loss", "ZLoss", "ZLPR",
    "zlpr",
]
