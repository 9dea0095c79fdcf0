"""Small models that train in seconds on a laptop CPU: encoders, heads, dual encoders, MIL pooling.

Every model maps inputs to outputs in one ``forward``; models that carry an embedding below their output
(a classifier, a projection head) also expose ``embed(x)``, which is what the analysis and the plots look
at. ``for_kind`` builds the default model of a loss kind.
"""

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
from .mil import MIL_POOLINGS, MILModel, MILOutput, predict_bags

__all__ = [
    "DualEncoder", "L2Normalize", "MILModel", "MILOutput", "MIL_POOLINGS", "MLP", "MultiSampleDropout",
    "ProjectionHead", "SmallCNN", "WithHead", "classifier", "embed", "for_kind", "multi_sample_dropout_classifier",
    "pca_encoder", "predict_bags", "seeded", "with_projection",
]
__all__ += ["LabelDualEncoder"]
__all__ += ["DistillOutputs", "DualHead", "StudentTeacher", "dual_head_classifier", "teacher_class_means"]
