"""The quality-over-time tooling: series kept per label and seed, a picture drawn without a plotting library."""

from __future__ import annotations

import doctest
import json
import os
import signal

import pytest

import gan.benchmark.curve
from gan.benchmark.curve import mean_curves, plot, record
from gan.cli import main

from .test_evaluate import TINY_28 as TINY_GAN_28


def test_docstring_examples_hold():
    assert doctest.testmod(gan.benchmark.curve).failed == 0


def series(label, seed, values, limit=None):
    return {
        "label": label,
        "seed": seed,
        "limit": limit,
        "points": [{"seconds": 10.0 * i, "fid_classifier": v} for i, v in enumerate(values)],
    }


def test_runs_accumulate_per_label_and_seed_and_a_rerun_replaces_its_seed(tmp_path):
    path = tmp_path / "curve.json"
    record(series("default", 0, [900, 300]), path)
    record(series("default", 1, [700, 100]), path)
    record(series("ada", 0, [800, 200]), path)
    table = record(series("default", 1, [500, 100]), path)  # seed 1 again: replaced, not added
    assert [r["seed"] for r in table["default"]] == [0, 1]
    assert mean_curves(table) == {"default": [(0.0, 700.0), (10.0, 200.0)], "ada": [(0.0, 800.0), (10.0, 200.0)]}
    assert "default, 1000 images" in mean_curves(record(series("default", 0, [5, 4], limit=1000), path))


def test_the_picture_is_a_png_with_one_colour_per_curve(tmp_path):
    from PIL import Image

    curves = {
        "default": [(0.0, 5000.0), (30.0, 400.0), (60.0, 180.0)],
        "ada": [(0.0, 5000.0), (30.0, 300.0), (60.0, 120.0)],
    }
    out = plot(curves, tmp_path / "c.png", title="Frechet distance", ylabel="Frechet distance", floor=75.0)
    img = Image.open(out).convert("RGB")
    colours = {img.getpixel((x, y)) for x in range(0, 900, 2) for y in range(0, 560, 2)}
    assert img.size == (900, 560) and (31, 119, 180) in colours and (255, 127, 14) in colours


def test_a_step_grid_without_a_positive_pace_is_refused_before_training(capsys, tmp_path):
    for bad in (["--every-steps", "0"], ["--every-steps", "100", "--pace", "-0.03"]):
        assert main(["benchmark", "curve", "--output", str(tmp_path / "runs"), *bad]) == 2
        assert "--every-steps must be >= 1 and --pace > 0" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_pace_given_after_the_runs_turns_their_steps_into_seconds_and_keeps_what_was_measured(tmp_path):
    from gan.benchmark.curve import set_pace

    run = {
        "label": "ada",
        "seed": 0,
        "points": [{"step": s, "seconds": s * 0.09, "fid_classifier": f} for s, f in ((0, 900), (1000, 300))],
    }
    table = set_pace(record(run, tmp_path / "c.json"), "ada", 0.04)
    assert mean_curves(table) == {"ada": [(0.0, 900.0), (40.0, 300.0)]}
    assert [p["measured_seconds"] for p in table["ada"][0]["points"]] == [0.0, 90.0] and table["ada"][0]["pace"] == 0.04


def test_draw_only_redraws_the_picture_of_earlier_runs_with_a_pace_and_trains_nothing(tmp_path, capsys):
    """Candidates measured on a shared machine are paced afterwards and drawn as one picture."""
    from PIL import Image

    path = tmp_path / "c.json"
    for label, seed, values in (("default", 0, (900, 300)), ("default", 1, (700, 100)), ("ada", 0, (800, 200))):
        run = series(label, seed, values)
        for i, point in enumerate(run["points"]):
            point["step"] = 1000 * i
        run["fid_floor"] = 75.0
        record(run, path)
    png = tmp_path / "c.png"
    assert (
        main(
            [
                "benchmark",
                "curve",
                "--draw-only",
                "--json",
                str(path),
                "--png",
                str(png),
                "--pace",
                "0.03",
                "--output",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    assert Image.open(png).size == (900, 560)
    assert mean_curves(json.loads(path.read_text())) == {
        "default": [(0.0, 800.0), (30.0, 200.0)],
        "ada": [(0.0, 800.0), (30.0, 200.0)],
    }
    assert not (tmp_path / "runs").exists()
    capsys.readouterr()
    (tmp_path / "bad.json").write_text("[1, 2]")
    (tmp_path / "no_points.json").write_text('{"default": [{"seed": 0}]}')
    for bad in ("bad.json", "no_points.json", "missing.json"):
        assert main(["benchmark", "curve", "--draw-only", "--json", str(tmp_path / bad), "--png", str(png)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gan: error: --json {tmp_path / bad}: expected the JSON") and err.count("\n") == 1


TINY_28 = dict(
    TINY_GAN_28,
    run={"steps": 1000, "log_every": 1000, "sample_every": 1000, "checkpoint_every": 1000, "progress": False},
)
TINY_READER = {
    "networks": {"reader": {"family": "conv", "source": "image[1,28,28]", "target": "categorical[10]", "width": 4}},
    "roles": {"classifier": "reader"},
    "loop": "likelihood",
    "data": {"name": "digits", "batch_size": 16, "holdout": 0.2},
    "run": {
        "steps": 2,
        "log_every": 2,
        "sample_every": 2,
        "checkpoint_every": 2,
        "progress": False,
        "name": "digits_classifier",
    },
}


@pytest.fixture
def tiny_curve(write_config, tmp_path):
    """A tiny digits GAN config, and a tiny digits classifier already in the runs folder (so none is trained)."""
    assert main(["train", str(write_config(TINY_READER, name="reader"))]) == 0
    return write_config(TINY_28, name="curve")


def test_a_seconds_budget_scores_at_every_interval_until_the_budget_is_spent(tiny_curve, tmp_path):
    out = tmp_path / "curve.json"
    assert (
        main(
            [
                "benchmark",
                "curve",
                str(tiny_curve),
                "--output",
                str(tmp_path / "runs"),
                "--seconds",
                "1.5",
                "--every",
                "0.5",
                "--samples",
                "20",
                "--json",
                str(out),
                "--png",
                str(tmp_path / "c.png"),
            ]
        )
        == 0
    )
    points = json.loads(out.read_text())["curve"][0]["points"]
    assert len(points) >= 3 and points[-1]["measured_seconds"] >= 1.5 and points[-1]["step"] < 1000


def test_ctrl_c_keeps_the_points_scored_so_far_and_runs_no_further_seed(tiny_curve, tmp_path, monkeypatch):
    from gan.loops.adversarial import Adversarial

    step = Adversarial.step

    def step_then_interrupt(self, clock, bar=None):
        step(self, clock, bar)
        if self.session.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Adversarial, "step", step_then_interrupt)
    out = tmp_path / "curve.json"
    code = main(
        [
            "benchmark",
            "curve",
            str(tiny_curve),
            "--output",
            str(tmp_path / "runs"),
            "--every-steps",
            "2",
            "--seeds",
            "0",
            "1",
            "--samples",
            "20",
            "--json",
            str(out),
            "--png",
            str(tmp_path / "c.png"),
        ]
    )
    assert code == 128 + signal.SIGINT
    runs = json.loads(out.read_text())["curve"]
    assert [r["seed"] for r in runs] == [0] and [p["step"] for p in runs[0]["points"]] == [0, 2]
