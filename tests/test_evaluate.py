"""``gan evaluate``: valid JSON with the requested metrics, for toy mixtures and for images."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gan.cli import main
from networks import Image

from .conftest import TINY_DIGITS, TINY_RING


def test_the_metrics_evaluate_scores_are_the_names_a_config_may_ask_for():
    """A name the config accepts but evaluate does not know would stop a run at its first scoring; the reverse could
    never be asked for."""
    from gan import config as C
    from gan.measure.metric_registry import METRICS, fitting

    for data in ("ring", "sklearn_digits", "stacked_digits"):
        accepted = [n for n in METRICS if not _refused(C.check_metrics, {"names": [n]}, data)]
        assert accepted == list(fitting(data)), data


def _refused(check, metrics, data) -> bool:
    from gan.config import ConfigError

    try:
        check(metrics, data)
    except ConfigError:
        return True
    return False


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
    reader = dict(
        TINY_DIGITS,
        networks={"reader": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4}},
        roles={"classifier": "reader"},
        loop="likelihood",
    )
    assert main(["train", str(write_config(reader, name="reader"))]) == 0
    capsys.readouterr()
    code = main(
        [
            "evaluate",
            str(tmp_path / "runs" / "tiny"),
            "--classifier",
            str(tmp_path / "runs" / "reader"),
            "--samples",
            "1200",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("fid_classifier", "fid_classifier_floor", "kid_classifier", "label_classes_found", "label_kl"):
        assert key in result, result
    # what a reader of a grid of the first 1,000 samples would find: never more than all 1,200 show
    assert 1 <= result["label_classes_found_in_1000"] <= result["label_classes_found"] <= 10, result
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


TINY_28 = {
    "networks": {
        "painter": {"family": "conv", "source": "noise[8]", "target": "image[1,28,28]", "width": 4},
        "critic": {"family": "conv", "source": "image[1,28,28]", "target": "bernoulli", "width": 4},
    },
    "roles": {"generator": "painter", "discriminator": "critic"},
    "loop": "adversarial",
    "data": {"name": "digits", "batch_size": 16},
    "run": {"steps": 2, "log_every": 1, "sample_every": 2, "checkpoint_every": 2, "progress": False},
}


def test_evaluate_on_the_digits_with_no_flags_trains_the_classifier_once_and_reuses_it(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_28))]) == 0
    run, cached = tmp_path / "runs" / "tiny", tmp_path / "runs" / "digits_classifier"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--samples", "200"]) == 0
    out = capsys.readouterr()
    said = [line for line in out.err.splitlines() if "digits_classifier" in line and "gan evaluate" in line]
    assert len(said) == 1 and str(cached) in said[0], out.err[-2000:]
    assert "held-out accuracy" in out.err
    result = json.loads(out.out)
    for key in (
        "fid_classifier",
        "fid_classifier_floor",
        "precision",
        "recall",
        "precision_real",
        "recall_real",
        "density",
        "coverage",
        "density_real",
        "coverage_real",
    ):
        assert key in result, result
    assert result["precision_real"] > 0.5 and result["coverage_real"] > 0.5  # two halves of the digits overlap
    made = (cached / "networks").stat().st_mtime_ns
    assert main(["evaluate", str(run), "--samples", "200", "--metric", "precision_recall"]) == 0
    again = capsys.readouterr()
    assert "training the digits classifier" not in again.err and (cached / "networks").stat().st_mtime_ns == made
    assert set(json.loads(again.out)) >= {"precision", "recall"}


class _ChannelReader(torch.nn.Module):
    """A stand-in classifier of one channel: the class is the pixel value times ten (images of constant value)."""

    source = Image(1, 4, 4, low=0.0, high=1.0)

    def forward(self, x):
        digit = (x.mean(dim=(1, 2, 3)) * 10).round().long().clamp(0, 9)
        return torch.nn.functional.one_hot(digit, 10).float()


def test_stacked_modes_counts_triples_of_classes_and_their_kl_to_uniform():
    from gan.measure.shipped_metrics import stacked_modes

    def pictures(triples):
        return torch.tensor(triples, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 4, 4) / 10

    every = pictures([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])  # each mode once
    scores = stacked_modes(_ChannelReader(), every)
    assert scores["stacked_modes"] == 1000 and abs(scores["stacked_kl"]) < 1e-9
    two = stacked_modes(_ChannelReader(), pictures([[1, 2, 3], [3, 2, 1]] * 50))
    assert two["stacked_modes"] == 2 and two["stacked_kl"] == pytest.approx(
        math.log(500), rel=1e-2
    )  # log(1000 / 2), less the eps of label_coverage


def test_stacked_modes_reads_the_real_pictures_at_the_samples_count_as_reference():
    """A histogram of few draws is far from flat, so the real pictures' KL is read again at the samples' count."""
    from gan.measure.shipped_metrics import stacked_modes

    def pictures(triples):
        return torch.as_tensor(triples, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 4, 4) / 10

    every = [[a, b, c] for a in range(10) for b in range(10) for c in range(10)]
    real = type("Real", (), {"x": pictures(every), "__len__": lambda self: 1000})()
    n = 20_000
    drawn = pictures([every[i] for i in torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(1))])
    scores = stacked_modes(_ChannelReader(), drawn, real)
    assert scores["stacked_kl_real"] == pytest.approx(0.0, abs=1e-9)  # every mode once: flat
    # Drawing n from a flat histogram leaves a KL of about (k - 1) / 2n, for the reference and the samples alike.
    assert scores["stacked_kl_real_resampled"] == pytest.approx(999 / (2 * n), rel=0.1)
    assert scores["stacked_kl_uniform"] == pytest.approx(999 / (2 * n), rel=0.1)
    assert abs(scores["stacked_kl"] - scores["stacked_kl_real_resampled"]) < 4 * scores["stacked_kl_real_resampled_sd"]
    assert scores["stacked_kl_real_resampled_sd"] > 0
    # A skewed real set (one mode in ten twice as common) lifts the reference above the flat floor.
    skewed = type("Real", (), {"x": pictures(every + every[:100]), "__len__": lambda self: 1100})()
    lifted = stacked_modes(_ChannelReader(), drawn, skewed)["stacked_kl_real_resampled"]
    assert lifted > scores["stacked_kl_real_resampled"] + 0.02  # the skew's own KL to uniform is 0.031


def test_evaluate_keeps_each_metrics_latest_score_with_its_settings_and_writes_strict_json(
    write_config, tmp_path, capsys, monkeypatch
):
    from gan.measure import metrics as M

    assert main(["train", str(write_config(TINY_RING))]) == 0
    run = tmp_path / "runs" / "tiny"
    assert main(["evaluate", str(run), "--metric", "modes", "--samples", "300"]) == 0
    real = M.mode_metrics
    monkeypatch.setattr(
        M, "mode_metrics", lambda *a: {**real(*a), "reverse_kl": float("inf")}
    )  # no high-quality sample
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metric", "reverse_kl", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert printed["reverse_kl"] is None and "no sample is high-quality" in printed["reverse_kl_note"]
    kept = json.loads(
        (run / "evaluation.json").read_text(), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}")
    )["metrics"]
    assert set(kept) == {"modes", "reverse_kl"}, "the earlier result is kept"
    assert kept["modes"]["samples"] == 300 and kept["modes"]["seed"] == 0 and kept["modes"]["step"] == 4
    assert (
        kept["reverse_kl"]["samples"] == 2500
        and kept["reverse_kl"]["seed"] == 3
        and kept["reverse_kl"]["reverse_kl"] is None
    )


def _another_trainer_holds(folder):
    """A run lock on ``folder`` naming a live process that is not this evaluation's (this test's PID, not held here)."""
    import os
    import socket

    from gan.runs.folder import RunLock

    folder.mkdir(exist_ok=True)
    (folder / RunLock.NAME).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))


def _classifier_appears(monkeypatch, folder, after: float = 0.3):
    """The other trainer ends after ``after`` seconds: its lock goes and the folder holds a classifier from then on."""
    import threading

    from gan.measure import evaluation as E
    from gan.runs.folder import RunError, RunLock

    trained = threading.Event()

    def classifier_in(path):
        if not trained.is_set():
            raise RunError("no classifier yet")
        return "reader"

    def finish():
        trained.set()
        (folder / RunLock.NAME).unlink()

    monkeypatch.setattr(E, "_classifier_in", classifier_in)
    timer = threading.Timer(after, finish)
    timer.start()
    return timer, trained


def test_an_evaluation_that_finds_the_classifier_being_trained_waits_for_it(tmp_path, monkeypatch, capsys):
    """A second evaluation (or a benchmark) started while the first trains the classifier uses it when it is done."""
    from gan.measure import evaluation as E

    folder = tmp_path / "digits_classifier"
    _another_trainer_holds(folder)
    timer, trained = _classifier_appears(monkeypatch, folder)
    try:
        assert E.digits_classifier(tmp_path) == folder
    finally:
        timer.cancel()
    assert trained.is_set() and "waiting for the digits classifier" in capsys.readouterr().err


def test_two_evaluations_starting_together_share_one_classifier(tmp_path, monkeypatch, capsys):
    """Both found no folder; the other took it first, so this one's training stops at its lock: wait and use the
    other's."""
    import gan.loops.setup as setup
    from gan.measure import evaluation as E
    from gan.runs.folder import RunError

    folder = tmp_path / "digits_classifier"
    started = {}

    def train_loses_the_race(cfg):
        _another_trainer_holds(folder)
        started["timer"], started["trained"] = _classifier_appears(monkeypatch, folder)
        raise RunError(f"run folder {str(folder)!r} is in use by another trainer")

    monkeypatch.setattr(setup, "train", train_loses_the_race)
    try:
        assert E.digits_classifier(tmp_path) == folder
    finally:
        started["timer"].cancel()
    assert started["trained"].is_set() and "waiting for the digits classifier" in capsys.readouterr().err


def test_a_failure_of_this_evaluations_own_classifier_training_is_not_hidden(tmp_path, monkeypatch):
    import gan.loops.setup as setup
    from gan.measure import evaluation as E
    from gan.runs.folder import RunError

    def train_fails(cfg):
        (tmp_path / "digits_classifier").mkdir()
        raise RunError("run.output: cannot create the run folder")

    monkeypatch.setattr(setup, "train", train_fails)
    with pytest.raises(RunError, match="cannot create the run folder"):
        E.digits_classifier(tmp_path)


def test_a_classifier_folder_left_half_made_by_a_dead_process_is_named_with_what_to_do(tmp_path, monkeypatch):
    """A dead trainer's lock is not waited on: the folder is named at once, with what to do."""
    import socket
    import subprocess

    from gan.measure import evaluation as E
    from gan.runs.folder import RunError, RunLock

    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = tmp_path / "digits_classifier"
    folder.mkdir()
    (folder / RunLock.NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    monkeypatch.setattr(E.time, "sleep", lambda s: pytest.fail("waited on a dead process's lock"))
    with pytest.raises(RunError, match="digits_classifier exists but holds no trained classifier; remove it"):
        E.digits_classifier(tmp_path)
