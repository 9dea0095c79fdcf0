"""Analysis values pinned by independent expectations: the quantity computed by hand in the test (loops,
closed forms) from its definition, never by the function under test or the loss it measures. Imports go
through the public namespaces only (``from workbench import analysis``)."""

import math

import pytest
import torch
from conftest import cosines, unit

from workbench import analysis, data, losses, train

D64 = torch.float64


# --- pair weights: dL/dS from the loss's formula, differentiated by hand --------------------------------------


def test_pair_weights_of_ntxent_are_its_hand_derived_gradient():
    # l_ip = softplus(LSE_{k in N_i} S_ik/t - S_ip/t), mean over the |P| positive pairs. With
    # q_ip = e^{S_ip/t} / (e^{S_ip/t} + sum_N e^{S_ik/t}):
    #   dL/dS_ip = -(1 - q_ip) / (|P| t);   dL/dS_ij (j in N_i) = sum_p (1 - q_ip) softmax_N(S_i/t)_j / (|P| t)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=D64)
    y, t = [0, 0, 1, 1, 2, 2], 0.3
    s = cosines(x).tolist()
    n_pos = sum(1 for i in range(6) for j in range(6) if i != j and y[i] == y[j])
    expected = torch.zeros(6, 6, dtype=D64)
    for i in range(6):
        negs = [k for k in range(6) if y[k] != y[i]]
        poss = [k for k in range(6) if k != i and y[k] == y[i]]
        neg_mass = sum(math.exp(s[i][k] / t) for k in negs)
        one_minus_q = {p: neg_mass / (math.exp(s[i][p] / t) + neg_mass) for p in poss}
        for p in poss:
            expected[i, p] = -one_minus_q[p] / (n_pos * t)
        for j in negs:
            expected[i, j] = sum(one_minus_q.values()) * math.exp(s[i][j] / t) / neg_mass / (n_pos * t)
    weights = analysis.pair_weights(losses.get("ntxent", temperature=t), x, torch.tensor(y))
    assert torch.allclose(weights, expected, rtol=1e-10, atol=1e-14)


def test_pair_weights_of_supcon_views_are_its_hand_derived_gradient():
    # l_i = (t/t_b) [LSE_{a != i} S_ia/t - mean_{p in P_i} S_ip/t], mean over the N = B V rows:
    #   dL/dS_ij = [softmax_{a != i}(S_i/t)_j - [j in P_i] / |P_i|] / (N t_b)
    views = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(1), dtype=D64)
    t = tb = 0.07
    s = cosines(views.reshape(8, 3)).tolist()
    instance = [r // 2 for r in range(8)]  # row b*V + v belongs to instance b
    expected = torch.zeros(8, 8, dtype=D64)
    for i in range(8):
        others = [a for a in range(8) if a != i]
        top = max(s[i][a] / t for a in others)
        mass = sum(math.exp(s[i][a] / t - top) for a in others)
        positives = [a for a in others if instance[a] == instance[i]]
        for j in others:
            expected[i, j] = (math.exp(s[i][j] / t - top) / mass - (j in positives) / len(positives)) / (8 * tb)
    weights = analysis.pair_weights(losses.get("supcon"), views)
    assert torch.allclose(weights, expected, rtol=1e-9, atol=1e-12)


# --- retrieval and representation measures ----------------------------------------------------------------


def map_at_r_by_hand(x, y):
    """MAP@R (Musgrave et al. 2020): for a query with R other items of its class, its R nearest items by
    cosine; AP = (1/R) sum_{i <= R} P(i) rel(i), averaged over queries with R > 0."""
    s = cosines(x).tolist()
    aps = []
    for q in range(len(y)):
        r = sum(1 for k in range(len(y)) if k != q and y[k] == y[q])
        if r == 0:
            continue
        ranked = sorted((k for k in range(len(y)) if k != q), key=lambda k: -s[q][k])[:r]
        hits, ap = 0, 0.0
        for i, k in enumerate(ranked, start=1):
            if y[k] == y[q]:
                hits += 1
                ap += hits / i
        aps.append(ap / r)
    return sum(aps) / len(aps)


def test_map_at_r_with_classes_of_different_sizes():
    # classes of 4, 2 and 1 items (R = 3, 1 and a skipped singleton), interleaved so that rankings are imperfect
    x = unit(0, 15, 40, 100, 25, 28, 200)
    y = [0, 0, 0, 0, 1, 1, 2]
    expected = map_at_r_by_hand(x, y)
    assert 0.2 < expected < 0.9  # neither perfect nor hopeless: every normalisation matters
    assert analysis.map_at_r(x, torch.tensor(y)) == pytest.approx(expected, rel=1e-12)


def test_effective_rank_uses_the_singular_values_themselves():
    # Roy & Vetterli: exp H(p), p_k = sigma_k / sum sigma. Singular values (3, 1): p = (3/4, 1/4).
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))   # 1.7547654
    plain = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=D64)
    assert analysis.effective_rank(plain, center=False) == pytest.approx(expected, rel=1e-12)
    centred = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=D64)  # sigma = (sqrt 18, sqrt 2)
    assert analysis.effective_rank(centred) == pytest.approx(expected, rel=1e-12)


