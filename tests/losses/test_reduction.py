"""One reduction contract (DESIGN.md, "Loss contract"): ``LossInfo.reduces_over`` says what ``reduction="none"``
returns one value for; ``"sum"`` is the sum of those values and ``"mean"`` their mean over the ones that count, as
each loss's docstring states. Checked for every registered loss, so a new loss is covered by registering it."""

import pytest
import torch
import torch.nn.functional as F
from conftest import make_inputs

from workbench import kinds, losses
from workbench.losses import registry

DECOMPOSING = [n for n in losses.available() if losses.info(n).reduces_over != "batch"]
SEEDS = (0, 1, 2)


def registered_module(loss: torch.nn.Module) -> torch.nn.Module:
    """The registered loss inside the test wrappers of conftest (``Reseeded``, ``WithExtra``)."""
    while not hasattr(loss, "name") and hasattr(loss, "loss"):
        loss = loss.loss
    return loss


def rows_and_labels(name: str, args) -> tuple[int, torch.Tensor | None]:
    """The rows of the similarity matrix and their labels, for pairs and views losses."""
    kind = losses.info(name).kind
    if kind == "pairs":
        return len(args[0]), args[1]
    if kind == "views":
        b, v, _ = args[0].shape
        labels = torch.arange(b) if args[1] is None else args[1]
        return b * v, labels.repeat_interleave(v)
    return len(args[0]), None


def unit_shape(name: str, args) -> tuple[int, ...]:
    """The shape of ``reduction="none"``: one value per unit of ``reduces_over``."""
    unit = losses.info(name).reduces_over
    rows, _ = rows_and_labels(name, args)
    if unit == "anchor":
        return (rows,)
    if unit == "pair":
        return (rows, rows)
    return (args[0].shape[0],)  # sample, instance (views[B, V, D]) and bag (bags are the first dimension)


def masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    return same & ~torch.eye(len(labels), dtype=torch.bool), ~same


def active_triplets(embeddings: torch.Tensor, labels: torch.Tensor, margin: float) -> int:
    """Triplets (a, p, n) with a positive hinge, counted one by one (TripletLoss docstring: mining "all")."""
    d = torch.cdist(F.normalize(embeddings, dim=1), F.normalize(embeddings, dim=1))
    count = 0
    for a in range(len(labels)):
        for p in range(len(labels)):
            for n in range(len(labels)):
                if a != p and labels[p] == labels[a] and labels[n] != labels[a] and d[a, p] - d[a, n] + margin > 0:
                    count += 1
    return count


def expected_mean(name: str, loss: torch.nn.Module, none: torch.Tensor, args) -> torch.Tensor:
    """``"mean"`` from the ``"none"`` values, with the counting rule the loss's docstring states."""
    _, labels = rows_and_labels(name, args)
    if name == "contrastive":  # each part over its pairs with non-zero loss, the two means added
        pos, neg = masks(labels)
        return sum(none[m].sum() / max(int((none[m] > 0).sum()), 1) for m in (pos, neg))
    if name == "binomial_deviance":  # each part over all its pairs, the two means added
        pos, neg = masks(labels)
        return none[pos].mean() + none[neg].mean()
    if name == "triplet":  # the total over the number of triplets with non-zero loss
        return none.sum() / max(active_triplets(args[0], labels, loss.margin), 1)
    if name == "proto_triplet":  # over the query rows: every row after the first `shot` of its class
        earlier = (labels[:, None] == labels[None, :]).tril(-1).sum(1)
        return none[earlier >= loss.shot].mean()
    if name == "circle":  # over the anchors with a non-zero loss (PML's AvgNonZeroReducer)
        return none[none > 0].mean()
    if name == "npairs":  # over the N-pair anchors: the first sample of every label that has a second one
        anchors = [i for i in range(len(labels)) if (labels[:i] != labels[i]).all() and (labels == labels[i]).sum() > 1]
        return none[anchors].mean()
    if losses.info(name).reduces_over == "pair":  # every other pair loss: over all positive pairs
        pos, _ = masks(labels)
        return none[pos].mean()
    return none.mean()  # every other loss: the plain mean over all units


def values(name: str, seed: int, batch: int = 6):
    loss, args = make_inputs(name, seed=seed, batch=batch)
    module = registered_module(loss)
    out = {}
    for reduction in ("none", "sum", "mean"):
        module.reduction = reduction
        out[reduction] = loss(*args)
    return module, args, out


