"""fit(): every trainable kind learns, seeds reproduce, records and History behave, bad calls fail."""

import math

import pandas as pd
import pytest
import torch
from torch import nn

from workbench import analysis, data, losses, models, train

C, D, FEATURES = 4, 4, 8
FIT = dict(epochs=6, lr=2e-2, batch_size=32, verbose=False)


@pytest.fixture(scope="module")
def blobs():
    return data.sphere_blobs(n_per_class=50, num_classes=C, dim=FEATURES, concentration=3.0, seed=0)


def make(name, kind, seed=0, **model_kw):
    """A seeded model for ``kind`` and the loss built under a fixed torch seed."""
    torch.manual_seed(seed)
    loss = losses.get(name, **({"num_classes": C, "embedding_dim": D} if kind == "margin" else {}))
    model = models.for_kind(kind, FEATURES, C, embedding_dim=D, hidden=(32,), seed=seed)
    return model, loss


@torch.no_grad()
def probe_accuracy(model, ds):
    model.eval()
    train_emb, test_emb = models.embed(model, ds.X_train), models.embed(model, ds.X_test)
    return analysis.knn_probe(train_emb, ds.y_train, test_emb, ds.y_test)


def assert_learned(history, chance):
    assert list(history.frame.index) == list(range(1, FIT["epochs"] + 1))
    assert history["loss"].notna().all() and all(math.isfinite(v) for v in history["loss"])
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert history.last["test_acc"] > chance + 0.25


def test_fit_logits_cross_entropy_learns(blobs):
    model, loss = make("cross_entropy", "logits")
    history = train.fit(model, loss, blobs, **FIT)
    assert_learned(history, 1 / C)
    assert {"loss", "train_acc", "test_acc", "grad_norm"} <= set(history.frame.columns)
    # test_acc is the argmax accuracy of the trained classifier
    with torch.no_grad():
        model.eval()
        acc = float((model(blobs.X_test).argmax(1) == blobs.y_test).double().mean())
    assert history.last["test_acc"] == pytest.approx(acc)


def test_fit_margin_optimises_the_loss_weights(blobs):
    model, loss = make("normface", "margin")
    weight_before = loss.weight.detach().clone()
    history = train.fit(model, loss, blobs, **FIT)
    assert_learned(history, 1 / C)
    assert not torch.allclose(loss.weight.detach(), weight_before)
    # accuracy is read from the head's margin-free logits
    with torch.no_grad():
        model.eval()
        acc = float((loss.logits(model(blobs.X_test)).argmax(1) == blobs.y_test).double().mean())
    assert history.last["test_acc"] == pytest.approx(acc)


def test_fit_pairs_contrastive_improves_knn_probe(blobs):
    model, loss = make("contrastive", "pairs")
    before = probe_accuracy(model, blobs)
    history = train.fit(model, loss, blobs, **FIT)
    assert_learned(history, 1 / C)
    assert "train_acc" not in history.frame.columns
    assert history.last["test_acc"] > before
    assert history.last["test_acc"] == pytest.approx(probe_accuracy(model, blobs))


def test_fit_views_ntxent_on_digit_views():
    ds = data.digit_views(image=False)
    torch.manual_seed(0)
    history = train.fit(models.MLP(64, 16, seed=0), losses.get("ntxent"), ds, epochs=2, batch_size=128,
                        verbose=False)
    assert len(history) == 2
    assert all(math.isfinite(v) for v in history["loss"])
    assert history.last["test_acc"] > 0.1


def test_probe_linear(blobs):
    model, loss = make("contrastive", "pairs")
    history = train.fit(model, loss, blobs, probe="linear", **FIT)
    with torch.no_grad():
        model.eval()
        expected = analysis.linear_probe(model(blobs.X_train), blobs.y_train, model(blobs.X_test), blobs.y_test)
    assert history.last["test_acc"] == pytest.approx(expected)
    assert history.last["test_acc"] > 1 / C + 0.25


def run_normface(blobs, model_seed=0, fit_seed=0, record=("embeddings", "grad_norm")):
    torch.manual_seed(model_seed)
    loss = losses.get("normface", num_classes=C, embedding_dim=D)
    model = models.MLP(FEATURES, D, hidden=(32,), dropout=0.2, seed=model_seed)
    return train.fit(model, loss, blobs, epochs=3, lr=2e-2, batch_size=32, seed=fit_seed, record=record,
                     verbose=False)


def test_same_seeds_give_equal_histories(blobs):
    a, b = run_normface(blobs), run_normface(blobs)
    assert a.equals(b) and b.equals(a)
    pd.testing.assert_frame_equal(a.frame, b.frame)


