"""Deep clustering recipes (train.clustering, experiments.deep_clustering) and naive Bayes against logistic
regression (experiments.generative_vs_discriminative)."""

import numpy as np
import pytest
import torch

from workbench import analysis, experiments, losses, models
from workbench.train.clustering import fit_clustering, pretrain_autoencoder


def blobs(seed=0, per=40):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    y = torch.arange(3).repeat_interleave(per)
    return centres[y] + 0.5 * torch.randn(len(y), 4, generator=g), y


def test_pretraining_lowers_the_reconstruction_error_and_is_seeded():
    X, _ = blobs()
    curves = []
    for _ in range(2):
        ae = models.Autoencoder(4, 2, (16,), seed=0)
        curves.append(pretrain_autoencoder(ae, X, epochs=15, lr=1e-2, batch_size=32, seed=0))
    assert curves[0] == curves[1] and curves[0][-1] < 0.5 * curves[0][0]
    with pytest.raises(ValueError, match="corruption"):
        pretrain_autoencoder(ae, X, corruption=1.5)


@pytest.mark.parametrize("name", ["dec", "depict"])
def test_clustering_recovers_separated_blobs_and_sharpens_its_target(name):
    X, y = blobs()
    ae = models.Autoencoder(4, 3, (16,), seed=0)
    pretrain_autoencoder(ae, X, epochs=30, lr=1e-2, batch_size=32, seed=0)
    loss = losses.get(name, num_clusters=3, embedding_dim=3)
    out = fit_clustering(ae, loss, X, epochs=5, batch_size=32, seed=0)
    assert analysis.clustering_accuracy(y, out["assignments"]) == 1.0
    assert list(out["history"].columns) == ["epoch", "loss", "changed"] and len(out["targets"]) == 6

    def entropy(p):
        return float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())
    # the target is sharper (lower entropy) than the soft assignment it is computed from, at every epoch
    assert all(entropy(p) < entropy(q) for p, q in zip(out["targets"], out["soft"]))


def test_deep_clustering_reports_kmeans_and_final_scores():
    X, y = blobs(per=20)
    ae = models.Autoencoder(4, 3, (16,), seed=0)
    pretrain_autoencoder(ae, X, epochs=30, lr=1e-2, batch_size=32, seed=0)
    before = [p.clone() for p in ae.parameters()]
    out = experiments.deep_clustering(X, y, "dec", num_clusters=3, embedding_dim=3, epochs=3, autoencoder=ae)
    assert out["kmeans_acc"] == 1.0 and out["acc"] == 1.0 and out["nmi"] == pytest.approx(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, ae.parameters()))  # the given autoencoder is copied


def simulation(n=100, m_test=1000, seed=0):
    """Zheng et al.'s "easy" simulation (reference losses-wave2.md §6.5, ML-GSAI data/generate_data.py): K = 2,
    means -1 and +1 in every dimension, variance n on the first n/2 dimensions and 1 on the rest."""
    rng = np.random.default_rng(seed)
    std = np.sqrt(np.r_[np.full(n // 2, float(n)), np.ones(n - n // 2)])

    def draw(count):
        y = rng.integers(0, 2, count)
        return np.where(y[:, None] == 0, -1.0, 1.0) + std * rng.standard_normal((count, n)), y
    return draw(2000), draw(m_test)


def test_naive_bayes_needs_fewer_samples_than_logistic_regression():
    # reference §6.5 (n = 100, K = 2, 5 repeats): at m = 10 NB error 0, LR 0.335; at m = 500 both 0
    (Xtr, ytr), (Xte, yte) = simulation()
    table = experiments.generative_vs_discriminative(Xtr, ytr, Xte, yte, [10, 500])
    mean = table.groupby("m")[["nb_error", "lr_error"]].mean()
    assert mean.loc[10, "nb_error"] < 0.05 and mean.loc[10, "lr_error"] > 0.2
    assert mean.loc[500, "lr_error"] < 0.02
    assert len(table) == 6 and set(table.columns) == {"m", "seed", "nb_error", "lr_error"}
    with pytest.raises(ValueError, match="sizes"):
        experiments.generative_vs_discriminative(Xtr, ytr, Xte, yte, [0])


def test_gaussian_mean_race_table():
    table = experiments.gaussian_mean_race(4.0, noise_std=3.0, seeds=(0,), steps=60)
    assert set(table.objective) == {"nce", "compositional_nll"} and len(table) == 2
    assert table.set_index("objective").first_within["compositional_nll"] < 30


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_the_decoder_trains_only_with_a_reconstruction_weight(weight):
    # DEPICT's code adds the decoder's reconstruction error (weight 1); DEC trains the encoder alone
    X, _ = blobs()
    ae = models.Autoencoder(4, 3, (16,), seed=0)
    before = [p.detach().clone() for p in ae.decoder.parameters()]
    fit_clustering(ae, losses.get("dec", num_clusters=3, embedding_dim=3), X, epochs=1, batch_size=32,
                   reconstruction_weight=weight, seed=0)
    moved = [not torch.equal(a, p) for a, p in zip(before, ae.decoder.parameters())]
    assert all(moved) if weight else not any(moved)
