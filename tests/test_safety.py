"""Nothing lost, whatever the user types: names that stay inside the run folder, overwrites that
delete only runs, resumes that find a checkpoint that loads, durable saves, one trainer per run,
and configs found by name from any install.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from gan import config as C
from gan import load
from gan.cli import main
from gan.runs.folder import RunError

from .conftest import ROOT, TINY_DIGITS, two_processes
from .test_survival import start, wait_for


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("gan: error: ") and "Traceback" not in err, err[-2000:]
    return lines[-1]


def trained(write_config, tmp_path, **sections) -> Path:
    assert main(["train", str(write_config(TINY_DIGITS, **sections))]) == 0
    return tmp_path / "runs" / "tiny"


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- 1. run names, and what --overwrite may delete ---------------------------------------
@pytest.mark.parametrize("name", ["''", ".", "..", "a/b", "ABSOLUTE", "..\\\\up"])
def test_a_run_name_that_is_not_one_folder_name_is_refused_and_nothing_is_deleted(name, write_config, tmp_path, capsys):
    name = str(tmp_path / "elsewhere") if name == "ABSOLUTE" else name
    runs = tmp_path / "runs"
    (runs / "other").mkdir(parents=True)
    (runs / "other" / "config.yaml").write_text("a run of someone else")
    (runs / "notes.txt").write_text("mine")
    before = snapshot(runs)
    assert main(["train", str(write_config(TINY_DIGITS)), "--set", f"run.name={name}", "--overwrite"]) == 2
    assert "run.name: expected one folder name inside run.output" in one_error_line(capsys)
    assert snapshot(runs) == before and not (tmp_path / "elsewhere").exists()


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(write_config, tmp_path, capsys):
    folder = tmp_path / "runs" / "tiny"
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("three years of work")
    assert main(["train", str(write_config(TINY_DIGITS)), "--overwrite"]) == 2
    assert "holds no .gan-run marker, so this toolkit did not make it" in one_error_line(capsys)
    assert (folder / "thesis.tex").read_text() == "three years of work"


# -- 2. network names never become paths ---------------------------------------------------
@pytest.mark.parametrize("name", ["../../other/networks/x", "/tmp/x", "a.b", "with space"])
def test_a_network_name_that_is_not_a_plain_name_is_refused_at_load(name, write_config):
    cfg = yaml.safe_load(write_config(TINY_DIGITS).read_text())
    cfg["networks"][name] = cfg["networks"].pop("painter")
    cfg["roles"]["generator"] = name
    with pytest.raises(C.ConfigError, match="a network name may hold only letters, digits"):
        C.from_dict(cfg)


def test_network_names_read_from_a_run_or_a_command_line_are_checked(write_config, tmp_path, capsys):
    run = trained(write_config, tmp_path)
    escape = "../tiny/networks/painter"
    with pytest.raises(RunError, match="a network name may hold only"):
        load(run, escape)
    assert main(["sample", str(run), "--network", escape, "-n", "2", "-o", str(tmp_path / "x.png")]) == 2
    assert "a network name may hold only" in one_error_line(capsys)
    cfg = yaml.safe_load((run / "config.yaml").read_text())  # a run folder whose config was edited by hand
    cfg["networks"]["../../victim/x"] = cfg["networks"].pop("painter")
    cfg["roles"]["generator"] = "../../victim/x"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 2
    assert "a network name may hold only" in one_error_line(capsys)
    assert not (tmp_path / "victim").exists()


# -- 3. a sample run resumed is neither deleted nor redrawn -------------------------------
def test_resuming_a_sample_run_keeps_its_folder_and_says_there_is_nothing_to_resume(write_config, tmp_path, capsys):
    run = trained(write_config, tmp_path)
    sampler = {
        "networks": {"painter": dict(TINY_DIGITS["networks"]["painter"], init={"run": str(run), "network": "painter"})},
        "roles": {"sampler": "painter"},
        "loop": "sample",
        "data": {"name": "sklearn_digits"},
        "run": {"sample_count": 4},
    }
    assert main(["train", str(write_config(sampler, name="drawn"))]) == 0
    drawn = tmp_path / "runs" / "drawn"
    (drawn / "notes.txt").write_text("kept")
    before = {p: p.stat().st_mtime_ns for p in drawn.rglob("*") if p.is_file() and "logs" not in p.parts}
    capsys.readouterr()
    assert main(["train", "--resume", str(drawn)]) == 0
    assert "nothing to resume: a run of the sample loop draws once" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in drawn.rglob("*") if p.is_file() and "logs" not in p.parts} == before


def test_a_sample_run_resumed_before_it_drew_draws_from_the_trained_weights_not_fresh_ones(write_config, tmp_path):
    import numpy as np

    run = trained(write_config, tmp_path)
    sampler = {
        "networks": {"painter": dict(TINY_DIGITS["networks"]["painter"], init={"run": str(run), "network": "painter"})},
        "roles": {"sampler": "painter"},
        "loop": "sample",
        "data": {"name": "sklearn_digits"},
        "run": {"sample_count": 4},
    }
    assert main(["train", str(write_config(sampler, name="drawn"))]) == 0
    drawn = tmp_path / "runs" / "drawn"
    expected = np.load(drawn / "samples.npz")["samples"]
    (drawn / "samples.npz").unlink()  # as if the job was stopped before it drew
    assert main(["train", "--resume", str(drawn)]) == 0
    assert np.array_equal(np.load(drawn / "samples.npz")["samples"], expected)


# -- 5. a lost or broken `latest` falls back to the newest checkpoint that loads -----------
def test_resume_without_the_latest_pointer_uses_the_newest_complete_checkpoint(write_config, tmp_path, capsys):
    run = trained(write_config, tmp_path)
    (run / "checkpoints" / "latest").unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 0
    out = capsys.readouterr().out
    assert "latest is missing" in out and "resumed" in out and "from step_00000004 (step 4)" in out
    assert (run / "checkpoints" / "latest").read_text() == "step_00000006"


def test_resume_skips_a_checkpoint_that_does_not_load_and_never_suggests_overwrite(write_config, tmp_path, capsys):
    run = trained(write_config, tmp_path)
    newest = run / "checkpoints" / "step_00000004" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:40])
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 0
    out = capsys.readouterr().out
    assert "resuming from step_00000002, the newest complete checkpoint that loads" in out and "step_00000004" in out
    assert (run / "checkpoints" / "latest").read_text() == "step_00000006"
    older = run / "checkpoints" / "step_00000002" / "model.safetensors"  # now both are damaged
    for checkpoint in (run / "checkpoints").glob("step_*"):
        (checkpoint / "model.safetensors").write_bytes(b"broken")
    assert main(["train", "--resume", str(run), "--set", "run.steps=8"]) == 2
    line = one_error_line(capsys)
    assert "no complete checkpoint" in line and "loads" in line and "--overwrite" not in line
    assert older.read_bytes() == b"broken"  # kept, for the user to look at


# -- 6. gan sample replaces nothing unasked, and never leaves half a file -------------------
def test_sample_refuses_an_existing_output_without_overwrite(write_config, tmp_path, capsys):
    run = trained(write_config, tmp_path)
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"a picture I made")
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(grid)]) == 2
    assert "already exists; pass --overwrite" in one_error_line(capsys)
    assert grid.read_bytes() == b"a picture I made"
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "00001.png").write_bytes(b"mine")
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(folder)]) == 2
    assert "already holds 1 of the files it would write" in one_error_line(capsys)
    assert (folder / "00001.png").read_bytes() == b"mine"
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(grid), "--overwrite"]) == 0
    assert grid.read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(folder), "--overwrite"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:05d}.png" for i in range(4)]


def test_a_sample_write_that_fails_midway_leaves_the_old_file_whole(write_config, tmp_path, capsys, monkeypatch):
    run = trained(write_config, tmp_path)
    out = tmp_path / "samples.npz"
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(out)]) == 0
    before = out.read_bytes()

    def full_disk(file, **arrays):
        file.write(b"PK half an archive") if hasattr(file, "write") else Path(file).write_bytes(b"PK half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    assert (
        main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(out), "--overwrite", "--seed", "1"]) == 2
    )
    assert "cannot write there (No space left on device" in one_error_line(capsys)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# -- 7. durability: flushed before sealed; a full disk ends in one line --------------------
def test_checkpoint_files_and_folders_reach_the_disk_before_the_commit_marker(write_config, tmp_path, monkeypatch):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the file behind a descriptor")
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))) or real_fsync(fd)
    )
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(a), str(b))) or real_replace(a, b))
    run = trained(write_config, tmp_path, run={"steps": 2})
    checkpoints = (run / "checkpoints").resolve()
    staging = checkpoints / ".partial-step_00000002"
    final = checkpoints / "step_00000002"

    def renamed_onto(path: Path) -> int:  # temporary names are unique: find the rename by its destination
        return next(i for i, e in enumerate(events) if e[0] == "replace" and e[2] == str(path))

    marker = renamed_onto(staging / "trainer.json")
    flushed = {e[1] for e in events[:marker] if e[0] == "fsync"}
    for file in final.iterdir():
        if file.name != "trainer.json":
            assert str(staging / file.name) in flushed, f"{file.name} was not flushed before the commit marker"
    assert str(staging) in flushed, "the staging folder was not flushed before the commit marker"
    renamed = events.index(("replace", str(staging), str(final)))
    assert ("fsync", str(checkpoints)) in events[renamed + 1 :], (
        "the checkpoints folder was not flushed after the rename"
    )
    pointer = renamed_onto(checkpoints / "latest")
    assert ("fsync", str(checkpoints)) in events[pointer + 1 :]


def accelerate_save_state_fills_the_disk(monkeypatch):
    from accelerate import Accelerator

    real = Accelerator.save_state

    def save_state(self, output_dir=None, **kwargs):
        if "step_00000004" in str(output_dir):
            real(self, output_dir, **kwargs)
            (Path(output_dir) / "model.safetensors").write_bytes(b"")  # the disk filled while it was written
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", save_state)


def ema_write_fills_the_disk(monkeypatch):
    from gan.session import checkpoints as S

    real = S.atomic_save_tensors

    def save(tensors, path, metadata=None):
        if "step_00000004" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, path, metadata)

    monkeypatch.setattr(S, "atomic_save_tensors", save)


@pytest.mark.parametrize("fill", [accelerate_save_state_fills_the_disk, ema_write_fills_the_disk])
def test_a_disk_that_fills_during_a_save_ends_in_one_line_and_latest_stays_complete(
    fill, write_config, tmp_path, capsys, monkeypatch
):
    fill(monkeypatch)
    assert main(["train", str(write_config(TINY_DIGITS))]) == 2
    line = one_error_line(capsys)
    run = tmp_path / "runs" / "tiny"
    assert f"cannot save step 4 in {run} (No space left on device" in line
    assert (
        f"the last complete checkpoint is {run / 'checkpoints' / 'step_00000002'}" in line
        and f"gan train --resume {run}" in line
    )
    assert (run / "checkpoints" / "latest").read_text() == "step_00000002"
    assert not list((run / "checkpoints").glob(".partial-*"))
    assert not (run / ".lock").exists()
    monkeypatch.undo()
    assert main(["train", "--resume", str(run)]) == 0


# -- 8. one trainer per run folder ---------------------------------------------------------
def test_a_second_trainer_on_a_run_is_refused_naming_the_first_and_a_dead_ones_lock_is_taken_over(
    write_config, tmp_path, capsys
):
    path = write_config(
        TINY_DIGITS, run={"steps": 100000, "checkpoint_every": 5, "sample_every": 100000, "log_every": 100000}
    )
    run = tmp_path / "runs" / "tiny"
    first = start(["train", str(path)])
    try:
        assert wait_for(lambda: (run / "checkpoints" / "latest").is_file(), first, poll=0.05), first.stderr.read()[
            -2000:
        ]
        assert json.loads((run / ".lock").read_text())["pid"] == first.pid
        before = (run / "config.yaml").read_bytes()
        for argv in (["train", "--resume", str(run)], ["train", str(path), "--overwrite"]):
            assert main(argv) == 2
            assert f"is in use by another trainer (PID {first.pid})" in one_error_line(capsys)
        assert (run / "config.yaml").read_bytes() == before
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert (run / ".lock").is_file()  # left behind by the killed trainer: stale now
    assert main(["train", "--resume", str(run), "--set", "run.steps=1"]) == 0
    assert not (run / ".lock").exists(), "the lock is released at exit"


# -- 19, 21. configs ship with the package and are found by name from anywhere -------------
def test_the_packages_listed_in_pyproject_are_all_the_packages_of_the_source_tree():
    import tomllib
    from setuptools import find_packages

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert sorted(setup["packages"]) == sorted(
        find_packages(str(ROOT), include=["gan*", "networks*"]) + ["gan.configs"]
    )
    assert setup["package-dir"]["gan.configs"] == "configs" and "*.yaml" in setup["package-data"]["gan.configs"]


def test_a_wheel_install_trains_its_default_config_and_shipped_configs_by_name_from_any_folder(tmp_path):
    source = tmp_path / "source"
    for part in ("gan", "networks", "configs"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    installed = tmp_path / "site"
    with zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl"))) as wheel:
        wheel.extractall(installed)  # a pure-Python wheel, unpacked: what pip install puts in site-packages
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(installed), OMP_NUM_THREADS="1")
    common = ["--set", "run.steps=1", "--set", f"run.output={tmp_path / 'runs'}", "--set", "run.progress=false"]
    for argv in (["train", *common], ["train", "configs/ring.yaml", *common]):
        done = subprocess.run(
            [sys.executable, "-m", "gan", *argv], cwd=elsewhere, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (argv, done.stderr[-2000:])
    assert {p.name for p in (tmp_path / "runs").iterdir()} == {"digits", "ring"}


def test_a_config_not_found_suggests_only_names_that_load_from_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert C.load("configs/ring.yaml").run.name == "ring"  # the source tree's spelling works from anywhere
    assert C.load("ring").networks == C.load(ROOT / "configs" / "ring.yaml").networks
    assert main(["train", "configs/nothing.yaml"]) == 2
    line = one_error_line(capsys)
    assert "config file 'configs/nothing.yaml' not found" in line
    suggested = line.split("shipped configs (gan train NAME): ")[1].split(", ")
    assert "ring" in suggested and "configs/nothing.yaml" not in line.split("not found")[1]
    for name in suggested:
        C.load(name)


# -- 20. a missing run folder is named as missing; init names the folder it loaded ---------
def test_init_from_a_missing_run_says_the_folder_is_missing(write_config, tmp_path, capsys, monkeypatch):
    cfg = dict(
        TINY_DIGITS,
        networks={
            **TINY_DIGITS["networks"],
            "critic": dict(TINY_DIGITS["networks"]["critic"], init={"run": "runs/nowhere", "network": "critic"}),
        },
    )
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(write_config(cfg))]) == 2
    line = one_error_line(capsys)
    assert "run folder 'runs/nowhere' not found" in line and str(tmp_path / "runs" / "nowhere") in line


def test_init_prints_the_absolute_folder_it_loaded_from_and_evaluate_names_a_missing_classifier(
    write_config, tmp_path, capsys, monkeypatch
):
    trained(write_config, tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg = dict(
        TINY_DIGITS,
        networks={
            **TINY_DIGITS["networks"],
            "critic": dict(TINY_DIGITS["networks"]["critic"], init={"run": "runs/tiny", "network": "critic"}),
        },
    )
    capsys.readouterr()
    assert main(["train", str(write_config(cfg, name="second")), "--set", "run.steps=1"]) == 0
    assert re.search(
        r"networks.critic: loaded \d+ tensors from "
        rf"{re.escape(str(tmp_path / 'runs' / 'tiny' / 'networks' / 'critic.safetensors'))}",
        capsys.readouterr().out,
    )
    assert (
        main(
            [
                "evaluate",
                "runs/tiny",
                "--metric",
                "fid_classifier",
                "--samples",
                "8",
                "--classifier",
                "runs/nonexistent",
            ]
        )
        == 2
    )
    assert "run folder 'runs/nonexistent' not found" in one_error_line(capsys)


def test_under_two_processes_a_held_lock_stops_every_rank_in_one_line_and_none_hangs(write_config, tmp_path):
    run = trained(write_config, tmp_path)
    owner = subprocess.Popen(["sleep", "120"])
    try:
        (run / ".lock").write_text(json.dumps({"pid": owner.pid, "host": __import__("socket").gethostname()}))
        result = two_processes("-m", "gan", "train", "--resume", str(run), "--set", "run.steps=6", timeout=240)
    finally:
        owner.kill()
        owner.wait()
    assert result.returncode != 0  # torchrun reports the ranks' exit status 2 in its own words
    assert (
        result.stderr.count(f"gan: error: run folder {str(run)!r} is in use by another trainer (PID {owner.pid})") == 2
    ), result.stderr[-3000:]
    assert (run / "checkpoints" / "latest").read_text() == "step_00000004"


def test_a_run_path_that_is_a_file_is_refused_for_a_resume_too_and_the_file_is_kept(write_config, tmp_path):
    from gan.session.session import Session

    cfg = C.load(write_config(TINY_DIGITS))
    path = Path(cfg.run.output) / cfg.run.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("notes")
    for resume in (False, True):
        with pytest.raises(RunError, match="is a file, not a run folder"):
            Session(cfg, resume=resume)
    assert path.read_text() == "notes"
