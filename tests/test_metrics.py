"""Metrics give the right answer on inputs whose answer is known."""

from __future__ import annotations

import doctest
import math
import sys

import numpy as np
import pytest
import torch

import gan.data.mixtures
import gan.measure.metrics
from gan.data import MIXTURES
from gan.measure.metrics import (
    MetricUnavailable,
    density_coverage,
    frechet_distance,
    frechet_distances,
    inception_features,
    kernel_distance,
    label_coverage,
    mode_metrics,
    precision_recall,
)

from .conftest import ROOT

CEILING = 1 - math.exp(-4.5)  # P(r < 3 sigma) for a 2-D Gaussian: 98.9%


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_docstring_examples_hold():
    assert doctest.testmod(gan.measure.metrics).failed == 0
    assert doctest.testmod(gan.data.mixtures).failed == 0


# -- toy mixtures ---------------------------------------------------------------------
def test_mixtures_have_the_pacgan_means_and_deviations():
    ring, grid = MIXTURES["ring"], MIXTURES["grid"]
    assert ring.means.shape == (8, 2) and ring.std == 0.01
    assert torch.allclose(ring.means.norm(dim=1), torch.ones(8))
    assert grid.means.shape == (25, 2) and grid.std == 0.05
    assert sorted(set(grid.means[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


@pytest.mark.parametrize("name, k", [("ring", 8), ("grid", 25)])
def test_samples_of_the_true_mixture_score_every_mode_at_the_ceiling(name, k):
    mix = MIXTURES[name]
    scores = mode_metrics(mix.sample(2500, seeded(0)), mix)
    assert scores["modes"] == k == scores["total_modes"]
    assert abs(scores["high_quality"] - CEILING) < 0.01
    assert scores["reverse_kl"] < 0.02


@pytest.mark.parametrize("name, k", [("ring", 8), ("grid", 25)])
def test_samples_of_one_mode_score_one_mode_and_log_k_reverse_kl(name, k):
    mix = MIXTURES[name]
    one = mix.means[3] + mix.std * torch.randn(2500, 2, generator=seeded(1))
    scores = mode_metrics(one, mix)
    assert scores["modes"] == 1
    assert abs(scores["high_quality"] - CEILING) < 0.01
    assert scores["reverse_kl"] == pytest.approx(math.log(k), rel=1e-9)


def test_samples_far_from_every_mode_are_not_high_quality():
    scores = mode_metrics(torch.full((100, 2), 50.0), MIXTURES["ring"])
    assert scores["modes"] == 0 and scores["high_quality"] == 0.0 and math.isinf(scores["reverse_kl"])


def test_samples_just_outside_three_deviations_do_not_capture_a_mode():
    mix = MIXTURES["grid"]
    inside, outside = (
        mix.means[:1] + torch.tensor([[2.9 * mix.std, 0.0]]),
        mix.means[1:2] + torch.tensor([[0.0, 3.1 * mix.std]]),
    )
    scores = mode_metrics(torch.cat([inside, outside]), mix)
    assert scores["modes"] == 1 and scores["high_quality"] == 0.5


def test_diverged_samples_count_as_low_quality_and_points_of_the_wrong_width_are_refused():
    scores = mode_metrics(torch.tensor([[float("nan"), 0.0], [1.0, 0.0]]), MIXTURES["ring"])
    assert scores["modes"] == 1 and scores["high_quality"] == 0.5
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        mode_metrics(torch.zeros(10, 3), MIXTURES["ring"])


# -- Frechet distance ---------------------------------------------------------------------
def test_frechet_distance_of_a_set_to_itself_is_zero_and_a_shift_adds_its_square():
    g = seeded(0)
    x, y = torch.randn(20000, 4, generator=g), torch.randn(20000, 4, generator=g)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0])
    expected = float((shift**2).sum())  # equal covariances: only ||mu_a - mu_b||^2 remains
    assert frechet_distance(x, y + shift) == pytest.approx(expected, abs=0.05)
    assert frechet_distance(x, y + 2 * shift) == pytest.approx(4 * expected, abs=0.1)


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    g = seeded(2)
    sa, sb = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([2.0, 1.0, 0.5])
    a, b = torch.randn(40000, 3, generator=g) * sa, torch.randn(40000, 3, generator=g) * sb
    assert frechet_distance(a, b) == pytest.approx(float(((sa - sb) ** 2).sum()), abs=0.05)  # sum (sigma_a - sigma_b)^2


@pytest.mark.parametrize("rows", [200, 5], ids=["full_rank", "fewer_samples_than_features"])
def test_frechet_distance_agrees_with_the_reference_sqrtm_formula(rows):
    from scipy import linalg

    g = seeded(4)
    a = torch.randn(rows, 6, generator=g) @ torch.randn(6, 6, generator=g)
    b = torch.randn(rows, 6, generator=g) @ torch.randn(6, 6, generator=g) + 0.3
    ca, cb = np.cov(a.double().numpy(), rowvar=False), np.cov(b.double().numpy(), rowvar=False)
    root = linalg.sqrtm(ca @ cb).real  # the reference computation (Heusel et al.'s code)
    reference = ((a.double().mean(0) - b.double().mean(0)) ** 2).sum().item() + np.trace(ca + cb - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6, abs=1e-6)


def test_a_sample_of_the_real_distribution_reads_the_floor_at_the_floors_size_but_below_it_at_twice_that():
    """The Frechet distance's bias shrinks with the sample: a perfect model scored on every real image against all of
    them reads below a floor measured on halves. Measured as the floor is (half the samples, against the same real
    half), it reads the floor, so a ratio to the floor below 1 cannot flatter."""
    from types import SimpleNamespace

    from gan.measure.shipped_metrics import fid_classifier

    g = torch.Generator().manual_seed(0)
    real, perfect = torch.randn(2000, 32, generator=g), torch.randn(2000, 32, generator=g)
    out = fid_classifier(SimpleNamespace(classifier_features=(real, perfect), seed=0))
    assert out["fid_classifier"] < 0.6 * out["fid_classifier_floor"]  # the whole sets: about half the bias
    assert out["fid_classifier_half"] == pytest.approx(out["fid_classifier_floor"], rel=0.1)
    shifted = fid_classifier(SimpleNamespace(classifier_features=(real, perfect + 0.2), seed=0))
    assert shifted["fid_classifier_half"] > 1.1 * shifted["fid_classifier_floor"]
    # fewer samples than a half holds would not be measured as the floor is: left out, not mislabelled
    few = fid_classifier(SimpleNamespace(classifier_features=(real, perfect[:999]), seed=0))
    assert "fid_classifier_half" not in few and few["fid_classifier_floor"] == out["fid_classifier_floor"]


def test_distances_to_one_reference_equal_the_distances_taken_one_by_one():
    g = torch.Generator().manual_seed(1)
    ref, x, y = (torch.randn(300, 6, generator=g) * s + s for s in (1.0, 2.0, 0.5))
    assert frechet_distances(ref, x, y) == pytest.approx([frechet_distance(ref, x), frechet_distance(ref, y)], rel=1e-9)
    assert frechet_distances(ref, x)[0] == pytest.approx(frechet_distance(x, ref), rel=1e-9)  # symmetric
    with pytest.raises(ValueError, match="feature widths differ"):
        frechet_distances(ref, x, torch.randn(300, 5))


def test_feature_distances_refuse_mismatched_widths_and_diverged_features():
    a = torch.randn(10, 4)
    for metric in (frechet_distance, kernel_distance):
        with pytest.raises(ValueError, match=r"widths differ: \[10, 4\] vs \[10, 5\]"):
            metric(a, torch.randn(10, 5))
        with pytest.raises(ValueError, match="1 of 10 rows with NaN"):
            metric(a, torch.cat([torch.randn(9, 4), torch.full((1, 4), float("nan"))]))


# -- kernel distance ------------------------------------------------------------------
def test_kernel_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = seeded(3)
    a, b = torch.randn(1000, 8, generator=g), torch.randn(1000, 8, generator=g)
    same, _ = kernel_distance(a, b, subsets=10, subset_size=300, generator=g)
    near, _ = kernel_distance(a, b + 0.5, subsets=10, subset_size=300, generator=g)
    far, _ = kernel_distance(a, b + 1.0, subsets=10, subset_size=300, generator=g)
    assert abs(same) < 0.01 and 0.05 < near < far


def test_kernel_distance_is_the_unbiased_mmd_with_the_cubic_kernel_by_hand():
    x, y = (
        torch.tensor([[0.0, 0.0], [1.0, 1.0]]),
        torch.tensor([[2.0, 2.0], [3.0, 3.0]]),
    )  # (u, u).(v, v) / 2 + 1 = uv + 1
    within_x, within_y = 1.0, (2 * 3 + 1) ** 3  # the off-diagonal pairs only
    across = (1 + 1 + 3**3 + 4**3) / 4  # all four pairs
    mean, std = kernel_distance(x, y, subsets=1)
    assert mean == pytest.approx(within_x + within_y - 2 * across) and std == 0.0


def test_kernel_distance_is_repeatable_and_leaves_the_global_rng_alone():
    a, b = torch.randn(300, 4, generator=seeded(5)), torch.randn(300, 4, generator=seeded(6))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first, second = kernel_distance(a, b, subsets=3, subset_size=100), kernel_distance(a, b, subsets=3, subset_size=100)
    assert first == second and torch.equal(torch.get_rng_state(), before)


# -- label coverage -------------------------------------------------------------------
def test_label_coverage_counts_classes_and_measures_imbalance():
    uniform = label_coverage(torch.arange(1000) % 10, 10)
    assert uniform["classes_found"] == 10 and uniform["label_kl"] == pytest.approx(0.0, abs=1e-9)
    single = label_coverage(torch.full((1000,), 4), 10)
    assert single["classes_found"] == 1 and single["label_kl"] == pytest.approx(math.log(10), rel=1e-4)
    reference = torch.tensor([0] * 90 + [1] * 10)
    assert label_coverage(reference, 2, reference)["label_kl"] == pytest.approx(0.0, abs=1e-9)
    assert label_coverage(torch.tensor([0, 1]), 2, reference)["label_kl"] == pytest.approx(
        0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1), rel=1e-4
    )


