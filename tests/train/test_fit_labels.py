"""The multilabel and regression kinds train through train.fit with their default model and dataset."""

import torch

from workbench import data, kinds, losses, models, train


def _fit(name, ds, epochs=3, dim=8):
    kind = kinds.get(losses.info(name).kind)
    model = models.for_kind(kind.name, ds.X_train.shape[1], ds.num_classes, dim, (64,), seed=0)
    return train.fit(model, losses.get(name), ds, epochs=epochs, lr=3e-3, batch_size=kind.recipe.batch_size, seed=0,
                     verbose=False)


def test_multilabel_kind_trains_and_reports_map():
    ds = data.load(kinds.get("multilabel").dataset, n_train=400, n_test=200, seed=0)
    first = _fit("asymmetric", ds, epochs=1)
    h = _fit("asymmetric", ds, epochs=6)
    assert {"test_map", "test_micro_f1", "test_macro_f1", "test_p_at_1"} <= set(h.frame.columns)
    # chance mAP is the mean label frequency (about 0.2 here); training lifts it above that and above epoch 1
    assert h.last["test_map"] > max(first.last["test_map"], ds.y_test.double().mean().item() + 0.2)
    again = _fit("asymmetric", ds, epochs=6)
    assert again.frame.equals(h.frame)  # same seed, same History


def test_regression_kind_trains_and_orders_the_embedding():
    ds = data.load(kinds.get("regression").dataset, attribute="x_centre", n_train=300, seed=0)
    before = _fit("rank_n_contrast", ds, epochs=1)
    after = _fit("rank_n_contrast", ds, epochs=8)
    assert {"test_mae", "test_spearman"} <= set(after.frame.columns)
    assert after.last["test_spearman"] > before.last["test_spearman"]
    assert after.last["test_mae"] < 1.0  # targets are standardised: predicting the mean gives about 0.8
    assert torch.isfinite(torch.tensor(after.frame["loss"].values)).all()
