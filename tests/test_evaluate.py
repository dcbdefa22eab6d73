"""``gan evaluate``: valid JSON with the requested metrics, for toy mixtures and for images."""

from __future__ import annotations

import json

import pytest

from gan.cli import main

from .conftest import TINY_DIGITS, TINY_RING


def test_evaluate_a_ring_run_prints_mode_metrics_as_json(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_RING))]) == 0
    run = tmp_path / "runs" / "tiny"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metric", "modes", "--metric", "high_quality", "--samples", "500"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"modes", "high_quality", "total_modes", "samples"} and "reverse_kl" not in result
    assert 0 <= result["modes"] <= 8 and 0.0 <= result["high_quality"] <= 1.0 and result["samples"] == 500
    kept = json.loads((run / "evaluation.json").read_text())["metrics"]
    assert kept["modes"]["modes"] == result["modes"] and kept["high_quality"]["samples"] == 500


def test_evaluate_images_in_the_feature_space_of_our_own_classifier(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    reader = dict(TINY_DIGITS, networks={"reader": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4}},
                  roles={"classifier": "reader"}, loop="likelihood")
    assert main(["train", str(write_config(reader, name="reader"))]) == 0
    capsys.readouterr()
    code = main(["evaluate", str(tmp_path / "runs" / "tiny"), "--classifier", str(tmp_path / "runs" / "reader"), "--samples", "300"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("fid_classifier", "fid_classifier_floor", "kid_classifier", "label_classes_found", "label_kl"):
        assert key in result, result
    assert result["fid_classifier"] >= 0 and result["fid_classifier_floor"] >= 0
    assert result["fid_classifier"] > result["fid_classifier_floor"], "4 steps of training cannot match real data"


def test_evaluate_without_a_classifier_says_how_to_get_one(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    assert main(["evaluate", str(tmp_path / "runs" / "tiny")]) == 2
    assert "gan train configs/digits_classifier.yaml" in capsys.readouterr().err


def test_the_loop_logs_chosen_metrics_at_intervals(write_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = write_config(TINY_RING, metrics={"every": 4, "names": ["modes", "high_quality"], "samples": 200})
    assert main(["train", str(path)]) == 0
    events = EventAccumulator(str(tmp_path / "runs" / "tiny" / "logs"))
    events.Reload()
    assert [e.step for e in events.Scalars("metrics/modes")] == [4]
    assert "metrics/high_quality" in events.Tags()["scalars"]


def test_evaluate_keeps_each_metrics_latest_score_with_its_settings_and_writes_strict_json(write_config, tmp_path, capsys, monkeypatch):
    from gan import metrics as M

    assert main(["train", str(write_config(TINY_RING))]) == 0
    run = tmp_path / "runs" / "tiny"
    assert main(["evaluate", str(run), "--metric", "modes", "--samples", "300"]) == 0
    real = M.mode_metrics
    monkeypatch.setattr(M, "mode_metrics", lambda *a: {**real(*a), "reverse_kl": float("inf")})  # no high-quality sample
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metric", "reverse_kl", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert printed["reverse_kl"] is None and "no sample is high-quality" in printed["reverse_kl_note"]
    kept = json.loads((run / "evaluation.json").read_text(), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))["metrics"]
    assert set(kept) == {"modes", "reverse_kl"}, "the earlier result is kept"
    assert kept["modes"]["samples"] == 300 and kept["modes"]["seed"] == 0 and kept["modes"]["step"] == 4
    assert kept["reverse_kl"]["samples"] == 2500 and kept["reverse_kl"]["seed"] == 3 and kept["reverse_kl"]["reverse_kl"] is None
