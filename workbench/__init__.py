"""Loss Lab: a teaching and analysis workbench for deep-learning loss functions.

Modules, in the order data flows: ``data`` -> ``models`` -> ``losses`` -> ``train`` -> ``analysis`` ->
``experiments`` -> ``viz`` -> ``widgets``. Import the ones you need: ``from workbench import losses, data``.
"""

__version__ = "0.1.0"
