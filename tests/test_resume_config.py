"""Resume does what the config says: new optimizer settings take effect and are recorded; a change that
would alter the data order is refused; the resolved config.yaml holds every value the run used."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan.cli import main

from .conftest import ROOT, TINY_DIGITS


def scalars(run, tag):
    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    return {e.step: e.value for e in events.Scalars(tag)}


@pytest.mark.parametrize("decay", ["none", "linear"])
def test_a_learning_rate_set_at_resume_is_the_one_the_next_step_uses(write_config, tmp_path, decay):
    assert main(["train", str(write_config(TINY_DIGITS, run={"steps": 4, "lr_decay": decay, "log_every": 1}))]) == 0
    run = tmp_path / "runs" / "tiny"
    assert (
        main(
            [
                "train",
                "--resume",
                str(run),
                "--set",
                "run.steps=8",
                "--set",
                "optimizers.generator.lr=0.01",
                "--set",
                "optimizers.generator.weight_decay=0.5",
            ]
        )
        == 0
    )
    lr = scalars(run, "generator/lr")
    expected = 0.01 if decay == "none" else 0.01 * (1 - 4 / 8)  # step 5 is scheduled at t = 4/8
    assert lr[5] == pytest.approx(expected), lr
    assert scalars(run, "discriminator/lr")[5] == pytest.approx(2e-4 if decay == "none" else 2e-4 * 0.5)


@pytest.mark.parametrize(
    "decay, fall",
    [("linear", [0.75, 0.5, 0.25]), ("sqrt", [1 - 0.25**0.5, 1 - 0.5**0.5, 1 - 0.75**0.5])],
)
def test_a_decay_over_the_last_share_holds_the_rate_and_then_falls(write_config, tmp_path, decay, fall):
    """run.lr_decay_share 0.5 over 8 steps: the configured rate for the first half, then a fall to 0 of the chosen
    shape, for both roles (the rate is a function of the step alone, as the decay over the whole run is)."""
    run_cfg = {"steps": 8, "lr_decay": decay, "lr_decay_share": 0.5, "log_every": 1}
    assert main(["train", str(write_config(TINY_DIGITS, run=run_cfg))]) == 0
    whole = scalars(tmp_path / "runs" / "tiny", "generator/lr")
    held, falling = [whole[s] for s in (1, 2, 3, 4, 5)], [whole[s] for s in (6, 7, 8)]
    assert held == pytest.approx([2e-4] * 5), whole  # step s is scheduled at step s - 1
    assert falling == pytest.approx([2e-4 * f for f in fall]), whole
    assert scalars(tmp_path / "runs" / "tiny", "discriminator/lr")[7] == pytest.approx(2e-4 * fall[1])


def test_values_set_at_resume_are_recorded_logged_and_kept_by_a_later_resume(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    run = tmp_path / "runs" / "tiny"
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "run.steps=6", "--set", "optimizers.generator.lr=0.01"]) == 0
    out = capsys.readouterr().out
    line = [l for l in out.splitlines() if l.startswith("changed at resume")]  # noqa: E741
    assert line == [
        "changed at resume: optimizers.generator.lr 0.0002 -> 0.01, run.steps 4 -> 6 (recorded in "
        f"{run / 'config.yaml'})"
    ], out
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optimizers"]["generator"]["lr"] == 0.01 and saved["run"]["steps"] == 6
    assert saved["run"]["output"] == str(tmp_path / "runs")
    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    texts = [t for t in events.Tags()["tensors"] if "changed_at_resume" in t]
    assert texts, events.Tags()
    assert not list(run.glob(".*.tmp")), "written atomically"
    # a later plain resume keeps the new values: nothing changes, nothing to say
    assert main(["train", "--resume", str(run), "--set", "run.steps=8"]) == 0
    assert "changed at resume: run.steps 6 -> 8" in capsys.readouterr().out
    assert scalars(run, "generator/lr")[8] == pytest.approx(0.01)


@pytest.mark.parametrize(
    "key,value",
    [
        ("data.batch_size", 8),
        ("run.seed", 3),
        ("run.grad_accum", 2),
        ("objective.d_steps", 2),
        ("optimizers.generator.name", "sgd"),
    ],
)
def test_a_change_that_alters_the_data_order_is_refused_in_one_line_naming_the_key(
    write_config, tmp_path, capsys, key, value
):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    run = tmp_path / "runs" / "tiny"
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "run.steps=6", "--set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"gan: error: --set {key}={value} at resume: the run was trained with {key}=")
        and err.count("\n") == 1
    ), err
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before, "a refused resume writes nothing"


def test_a_run_started_from_another_runs_weights_resumes_from_another_directory(write_config, tmp_path):
    """init: is read when a run starts; at resume the weights come from the checkpoint, so the init run may be gone."""
    assert main(["train", str(write_config(TINY_DIGITS, name="source"))]) == 0
    init = {"run": "runs/source", "network": "critic"}  # relative: only found from tmp_path
    cfg = dict(
        TINY_DIGITS, networks={**TINY_DIGITS["networks"], "critic": {**TINY_DIGITS["networks"]["critic"], "init": init}}
    )
    path = write_config(cfg, name="started")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    first = subprocess.run(
        [sys.executable, "-m", "gan", "train", str(path)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr[-2000:]
    again = subprocess.run(
        [sys.executable, "-m", "gan", "train", "--resume", str(tmp_path / "runs" / "started"), "--set", "run.steps=6"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "loaded" not in again.stdout


def test_the_resolved_config_holds_the_optimizers_left_to_their_defaults(write_config, tmp_path):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    saved = yaml.safe_load((tmp_path / "runs" / "tiny" / "config.yaml").read_text())
    assert saved["optimizers"]["generator"] == {
        "name": "adam",
        "lr": 2e-4,
        "betas": [0.5, 0.999],
        "weight_decay": 0.0,
        "implementation": "auto",
    }
    assert saved["optimizers"]["discriminator"]["lr"] == 2e-4
