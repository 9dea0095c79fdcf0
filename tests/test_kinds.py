"""The kinds: one contract per kind, asked by every layer (registry, models, train, widgets, tests)."""

import pytest
import torch
from torch import nn

from workbench import data, kinds, losses, models, train, widgets
from workbench.losses import Paper, register

DESIGN_KINDS = ["logits", "binary", "multilabel", "margin", "pairs", "views", "crossmodal", "distill", "regression",
                "clustering", "energy", "attention", "aggregate"]


def test_every_kind_of_the_design_is_declared_in_order():
    assert kinds.available() == DESIGN_KINDS
    assert losses.KINDS == tuple(DESIGN_KINDS)


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown kind 'nope'; valid kinds: logits, binary"):
        kinds.get("nope")


@pytest.mark.parametrize("name", DESIGN_KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_example_inputs_are_seeded_and_follow_the_signature(name, dtype):
    kind = kinds.get(name)
    first = kind.example_inputs(batch=6, classes=3, dim=4, dtype=dtype, seed=1)
    again = kind.example_inputs(batch=6, classes=3, dim=4, dtype=dtype, seed=1)
    other = kind.example_inputs(batch=6, classes=3, dim=4, dtype=dtype, seed=2)
    floats = [a for a in first if isinstance(a, torch.Tensor) and a.is_floating_point()]
    assert floats and all(a.dtype == dtype for a in floats)
    assert all(torch.equal(a, b) for a, b in zip(first, again) if isinstance(a, torch.Tensor))
    assert not torch.equal(floats[0], [a for a in other if isinstance(a, torch.Tensor)][0])
    # The forward signature names as many leading inputs as the example provides.
    assert kind.forward.startswith("(")


@pytest.mark.parametrize("name", losses.available())
def test_every_registered_loss_runs_on_its_kinds_example_inputs(name):
    kind = kinds.get(losses.info(name).kind)
    args = kind.example_inputs()
    loss = losses.get(name, **kind.loss_args(classes=3, dim=4)).double()
    value = loss(*args)
    assert value.dim() == 0 and torch.isfinite(value)


def test_registration_refuses_a_class_without_what_its_kind_requires():
    class NoSimilarity(nn.Module):
        def forward(self, embeddings, labels):
            return embeddings.sum()

    with pytest.raises(ValueError, match="requires the method.*from_similarity"):
        register("no_similarity", family="pairs", kind="pairs", paper=Paper("-", 2024), formula="", params={},
                 reduces_over="batch")(
            NoSimilarity)
    assert "no_similarity" not in losses.available()


def test_registration_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown kind"):
        register("bad_kind", family="pairs", kind="triples", paper=Paper("-", 2024), formula="", params={},
                 reduces_over="batch")


def test_of_refuses_a_module_without_a_kind():
    with pytest.raises(ValueError, match="registered loss"):
        kinds.of(nn.MSELoss())
    assert kinds.of(losses.get("ntxent")).name == "views"


@pytest.mark.parametrize("name", [k for k, v in kinds.KINDS.items() if v.model is not None])
def test_every_default_model_is_built_from_the_kind(name):
    paired = data.paired_digits(seed=0)
    model = models.for_kind(name, 64, 10, embedding_dim=8, seed=0, data=paired)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) > 0


def test_fit_refuses_a_kind_it_cannot_train_by_name():
    bags_loss = losses.get("aem")
    with pytest.raises(ValueError, match="fit_bags"):
        train.fit(models.MLP(64, 4, seed=0), bags_loss, data.digits(seed=0), epochs=1, verbose=False)
    with pytest.raises(ValueError, match="cannot feed MSELoss"):
        train.fit(models.MLP(64, 4, seed=0), nn.MSELoss(), data.digits(seed=0), epochs=1, verbose=False)


def test_the_explorer_draws_exactly_the_kinds_with_a_curve():
    with_curve = {k for k, v in kinds.KINDS.items() if v.curve is not None}
    assert set(widgets.EXPLORABLE_KINDS) == with_curve
    assert set(widgets.explorable_losses()) == {n for n in losses.available() if losses.info(n).kind in with_curve}


def test_structural_arguments_come_from_the_kind():
    assert kinds.get("margin").loss_args(classes=7, dim=5) == {"num_classes": 7, "embedding_dim": 5}
    assert kinds.get("pairs").loss_args(classes=7, dim=5) == {}
