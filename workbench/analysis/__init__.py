"""Measurements on embeddings, losses, gradients and bags: plain functions in, numbers or tables out.
Nothing here trains (training runs compared over seeds live in ``workbench.experiments``).

One module a concern: ``metrics`` (classification), ``probes``, ``geometry``, ``gradients`` (pair weights
and loss curves), ``retrieval`` (and few-shot), ``mil``, ``representations`` (how two trained networks agree).
Where scikit-learn already has the metric it is used; everything else is written with the formula in the docstring.
and loss curves), ``retrieval`` (and few-shot), ``mil``, ``labels``
(several labels per sample, continuous labels). Where scikit-learn already has the metric it is
used; everything else is written with the formula in the docstring.
"""

from ..losses.multiview import alignment, uniformity  # defined beside the align_uniform loss that uses them
from ..losses.noncontrastive import cross_correlation  # Barlow Twins' C, beside the loss
from .clustering import cluster_to_class, clustering_accuracy, clustering_nmi, contingency, dec_target_along
from .cost import loss_seconds
from .energy import gaussian_mean_landscape, importance_weight_relative_variance
from .geometry import (
    angular_stats,
    class_similarity_stats,
    contrastive_metrics,
    effective_rank,
    on_dominant_subcenter,
    per_class_values,
    similarity_distributions,
    singular_value_spectrum,
    tolerance,
    view_similarities,
)
from .gradients import (
    amplifier_curve,
    correlation_weights,
    crossmodal_weights,
    gpw_dependence,
    invariance_table,
    margin_curve,
    pair_weights,
    penalty_entropy,
    proxy_weight_curve,
    proxy_weights,
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
    mean_average_precision,
    multilabel_metrics,
    multilabel_scores,
    ndcg_at_k,
    per_label_auc,
    precision_at_k,
    regression_scores,
    ridge_probe,
)
from .long_tail import (
    balanced_accuracy,
    class_priors,
    cluster_likelihoods,
    few_shot_accuracy,
    per_class_accuracy,
    posthoc_logit_adjustment,
)
from .metrics import accuracy, binary_metrics, outputs_on_test, topk_accuracy
from .mil import attention_entropy, bag_auc, key_attention_ratio, localisation_auc, mil_metrics, top_k_attention_mass
from .probes import gaussian_nb_probe, knn_probe, linear_probe, projection_head_probes
from .representations import (
    cka,
    expected_squared_distance,
    frechet_predict,
    graph_distances,
    match_units,
    relative_representation,
    stitching_accuracy,
    transductive_accuracy,
    transductive_kmeans,
    unit_correlations,
)
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
from .robustness import nearest_distance, robust_accuracy

__all__ = [
    "accuracy", "alignment", "amplifier_curve", "angular_stats", "asl_gradient_curve", "attention_entropy", "bag_auc",
    "balanced_accuracy", "binary_metrics", "cka", "class_priors", "class_similarity_stats", "cluster_likelihoods",
    "cluster_to_class", "clustering_accuracy", "clustering_nmi", "contingency", "contrastive_metrics",
    "correlation_weights", "cross_correlation", "crossmodal_weights", "dec_target_along", "distance_spearman",
    "effective_rank", "expected_squared_distance", "few_shot_accuracy", "frechet_predict", "gaussian_mean_landscape",
    "gaussian_nb_probe", "gpw_dependence", "graph_distances", "importance_weight_relative_variance", "invariance_table",
    "key_attention_ratio", "knn_probe", "linear_probe", "localisation_auc", "loss_seconds", "map_at_r", "margin_curve",
    "match_units", "mean_absolute_error", "mean_average_precision", "mil_metrics", "multilabel_metrics",
    "multilabel_scores", "ndcg_at_k",
    "nearest_distance", "nmi", "on_dominant_subcenter", "outputs_on_test", "pair_weights", "penalty_entropy",
    "per_class_accuracy", "per_class_values", "per_label_auc", "posthoc_logit_adjustment", "precision_at_k",
    "projection_head_probes", "prototype_accuracy", "proxy_weight_curve", "proxy_weights", "recall_at_k",
    "regression_scores", "relative_penalty", "relative_representation", "retrieval_metrics", "ridge_probe",
    "robust_accuracy", "sample_gradient_norms", "similarity_curve", "similarity_distributions",
    "singular_value_spectrum", "stitching_accuracy", "target_logit_curve", "tolerance", "top_k_attention_mass",
    "topk_accuracy", "transductive_accuracy", "transductive_kmeans", "uniformity", "unit_correlations", "utilization",
    "verification_roc", "view_similarities", "weight_curve", "zero_shot_accuracy", "zscore_curve",
]