def test_different_fit_seed_gives_a_different_history(blobs):
    a, b = run_normface(blobs, fit_seed=0), run_normface(blobs, fit_seed=1)
    assert not a.equals(b)
    # the model and loss started identical: only batch order / dropout differ, so snapshot 0 agrees
    assert torch.equal(a.snapshots["embeddings"][0], b.snapshots["embeddings"][0])


def test_different_model_seed_gives_a_different_history(blobs):
    assert not run_normface(blobs, model_seed=0).equals(run_normface(blobs, model_seed=1))


def test_record_embeddings(blobs):
    model, loss = make("contrastive", "pairs")
    with torch.no_grad():
        initial = model(blobs.X_test)
    history = train.fit(model, loss, blobs, epochs=3, batch_size=32, record=("embeddings",), verbose=False)
    snaps = history.snapshots["embeddings"]
    assert len(snaps) == 3 + 1
    assert all(s.shape == (blobs.n_test, D) for s in snaps)
    torch.testing.assert_close(snaps[0], initial)
    assert not torch.equal(snaps[0], snaps[-1])
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(snaps[-1], model(blobs.X_test))
    assert torch.equal(history.labels, blobs.y_test)
    assert "grad_norm" not in history.frame.columns


def test_no_record_gives_no_snapshots(blobs):
    model, loss = make("cross_entropy", "logits")
    history = train.fit(model, loss, blobs, epochs=1, record=(), verbose=False)
    assert history.snapshots == {} and history.labels is None
    assert "grad_norm" not in history.frame.columns


def test_history_access_last_and_csv_roundtrip(blobs, tmp_path):
    model, loss = make("cross_entropy", "logits")
    history = train.fit(model, loss, blobs, epochs=3, verbose=False)
    assert len(history) == 3
    assert isinstance(history["loss"], pd.Series)
    assert history["test_acc"].tolist() == history.frame["test_acc"].tolist()
    assert history.last == history.frame.loc[3].to_dict()
    assert set(history.last) == set(history.frame.columns)
    assert "3 epochs" in repr(history)
    path = tmp_path / "history.csv"
    history.to_csv(path)
    back = pd.read_csv(path, index_col="epoch")
    pd.testing.assert_frame_equal(back, history.frame, check_exact=False, rtol=1e-12)


def test_unknown_record_entry(blobs):
    model, loss = make("cross_entropy", "logits")
    with pytest.raises(ValueError, match="record"):
        train.fit(model, loss, blobs, epochs=1, record=("embeddings", "attention"), verbose=False)


def test_bad_probe(blobs):
    model, loss = make("contrastive", "pairs")
    with pytest.raises(ValueError, match="probe"):
        train.fit(model, loss, blobs, epochs=1, probe="svm", verbose=False)


@pytest.mark.parametrize("kw", [{"epochs": 0}, {"epochs": -1}, {"batch_size": 0}])
def test_bad_epochs_or_batch_size(blobs, kw):
    model, loss = make("cross_entropy", "logits")
    with pytest.raises(ValueError, match=">= 1"):
        train.fit(model, loss, blobs, **{"epochs": 1, **kw}, verbose=False)


def test_views_loss_needs_augment(blobs):
    assert blobs.augment is None
    with pytest.raises(ValueError, match="augment"):
        train.fit(models.MLP(FEATURES, D, seed=0), losses.get("ntxent"), blobs, epochs=1, verbose=False)


class CrossModalMSE(nn.Module):
    """A dummy loss of a kind fit() cannot feed on its own."""

    kind = "no_such_kind"  # (crossmodal became trainable with models.DualEncoder)

    def forward(self, x, y):
        return (x - y).pow(2).mean()


def test_unknown_kind_needs_batch_loss(blobs):
    with pytest.raises(ValueError, match="batch_loss"):
        train.fit(models.MLP(FEATURES, C, seed=0), CrossModalMSE(), blobs, epochs=1, verbose=False)


def test_batch_loss_hook_trains_an_unknown_kind(blobs):
    calls = []

    def batch_loss(model, loss, x, y, generator):
        calls.append(len(x))
        assert isinstance(generator, torch.Generator)
        return loss(model(x), nn.functional.one_hot(y, C).float())

    history = train.fit(models.MLP(FEATURES, C, hidden=(32,), seed=0), CrossModalMSE(), blobs, epochs=4,
                        lr=2e-2, batch_size=32, batch_loss=batch_loss, verbose=False)
    batches = math.ceil(blobs.n_train / 32)
    assert len(calls) == 4 * batches and sum(calls) == 4 * blobs.n_train
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert history.last["test_acc"] > 1 / C


