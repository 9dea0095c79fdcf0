"""ScatSimCLR's pretext regulariser and BarLIP as batch_loss recipes (workbench.train.ssl_recipes): the official
weights, the value equal to its terms computed by hand, and a short training run of each."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench import data, losses, models, train


def test_rotations_are_the_four_quarter_turns_with_their_labels():
    x = torch.tensor([[1., 2, 3, 4]])  # the image [[1, 2], [3, 4]]
    rotated, labels = train.rotations(x, 2)
    # by hand: 90° counter-clockwise [[2, 4], [1, 3]], 180° [[4, 3], [2, 1]], 270° [[3, 1], [4, 2]]
    assert rotated.tolist() == [[1, 2, 3, 4], [2, 4, 1, 3], [4, 3, 2, 1], [3, 1, 4, 2]]
    assert labels.tolist() == [0, 1, 2, 3]


def test_official_weights():
    # vkinakh/scatsimclr config_pretext.yaml: pretext.lambda 0.3, NT-Xent temperature 0.5;
    # facebookresearch/clip-rocket main.py: --barlip-lamb 5e-3, --barlip-scale-loss 0.025
    from workbench.train import ssl_recipes
    assert (ssl_recipes.SCATSIMCLR_LAMBDA, ssl_recipes.SCATSIMCLR_TEMPERATURE) == (0.3, 0.5)
    assert (ssl_recipes.BARLIP_LAMBDA, ssl_recipes.BARLIP_SCALE) == (5e-3, 0.025)


def test_pretext_loss_is_ntxent_plus_lambda_rotation_cross_entropy():
    views = data.digit_views(seed=0, image=False)
    model = models.WithHead(models.MLP(64, 8, hidden=(16,), seed=0), torch.nn.Linear(8, 4))
    ntxent = losses.get("ntxent", temperature=0.5)
    x = views.X_train[:16]
    plain = train.pretext_batch_loss(views.augment, lam=0.0)(model, ntxent, x, None, torch.Generator().manual_seed(1))
    full = train.pretext_batch_loss(views.augment)(model, ntxent, x, None, torch.Generator().manual_seed(1))
    rotated, labels = train.rotations(x, 8)
    ce = F.cross_entropy(model.head(model.encoder(rotated)), labels)
    assert torch.allclose(full, plain + 0.3 * ce)
    with pytest.raises(ValueError, match="lam"):
        train.pretext_batch_loss(views.augment, lam=-1.0)
    with pytest.raises(ValueError, match="WithHead"):
        train.pretext_batch_loss(views.augment)(models.MLP(64, 8, seed=0), ntxent, x, None, torch.Generator())


def test_barlip_is_clip_plus_scaled_barlow_twins_across_the_towers():
    paired = data.paired_digits(seed=0)
    model = models.DualEncoder(models.MLP(64, 16, hidden=(32,), seed=0),
                               models.pca_encoder(paired.X_train[:, 64:], 16), split=64)
    clip = losses.get("clip")
    x = paired.X_train[:32]
    value = train.barlip_batch_loss()(model, clip, x, None, torch.Generator())
    a, b = model(x)
    expected = clip(a, b) + 0.025 * losses.get("barlow_twins", lam=5e-3)(torch.stack([a, b], 1))
    assert torch.allclose(value, expected)


def test_both_recipes_train():
    views = data.digit_views(seed=0, image=False)
    model = models.WithHead(models.MLP(64, 16, hidden=(32,), seed=0), torch.nn.Linear(16, 4))
    hist = train.fit(model, losses.get("ntxent", temperature=0.5), views, epochs=2, batch_size=256, lr=3e-3,
                     batch_loss=train.pretext_batch_loss(views.augment), verbose=False)
    assert math.isfinite(hist.last["loss"]) and hist.last["test_acc"] > 0.3
    paired = data.paired_digits(seed=0)
    dual = models.DualEncoder(models.MLP(64, 16, hidden=(32,), seed=0),
                              models.pca_encoder(paired.X_train[:, 64:], 16), split=64)
    hist = train.fit(dual, losses.get("clip"), paired, epochs=2, batch_size=256, lr=3e-3,
                     batch_loss=train.barlip_batch_loss(), verbose=False)
    assert math.isfinite(hist.last["loss"])
