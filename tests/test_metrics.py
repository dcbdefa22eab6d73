"""Metrics give the right answer on inputs whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from gan.metrics import MIXTURES, MetricUnavailable, frechet_distance, inception_features, kernel_distance, label_coverage, mode_metrics

CEILING = 1 - math.exp(-4.5)  # P(r < 3 sigma) for a 2-D Gaussian: 98.9%


@pytest.mark.parametrize("name, k", [("ring", 8), ("grid", 25)])
def test_samples_of_the_true_mixture_score_every_mode_at_the_ceiling(name, k):
    mix = MIXTURES[name]
    scores = mode_metrics(mix.sample(2500, torch.Generator().manual_seed(0)), mix)
    assert scores["modes"] == k == scores["total_modes"]
    assert abs(scores["high_quality"] - CEILING) < 0.01
    assert scores["reverse_kl"] < 0.02


@pytest.mark.parametrize("name, k", [("ring", 8), ("grid", 25)])
def test_samples_of_one_mode_score_one_mode_and_log_k_reverse_kl(name, k):
    mix = MIXTURES[name]
    one = mix.means[3] + mix.std * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    scores = mode_metrics(one, mix)
    assert scores["modes"] == 1
    assert scores["reverse_kl"] == pytest.approx(math.log(k), rel=1e-9)


def test_samples_far_from_every_mode_are_not_high_quality():
    scores = mode_metrics(torch.full((100, 2), 50.0), MIXTURES["ring"])
    assert scores["modes"] == 0 and scores["high_quality"] == 0.0 and math.isinf(scores["reverse_kl"])


def test_frechet_distance_of_a_set_to_itself_is_zero_and_a_shift_adds_its_square():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 4, generator=g)
    y = torch.randn(20000, 4, generator=g)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0])
    expected = float((shift**2).sum())  # equal covariances: only ||mu_a - mu_b||^2 remains
    assert frechet_distance(x, y + shift) == pytest.approx(expected, abs=0.05)
    assert frechet_distance(x, y + 2 * shift) == pytest.approx(4 * expected, abs=0.1)


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    g = torch.Generator().manual_seed(2)
    sa, sb = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([2.0, 1.0, 0.5])
    a, b = torch.randn(40000, 3, generator=g) * sa, torch.randn(40000, 3, generator=g) * sb
    assert frechet_distance(a, b) == pytest.approx(float(((sa - sb) ** 2).sum()), abs=0.05)


def test_kernel_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(2000, 8, generator=g), torch.randn(2000, 8, generator=g)
    same, _ = kernel_distance(a, b, subsets=20, subset_size=500, generator=g)
    near, _ = kernel_distance(a, b + 0.5, subsets=20, subset_size=500, generator=g)
    far, _ = kernel_distance(a, b + 1.0, subsets=20, subset_size=500, generator=g)
    assert abs(same) < 0.01 and 0.01 < near < far


def test_label_coverage_counts_classes_and_measures_imbalance():
    uniform = label_coverage(torch.arange(1000) % 10, 10)
    assert uniform["classes_found"] == 10 and uniform["label_kl"] == pytest.approx(0.0, abs=1e-9)
    single = label_coverage(torch.full((1000,), 4), 10)
    assert single["classes_found"] == 1 and single["label_kl"] == pytest.approx(math.log(10), rel=1e-3)
    reference = torch.tensor([0] * 90 + [1] * 10)
    assert label_coverage(reference, 2, reference)["label_kl"] == pytest.approx(0.0, abs=1e-9)


def test_inception_features_fail_with_an_actionable_message_or_work():
    try:
        feats = inception_features(torch.rand(2, 3, 32, 32))
    except MetricUnavailable as error:
        assert "fid_classifier" in str(error)
    else:
        assert feats.shape == (2, 2048)
