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


def test_label_dual_encoder_scores_are_cosines_and_train_with_the_decoupled_softmax():
    from workbench import experiments
    ds = data.multilabel_digits(n_train=300, n_test=100, slots=4, fill=0.8, seed=0)
    model = models.LabelDualEncoder(models.MLP(ds.X_train.shape[1], 8, (32,), seed=0), 10, seed=0)
    scores = model(ds.X_test)
    assert scores.shape == (100, 10) and scores.abs().max() <= 1 + 1e-6
    h = train.fit(model, experiments.LabelRetrievalLoss(decoupled=True), ds, epochs=4, lr=3e-3, batch_size=64, seed=0,
                  verbose=False)
    assert h.last["test_p_at_1"] > ds.y_test.double().mean().item() + 0.2  # above a random label's hit rate


def test_l1_regression_baseline_trains_as_kind_regression():
    from workbench import experiments
    ds = data.digit_attribute(attribute="ink", n_train=200, seed=0)
    h = train.fit(models.MLP(64, 1, (128,), seed=0), experiments.L1Regression(), ds, epochs=15, lr=3e-3, batch_size=16,
                  seed=0, verbose=False)
    constant = (ds.y_test - ds.y_train.median()).abs().mean().item()  # the best constant under L1: the median
    assert h.last["test_mae_direct"] < constant - 0.15 and h.frame["loss"].iloc[-1] < h.frame["loss"].iloc[0]