def test_every_loss_says_what_it_reduces_over_and_takes_a_reduction_exactly_when_it_decomposes():
    for name in losses.available():
        info = losses.info(name)
        assert info.reduces_over in losses.REDUCES_OVER, name
        takes_reduction = "reduction" in registry.constructor_args(name)
        assert takes_reduction == (info.reduces_over != "batch"), name
        if takes_reduction:  # the constructor keeps it (the tests below set it on a built loss)
            extra = kinds.get(info.kind).loss_args(classes=3, dim=4)  # margin heads, clustering centres
            assert losses.get(name, reduction="none", **extra).reduction == "none", name


@pytest.mark.parametrize("name", losses.available())
def test_the_docstring_states_the_reduction(name):
    doc = losses.info(name).cls.__doc__
    if losses.info(name).reduces_over == "batch":
        assert "no ``reduction``" in doc
    else:
        assert 'Reduction' in doc and '``"none"``' in doc and '``"mean"``' in doc


@pytest.mark.parametrize("name", DECOMPOSING)
@pytest.mark.parametrize("seed", SEEDS)
def test_none_gives_one_value_per_unit_and_sum_and_mean_follow_from_it(name, seed):
    module, args, out = values(name, seed, batch=9)
    none = out["none"]
    assert none.shape == unit_shape(name, args)
    assert torch.allclose(out["sum"], none.sum(), rtol=1e-10, atol=1e-12)
    assert torch.allclose(out["mean"], expected_mean(name, module, none, args), rtol=1e-10, atol=1e-12)


def test_the_counting_rules_are_not_plain_means():
    """The special rules above are needed: on these inputs the plain mean of "none" differs from "mean"."""
    for name in ("contrastive", "binomial_deviance", "ntxent", "triplet", "proto_triplet", "npairs"):
        _, _, out = values(name, 0, batch=9)
        assert not torch.allclose(out["mean"], out["none"].mean()), name


def test_register_refuses_an_unknown_unit_and_a_reduction_that_does_not_match_it():
    class PerSample(torch.nn.Module):
        def __init__(self, reduction: str = "mean"):
            super().__init__()

    class BatchLevel(torch.nn.Module):
        def __init__(self):
            super().__init__()

    common = dict(family="classification", kind="logits", paper=losses.Paper("t", 2000), formula="", params={})
    with pytest.raises(ValueError, match="reduces_over"):
        losses.register("test_unit", reduces_over="row", **common)
    with pytest.raises(ValueError, match="must take a reduction"):
        losses.register("test_unit", reduces_over="sample", **common)(BatchLevel)
    with pytest.raises(ValueError, match="must not take a reduction"):
        losses.register("test_unit", reduces_over="batch", **common)(PerSample)
    assert "test_unit" not in losses.available()


@pytest.mark.parametrize("name", [n for n in losses.available() if losses.info(n).reduces_over != "sample"])
def test_reweighting_refuses_a_loss_that_does_not_reduce_over_samples(name):
    module = registered_module(make_inputs(name)[0])
    if hasattr(module, "reduction"):
        module.reduction = "none"
    with pytest.raises(ValueError, match="reduce over samples"):
        losses.LossReweighting(module)


@pytest.mark.parametrize("name", [n for n in losses.available() if losses.info(n).reduces_over == "sample"])
def test_reweighting_with_equal_weights_is_the_mean_of_every_per_sample_loss(name):
    loss, args = make_inputs(name, seed=3)
    module = registered_module(loss)
    expected = loss(*args)  # built with reduction="mean"
    with pytest.raises(ValueError, match="reduction='none'"):
        losses.LossReweighting(module)
    module.reduction = "none"
    wrapped = losses.LossReweighting(module, strategy="none")
    assert torch.allclose(wrapped(*args) if loss is module else _through(loss, wrapped, args), expected)


def _through(wrapper: torch.nn.Module, wrapped: torch.nn.Module, args):
    """Call ``wrapped`` as the conftest wrapper calls its loss: with its extra inputs, or after reseeding."""
    if hasattr(wrapper, "extra"):
        return wrapped(*args, **wrapper.extra)
    if hasattr(wrapper, "teacher"):  # a distill loss: the teacher's outputs are the fixed middle input
        return type(wrapper)(wrapped, wrapper.teacher)(*args)
    wrapper.loss.generator.manual_seed(wrapper.seed)
    return wrapped(*args)
