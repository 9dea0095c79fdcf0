"""train.Adam gives, bit for bit, the parameters torch.optim.Adam gives (the reference: the optimiser it replaces)."""

import pytest
import torch

from workbench import models
from workbench.train.adam import Adam


def train(make_optimizer, *, steps=30, dtype=torch.float32, skip_bias_every=0, seed=0):
    """A seeded MLP trained ``steps`` steps on random batches; the bias of the last layer gets no gradient on every
    ``skip_bias_every``-th step (its step count falls behind the others'). Returns the parameters."""
    model = models.MLP(8, embedding_dim=3, hidden=(16,), seed=seed).to(dtype)
    optimizer = make_optimizer(model.parameters())
    g = torch.Generator().manual_seed(seed)
    last_bias = model.net[-1].bias
    for step in range(1, steps + 1):
        x = torch.randn(32, 8, generator=g, dtype=dtype)
        loss = (model(x) - 1).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if skip_bias_every and step % skip_bias_every == 0:
            last_bias.grad = None
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("settings", [
    {"lr": 1e-3},
    {"lr": 3e-2, "weight_decay": 1e-2},
    {"lr": 1e-2, "betas": (0.5, 0.9), "eps": 1e-6},
])
@pytest.mark.parametrize("skip_bias_every", [0, 3])
def test_same_parameters_as_torch_adam_to_the_last_bit(dtype, settings, skip_bias_every):
    ours = train(lambda p: Adam(p, **settings), dtype=dtype, skip_bias_every=skip_bias_every)
    theirs = train(lambda p: torch.optim.Adam(p, **settings), dtype=dtype, skip_bias_every=skip_bias_every)
    initial = train(lambda p: Adam(p, **settings), steps=0, dtype=dtype)
    for a, b, start in zip(ours, theirs, initial):
        assert not torch.equal(a, start)  # it trained
        assert torch.equal(a, b)


def test_zero_grad_keeps_or_drops_the_gradient():
    p = torch.nn.Parameter(torch.ones(3))
    opt = Adam([p])
    p.grad = torch.ones(3)
    opt.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_a_parameter_without_a_gradient_is_left_alone():
    p, q = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = Adam([p, q], lr=0.1)
    p.grad = torch.ones(2)
    opt.step()
    assert torch.equal(q, torch.ones(2)) and q not in opt.state
    assert torch.allclose(p, torch.full((2,), 0.9))  # the first Adam step moves by lr in the gradient's sign


@pytest.mark.parametrize("kwargs, name", [({"lr": 0.0}, "lr"), ({"lr": float("nan")}, "lr"), ({"lr": True}, "lr"),
                                          ({"betas": (1.0, 0.9)}, "betas[0]"), ({"betas": (0.9, -0.1)}, "betas[1]"),
                                          ({"eps": -1.0}, "eps"), ({"weight_decay": -1e-4}, "weight_decay")])
def test_bad_settings_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        Adam([torch.nn.Parameter(torch.ones(1))], **kwargs)


def test_no_parameters_is_refused():
    with pytest.raises(ValueError, match="params"):
        Adam([])


def test_complex_and_non_leaf_tensors_and_sparse_gradients_are_refused():
    with pytest.raises(ValueError, match="params"):
        Adam([torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))])
    with pytest.raises(ValueError, match="params"):
        Adam([torch.ones(2, requires_grad=True) * 2])
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3).to_sparse()
    with pytest.raises(ValueError, match="sparse"):
        Adam([p]).step()
