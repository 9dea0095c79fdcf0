"""The loss registry: one catalogue of every loss Loss Lab knows, with its paper and its knobs.

    from workbench import losses
    losses.available()                       # sorted names
    losses.available(family="contrastive")   # names of one family
    losses.info("ntxent")                    # LossInfo: paper, formula, params with ranges, reduces_over
    losses.get("ntxent", temperature=0.2)    # a ready nn.Module

A loss class joins the catalogue with the ``@register(...)`` decorator in its family module.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .. import kinds as _kinds
from .._checks import Range

FAMILIES = ("classification", "binary", "multilabel", "margin", "pairs", "contrastive", "distill", "regression",
            "clustering", "energy", "mil")
KINDS = tuple(_kinds.KINDS)  # what each kind's forward takes: workbench.kinds
# What ``reduction="none"`` returns one value for; "batch" for a loss that does not decompose (no ``reduction``):
#   sample    one value per input row (per matched (x_i, y_i) row for cross-modal losses)
#   anchor    one value per row of the similarity matrix (B for pairs, B*V views for views)
#   pair      the [N, N] matrix of per-pair values (0 off the pairs that enter the loss)
#   instance  one value per instance of a views batch (its V views together)
#   bag       one value per MIL bag
# "mean" is the mean of those values over the ones that count, as each loss's docstring states.
REDUCES_OVER = ("sample", "anchor", "pair", "instance", "bag", "batch")


@dataclass(frozen=True)
class Param:
    """A hyper-parameter: its default, the range a slider should cover (``low``, ``high``), what it does, and
    ``valid``, the range of values the loss accepts (its constructor raises a ValueError outside it; the
    slider range lies inside it). ``valid`` is None for non-numeric parameters (a choice, a flag)."""

    default: Any
    low: float | None = None
    high: float | None = None
    doc: str = ""
    log: bool = False  # True when the range is best explored on a log scale (temperatures, scales)
    valid: Range | None = None


@dataclass(frozen=True)
class Paper:
    title: str
    year: int
    authors: str = ""


@dataclass(frozen=True)
class LossInfo:
    name: str
    family: str
    kind: str
    paper: Paper
    formula: str  # LaTeX
    params: Mapping[str, Param] = field(default_factory=dict)
    cls: type[nn.Module] | None = None
    reduces_over: str = "batch"  # one of REDUCES_OVER; register() requires it

    @property
    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items()}

    def _repr_markdown_(self) -> str:
        """A card for notebooks: paper, formula and the hyper-parameters as a table."""
        rows = "\n".join(f"| `{k}` | {p.default} | [{p.low}, {p.high}] | {p.valid or ''} | {p.doc} |"
                         for k, p in self.params.items())
        return (f"**{self.name}** ({self.family}, kind `{self.kind}`, reduces over {self.reduces_over}): "
                f"*{self.paper.title}* "
                f"({self.paper.authors + ', ' if self.paper.authors else ''}{self.paper.year})\n\n"
                f"$${self.formula}$$\n\n| param | default | range | valid | what it does |\n"
                f"|---|---|---|---|---|\n{rows}")


_REGISTRY: dict[str, LossInfo] = {}


def register(name: str, *, family: str, kind: str, paper: Paper, formula: str,
             params: Mapping[str, Param], reduces_over: str):
    """Class decorator that adds a loss to the registry (and stamps ``name``/``kind`` on the class).

    ``reduces_over`` (one of :data:`REDUCES_OVER`) says what ``reduction="none"`` returns one value for;
    a loss that decomposes takes ``reduction`` in its constructor, a ``"batch"`` loss must not.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    kind_contract = _kinds.get(kind)  # ValueError listing the valid kinds
    if reduces_over not in REDUCES_OVER:
        raise ValueError(f"reduces_over must be one of {REDUCES_OVER}, got {reduces_over!r}")

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"loss {name!r} is already registered")
        accepted = set(inspect.signature(cls.__init__).parameters)
        missing = set(params) - accepted
        if missing:
            raise ValueError(f"{cls.__name__} does not accept the registered params {sorted(missing)}")
        kind_contract.check_loss_class(cls)
        for key, p in params.items():  # every slider value must be a value the loss accepts
            if p.valid is not None:
                bad = [v for v in (p.default, p.low, p.high) if v is not None and v not in p.valid]
                if bad:
                    raise ValueError(f"{name}: param {key!r} has default/slider values {bad} outside its "
                                     f"validity range {p.valid}")
        if ("reduction" in accepted) != (reduces_over != "batch"):
            raise ValueError(f"{cls.__name__}: a loss that reduces over {reduces_over!r} "
                             + ("must take" if reduces_over != "batch" else "must not take") + " a reduction")
        cls.name, cls.kind, cls.family = name, kind, family
        _REGISTRY[name] = LossInfo(name, family, kind, paper, formula, dict(params), cls, reduces_over)
        return cls

    return decorate


def available(family: str | None = None) -> list[str]:
    """Sorted names of the registered losses, optionally of one ``family``."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    return sorted(n for n, i in _REGISTRY.items() if family is None or i.family == family)


def info(name: str) -> LossInfo:
    """The registry entry of ``name``; an unknown name raises ValueError listing the valid ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(available())}") from None


def constructor_args(name: str) -> list[str]:
    """Every keyword ``get(name, ...)`` accepts: the hyper-parameters plus structural arguments
    (``reduction``, ``num_classes``, ``embedding_dim``, ...)."""
    sig = inspect.signature(info(name).cls.__init__)
    return [p for p in sig.parameters if p != "self"]


def get(name: str, **params: Any) -> nn.Module:
    """A ready ``nn.Module`` for loss ``name`` built with ``params`` (the rest at their defaults)."""
    entry = info(name)
    valid = constructor_args(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for loss {name!r}; valid parameters: "
                         f"{', '.join(valid)}")
    return entry.cls(**params)
