"""SBCL's training recipe (train.fit_sbcl): SupCon warm-up, then the sbcl loss with subclasses re-clustered from the
model's features before every block of epochs, read by the loss through the batch's sample ids."""

import pytest
import torch

from workbench import data, losses, models, train


@pytest.fixture(scope="module")
def long_tailed_views():
    ds = data.long_tailed(data.digit_views(image=False, seed=0), imbalance_ratio=10, seed=0)
    return ds


def test_fit_sbcl_warms_up_then_reclusters_every_step(long_tailed_views, monkeypatch):
    ds = long_tailed_views
    calls = []
    original = train.sbcl.sbcl_clusters

    def recording(features, labels, **kwargs):
        calls.append(len(features))
        return original(features, labels, **kwargs)

    monkeypatch.setattr(train.sbcl, "sbcl_clusters", recording)
    loss = losses.get("sbcl")
    model = models.for_kind("views", 64, 10, embedding_dim=16, hidden=(32,), seed=0)
    history = train.fit_sbcl(model, loss, ds, epochs=4, warm_epochs=2, step=1, seed=0, lr=1e-2, batch_size=256,
                             verbose=False, record=())
    assert list(history.frame.index) == [1, 2, 3, 4]  # one History over the warm-up and the SBCL blocks
    assert calls == [ds.n_train, ds.n_train]  # re-clustered before each of the two one-epoch SBCL blocks
    # the loss holds every training sample's subclass; head classes are split, the tail class (13 images) is not
    assert loss.subclass_of.shape == (ds.n_train,)
    counts = ds.meta["class_counts"]
    assert len(loss.subclass_of[ds.y_train == 0].unique()) == counts[0] // counts[-1]
    assert len(loss.subclass_of[ds.y_train == 9].unique()) == 1
    assert loss.class_temperatures.shape == (10,) and (loss.class_temperatures > 0).all()
    assert torch.isfinite(torch.tensor(history["loss"].to_numpy())).all()


def test_fit_sbcl_refuses_another_loss(long_tailed_views):
    model = models.for_kind("views", 64, 10, embedding_dim=8, hidden=(16,), seed=0)
    with pytest.raises(ValueError, match="loss"):
        train.fit_sbcl(model, losses.get("supcon"), long_tailed_views, epochs=1, verbose=False)
