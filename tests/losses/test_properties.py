"""Hypothesis property tests: the invariances each loss must have."""

import pytest
import torch
from conftest import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import analysis

seeds = st.integers(0, 2**16)
SETTINGS = settings(max_examples=25, deadline=None)


def random_rotation(dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # a proper random orthogonal matrix


@SETTINGS
@given(seed=seeds, shift=st.floats(-50, 50))
def test_cross_entropy_is_shift_invariant(seed, shift):
    loss, (z, y) = make_inputs("cross_entropy", seed=seed)
    assert torch.allclose(loss(z + shift, y), loss(z, y), atol=1e-9)


@pytest.mark.parametrize("name", ["contrastive", "ntxent", "normface"])
@SETTINGS
@given(seed=seeds, scale=st.floats(0.01, 100))
def test_normalised_losses_ignore_the_embedding_norm(seed, name, scale):
    loss, (x, y) = make_inputs(name, seed=seed)
    assert torch.allclose(loss(scale * x, y), loss(x, y), atol=1e-9)


@pytest.mark.parametrize("name", ["contrastive", "ntxent"])
@SETTINGS
@given(seed=seeds)
def test_pair_losses_are_rotation_invariant(seed, name):
    loss, (x, y) = make_inputs(name, seed=seed)
    rotation = random_rotation(x.shape[-1], seed + 1)
    assert torch.allclose(loss(x @ rotation, y), loss(x, y), atol=1e-9)


@SETTINGS
@given(seed=seeds)
def test_normface_is_invariant_to_rotating_embeddings_and_weights_together(seed):
    loss, (x, y) = make_inputs("normface", seed=seed)
    rotation = random_rotation(x.shape[1], seed + 1)
    before = loss(x, y)
    with torch.no_grad():
        loss.weight.copy_(loss.weight @ rotation)
    assert torch.allclose(loss(x @ rotation, y), before, atol=1e-9)


@pytest.mark.parametrize("name", ["cross_entropy", "normface", "contrastive", "ntxent"])
@SETTINGS
@given(seed=seeds)
def test_losses_are_invariant_to_batch_permutation(seed, name):
    loss, (x, y) = make_inputs(name, seed=seed)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    permuted_y = None if y is None else y[perm]
    assert torch.allclose(loss(x[perm], permuted_y), loss(x, y), atol=1e-9)


@SETTINGS
@given(seed=seeds)
def test_ntxent_is_symmetric_in_the_view_order(seed):
    loss, (views, _) = make_inputs("ntxent", seed=seed)
    assert torch.allclose(loss(views.flip(1)), loss(views), atol=1e-9)


@SETTINGS
@given(seed=seeds)
def test_pair_weights_of_permuted_batch_are_permuted(seed):
    loss, (x, y) = make_inputs("contrastive", seed=seed)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    w = analysis.pair_weights(loss, x, y)
    w_perm = analysis.pair_weights(loss, x[perm], y[perm])
    assert torch.allclose(w_perm, w[perm][:, perm], atol=1e-12)


@SETTINGS
@given(seed=seeds, n=st.integers(2, 12))
def test_uniformity_and_alignment_are_rotation_invariant(seed, n):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=1)
    y = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=1)
    rotation = random_rotation(3, seed)
    assert torch.allclose(analysis.uniformity(x @ rotation), analysis.uniformity(x), atol=1e-9)
    assert torch.allclose(analysis.alignment(x @ rotation, y @ rotation), analysis.alignment(x, y), atol=1e-9)
    assert -8.0 - 1e-9 <= analysis.uniformity(x) <= 0.0

