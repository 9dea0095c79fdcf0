"""Comparing representations (workbench.analysis.representations): reference values from the spec
(../shared/reference/losses-wave2.md §7, each derived there or printed by the official code), invariances as
hypothesis properties, and the validation contract."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import analysis


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


# --- relative representations -------------------------------------------------------------------------------------

def test_relative_representation_reference_values():
    # losses-wave2.md §7.1 (derived): x = [(1,2),(3,-1)], anchors [(1,0),(0,1),(1,1)]
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor([[0.447214, 0.894427, 0.948683], [0.948683, -0.316228, 0.447214]], dtype=torch.float64)
    r = analysis.relative_representation(x, anchors)
    torch.testing.assert_close(r, expected, atol=1e-6, rtol=0)
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)  # 90 degrees, then x2.5 (the spec's check)
    torch.testing.assert_close(analysis.relative_representation(2.5 * x @ rot, 2.5 * anchors @ rot), expected,
                               atol=1e-6, rtol=0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0))
def test_relative_representation_invariant_to_rotation_and_scale(seed, scale):
    g = torch.Generator().manual_seed(seed)
    x, anchors = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g,
                                                                                     dtype=torch.float64)
    q = _orthogonal(5, seed)
    torch.testing.assert_close(analysis.relative_representation(scale * x @ q, scale * anchors @ q),
                               analysis.relative_representation(x, anchors))


def test_relative_representation_zero_vector_is_a_finite_zero_row():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    r = analysis.relative_representation(x, torch.eye(2))
    assert torch.equal(r[0], torch.zeros(2)) and torch.isfinite(r).all()


def test_relative_representation_checks_widths():
    with pytest.raises(ValueError, match="anchors"):
        analysis.relative_representation(torch.randn(3, 4), torch.randn(2, 5))


# --- CKA ----------------------------------------------------------------------------------------------------------

def _demo_xy():
    # google-research representation_similarity/Demo.ipynb: np.random.seed(1337); X = randn(100,10); Y = randn + X
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    return torch.as_tensor(x), torch.as_tensor(y)


def test_cka_matches_the_official_demo():
    x, y = _demo_xy()  # values printed by the demo, reproduced in losses-wave2.md §7.3
    assert analysis.cka(x, y) == pytest.approx(0.557613, abs=1e-6)
    assert analysis.cka(x, y, kernel="rbf", threshold=0.5) == pytest.approx(0.654831, abs=1e-6)
    assert analysis.cka(x, y, debiased=True) == pytest.approx(0.513456, abs=1e-6)


def test_cka_small_reference_values():
    x, _ = _demo_xy()
    assert analysis.cka(x, x[:, :5]) == pytest.approx(0.708031, abs=1e-6)  # §7.3
    tiny = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    assert analysis.cka(tiny, tiny @ torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))) == pytest.approx(
        0.973223, abs=1e-6)


def test_cka_linear_equals_its_feature_space_form():
    # ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred X, Y: the formula in the docstring
    x, y = _demo_xy()
    xc, yc = x - x.mean(0), y - y.mean(0)
    direct = (yc.T @ xc).norm() ** 2 / ((xc.T @ xc).norm() * (yc.T @ yc).norm())
    assert analysis.cka(x, y) == pytest.approx(float(direct), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100.0), kernel=st.sampled_from(["linear", "rbf"]),
       debiased=st.booleans())
def test_cka_invariant_to_orthogonal_maps_and_isotropic_scaling(seed, scale, kernel, debiased):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(30, 6, generator=g, dtype=torch.float64)
    y = x @ torch.randn(6, 4, generator=g, dtype=torch.float64) + torch.randn(30, 4, generator=g,
                                                                                 dtype=torch.float64)
    base = analysis.cka(x, y, kernel=kernel, debiased=debiased)
    moved = analysis.cka(scale * x @ _orthogonal(6, seed), y, kernel=kernel, debiased=debiased)
    assert moved == pytest.approx(base, abs=1e-9)
    if not debiased:
        assert analysis.cka(x, x @ _orthogonal(6, seed + 1) * 3, kernel=kernel) == pytest.approx(1.0, abs=1e-9)


def test_cka_is_not_invariant_to_every_invertible_map():
    x, y = _demo_xy()
    stretch = torch.diag(torch.tensor([10.0] + [1.0] * 9, dtype=torch.float64))
    assert abs(analysis.cka(x @ stretch, y) - analysis.cka(x, y)) > 0.05


@pytest.mark.parametrize("kwargs, match", [
    ({"kernel": "cosine"}, "kernel"), ({"threshold": 0.0}, "threshold"), ({"threshold": math.nan}, "threshold"),
    ({"debiased": 1}, "debiased"),
])
def test_cka_refuses_bad_arguments(kwargs, match):
    x, y = _demo_xy()
    with pytest.raises(ValueError, match=match):
        analysis.cka(x, y, **kwargs)


def test_cka_refuses_bad_inputs():
    x, y = _demo_xy()
    with pytest.raises(ValueError, match="same samples"):
        analysis.cka(x, y[:50])
    with pytest.raises(ValueError, match="constant"):
        analysis.cka(torch.ones(10, 3), torch.randn(10, 3))
    with pytest.raises(ValueError, match="at least 4"):
        analysis.cka(x[:3], y[:3], debiased=True)
    with pytest.raises(ValueError, match="NaN"):
        analysis.cka(x.clone().fill_(math.nan), y)


# --- unit matching ------------------------------------------------------------------------------------------------

def test_match_units_recovers_a_permutation():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 6, generator=g, dtype=torch.float64)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    b = 2.0 * a[:, perm] + 0.1 * torch.randn(200, 6, generator=g, dtype=torch.float64)
    match = analysis.match_units(a, b)
    # unit perm[j] of a became unit j of b, so a's unit i matches b's unit perm.argsort()[i]
    assert torch.equal(match["b"], perm.argsort()[match["a"]])
    assert (match["correlation"] > 0.95).all()
    assert (match["correlation"][:-1] >= match["correlation"][1:]).all()  # best matched first


def test_one_to_one_never_beats_many_to_one():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(50, 5, generator=g, dtype=torch.float64)
    b = torch.cat([a[:, :1], a[:, :1] + 0.01 * torch.randn(50, 1, generator=g, dtype=torch.float64),
                   torch.randn(50, 3, generator=g, dtype=torch.float64)], 1)
    one = analysis.match_units(a, b, method="one_to_one")
    many = analysis.match_units(a, b, method="many_to_one")
    assert len(set(one["b"].tolist())) == 5  # each unit of b used once
    assert float(many["correlation"].sum()) >= float(one["correlation"].sum())
    # brute force over all 120 assignments: the Hungarian matching is the best one
    from itertools import permutations
    corr = analysis.unit_correlations(a, b)
    best = max(sum(float(corr[i, p[i]]) for i in range(5)) for p in permutations(range(5)))
    assert float(one["correlation"].sum()) == pytest.approx(best, abs=1e-12)


def test_unit_correlations_are_pearson():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(40, 3, generator=g, dtype=torch.float64), torch.randn(40, 2, generator=g,
                                                                                dtype=torch.float64)
    expected = np.corrcoef(a.numpy().T, b.numpy().T)[:3, 3:]
    np.testing.assert_allclose(analysis.unit_correlations(a, b).numpy(), expected, atol=1e-12)
    with pytest.raises(ValueError, match="method"):
        analysis.match_units(a, b, method="greedy")


# --- Loki ---------------------------------------------------------------------------------------------------------

def test_frechet_predict_reference_values():
    # losses-wave2.md §7.4 (derived): path graph 0-1-2-3-4, observed {0, 4}
    d = analysis.graph_distances([(0, 1), (1, 2), (2, 3), (3, 4)], 5)
    probs = torch.tensor([[0.5, 0.5], [0.8, 0.2], [0.3, 0.7]], dtype=torch.float64)
    observed = torch.tensor([0, 4])
    assert analysis.frechet_predict(probs, d, observed).tolist() == [2, 1, 3]
    assert ((probs[:1] @ d[observed] ** 2).squeeze().tolist()) == [8.0, 5.0, 4.0, 5.0, 8.0]


def test_frechet_predict_with_the_discrete_metric_is_argmax():
    g = torch.Generator().manual_seed(3)
    probs = torch.randn(50, 6, generator=g).softmax(1)
    discrete = 1.0 - torch.eye(6)
    assert torch.equal(analysis.frechet_predict(probs, discrete), probs.argmax(1))


def test_expected_squared_distance():
    d = analysis.graph_distances([(0, 1), (1, 2)], 3)
    # errors 0, 1 (neighbour) and 2 (two hops): squared 0, 1, 4
    assert analysis.expected_squared_distance(torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]), d) == \
        pytest.approx(5 / 3)


def test_loki_refuses_bad_inputs():
    d = analysis.graph_distances([(0, 1), (1, 2)], 3)
    with pytest.raises(ValueError, match="connect"):
        analysis.graph_distances([(0, 1)], 3)
    with pytest.raises(ValueError, match="metric"):
        analysis.frechet_predict(torch.full((2, 3), 1 / 3), -d)
    with pytest.raises(ValueError, match="probabilities"):
        analysis.frechet_predict(torch.ones(2, 3), d)
    with pytest.raises(ValueError, match="observed"):
        analysis.frechet_predict(torch.full((2, 2), 0.5), d, torch.tensor([0, 3]))


# --- transductive few-shot ----------------------------------------------------------------------------------------

def test_transductive_kmeans_uses_the_queries_structure():
    # One-shot supports at (0, 0) (label 7) and (2, 0) (label 3): the nearest-prototype boundary is x = 1 and
    # cuts class 7's query cluster (x from 0.5 to 2.1 at y = 3) in two. Clustering the queries with the
    # supports held fixed labels the whole cluster 7 (worked by hand: after one step centre 7 sits near
    # (0.9, 2.7), centre 3 near (2.5, -1.3)).
    support = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([7, 3])
    seven = torch.stack([torch.linspace(0.5, 2.1, 10), torch.full((10,), 3.0)], 1)
    three = torch.stack([torch.linspace(2.8, 3.2, 10), torch.full((10,), -3.0)], 1)
    query = torch.cat([seven, three]).double()
    truth = torch.tensor([7] * 10 + [3] * 10)
    nearest_prototype = labels[torch.cdist(query, support).argmin(1)]
    assert (nearest_prototype != truth).sum() >= 5
    assert torch.equal(analysis.transductive_kmeans(support, labels, query, shift=False), truth)
    # zero iterations is the nearest prototype itself
    assert torch.equal(analysis.transductive_kmeans(support, labels, query, shift=False, iterations=0),
                       nearest_prototype)
    # the query shift moves the queries' mean onto the supports' mean: a common offset changes nothing
    offset = torch.tensor([40.0, -25.0], dtype=torch.float64)
    assert torch.equal(analysis.transductive_kmeans(support, labels, query + offset),
                       analysis.transductive_kmeans(support, labels, query))


def test_transductive_accuracy_draws_the_prototype_episodes():
    # Zero iterations without the shift is nearest-prototype classification: on the same seed it must equal
    # prototype_accuracy exactly, which proves both draw the same episodes; clustering then helps here.
    g = torch.Generator().manual_seed(4)
    labels = torch.arange(10).repeat_interleave(30)
    z = torch.randn(10, 8, generator=g)[labels] + 0.9 * torch.randn(300, 8, generator=g)
    kw = {"n_way": 5, "shot": 1, "queries": 15, "episodes": 40, "seed": 2}
    proto = analysis.prototype_accuracy(z, labels, **kw)
    assert analysis.transductive_accuracy(z, labels, iterations=0, shift=False, **kw) == pytest.approx(proto,
                                                                                                      abs=1e-12)
    assert analysis.transductive_accuracy(z, labels, **kw) > proto


def test_transductive_refuses_bad_inputs():
    with pytest.raises(ValueError, match="query"):
        analysis.transductive_kmeans(torch.randn(2, 3), torch.tensor([0, 1]), torch.randn(4, 2))
    with pytest.raises(ValueError, match="iterations"):
        analysis.transductive_kmeans(torch.randn(2, 3), torch.tensor([0, 1]), torch.randn(4, 3), iterations=-1)


# --- zero-shot stitching ------------------------------------------------------------------------------------------

def _encoder_a(classes: int, dim: int, spread: float, seed: int):
    """Encoder A's train (200 rows) and test (100 rows) embeddings: unit-variance blobs around ``classes`` centres."""
    g = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(classes, dim, generator=g, dtype=torch.float64)
    y_train, y_test = torch.arange(classes).repeat(200 // classes), torch.arange(classes).repeat(100 // classes)
    a_train = centres[y_train] + torch.randn(200, dim, generator=g, dtype=torch.float64)
    a_test = centres[y_test] + torch.randn(100, dim, generator=g, dtype=torch.float64)
    return a_train, a_test, y_train, y_test, g


def test_stitching_relative_survives_a_rotation_absolute_does_not():
    # Encoder B = encoder A rotated and rescaled (what a second seed may learn, in the paper's idealisation):
    # relative stitching is exact, absolute stitching falls towards chance.
    a_train, a_test, y_train, y_test, _ = _encoder_a(4, 6, 5.0, seed=5)
    q = 2.0 * _orthogonal(6, 11)
    out = analysis.stitching_accuracy(a_train, a_test, a_train @ q, a_test @ q, y_train, y_test, anchors=20)
    assert out["relative_stitched"] == pytest.approx(out["relative_same"])
    assert out["absolute_same"] > 0.9 and out["absolute_stitched"] < out["absolute_same"] - 0.3
    narrow = analysis.stitching_accuracy(a_train, a_test, a_train[:, :3], a_test[:, :3], y_train, y_test)
    assert math.isnan(narrow["absolute_stitched"])
    with pytest.raises(ValueError, match="anchors"):
        analysis.stitching_accuracy(a_train, a_test, a_train, a_test, y_train, y_test, anchors=0)


def test_stitching_scores_the_heads_linear_probe_fits():
    # One head per space, fitted on A's train embeddings, scored on A's and B's test embeddings: the numbers of
    # linear_probe fitted anew for each test set (what stitching_accuracy computed before it fitted each head once).
    a_train, a_test, y_train, y_test, g = _encoder_a(5, 8, 3.0, seed=7)
    b_train = a_train @ _orthogonal(8, 3) + 0.8 * torch.randn(200, 8, generator=g, dtype=torch.float64)
    b_test = a_test @ _orthogonal(8, 3) + 0.8 * torch.randn(100, 8, generator=g, dtype=torch.float64)
    out = analysis.stitching_accuracy(a_train, a_test, b_train, b_test, y_train, y_test, anchors=16, seed=2)
    pick = torch.randperm(200, generator=torch.Generator().manual_seed(2))[:16]
    rel_a_train, rel_a_test, rel_b_test = (analysis.relative_representation(v, anchors[pick]) for v, anchors in (
        (a_train, a_train), (a_test, a_train), (b_test, b_train)))
    assert out == {"absolute_same": analysis.linear_probe(a_train, y_train, a_test, y_test),
                   "absolute_stitched": analysis.linear_probe(a_train, y_train, b_test, y_test),
                   "relative_same": analysis.linear_probe(rel_a_train, y_train, rel_a_test, y_test),
                   "relative_stitched": analysis.linear_probe(rel_a_train, y_train, rel_b_test, y_test)}
    assert out["absolute_stitched"] < out["absolute_same"]  # the two test sets differ: a real second score
