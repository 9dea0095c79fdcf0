"""Attention and bag measurements of multiple-instance models (analysis.mil)."""

import math

import pytest
import torch

from workbench import analysis


def test_attention_entropy_is_normalised_by_the_bag_size():
    logits = torch.zeros(2, 1, 8)
    mask = torch.tensor([[True] * 8, [True] * 3 + [False] * 5])
    assert torch.allclose(analysis.attention_entropy(logits, mask), torch.ones(2))
    peaked = torch.tensor([50.0, 0, 0, 0])
    assert analysis.attention_entropy(peaked).item() < 1e-10
    raw = analysis.attention_entropy(torch.zeros(8), normalize=False)
    assert raw.item() == pytest.approx(math.log(8))
    assert torch.isnan(analysis.attention_entropy(torch.zeros(1)))


def test_top_k_mass():
    logits = torch.log(torch.tensor([[[0.5, 0.3, 0.2, 1e-30]]]))
    assert analysis.top_k_attention_mass(logits, k=1).item() == pytest.approx(0.5)
    assert analysis.top_k_attention_mass(logits, k=2).item() == pytest.approx(0.8)
    assert analysis.top_k_attention_mass(torch.zeros(10), k=2).item() == pytest.approx(0.2)


def test_localisation_auc_counts_within_bag_ranks():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.0], [0.2, 0.8, 0.0, 0.0], [0.3, 0.3, 0.3, 0.0]])
    labels = torch.tensor([[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, False], [True] * 4])
    # bag 0: key beats both others (1.0); bag 1: key beats one of two (0.5); bag 2 has no key: skipped
    assert analysis.localisation_auc(scores, labels, mask) == pytest.approx(0.75)
    assert math.isnan(analysis.localisation_auc(scores[2:], labels[2:]))


def test_bag_auc_matches_sklearn_and_handles_one_class():
    assert analysis.bag_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == 0.75
    assert math.isnan(analysis.bag_auc(torch.tensor([0.1, 0.2]), torch.tensor([1, 1])))


def test_key_attention_ratio_by_hand():
    # bag 0: key weights 0.3, 0.3, others 0.2, 0.1, 0.1 -> 0.3 / (0.4 / 3) = 2.25
    # bag 1: uniform over its 4 real instances (one padded slot) -> 1; bag 2: no key instance -> NaN
    attention = torch.tensor([[0.3, 0.2, 0.3, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25, 0.0], [0.2] * 5])
    labels = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1], [0] * 5])
    mask = torch.tensor([[True] * 5, [True] * 4 + [False], [True] * 5])
    ratio = analysis.key_attention_ratio(attention, labels, mask)
    assert ratio[0].item() == pytest.approx(2.25) and ratio[1].item() == pytest.approx(1.0)
    assert ratio[2].isnan()
    assert analysis.key_attention_ratio(attention[0], labels[0]).item() == pytest.approx(2.25)  # one bag
    with pytest.raises(ValueError, match="one shape"):
        analysis.key_attention_ratio(attention, labels[:, :4])
