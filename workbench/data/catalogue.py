"""Datasets by name: :func:`available` and :func:`load` (the command line and the kinds use them)."""

from __future__ import annotations

from collections.abc import Callable

from .bags import Bags, aggregate_bags, digit_bags
from .containers import Dataset
from .multilabel import multilabel_digits
from .paired import paired_digits
from .real import breast_cancer, digits, wine
from .regression import diabetes, digit_attribute
from .synthetic import hierarchical_clusters, moons, sphere_blobs, spirals
from .views import digit_views

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": digits,
    "breast_cancer": breast_cancer,
    "wine": wine,
    "sphere_blobs": sphere_blobs,
    "moons": moons,
    "spirals": spirals,
    "hierarchical_clusters": hierarchical_clusters,
    "digit_views": digit_views,
    "paired_digits": paired_digits,
    "multilabel_digits": multilabel_digits,
    "diabetes": diabetes,
    "digit_attribute": digit_attribute,
}
# The augmented version of a dataset, for losses that need views of each sample (kind views).
WITH_VIEWS = {"digits": "digit_views"}
# Multiple-instance data: a different container (bags of instances), loaded by name all the same.
_BAG_LOADERS: dict[str, Callable[..., Bags]] = {
    "digit_bags": digit_bags,
    "aggregate_bags": aggregate_bags,
}


def available(bags: bool = False) -> list[str]:
    """Sorted names of the datasets :func:`load` returns as a :class:`Dataset` (``bags=True``: as
    :class:`Bags`, multiple-instance data)."""
    return sorted(_BAG_LOADERS if bags else _LOADERS)


def load(name: str, **kwargs) -> Dataset | Bags:
    """Load a dataset by name, passing keyword arguments to its function (e.g. ``seed=1``)."""
    loader = _LOADERS.get(name) or _BAG_LOADERS.get(name)
    if loader is None:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(available() + available(bags=True))}")
    return loader(**kwargs)