def test_localisation_auc_scores_a_tie_as_one_half():
    # AUC of a bag = P(key > other) + P(tie) / 2: the key ties one other (1/2) and beats the second (1)
    scores = torch.tensor([[0.5, 0.5, 0.1]])
    labels = torch.tensor([[1, 0, 0]])
    assert analysis.localisation_auc(scores, labels) == pytest.approx(0.75)


def test_verification_roc_never_pairs_a_sample_with_itself():
    # same-class samples are opposite (cosine -1), different-class ones orthogonal (0): every genuine pair
    # scores below every impostor pair, AUC 0. A self-pair would be a genuine pair with cosine 1.
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=D64)
    roc = analysis.verification_roc(z, torch.tensor([0, 0, 1, 1]), pairs=200)
    assert roc["auc"] == 0.0


def test_knn_probe_uses_cosine_distance():
    # each test point is nearest (Euclidean) to the other class, but points the same way as its own class
    knn_probe = getattr(analysis, "knn_probe", None) or train.knn_probe  # probes move from train to analysis
    train_x = torch.tensor([[0.1, 0.0], [0.2, 0.01], [5.0, 3.0], [6.0, 4.0]], dtype=D64)
    train_y = torch.tensor([0, 0, 1, 1])
    test_x, test_y = torch.tensor([[5.0, 0.5], [0.05, 0.04]], dtype=D64), torch.tensor([0, 1])
    assert knn_probe(train_x, train_y, test_x, test_y, k=1) == 1.0


def test_feature_transform_normalises_each_view_vector():
    # Zhu et al.'s feature transformation works on L2-normalised embeddings: every view vector of [B, 2, D] has
    # norm 1 (normalised along D, not across the two views); with no transformation the views come back as such
    transform = getattr(analysis, "feature_transform", None) or data.feature_transform  # moving to data views
    views = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]], [[1.0, 1.0, 1.0], [0.0, 5.0, 0.0]]], dtype=D64)
    z, extra = transform(views)
    expected = [[[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]], [[3 ** -0.5] * 3, [0.0, 1.0, 0.0]]]
    assert torch.allclose(z, torch.tensor(expected, dtype=D64)) and extra.shape == (0, 3)


def test_gpw_dependence_looks_only_at_the_similarities_it_is_given():
    # the contrastive loss ignores a negative beyond its margin (distance sqrt(2 - 2S) >= 1, i.e. S <= 0.5): on
    # similarities below 0.5 its negative weight is constantly 0, so it depends on nothing there; over the
    # default range (up to 0.9) it depends on the pair's own similarity (and, through the mean over non-zero
    # pairs, on the other negatives)
    loss = losses.get("contrastive", neg_margin=1.0)
    assert analysis.gpw_dependence(loss, similarities=[-0.9, -0.5, -0.2, 0.2])["negative"] == set()
    assert "S" in analysis.gpw_dependence(loss)["negative"]
