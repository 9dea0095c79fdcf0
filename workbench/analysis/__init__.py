"""Measurements on embeddings, losses, gradients and bags: plain functions in, numbers or tables out.
Nothing here trains (training runs compared over seeds live in ``workbench.experiments``).

One module a concern: ``metrics`` (classification), ``probes``, ``geometry``, ``gradients`` (pair weights
and loss curves), ``retrieval`` (and few-shot), ``mil``, ``labels``
(several labels per sample, continuous labels). Where scikit-learn already has the metric it is
used; everything else is written with the formula in the docstring.
"""

from ..losses.multiview import alignment, uniformity  # defined beside the align_uniform loss that uses them
from .geometry import (
    angular_stats,
    class_similarity_stats,
    contrastive_metrics,
    effective_rank,
    per_class_values,
    similarity_distributions,
    singular_value_spectrum,
    tolerance,
    view_similarities,
)
from .gradients import (
    amplifier_curve,
    gpw_dependence,
    invariance_table,
    margin_curve,
    pair_weights,
    penalty_entropy,
    relative_penalty,
    sample_gradient_norms,
    similarity_curve,
    target_logit_curve,
    weight_curve,
    zscore_curve,
)
from .labels import (
    asl_gradient_curve,
    distance_spearman,
    mean_absolute_error,
    multilabel_metrics,
    multilabel_scores,
    ndcg_at_k,
    per_label_auc,
    precision_at_k,
    regression_scores,
    ridge_probe,
)
from .metrics import accuracy, binary_metrics, outputs_on_test, topk_accuracy
from .mil import attention_entropy, bag_auc, key_attention_ratio, localisation_auc, mil_metrics, top_k_attention_mass
from .probes import knn_probe, linear_probe, projection_head_probes
from .retrieval import (
    map_at_r,
    nmi,
    prototype_accuracy,
    recall_at_k,
    retrieval_metrics,
    utilization,
    verification_roc,
    zero_shot_accuracy,
)

__all__ = [
    "accuracy", "alignment", "amplifier_curve", "angular_stats", "attention_entropy", "bag_auc", "binary_metrics",
    "class_similarity_stats", "contrastive_metrics", "effective_rank", "gpw_dependence", "invariance_table",
    "key_attention_ratio", "knn_probe", "linear_probe", "localisation_auc", "map_at_r", "margin_curve", "mil_metrics",
    "nmi",
    "outputs_on_test", "pair_weights", "penalty_entropy", "per_class_values", "projection_head_probes",
    "prototype_accuracy", "recall_at_k", "relative_penalty", "retrieval_metrics", "sample_gradient_norms",
    "singular_value_spectrum",
    "similarity_curve", "similarity_distributions", "target_logit_curve", "tolerance", "top_k_attention_mass",
    "topk_accuracy", "uniformity", "utilization", "verification_roc", "view_similarities", "weight_curve",
    "zero_shot_accuracy", "zscore_curve",
    "asl_gradient_curve", "distance_spearman", "mean_absolute_error", "multilabel_metrics", "multilabel_scores",
    "ndcg_at_k", "per_label_auc", "precision_at_k", "regression_scores", "ridge_probe",
]
