"""Datasets and generators for Loss Lab.

Everything here is small enough to train on a laptop CPU in seconds, and nothing is downloaded: the real
data sets are the copies scikit-learn ships inside its wheel (digits, breast cancer, wine) and everything
else is generated from a seed. Every function takes ``seed`` and the same seed gives identical tensors.

One module a concern: ``containers`` (:class:`Dataset`), ``real``, ``synthetic``, ``variants`` (long tail,
label noise, one-vs-rest, unseen classes), ``views`` (augmentations), ``paired`` (two modalities),
``episodes`` (few-shot), ``multilabel`` (several labels, graded relevance), ``regression``
(continuous targets), ``bags`` (multiple-instance learning) and ``catalogue`` (datasets by name).

This package is the left end of the data flow (data -> models -> losses -> ...): it imports nothing else
from ``workbench`` but the shared checks.
"""

from .bags import MIL_UNIT_TESTS, Bags, aggregate_bags, digit_bags, mil_unit_test, pad_bags
from .catalogue import WITH_VIEWS, available, load
from .containers import Dataset
from .episodes import episode
from .multilabel import jaccard_relevance, multilabel_digits, style_relevance
from .paired import digit_style, paired_digits
from .real import breast_cancer, digits, wine
from .regression import diabetes, digit_attribute
from .synthetic import confusable_classes, hierarchical_clusters, moons, sphere_blobs, spirals
from .variants import few_per_class, label_noise, long_tailed, one_class, one_vs_rest, unseen_classes
from .views import DigitAugment, digit_views, feature_transform

__all__ = [
    "aggregate_bags", "available", "Bags", "breast_cancer", "confusable_classes", "Dataset", "diabetes",
    "digit_attribute", "digit_bags", "digit_style", "digit_views", "DigitAugment", "digits", "episode",
    "feature_transform", "few_per_class", "hierarchical_clusters", "jaccard_relevance", "label_noise", "load",
    "long_tailed", "mil_unit_test", "MIL_UNIT_TESTS", "moons", "multilabel_digits", "one_class", "one_vs_rest",
    "pad_bags", "paired_digits", "sphere_blobs", "spirals", "style_relevance", "unseen_classes", "wine", "WITH_VIEWS",
]
