"""Training: ``fit`` (every kind but the multiple-instance ones), ``fit_bags`` (bags), the ``History`` they
return, and the training objectives that need the model (``batch_loss`` functions).

The loop asks the loss's kind (``workbench.kinds``) what to feed the loss and how to score the model.
"""

from .bags import fit_bags
from .clustering import fit_clustering, kmeans_init, pretrain_autoencoder
from .energy import fit_energy, gaussian_mean_sgd
from .fit import RECORDABLE, fit
from .history import History
from .objectives import episodic_batch_loss, multi_sample_batch_loss, opl_batch_loss, pseudo_negative_batch_loss
from .ssl_recipes import barlip_batch_loss, pretext_batch_loss, rotations

__all__ = [
    "barlip_batch_loss", "cluster_counts", "density_temperatures", "episodic_batch_loss", "fit", "fit_bags",
    "fit_clustering", "fit_energy", "fit_ins", "fit_mhim", "fit_sbcl", "fit_scmil", "gaussian_mean_sgd", "History",
    "kmeans_init", "multi_sample_batch_loss", "opl_batch_loss", "pretext_batch_loss", "pretrain_autoencoder",
    "pseudo_negative_batch_loss", "RECORDABLE", "rotations", "sbcl_clusters",
]
from .mil_hard import fit_ins, fit_mhim, fit_scmil
from .sbcl import cluster_counts, density_temperatures, fit_sbcl, sbcl_clusters
