"""Loss Lab's losses and their registry (see ``registry`` for the contract).

Importing this package imports every family module, which registers its losses.
"""

from . import (  # noqa: F401  (registration side effects)
    adaptive,
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
    softmax_pairs,
    sorting,
    zloss,
)
from .adaptive import AMCL, ISogCLR
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
from .energy import NCE, CompositionalNLL, nce_loss
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
from .softmax_pairs import CircleLoss, NPairsLoss, circle_from_similarity, npairs_from_similarity
from .sorting import GroCo, soft_sort_permutation
from .zloss import ZLoss, z_loss

# Every registered class is importable from here (DESIGN.md), with the registry and the functional twins.
__all__ = [
    "FAMILIES", "KINDS", "REDUCES_OVER", "LossInfo", "Paper", "Param", "available", "get", "info", "register",
    "ACMIL", "AEM", "ALDRKL", "AMCL", "AUCMargin", "AggregateResponseLoss", "AlignUniform", "AnyLoss", "ArcFace", "BCE",
    "BiasLoss", "BinomialDevianceLoss", "CLIP", "CWCL", "CompSum", "ContrastiveLoss", "CosFace", "CrossEntropy", "DHEL",
    "ElasticFaceArc", "ElasticFaceCos", "EnsLoss", "GCE", "GeneralizedLiftedStructureLoss", "HardContrastive",
    "ICNNLoss", "ISogCLR", "LDRKL", "LiftedStructureLoss", "LossReweighting", "MAE", "MVDHEL", "MVInfoNCE", "MW",
    "MarginHead", "Metrix", "MultiSimilarityLoss", "NTXent", "NormFace", "OrthogonalProjectionLoss",
    "ProtoTripletLoss", "SphereFace", "SupCon", "TripletLoss", "UNPG", "ZLoss",
    "CircleLoss", "HypCE", "HypPC", "NPairsLoss", "ProxyAnchor", "ProxyNCA", "PseudoNegatives", "SoftTriple",
    "SubCenterArcFace", "circle_from_similarity", "npairs_from_similarity",
    "DEC", "DEPICT", "depict_paper_target", "sharpened_target", "NCE", "CompositionalNLL", "nce_loss",
    "DHKD", "KD", "ND", "binary_kl_norm", "class_means", "kd_loss", "nd_loss",
    "aem", "aggregate_response_loss", "alignment", "anyloss", "branch_diversity", "clip_loss", "comp_sum",
    "contrastive_from_similarity", "cross_entropy", "crossmodal_logits", "cwcl_loss", "cwcl_weights",
    "ensloss_derivatives", "gce", "hard_contrastive_from_similarity", "ldr_kl", "loss_weights", "mae",
    "normface_scale_bound", "ntxent_from_similarity", "pairwise_auc_surrogate", "supcon_from_similarity",
    "uniformity", "z_loss",
    "BYOL", "BarlowTwins", "DCL", "DCLW", "SigLIP", "SimSiam", "VICReg", "cross_correlation", "siglip_loss",
    "GroCo", "soft_sort_permutation",
    "SBCL", "DatasetEquity", "Focal", "LogitAdjusted", "dataset_equity", "equity_weights", "focal",
    "logit_adjusted", "prior_offsets", "sbcl_from_similarity",
    "MHIMConsistency", "ins_confidence_update", "ins_contrastive", "ins_partial_loss", "mhim_consistency",
    "ZLPR", "AsymmetricLoss", "DecoupledSoftmax", "MultilabelBCE", "RankNContrast", "SMS", "SupReMix",
    "asymmetric_loss", "decoupled_softmax_loss", "decoupled_softmax_scores", "rank_n_contrast_loss", "sms_loss", "zlpr",
]
