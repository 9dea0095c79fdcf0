"""Encoders and heads: shapes, normalisation, seeded construction, kinds, dropout."""

import pytest
import torch

from workbench import data, models


def batch(n=5, features=64, seed=0):
    return torch.rand(n, features, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dim", [2, 3, 32])
def test_mlp_output_shape(dim):
    model = models.MLP(64, dim, seed=0)
    assert model(batch()).shape == (5, dim)
    assert model.embedding_dim == dim


@pytest.mark.parametrize("dim", [2, 3, 32])
def test_small_cnn_output_shape(dim):
    model = models.SmallCNN(dim, seed=0)
    assert model(batch().view(-1, 1, 8, 8)).shape == (5, dim)
    assert model.embedding_dim == dim


def test_mlp_rejects_empty_embedding():
    with pytest.raises(ValueError, match="embedding_dim"):
        models.MLP(4, 0)


@pytest.mark.parametrize("make", [lambda: models.MLP(64, 3, normalize=True, seed=0),
                                  lambda: models.SmallCNN(16, normalize=True, seed=0)])
def test_normalize_gives_unit_norms(make):
    out = make()(batch(8))
    torch.testing.assert_close(out.norm(dim=1), torch.ones(8))


def test_without_normalize_norms_are_not_all_one():
    out = models.MLP(64, 3, seed=0)(batch(8) * 10)
    assert not torch.allclose(out.norm(dim=1), torch.ones(8))


def _same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("make", [
    lambda seed: models.MLP(64, 8, seed=seed),
    lambda seed: models.SmallCNN(8, seed=seed),
    lambda seed: models.classifier(models.MLP(64, 8, seed=seed), 10, seed=seed),
    lambda seed: models.with_projection(models.MLP(64, 8, seed=seed), 4, seed=seed),
])
def test_seed_makes_construction_deterministic(make):
    assert _same_params(make(3), make(3))
    assert not _same_params(make(3), make(4))


@pytest.mark.parametrize("make", [
    lambda: models.MLP(64, 8, dropout=0.1, seed=1),
    lambda: models.SmallCNN(8, seed=1),
    lambda: models.ProjectionHead(8, 4, seed=1),
    lambda: models.classifier(models.MLP(64, 8, seed=1), 10, seed=1),
    lambda: models.for_kind("logits", 64, 10, seed=1),
])
def test_seeded_construction_leaves_global_rng_alone(make):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    make()
    assert torch.equal(torch.get_rng_state(), before)


def test_unseeded_construction_draws_from_global_rng():
    # the control for the test above: without seed= the global generator is consumed
    torch.manual_seed(123)
    before = torch.get_rng_state()
    models.MLP(64, 8)
    assert not torch.equal(torch.get_rng_state(), before)


def test_small_cnn_accepts_flat_and_image_inputs():
    model = models.SmallCNN(6, seed=0)
    x = batch(7)
    flat, image = model(x), model(x.view(7, 1, 8, 8))
    assert flat.shape == image.shape == (7, 6)
    torch.testing.assert_close(flat, image)


def test_classifier_embed_and_forward_shapes():
    model = models.classifier(models.MLP(64, 5, seed=0), 10, seed=0)
    x = batch(4)
    assert model(x).shape == (4, 10)
    assert model.embed(x).shape == (4, 5)
    assert models.embed(model, x).shape == (4, 5)
    torch.testing.assert_close(model.embed(x), model.encoder(x))


def test_with_projection_embed_and_forward_shapes():
    model = models.with_projection(models.MLP(64, 16, seed=0), out_dim=6, hidden=12, seed=0)
    x = batch(4)
    assert model(x).shape == (4, 6)
    assert model.embed(x).shape == (4, 16)
    torch.testing.assert_close(model(x), model.head(model.embed(x)))


def test_embed_of_a_bare_encoder_is_its_output():
    model = models.MLP(64, 3, seed=0)
    x = batch(4)
    torch.testing.assert_close(models.embed(model, x), model(x))


@pytest.mark.parametrize("kind, out_dim, has_embed", [
    ("logits", 10, True), ("binary", 1, True), ("margin", 4, False), ("pairs", 4, False), ("views", 4, False),
])
def test_for_kind(kind, out_dim, has_embed):
    model = models.for_kind(kind, 64, 10, embedding_dim=4, seed=0)
    x = batch(3)
    assert model(x).shape == (3, out_dim)
    assert hasattr(model, "embed") == has_embed
    assert models.embed(model, x).shape == (3, 4)
    assert _same_params(model, models.for_kind(kind, 64, 10, embedding_dim=4, seed=0))


def test_for_kind_unknown_kind():
    with pytest.raises(ValueError, match="unknown kind 'no_such_kind'"):
        models.for_kind("no_such_kind", 64, 10)


def test_for_kind_crossmodal_needs_paired_data():
    with pytest.raises(ValueError, match="data="):
        models.for_kind("crossmodal", 64, 10)
    paired = data.paired_digits(seed=0)
    model = models.for_kind("crossmodal", 64, 10, embedding_dim=8, data=paired)
    x, y = model(paired.X_train[:5])  # the two towers embed both modalities in the same space
    assert x.shape == y.shape == (5, 8)
    assert not any(p.requires_grad for p in model.reference.parameters())


def test_for_kind_builds_a_bag_model_and_an_instance_model():
    bag_model = models.for_kind("attention", 64, 1, embedding_dim=8, branches=3)
    out = bag_model(torch.randn(2, 4, 64), torch.ones(2, 4, dtype=torch.bool))
    assert out.logits.shape == (2,) and out.branch_logits is not None
    instance_model = models.for_kind("aggregate", 8, 1)
    assert instance_model(torch.randn(5, 8)).shape == (5, 1)


def test_dropout_is_active_in_train_mode_only():
    model = models.MLP(64, 8, hidden=(64,), dropout=0.5, seed=0)
    x = batch(16)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())


def test_no_dropout_layer_by_default():
    model = models.MLP(64, 8, seed=0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    model.train()
    x = batch(16)
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


def test_pca_encoder_is_frozen_centred_and_whitened():
    X = torch.randn(200, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * torch.tensor(
        [3.0, 1.0, 0.5, 0.2, 0.1], dtype=torch.float64) + 4.0
    enc = models.pca_encoder(X.float(), 3).double()
    Z = enc(X)
    assert not any(p.requires_grad for p in enc.parameters())
    assert torch.allclose(Z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(Z.std(0), torch.ones(3, dtype=torch.float64), atol=1e-3)
    with pytest.raises(ValueError, match="dim"):
        models.pca_encoder(X, 9)


def test_dual_encoder_splits_freezes_and_embeds():
    model = models.DualEncoder(models.MLP(64, 8, seed=0), models.MLP(12, 8, seed=1), split=64)
    x = torch.randn(5, 76)
    a, b = model(x)
    assert a.shape == b.shape == (5, 8) and torch.equal(model.embed(x), a)
    assert not any(p.requires_grad for p in model.reference.parameters())
    with pytest.raises(ValueError, match="side by side"):
        model(torch.randn(5, 64))
