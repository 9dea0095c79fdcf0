"""analysis.geometry: uniformity, alignment, tolerance, class similarity and centre angles, effective rank, views."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import unit

from workbench import analysis


def test_effective_rank_of_isotropic_and_collapsed_embeddings():
    g = torch.Generator().manual_seed(0)
    iso = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    assert 7.5 < analysis.effective_rank(iso) <= 8.0
    line = torch.randn(100, 1, generator=g, dtype=torch.float64) * torch.ones(1, 8, dtype=torch.float64)
    assert analysis.effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert analysis.effective_rank(torch.ones(5, 3)) == 0.0


def test_singular_value_spectrum_is_what_effective_rank_reads():
    g = torch.Generator().manual_seed(0)
    line = torch.randn(100, 1, generator=g, dtype=torch.float64) * torch.tensor([[1.0, 2.0, 0.0]], dtype=torch.float64)
    p = analysis.singular_value_spectrum(line)
    assert p.shape == (3,) and p.sum() == pytest.approx(1.0) and p[0] == pytest.approx(1.0)  # one direction
    z = torch.randn(300, 6, generator=g, dtype=torch.float64) * torch.tensor([4.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    p = analysis.singular_value_spectrum(z)
    assert (p[:-1] >= p[1:]).all()                                      # largest first
    assert float(torch.exp(-(p * p.log()).sum())) == pytest.approx(analysis.effective_rank(z))
    # scale-free: one point plus tiny isotropic jitter (a collapsed embedding) has a flat spectrum
    jitter = torch.ones(2000, 6, dtype=torch.float64) + 1e-4 * torch.randn(2000, 6, generator=g, dtype=torch.float64)
    assert analysis.effective_rank(jitter) > 5.8
    assert torch.equal(analysis.singular_value_spectrum(torch.ones(4, 3)), torch.zeros(3, dtype=torch.float64))


def test_contrastive_metrics():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, -0.1]])
    y = torch.tensor([0, 0, 1, 1])
    m = analysis.contrastive_metrics(x, y)
    z = F.normalize(x.double(), dim=1)
    assert m["uniformity"] == pytest.approx(float(analysis.uniformity(z)))
    assert m["tolerance"] == pytest.approx(float(z[0] @ z[1] + z[2] @ z[3]) / 2)
    assert 1.0 <= m["effective_rank"] <= 2.0


def test_positive_extrapolation_lowers_positive_similarity_and_interpolation_adds_negatives():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(32, 1, 6, generator=g)
    views = base + 0.3 * torch.randn(32, 2, 6, generator=g)
    plain = analysis.view_similarities(views)
    moved = analysis.view_similarities(views, extrapolation=1.0, interpolation=1.0,
                                       generator=torch.Generator().manual_seed(1))
    assert plain["positive"].shape == (32,) and plain["negative"].shape == (32 * 31,)
    assert (moved["positive"] <= plain["positive"] + 1e-9).all() and moved["positive"].mean() < plain["positive"].mean()
    assert moved["negative"].shape == (32 * 31 + 32 * 32,)
    again = analysis.view_similarities(views, extrapolation=1.0, interpolation=1.0,
                                       generator=torch.Generator().manual_seed(1))
    assert torch.equal(again["negative"], moved["negative"])  # the generator decides


def test_similarity_distributions_frame():
    snaps = [torch.randn(10, 2, 4, generator=torch.Generator().manual_seed(e)) for e in range(3)]
    frame = analysis.similarity_distributions(snaps, epochs=[0, 2])
    assert set(frame["epoch"]) == {0, 2} and set(frame["pair"]) == {"positive", "negative"}
    assert (frame["pair"] == "positive").sum() == 20 and len(frame) == 2 * (10 + 90)


def test_class_centre_angles_by_hand():
    # three classes, two points each at ±10° around 0°, 90° and 180°: centres at those angles (hand computation)
    degrees = torch.tensor([-10.0, 10.0, 80.0, 100.0, 170.0, 190.0], dtype=torch.float64).deg2rad()
    z, y = torch.stack([degrees.cos(), degrees.sin()], dim=1), torch.tensor([0, 0, 1, 1, 2, 2])
    stats = analysis.angular_stats(3 * z, y)  # the scale does not matter
    assert stats["min_centre_angle"] == pytest.approx(90.0)
    assert stats["mean_centre_angle"] == pytest.approx((90.0 + 180.0 + 90.0) / 3)
    assert stats["intra_spread"] == pytest.approx(10.0)
    assert analysis.class_similarity_stats(z, y)["min_centroid_angle"] == pytest.approx(90.0)
    # one class has no angle between centres
    assert math.isnan(analysis.angular_stats(z[:2], y[:2])["min_centre_angle"])
    assert math.isnan(analysis.class_similarity_stats(z[:2], y[:2])["min_centroid_angle"])


def test_uniformity_reference_values():
    # losses-metric-contrastive-margin.md §5: antipodal pair -> -8 (t=2); 0/90/180/270 deg -> -4.3963490;
    # identical points -> 0
    assert analysis.uniformity(unit(0, 180)).item() == pytest.approx(-8.0)
    assert analysis.uniformity(unit(0, 90, 180, 270)).item() == pytest.approx(-4.3963490, abs=1e-7)
    assert analysis.uniformity(unit(30, 30, 30)).item() == pytest.approx(0.0, abs=1e-12)


def test_uniformity_gradient_is_finite_for_coincident_points():
    x = unit(10, 10, 50).requires_grad_(True)
    analysis.uniformity(x).backward()
    assert torch.isfinite(x.grad).all()


def test_uniformity_needs_two_points():
    with pytest.raises(ValueError, match="at least 2"):
        analysis.uniformity(unit(0))


def test_alignment_reference_value():
    # §5: align(x, -x) = 4
    x = unit(0, 77, 140)
    assert analysis.alignment(x, -x).item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="same shape"):
        analysis.alignment(x, x[:2])


def test_tolerance_is_the_mean_same_class_cosine():
    x, y = unit(0, 60, 90, 180), torch.tensor([0, 0, 1, 1])
    assert analysis.tolerance(x, y) == pytest.approx((0.5 + math.cos(math.radians(90))) / 2)


def test_class_similarity_stats():
    x, y = unit(0, 10, 90, 100), torch.tensor([0, 0, 1, 1])
    stats = analysis.class_similarity_stats(x, y)
    assert stats["intra"] == pytest.approx(math.cos(math.radians(10)))
    assert stats["inter"] == pytest.approx(np.mean([math.cos(math.radians(a)) for a in (90, 100, 80, 90)]))
    assert stats["gap"] == pytest.approx(stats["intra"] - stats["inter"])
    assert stats["min_centroid_angle"] == pytest.approx(90.0)
