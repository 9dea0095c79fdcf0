"""Figures. Every function returns its matplotlib Figure (and draws on ``ax`` when one is given), in the
one theme of ``viz.theme``, set on import.

One module a concern: ``embeddings`` (projections and scatter plots), ``curves``, ``weights`` (pair weights
and penalties), ``bars`` (comparisons and histograms), ``mil`` (bags).
"""

from .bars import grouped_bars, histograms, metric_bars, metric_by_setting, per_class_bars, similarity_histograms
from .curves import (
    asl_gradient_figure,
    line_panel,
    loss_curves,
    metrics_vs,
    pair_weight_curves,
    proxy_weight_curves,
    roc_curves,
    target_logit_curves,
    training_curves,
)
from .embeddings import (
    PROJECTIONS,
    embedding_scatter,
    embedding_snapshots,
    poincare_disk,
    project,
    proxy_scatter,
    singular_value_spectra,
)
from .energy import (
    cluster_scatter,
    energy_contours,
    image_rows,
    landscape_panels,
    learning_curves,
    soft_assignment_figure,
)
from .energy import trajectories as theta_trajectories
from .mil import bag_attention, unit_test_table
from .weights import pair_weight_heatmap, relative_penalty_figure

__all__ = [
    "asl_gradient_figure", "bag_attention", "cluster_scatter", "embedding_scatter", "embedding_snapshots",
    "energy_contours", "grouped_bars", "histograms", "image_rows", "landscape_panels", "learning_curves",
    "line_panel", "loss_curves", "metric_bars", "metric_by_setting", "metrics_vs", "pair_weight_curves",
    "pair_weight_heatmap", "per_class_bars", "poincare_disk", "project", "PROJECTIONS", "proxy_scatter",
    "proxy_weight_curves", "relative_penalty_figure", "roc_curves", "similarity_histograms", "singular_value_spectra",
    "soft_assignment_figure", "target_logit_curves", "theta_trajectories", "training_curves", "unit_test_table",
]
