"""Training: ``fit`` (every kind but the multiple-instance ones), ``fit_bags`` (bags), the ``History`` they
return, and the training objectives that need the model (``batch_loss`` functions).

The loop asks the loss's kind (``workbench.kinds``) what to feed the loss and how to score the model.
"""

from .bags import fit_bags
from .fit import RECORDABLE, fit
from .history import History
from .objectives import episodic_batch_loss, multi_sample_batch_loss, opl_batch_loss
from .sbcl import cluster_counts, density_temperatures, fit_sbcl, sbcl_clusters

__all__ = ["RECORDABLE", "History", "episodic_batch_loss", "fit", "fit_bags", "multi_sample_batch_loss",
           "opl_batch_loss",
           "cluster_counts", "density_temperatures", "fit_sbcl", "sbcl_clusters"]