def test_label_coverage_refuses_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"0\.\.9, got labels in 0\.\.10"):
        label_coverage(torch.tensor([0, 10]), 10)


# -- Inception features ---------------------------------------------------------------
def test_inception_features_fail_with_an_actionable_message_or_work():
    try:
        feats = inception_features(torch.rand(2, 3, 32, 32))
    except MetricUnavailable as error:
        assert "Inception-v3 weights could not be loaded" in str(error) and "fid_classifier" in str(error)
    else:
        assert feats.shape == (2, 2048)


def test_inception_features_without_torch_fidelity_say_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # None in sys.modules makes the import fail
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", None)
    with pytest.raises(MetricUnavailable) as caught:
        inception_features(torch.rand(2, 1, 28, 28))
    message = str(caught.value)
    assert "Inception-v3 weights could not be loaded" in message
    assert "pip install torch-fidelity" in message and "--metric fid_classifier" in message


def test_inception_features_offline_with_torch_fidelity_raise_metric_unavailable(monkeypatch):
    extractor = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(extractor, "load_state_dict_from_url", offline)
    with pytest.raises(MetricUnavailable, match="no network and no cached copy"):
        inception_features(torch.rand(2, 3, 32, 32))


def test_inception_features_batch_grey_and_colour_images_in_order(monkeypatch):
    extractor = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    # random weights: this checks our wrapping (uint8, channels, batching), not Inception itself
    monkeypatch.setattr(extractor, "load_state_dict_from_url", lambda *args, **kwargs: None)
    monkeypatch.setattr(extractor.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)

    def features(images, **kwargs):
        torch.manual_seed(0)  # the same random weights in every call
        return inception_features(images, **kwargs)

    grey = torch.rand(2, 1, 16, 16, generator=seeded(7))
    one_batch, two_batches = features(grey), features(grey, batch=1)
    assert one_batch.shape == (2, 2048) and one_batch.dtype == torch.float64
    torch.testing.assert_close(one_batch, two_batches, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(one_batch, features(grey.expand(-1, 3, -1, -1)))
    assert not torch.allclose(one_batch[0], one_batch[1])


# -- k-NN manifolds -------------------------------------------------------------------
def test_identical_sets_have_precision_recall_and_coverage_one():
    x = torch.randn(200, 8, generator=seeded(0))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(x, x)["coverage"] == 1.0


def test_disjoint_far_apart_sets_score_zero_everywhere():
    x = torch.randn(200, 8, generator=seeded(0))
    assert precision_recall(x, x + 50) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(x, x + 50) == {"density": 0.0, "coverage": 0.0}


def test_precision_recall_density_coverage_match_their_definitions_by_hand():
    # k = 1 on a line. Real balls (to the nearest other real point): 0 +- 1, 1 +- 1, 3 +- 2, 7 +- 4.
    # Generated balls: 0.5 +- 5, 5.5 +- 5, 12 +- 6.5, 20 +- 8.
    real = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    fake = torch.tensor([[0.5], [5.5], [12.0], [20.0]])
    # precision: 0.5 (in 0 +- 1) and 5.5 (in 7 +- 4) of four; recall: every real point lies in some generated ball
    assert precision_recall(real, fake, k=1) == {"precision": 0.5, "recall": 1.0}
    # density: 0.5 lies in two real balls, 5.5 in one: 3 / (k * 4);
    # coverage: the balls of 0, 1 and 7 hold a sample, 3 +- 2 none
    assert density_coverage(real, fake, k=1) == {"density": 0.75, "coverage": 0.75}


def test_samples_of_one_distribution_score_near_one_and_a_collapsed_set_loses_recall():
    real, same = torch.randn(1000, 4, generator=seeded(0)), torch.randn(1000, 4, generator=seeded(1))
    scores = precision_recall(real, same) | density_coverage(real, same)
    assert all(0.85 < v < 1.15 for v in scores.values()), scores
    collapsed = real[:1].repeat(1000, 1) + 0.01 * torch.randn(1000, 4, generator=seeded(2))
    pr = precision_recall(real, collapsed)
    assert pr["precision"] == 1.0 and pr["recall"] < 0.05, pr


def _kid_parts_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("kid_parts", ROOT / "scripts" / "kid_parts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kid_parts_tells_a_shift_of_the_mean_from_a_change_of_shape():
    """scripts/kid_parts.py backs BENCHMARKS.md's reading of the digits' KID as a shift of the features' mean: a moved
    copy of a distribution must read as all mean, a rescaled one as shape."""
    parts = _kid_parts_script().kid_parts
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(800, 16, generator=g), torch.randn(800, 16, generator=g)
    moved, rescaled = parts(a, b + 0.4), parts(a, b * 1.6)
    assert moved["kid"] > 0.02 and abs(moved["kid_centred"]) < 0.1 * moved["kid"], moved
    assert moved["mean_term"] == pytest.approx(16 * 0.4**2, rel=0.2)
    assert rescaled["kid_centred"] > 0.5 * rescaled["kid"] > 0, rescaled


def test_kid_parts_names_a_folder_that_is_not_a_run_and_a_run_with_nothing_to_draw(tmp_path, capsys):
    script = _kid_parts_script()
    assert script.main([str(tmp_path / "nowhere")]) == 2
    assert f"{tmp_path / 'nowhere'}: no config.yaml there" in capsys.readouterr().err
    run = tmp_path / "reader"  # a run whose roles hold no generator: a classifier's
    run.mkdir()
    (run / "config.yaml").write_text((ROOT / "configs" / "digits_classifier.yaml").read_text())
    assert script.main([str(run)]) == 2
    assert "no network has the role 'generator' there (roles: classifier)" in capsys.readouterr().err
