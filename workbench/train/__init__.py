"""Training: ``fit`` (every kind but the multiple-instance ones), ``fit_bags`` (bags), the ``History`` they
return, and the training objectives that need the model (``batch_loss`` functions).

The loop asks the loss's kind (``workbench.kinds``) what to feed the loss and how to score the model. Every loop
steps with :class:`Adam` (``torch.optim.Adam``'s arithmetic, bit for bit, at a third of its cost on tiny networks).
"""

from .adam import Adam
from .adversarial import adversarial_examples, energy_samples, fit_dat, pgd_l2, project_l2
from .bags import fit_bags
from .clustering import fit_clustering, kmeans_init, pretrain_autoencoder
from .energy import fit_energy, gaussian_mean_sgd
from .fit import RECORDABLE, fit
from .history import History
from .laso import LaSOObjective, fit_laso, label_set_targets, label_sharing_pairs
from .objectives import episodic_batch_loss, multi_sample_batch_loss, opl_batch_loss, pseudo_negative_batch_loss
from .ssl_recipes import (
    barlip_batch_loss,
    byolip_batch_loss,
    pretext_batch_loss,
    rotations,
    siamlip_batch_loss,
    sinkhorn_targets,
    swalip_batch_loss,
)

__all__ = [
    "Adam", "adversarial_examples", "barlip_batch_loss", "byolip_batch_loss", "cluster_counts", "density_temperatures",
    "energy_samples", "episodic_batch_loss", "fit", "fit_bags", "fit_clustering", "fit_dat", "fit_energy", "fit_ins",
    "fit_laso", "fit_mhim", "fit_midam", "fit_sbcl", "fit_scmil", "gaussian_mean_sgd", "History", "kmeans_init",
    "label_set_targets", "label_sharing_pairs", "LaSOObjective", "MIDAMOptimizer", "multi_sample_batch_loss",
    "opl_batch_loss", "pgd_l2", "pretext_batch_loss", "pretrain_autoencoder", "project_l2",
    "pseudo_negative_batch_loss", "RECORDABLE", "rotations", "sample_instances", "sbcl_clusters",
    "siamlip_batch_loss", "sinkhorn_targets", "swalip_batch_loss",
]
from .midam import MIDAMOptimizer, fit_midam, sample_instances
from .mil_hard import fit_ins, fit_mhim, fit_scmil
from .sbcl import cluster_counts, density_temperatures, fit_sbcl, sbcl_clusters
