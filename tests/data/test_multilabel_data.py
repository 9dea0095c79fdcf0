"""Multi-label digits, relevance matrices and the regression sets: seeded, shaped as documented, arguments checked."""

import pytest
import torch

from workbench import data


def test_multilabel_digits_is_seeded_and_shaped():
    a = data.multilabel_digits(n_train=200, n_test=50, seed=1)
    b = data.multilabel_digits(n_train=200, n_test=50, seed=1)
    c = data.multilabel_digits(n_train=200, n_test=50, seed=2)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_train, c.y_train)
    assert a.X_train.shape == (200, 192) and a.y_train.shape == (200, 10) and a.y_test.shape == (50, 10)
    assert a.y_train.dtype == torch.int64 and set(a.y_train.unique().tolist()) <= {0, 1}
    assert (a.y_train.sum(1) >= 1).all() and (a.y_train.sum(1) <= 3).all()
    assert torch.equal(a.meta["cardinality_train"], a.y_train.sum(1))


def test_each_label_is_the_digit_in_a_slot():
    # a blank slot is all zeros; every label set has as many distinct digits as the non-blank slots show at most
    d = data.multilabel_digits(n_train=100, n_test=10, slots=2, fill=0.0, seed=0)
    assert (d.y_train.sum(1) == 1).all()  # fill 0: only the first slot holds a digit
    second = d.X_train.view(100, 8, 16)[:, :, 8:]
    assert (second == 0).all()


def test_cardinality_and_co_occurrence_follow_their_settings():
    few = data.multilabel_digits(n_train=2000, n_test=10, fill=0.1, seed=0).y_train.sum(1).double().mean()
    many = data.multilabel_digits(n_train=2000, n_test=10, fill=0.9, seed=0).y_train.sum(1).double().mean()
    assert few < 1.3 < 2.5 < many
    together = data.multilabel_digits(n_train=2000, n_test=10, co_occurrence=1.0, fill=1.0, seed=0).y_train
    # co-occurrence 1: every further digit is the first one's partner c + 1, so each image shows exactly {c, c + 1}
    assert (together.sum(1) == 2).all()
    assert all(together[i, (int(together[i].nonzero()[0]) + 1) % 10] == 1 or together[i, 0] == 1
               for i in range(50))


def test_imbalance_makes_the_last_digits_rare():
    y = data.multilabel_digits(n_train=3000, n_test=10, imbalance=20.0, fill=0.0, seed=0).y_train.double().mean(0)
    assert y[0] / y[9] == pytest.approx(20.0, rel=0.35)


@pytest.mark.parametrize("kwargs, word", [({"slots": 0}, "slots"), ({"fill": 1.5}, "fill"),
                                          ({"co_occurrence": -0.1}, "co_occurrence"), ({"imbalance": 0.5}, "imbalance"),
                                          ({"n_train": True}, "n_train"), ({"seed": -1}, "seed")])
def test_multilabel_digits_checks_its_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        data.multilabel_digits(**kwargs)


def test_jaccard_relevance_by_hand():
    a = torch.tensor([[1, 1, 0], [0, 0, 1], [0, 0, 0]])
    r = data.jaccard_relevance(a)
    assert torch.allclose(r, torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1.0]]))
    b = torch.tensor([[1, 0, 1]])
    assert data.jaccard_relevance(a, b)[:, 0].tolist() == pytest.approx([1 / 3, 1 / 2, 0.0])
    with pytest.raises(ValueError, match="0/1"):
        data.jaccard_relevance(torch.tensor([[2, 0]]))


def test_style_relevance_is_zero_across_classes_and_one_on_the_diagonal():
    labels = torch.tensor([0, 0, 1])
    style = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    r = data.style_relevance(labels, style, bandwidth=1.0)
    assert torch.allclose(r.diagonal(), torch.ones(3)) and r[0, 2] == 0
    assert r[0, 1].item() == pytest.approx(float(torch.exp(torch.tensor(-0.5))))
    with pytest.raises(ValueError, match="bandwidth"):
        data.style_relevance(labels, style, bandwidth=0.0)


def test_regression_sets_have_standardised_float_targets():
    d = data.diabetes(seed=0)
    assert d.y_train.dtype == torch.float32 and d.X_train.shape[1] == 10 and d.n_train + d.n_test == 442
    assert d.y_train.mean().item() == pytest.approx(0.0, abs=1e-5)
    raw = d.y_train * d.meta["target_std"] + d.meta["target_mean"]
    assert 25 <= raw.min() and raw.max() <= 346  # the diabetes targets' documented range
    a = data.digit_attribute(attribute="ink", n_train=50, seed=0)
    assert a.n_train == 50 and a.y_test.dtype == torch.float32
    ink = a.X_train.sum(1)  # the ink attribute is the pixel sum: a standardised copy of it
    assert torch.corrcoef(torch.stack([ink, a.y_train]))[0, 1] > 0.9999
    assert data.load("digit_attribute", attribute="x_centre").meta["attribute"] == "x_centre"
    with pytest.raises(ValueError, match="attribute"):
        data.digit_attribute(attribute="slant")
    with pytest.raises(ValueError, match="n_train"):
        data.digit_attribute(n_train=1)
