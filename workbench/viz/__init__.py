"""Figures. Every function returns its matplotlib Figure (and draws on ``ax`` when one is given), in the
one theme of ``viz.theme``, set on import.

One module a concern: ``embeddings`` (projections and scatter plots), ``curves``, ``weights`` (pair weights
and penalties), ``bars`` (comparisons and histograms), ``mil`` (bags).
"""

from .bars import grouped_bars, histograms, metric_bars, metric_by_setting, similarity_histograms
from .curves import (
    asl_gradient_figure,
    line_panel,
    loss_curves,
    metrics_vs,
    pair_weight_curves,
    roc_curves,
    target_logit_curves,
    training_curves,
)
from .embeddings import PROJECTIONS, embedding_scatter, embedding_snapshots, project, singular_value_spectra
from .mil import bag_attention, unit_test_table
from .weights import pair_weight_heatmap, relative_penalty_figure

__all__ = [
    "PROJECTIONS", "asl_gradient_figure", "bag_attention", "embedding_scatter", "embedding_snapshots", "grouped_bars",
    "histograms",
    "line_panel", "loss_curves", "metric_bars", "metric_by_setting", "metrics_vs", "pair_weight_curves",
    "pair_weight_heatmap", "project", "relative_penalty_figure", "roc_curves", "similarity_histograms",
    "singular_value_spectra", "target_logit_curves", "training_curves", "unit_test_table",
]
