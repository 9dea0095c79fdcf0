"""Clustering accuracy (Hungarian matching) and NMI against hand-made values, and the pooled-variance Gaussian
naive Bayes probe against a hand computation."""

import math

import numpy as np
import pytest
import torch

from workbench import analysis


def test_a_relabelling_scores_one_and_independence_scores_chance():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    assert analysis.clustering_accuracy(y, torch.tensor([2, 2, 0, 0, 1, 1])) == 1.0
    assert analysis.clustering_nmi(y, torch.tensor([2, 2, 0, 0, 1, 1])) == pytest.approx(1.0)
    # every cluster holds one of each of two classes: ACC 1/2 (two matched pairs), I(Y; C) = 0
    assert analysis.clustering_accuracy([0, 0, 1, 1], [0, 1, 0, 1]) == 0.5
    assert analysis.clustering_nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)


def test_values_by_hand():
    # labels [0,0,0,1,1,1], clusters [0,0,1,1,1,1]: contingency (cluster x class) [[2,0],[1,3]]
    y, c = [0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]
    assert analysis.contingency(y, c).tolist() == [[2, 0], [1, 3]]
    assert analysis.clustering_accuracy(y, c) == pytest.approx(5 / 6)  # cluster 0 -> class 0, 1 -> 1
    # I = 1/3 log 2 + 1/6 log(1/2) + 1/2 log(3/2) = 0.318257; H(Y) = log 2; H(C) = -(1/3 log 1/3 + 2/3 log 2/3)
    mi = math.log(2) / 3 + math.log(0.5) / 6 + math.log(1.5) / 2
    hc = -(math.log(1 / 3) / 3 + 2 * math.log(2 / 3) / 3)
    assert analysis.clustering_nmi(y, c) == pytest.approx(mi / ((math.log(2) + hc) / 2))
    assert analysis.clustering_nmi(y, c) == pytest.approx(0.478704, abs=1e-6)


def test_hungarian_matching_beats_the_greedy_one():
    # greedy (each cluster to its majority class) maps both clusters 0 and 1 to class 0; one-to-one matching
    # must give cluster 1 -> class 1: counts 3 (c0,y0) + 2 (c1,y1) + 2 (c2,y2) = 7 of 10
    y = [0, 0, 0, 0, 0, 1, 1, 2, 2, 2]
    c = [0, 0, 0, 1, 1, 1, 1, 2, 2, 1]
    assert analysis.cluster_to_class(y, c) == {0: 0, 1: 1, 2: 2}
    assert analysis.clustering_accuracy(y, c) == pytest.approx(0.7)


def test_more_clusters_than_classes():
    assert analysis.clustering_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == 0.5


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="same length"):
        analysis.clustering_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="assignments"):
        analysis.clustering_nmi([0, 1], [0.5, 1.0])
    with pytest.raises(ValueError, match="labels"):
        analysis.clustering_accuracy([-1, 0], [0, 0])
    with pytest.raises(ValueError, match="at least one"):
        analysis.clustering_accuracy([], [])


def test_gaussian_nb_probe_uses_the_pooled_variance():
    # class 0 at x = {0, 2} (mean 1, var 1), class 1 at x = {4, 4, 4, 8} (mean 5, var 3); priors 1/3, 2/3;
    # pooled variance 1/3 * 1 + 2/3 * 3 = 7/3, scores log(pi_k) - (x - mu_k)^2 / (2 * 7/3):
    #   x = 2.55: -1.6134 (class 0) vs -1.6917 (class 1) -> 0;  x = 2.6: -1.6472 vs -1.6398 -> 1.
    # Per-class variances (sklearn's GaussianNB) would give class 1 at x = 2.55:
    #   log(1/3) - 1.55^2/2 = -2.300 vs log(2/3) - 2.45^2/6 - log(3)/2 = -1.955.
    X = np.array([[0.0], [2.0], [4.0], [4.0], [4.0], [8.0]])
    y = np.array([0, 0, 1, 1, 1, 1])
    assert analysis.gaussian_nb_probe(X, y, np.array([[2.55], [2.6]]), np.array([0, 1])) == 1.0
    assert analysis.gaussian_nb_probe(torch.tensor(X), torch.tensor(y), np.array([[0.5]]), np.array([0])) == 1.0