def test_verbose_false_prints_nothing(blobs, capsys):
    model, loss = make("cross_entropy", "logits")
    train.fit(model, loss, blobs, epochs=2, verbose=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_verbose_true_shows_a_progress_bar(blobs, capsys):
    # the control for the test above: the bar does write to stderr when asked
    model, loss = make("cross_entropy", "logits")
    train.fit(model, loss, blobs, epochs=2, verbose=True)
    assert "cross_entropy" in capsys.readouterr().err


def test_losses_with_per_sample_state_get_the_batch_rows(blobs):
    class Recording(nn.Module):
        kind, uses_index = "logits", True

        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, logits, target, index):
            self.seen.append(index.clone())
            return nn.functional.cross_entropy(logits, target)

    model = models.for_kind("logits", FEATURES, C, hidden=(8,), seed=0)
    loss = Recording()
    train.fit(model, loss, blobs, **{**FIT, "epochs": 2, "batch_size": 40})
    per_epoch = len(loss.seen) // 2
    for epoch in range(2):  # each epoch visits every training row exactly once, in its own order
        rows = torch.cat(loss.seen[epoch * per_epoch:(epoch + 1) * per_epoch])
        assert torch.equal(rows.sort().values, torch.arange(blobs.n_train))
    assert not torch.equal(loss.seen[0], loss.seen[per_epoch])


@pytest.mark.parametrize("name", ["clip", "cwcl"])
def test_fit_trains_crossmodal_losses_and_only_the_unfrozen_tower(name):
    ds = data.paired_digits(seed=0)
    reference = models.pca_encoder(ds.X_train[:, 64:], 16)
    before = [p.clone() for p in reference.parameters()]
    model = models.DualEncoder(models.MLP(64, 16, hidden=(64,), seed=0), reference, split=64)
    zs0 = analysis.zero_shot_accuracy(model.embed(ds.X_test), model.embed_reference(ds.meta["prototypes"]), ds.y_test)
    hist = train.fit(model, losses.get(name, temperature=0.5 if name == "clip" else 1.0), ds, epochs=4, lr=3e-3,
                     batch_size=128, verbose=False)
    assert hist["loss"].iloc[-1] < hist["loss"].iloc[0]
    assert all(torch.equal(a, b) for a, b in zip(before, reference.parameters()))
    with torch.no_grad():
        zs = analysis.zero_shot_accuracy(model.embed(ds.X_test), model.embed_reference(ds.meta["prototypes"]),
                                         ds.y_test)
    assert zs > max(zs0, 0.3)


def test_fit_records_the_same_views_every_epoch():
    ds = data.digit_views(image=False)
    model = models.MLP(64, 8, hidden=(32,), seed=0)
    hist = train.fit(model, losses.get("ntxent"), ds, epochs=2, batch_size=256, record=("views",), verbose=False)
    snaps = hist.snapshots["views"]
    assert len(snaps) == 3 and snaps[0].shape == (256, 2, 8)
    x = ds.X_test[:256]
    same_views = torch.stack([ds.augment(x, torch.Generator().manual_seed(v)) for v in range(2)], dim=1)
    with torch.no_grad():
        assert torch.allclose(snaps[-1], model(same_views.flatten(0, 1)).view(256, 2, 8))
    with pytest.raises(ValueError, match="augment"):
        train.fit(model, losses.get("ntxent"), data.digits(), epochs=1, record=("views",), verbose=False,
                  batch_loss=lambda m, lo, x, y, g: m(x).sum())


@pytest.mark.parametrize("name, kind", [("cross_entropy", "logits"), ("contrastive", "pairs")])  # predict, probe
def test_evaluate_every_scores_fewer_epochs_and_trains_the_same(blobs, name, kind):
    def run(**kw):
        model, loss = make(name, kind)
        history = train.fit(model, loss, blobs, **{**FIT, "epochs": 7}, seed=0, **kw)
        assert not model.training  # returned in eval mode, scored or not
        return history, [p.detach().clone() for p in model.parameters()]

    every, params = run()
    sparse, sparse_params = run(evaluate_every=3)
    never, never_params = run(evaluate_every=None)
    assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(params, sparse_params, never_params))
    for history in (sparse, never):
        assert history["loss"].equals(every["loss"]) and history["grad_norm"].equals(every["grad_norm"])
    scored = sparse["test_acc"].dropna()
    assert list(scored.index) == [3, 6, 7] and scored.equals(every["test_acc"].loc[[3, 6, 7]])
    assert list(sparse.frame.columns) == list(every.frame.columns)  # epoch 1 unscored: same column order
    assert list(never.frame.columns) == ["loss", "grad_norm"]
