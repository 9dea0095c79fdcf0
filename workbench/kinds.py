"""Every loss kind in one place: what ``forward`` takes, example inputs, the default model, dataset and
training recipe, the training step and how a trained model is evaluated.

A loss's *kind* is the contract between it and the rest of Loss Lab. Every other layer asks the kind
instead of keeping its own table: ``models.for_kind`` builds ``kind.model``, ``data.load(kind.dataset)``
loads its dataset, ``train.fit`` runs ``kind.step`` and scores with ``kind.predict`` (or a probe on the
embedding where the kind has no predictor), the command line trains with ``kind.recipe``, the widgets
draw ``kind.curve``, the registry refuses a class without the methods in ``kind.requires``, and the tests
build their inputs with :meth:`Kind.example_inputs`. A new kind is one entry in :data:`KINDS`.

This module sits at the left end of the data flow with ``_checks``: it imports nothing else from
``workbench``, so every layer may ask it.

    from workbench import kinds
    kinds.get("views").forward          # '(views[B, V, D], labels[B] or None)'
    kinds.get("margin").example_inputs(batch=6, classes=3, dim=4)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

#: ``f(model, loss, x, y, generator) -> scalar``: the loss of one training batch.
BatchLoss = Callable[[nn.Module, nn.Module, Tensor, Tensor, torch.Generator], Tensor]


@dataclass(frozen=True)
class Recipe:
    """A default training recipe that trains: epochs, Adam's learning rate, batch size, the embedding width
    and hidden layers of the default MLP, and the probe that scores embedding-only kinds ("knn" or "linear").
    The command line trains every registered loss with its kind's recipe (``benchmarks/recipes.py`` measures
    them); views losses get the labels unless they are self-supervised by definition."""

    epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 128
    embedding_dim: int = 32
    hidden: tuple[int, ...] = (128, 64)
    probe: str = "knn"


@dataclass(frozen=True)
class Kind:
    """One loss kind: what its losses' ``forward`` takes and how every other layer feeds and scores them.

    Attributes:
        name: the kind's name, as losses register it.
        forward: the signature of ``forward`` (shapes in brackets).
        inputs: ``f(generator, batch, classes, dim, dtype, scale) -> tuple`` of valid example arguments.
        model: what :func:`workbench.models.for_kind` builds: ``"classifier"`` (logits), ``"scalar"`` (one
            raw score), ``"multilabel"`` (one logit per label), ``"encoder"`` (an embedding), ``"dual"``
            (two towers for paired inputs), ``"bags"`` (attention MIL), ``"instances"`` (one prediction per
            instance of a bag), or ``None`` where no default model exists yet.
        dataset: the name :func:`workbench.data.load` takes for the default data, or ``None``.
        trainer: ``"fit"``, ``"fit_bags"``, or ``None`` where Loss Lab cannot train the kind yet.
        step: ``f(augment, n_views, supervised) -> BatchLoss``: the training step of ``fit``. The distill
            step trains a student against a frozen teacher: ``fit`` takes ``models.StudentTeacher(student,
            teacher)`` as the model (``model`` names the student's default) and calls ``loss.objective``.
        predict: ``f(model, loss, x) -> class ids`` where the trained model predicts classes, or
            ``None`` where only an embedding is learnt (scored with a kNN or linear probe).
        curve: what the loss explorer draws: ``"margin"`` (loss against the true-class margin),
            ``"similarity"`` (against a positive and a negative similarity), or ``None``.
        requires: methods a registered loss class of this kind must define.
        structural: constructor arguments a loss of this kind needs from the data
            (``num_classes``, ``embedding_dim``), as ``{argument: "classes" or "dim"}``.
        recipe: the default :class:`Recipe`.
        evaluate: where neither ``predict`` nor a class probe fits (several labels, continuous labels): the name
            of a function in :mod:`workbench.analysis`, ``f(train_outputs, y_train, test_outputs, y_test) ->
            dict``, that ``fit`` reports after every epoch as ``test_<key>`` columns.
        headline: the History column the progress bar and the command line report.
    """

    name: str
    forward: str
    inputs: Callable[..., tuple]
    model: str | None
    dataset: str | None
    trainer: str | None
    step: Callable[..., BatchLoss] | None = None
    predict: Callable[[nn.Module, nn.Module, Tensor], Tensor] | None = None
    curve: str | None = None
    requires: tuple[str, ...] = ()
    structural: dict[str, str] = field(default_factory=dict)
    recipe: Recipe = Recipe()
    evaluate: str | None = None
    headline: str = "test_acc"

    def example_inputs(self, *, batch: int = 6, classes: int = 3, dim: int = 4, dtype: torch.dtype = torch.float64,
                       seed: int = 0, scale: float = 1.0) -> tuple:
        """Valid arguments for ``loss(*args)`` of this kind, drawn from ``seed``; float inputs are ``scale``
        times standard normal (``scale=1e4`` gives the hard inputs of the standards tests)."""
        return self.inputs(torch.Generator().manual_seed(seed), batch, classes, dim, dtype, scale)

    def loss_args(self, *, classes: int, dim: int) -> dict[str, int]:
        """The structural constructor arguments of a loss of this kind (e.g. a margin head's ``num_classes``
        and ``embedding_dim``) for data with ``classes`` classes embedded in ``dim`` dimensions."""
        sizes = {"classes": classes, "dim": dim}
        return {arg: sizes[size] for arg, size in self.structural.items()}

    def check_loss_class(self, cls: type) -> None:
        """Refuse a loss class that lacks a method this kind's contract requires."""
        # A views loss that is not a function of the sample similarity matrix (Barlow Twins, VICReg: feature
        # statistics) says why in ``similarity_free`` instead of defining from_similarity.
        waived = {"from_similarity"} if getattr(cls, "similarity_free", None) else set()
        missing = [m for m in self.requires if m not in waived and not callable(getattr(cls, m, None))]
        if missing:
            raise ValueError(f"{cls.__name__} is of kind {self.name!r}, which requires the method(s) "
                             f"{missing} (see workbench.kinds)")


# --- example inputs: one function per input layout ---------------------------------------------------

def _labels(batch: int, classes: int) -> Tensor:
    return torch.arange(batch) % classes


def _logits_inputs(g, batch, classes, dim, dtype, scale):
    return scale * torch.randn(batch, classes, generator=g, dtype=dtype), _labels(batch, classes)


def _binary_inputs(g, batch, classes, dim, dtype, scale):
    return scale * torch.randn(batch, generator=g, dtype=dtype), _labels(batch, classes) % 2


def _multilabel_inputs(g, batch, classes, dim, dtype, scale):
    targets = (torch.rand(batch, classes, generator=g) < 0.4).long()
    targets[0] = 1  # at least one row with every label, one without any
    targets[-1] = 0
    return scale * torch.randn(batch, classes, generator=g, dtype=dtype), targets


def _embedding_inputs(g, batch, classes, dim, dtype, scale):
    return scale * torch.randn(batch, dim, generator=g, dtype=dtype), _labels(batch, classes)


def _views_inputs(g, batch, classes, dim, dtype, scale):
    return scale * torch.randn(batch, 2, dim, generator=g, dtype=dtype), None


def _crossmodal_inputs(g, batch, classes, dim, dtype, scale):
    return (scale * torch.randn(batch, dim, generator=g, dtype=dtype),
            scale * torch.randn(batch, dim, generator=g, dtype=dtype))


def _distill_inputs(g, batch, classes, dim, dtype, scale):
    return (scale * torch.randn(batch, classes, generator=g, dtype=dtype),
            scale * torch.randn(batch, classes, generator=g, dtype=dtype), _labels(batch, classes))


def _regression_inputs(g, batch, classes, dim, dtype, scale):
    return scale * torch.randn(batch, dim, generator=g, dtype=dtype), torch.randn(batch, generator=g, dtype=dtype)


def _clustering_inputs(g, batch, classes, dim, dtype, scale):
    # No fixed target: the loss computes its target distribution from the batch.
    return scale * torch.randn(batch, dim, generator=g, dtype=dtype), None


def _energy_inputs(g, batch, classes, dim, dtype, scale):
    # Log density ratios log p~(u) - log q(u) on B data samples and 2B noise samples (nu = 2: the noise ratio is
    # not 1, so a formula that forgot it would not pass).
    return (scale * torch.randn(batch, generator=g, dtype=dtype),
            scale * torch.randn(2 * batch, generator=g, dtype=dtype))


def _attention_inputs(g, batch, classes, dim, dtype, scale):
    # A padded batch of 3 bags with 2 attention branches and up to dim + 1 instances: bag 1 holds 3
    # instances, bag 2 only one, so masking and one-instance bags are always exercised.
    mask = torch.ones(3, dim + 1, dtype=torch.bool)
    mask[1, 3:], mask[2, 1:] = False, False
    return scale * torch.randn(3, 2, dim + 1, generator=g, dtype=dtype), mask


def _aggregate_inputs(g, batch, classes, dim, dtype, scale):
    # Instance predictions [B, N] and one aggregate response per bag.
    return scale * torch.randn(batch, dim, generator=g, dtype=dtype), torch.randn(batch, generator=g, dtype=dtype)


# --- training steps -----------------------------------------------------------------------------------

def embed_views(model: nn.Module, x: Tensor, augment, n_views: int, generator: torch.Generator) -> Tensor:
    """``n_views`` random augmentations of every instance, embedded: ``[B, V, D]``."""
    stacked = torch.stack([augment(x, generator) for _ in range(n_views)], dim=1)
    flat = model(stacked.flatten(0, 1))
    return flat.view(x.shape[0], n_views, -1)


def _plain_step(augment, n_views, supervised) -> BatchLoss:
    return lambda model, loss, x, y, generator: loss(model(x), y)


def _binary_step(augment, n_views, supervised) -> BatchLoss:
    return lambda model, loss, x, y, generator: loss(model(x).squeeze(-1), y)


def _views_step(augment, n_views, supervised) -> BatchLoss:
    if augment is None:
        raise ValueError("a views loss needs data with an augment (e.g. data.digit_views())")

    def step(model, loss, x, y, generator):
        siamese = getattr(model, "siamese_outputs", None)
        if siamese is not None:  # models.Siamese: predictions and (EMA) targets for simsiam / byol
            model.update_target()  # BYOL's EMA step, after the previous optimiser step (no-op for SimSiam)
            stacked = torch.stack([augment(x, generator) for _ in range(n_views)], dim=1)
            p, z = siamese(stacked.flatten(0, 1))
            return loss(p.view(x.shape[0], n_views, -1), None, targets=z.view(x.shape[0], n_views, -1))
        return loss(embed_views(model, x, augment, n_views, generator), y if supervised else None)
    return step


def _crossmodal_step(augment, n_views, supervised) -> BatchLoss:
    # The model gives both modalities' embeddings (models.DualEncoder).
    return lambda model, loss, x, y, generator: loss(*model(x))


def _distill_step(augment, n_views, supervised) -> BatchLoss:
    # The model is a student paired with its frozen teacher (models.StudentTeacher): one call gives the
    # student's outputs and the teacher's (eval mode, no gradient); the loss's objective combines them
    # (kd: KD with CE; dhkd: CE on the main head + BinaryKL-Norm on the auxiliary one; nd: CE + KD + ND).
    def step(model, loss, x, y, generator):
        outputs = getattr(model, "distill_outputs", None)
        if outputs is None:
            raise ValueError(f"a distill loss trains a student against a frozen teacher: pass "
                             f"models.StudentTeacher(student, teacher) as the model, got {type(model).__name__}")
        return loss.objective(outputs(x), y)
    return step


# --- predictors: kinds whose trained model predicts a class ------------------------------------------

def _argmax(model, loss, x):
    return model(x).argmax(1)


def _sign(model, loss, x):
    return (model(x).squeeze(-1) > 0).long()


def _margin_free_argmax(model, loss, x):
    return loss.logits(model(x)).argmax(1)  # the head's logits without the margin


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("logits", "(logits[B, C], target[B])", _logits_inputs, "classifier", "digits", "fit",
         step=_plain_step, predict=_argmax, curve="margin"),
    Kind("binary", "(logits[B], target[B] in {0, 1})", _binary_inputs, "scalar", "breast_cancer", "fit",
         step=_binary_step, predict=_sign, recipe=Recipe(lr=1e-3)),
    Kind("multilabel", "(logits[B, C], targets[B, C] in {0, 1})", _multilabel_inputs, "multilabel",
         "multilabel_digits", "fit", step=_plain_step, evaluate="multilabel_scores", headline="test_map"),
    Kind("margin", "(embeddings[B, D], labels[B]); owns .weight[C, D]; .logits(embeddings, labels)",
         _embedding_inputs, "encoder", "digits", "fit", step=_plain_step, predict=_margin_free_argmax,
         requires=("logits",), structural={"num_classes": "classes", "embedding_dim": "dim"}),
    Kind("pairs", "(embeddings[B, D], labels[B]); .from_similarity(S[B, B], labels)", _embedding_inputs,
         "encoder", "digits", "fit", step=_plain_step, curve="similarity", requires=("from_similarity",)),
    Kind("views", "(views[B, V, D], labels[B] or None)", _views_inputs, "encoder", "digit_views", "fit",
         step=_views_step, curve="similarity", requires=("from_similarity",), recipe=Recipe(lr=1e-3)),
    Kind("crossmodal", "(x[B, D], y[B, D]); row i of x pairs with row i of y; .from_similarity(S[B, B] = x̂ŷᵀ, y) "
         "where the loss is a function of those cosines (clip, cwcl, siglip)", _crossmodal_inputs, "dual",
         "paired_digits", "fit", step=_crossmodal_step,
         recipe=Recipe(embedding_dim=16)),  # the frozen reference tower is a PCA of the 16-d code
    Kind("distill", "(student_logits[B, C], teacher_logits[B, C], target[B] or None); feature losses (nd) take "
         "features [B, D] in the first two places", _distill_inputs, "classifier", "digits", "fit",
         step=_distill_step, predict=_argmax, requires=("objective",)),
    Kind("regression", "(embeddings[B, D], targets[B] float)", _regression_inputs, "encoder", "digit_attribute",
         "fit", step=_plain_step, evaluate="regression_scores", headline="test_mae",
         recipe=Recipe(batch_size=64)),  # the contrastive regression losses cost O(B^3) memory
    Kind("clustering", "(embeddings[B, D], target[B, K] or None); owns .weight[K, D]; target: the fixed "
         "auxiliary distribution (None: computed from the batch, detached)", _clustering_inputs, "encoder",
         "digits", None,
         structural={"num_clusters": "classes", "embedding_dim": "dim"}),
    # Unnormalised density models p~(u) = exp(-E(u)) trained against a noise distribution q with a known
    # log-density: the losses see only G = log p~ - log q on data and on noise samples (workbench.losses.energy).
    # The default model is one raw score per input (log p~, i.e. minus the energy); fit cannot train it yet
    # (a step needs noise samples and their log-density): train.gaussian_mean_sgd and train.fit_energy do.
    Kind("energy", "(log_ratio_data[B], log_ratio_noise[M]); log_ratio = log p~(u) - log q(u) = -E(u) - log q(u) "
         "on data samples and on M noise samples u ~ q", _energy_inputs, "scalar", None, None),
    Kind("attention", "(attention_logits[N] or [K, N] or [B, K, N], mask=None)", _attention_inputs, "bags",
         "digit_bags", "fit_bags", recipe=Recipe(epochs=12, lr=1e-3, batch_size=16)),
    Kind("aggregate", "(predictions[B, N], target[B], mask=None)", _aggregate_inputs, "instances",
         "aggregate_bags", "fit_bags", recipe=Recipe(epochs=20, lr=1e-2, batch_size=16)),
)}


def available() -> list[str]:
    """The kinds' names, in teaching order (classification first, multiple-instance learning last)."""
    return list(KINDS)


def get(name: str) -> Kind:
    """The :class:`Kind` called ``name``; an unknown name raises ValueError listing the valid ones."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kind {name!r}; valid kinds: {', '.join(KINDS)}") from None


def of(loss: nn.Module) -> Kind:
    """The kind of a registered loss module (its class carries ``kind``); a module without one is refused
    rather than guessed."""
    name = getattr(loss, "kind", None)
    if name is None:
        raise ValueError(f"loss must be a registered loss (with a kind, see workbench.kinds), got "
                         f"{type(loss).__name__}; build it with losses.get(name)")
    return get(name)
