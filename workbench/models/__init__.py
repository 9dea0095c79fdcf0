"""Small models that train in seconds on a laptop CPU: encoders, heads, dual encoders, MIL pooling.

Every model maps inputs to outputs in one ``forward``; models that carry an embedding below their output
(a classifier, a projection head) also expose ``embed(x)``, which is what the analysis and the plots look
at. ``for_kind`` builds the default model of a loss kind.
"""

from .autoencoder import Autoencoder
from .clip_addons import SiamLIPDual, SwALIPDual
from .defaults import for_kind
from .distill import DistillOutputs, DualHead, StudentTeacher, dual_head_classifier, teacher_class_means
from .dual import DualEncoder, pca_encoder
from .encoders import MLP, L2Normalize, SmallCNN, embed, seeded
from .heads import (
    MultiSampleDropout,
    ProjectionHead,
    WithHead,
    classifier,
    multi_sample_dropout_classifier,
    with_projection,
)
from .labels import LabelDualEncoder
from .laso import LaSO, SetOpBlock
from .mil import MIL_POOLINGS, MILModel, MILOutput, predict_bags
from .mil_hard import INSModel, ema_update, hard_instance_mask
from .mil_merge import InstanceMerge, MHIMModel, attention_to_score
from .siamese import Siamese, predictor_head

__all__ = [
    "attention_to_score", "Autoencoder", "classifier", "DistillOutputs", "dual_head_classifier", "DualEncoder",
    "DualHead", "ema_update", "embed", "for_kind", "hard_instance_mask", "INSModel", "InstanceMerge", "L2Normalize",
    "LabelDualEncoder", "LaSO", "MHIMModel", "MIL_POOLINGS", "MILModel", "MILOutput", "MLP",
    "multi_sample_dropout_classifier", "MultiSampleDropout", "pca_encoder", "predict_bags", "predictor_head",
    "ProjectionHead", "seeded", "SetOpBlock", "Siamese", "SiamLIPDual", "SmallCNN", "StudentTeacher", "SwALIPDual",
    "teacher_class_means", "with_projection", "WithHead",
]
