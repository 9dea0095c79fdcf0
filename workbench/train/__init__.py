"""Training: ``fit`` (every kind but the multiple-instance ones), ``fit_bags`` (bags), the ``History`` they
return, and the training objectives that need the model (``batch_loss`` functions).

The loop asks the loss's kind (``workbench.kinds``) what to feed the loss and how to score the model.
"""

from .bags import fit_bags
from .fit import RECORDABLE, fit
from .history import History
from .mil_hard import fit_ins, fit_mhim, fit_scmil
from .objectives import episodic_batch_loss, multi_sample_batch_loss, opl_batch_loss

__all__ = ["RECORDABLE", "History", "episodic_batch_loss", "fit", "fit_bags", "fit_ins", "fit_mhim", "fit_scmil",
           "multi_sample_batch_loss",
           "opl_batch_loss"]
