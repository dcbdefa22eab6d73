"""Nothing lost, nothing let in (round three): temporary files that cannot collide or be redirected,
writers of evaluation.json that keep each other's scores, and --overwrite that takes only what a run wrote.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import threading
from pathlib import Path

import pytest
import torch

from gan.cli import main
from gan.measure.evaluation import _record
from gan.runs import folder as runs

from .conftest import TINY_DIGITS, TINY_RING
from .test_safety import one_error_line, trained


# -- 1. temporary files ------------------------------------------------------------------------
@pytest.fixture
def planted_temporary_names(monkeypatch, tmp_path):
    """Make the first temporary name any writer would pick a link to a file outside, as an attacker who
    guessed the name would: a writer that follows it changes that file."""
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    planted = []

    real = tempfile._get_candidate_names
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: itertools.chain(["planted"], real()))

    def plant(target: Path):
        for name in (
            f".{target.name}.planted.tmp",
            f".{target.name}.tmp",
        ):  # the unique name's first guess, and the old fixed one
            link = target.parent / name
            link.symlink_to(outside)
            planted.append(link)

    return outside, plant, planted


@pytest.mark.parametrize(
    "write",
    [
        lambda path: runs.atomic_write_text(path, "new"),
        lambda path: runs.atomic_write_bytes(path, b"new"),
        lambda path: runs.atomic_save_tensors({"w": torch.ones(2)}, path),
    ],
    ids=["text", "bytes", "tensors"],
)
def test_a_link_planted_at_a_temporary_name_is_never_written_through(write, planted_temporary_names, tmp_path):
    outside, plant, planted = planted_temporary_names
    target = tmp_path / "target.bin"
    plant(target)
    write(target)
    assert outside.read_text() == "not yours"
    assert target.is_file() and not target.is_symlink()
    assert all(link.is_symlink() for link in planted), "a planted link was replaced or removed"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()) == []


def test_gan_sample_never_writes_through_a_planted_link_nor_into_a_link_at_its_output(
    write_config, tmp_path, planted_temporary_names, capsys
):
    outside, plant, _ = planted_temporary_names
    run = trained(write_config, tmp_path)
    out = tmp_path / "planted.png"
    plant(out)
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(out)]) == 0
    assert outside.read_text() == "not yours" and not out.is_symlink() and out.read_bytes()[:4] == b"\x89PNG"
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "nowhere.png")  # a link pointing nowhere is still something in the way
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(link)]) == 2
    assert "already exists; pass --overwrite" in one_error_line(capsys)
    link.unlink()
    link.symlink_to(outside)
    assert main(["sample", str(run), "--network", "painter", "-n", "4", "-o", str(link), "--overwrite"]) == 0
    assert outside.read_text() == "not yours", "the output's link was followed"
    assert not link.is_symlink() and link.read_bytes()[:4] == b"\x89PNG"


def test_a_write_that_fails_midway_leaves_no_temporary_file_and_the_old_file_whole(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="midway"):
        with runs.replacing(target) as f:
            f.write(b"half")
            raise RuntimeError("midway")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]


def test_written_files_get_the_usual_permissions_not_the_temporary_files_private_ones(tmp_path):
    runs.atomic_write_text(tmp_path / "a.txt", "x")
    umask = runs._umask()
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_evaluations_writing_at_once_keep_every_score(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    writers, rounds = 8, 6
    failures = []

    def evaluate(i: int, barrier: threading.Barrier, round_: int):
        name = f"metric_{round_}_{i}"
        barrier.wait()
        try:
            _record(
                run,
                {"step": 4, "samples": 10, "generator": "painter", name: float(i)},
                {name: {name: float(i)}},
                seed=0,
                classifier=None,
            )
        except Exception as error:  # noqa: BLE001 - a writer that fails is the fault this test looks for
            failures.append(error)

    for r in range(rounds):
        barrier = threading.Barrier(writers)
        threads = [threading.Thread(target=evaluate, args=(i, barrier, r)) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures[:2]
    kept = json.loads((run / "evaluation.json").read_text())["metrics"]
    assert sorted(kept) == sorted(f"metric_{r}_{i}" for r in range(rounds) for i in range(writers))
    assert all(kept[f"metric_{r}_{i}"][f"metric_{r}_{i}"] == float(i) for r in range(rounds) for i in range(writers))


# -- 2. --overwrite takes only what a run wrote ---------------------------------------------
def test_overwrite_refuses_a_folder_without_the_run_marker_even_with_a_config_yaml(write_config, tmp_path, capsys):
    project = tmp_path / "proj"
    (project / "data").mkdir(parents=True)
    config = write_config(TINY_DIGITS)
    (project / "config.yaml").write_text(config.read_text())
    (project / "thesis.tex").write_text("three years of work")
    (project / "data" / "x.csv").write_text("1,2\n")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    argv = [
        "train",
        str(project / "config.yaml"),
        "--set",
        f"run.output={tmp_path}",
        "--set",
        "run.name=proj",
        "--overwrite",
    ]
    assert main(argv) == 2
    assert "holds no .gan-run marker, so this toolkit did not make it" in one_error_line(capsys)
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_overwrite_replaces_a_run_and_keeps_what_the_run_did_not_write(write_config, tmp_path, capsys):
    run = trained(write_config, tmp_path)
    assert json.loads((run / ".gan-run").read_text())["made_by"] == "gan-toolkit"
    first_id = json.loads((run / ".gan-run").read_text())["run"]
    (run / "notes.txt").write_text("mine")
    (run / "extra").mkdir()
    (run / "extra" / "x.csv").write_text("1\n")
    capsys.readouterr()
    assert main(["train", str(write_config(TINY_DIGITS)), "--overwrite"]) == 0
    assert "--overwrite: kept 2 entries in" in capsys.readouterr().out
    assert (run / "notes.txt").read_text() == "mine" and (run / "extra" / "x.csv").read_text() == "1\n"
    assert (run / "checkpoints" / "latest").is_file()
    assert json.loads((run / ".gan-run").read_text())["run"] != first_id, "a new run has a new identity"


def test_a_new_run_that_fails_before_its_first_step_removes_only_what_it_wrote(
    write_config, tmp_path, monkeypatch, capsys
):
    run = trained(write_config, tmp_path)
    (run / "notes.txt").write_text("mine")
    from gan.loops import setup

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(setup.Adversarial, "run", no_memory)
    assert main(["train", str(write_config(TINY_DIGITS)), "--overwrite"]) == 2
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_a_run_from_before_markers_gets_one_when_resumed_and_can_then_be_overwritten(write_config, tmp_path):
    run = trained(write_config, tmp_path)
    (run / ".gan-run").unlink()
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 0
    assert (run / ".gan-run").is_file()
    assert main(["train", str(write_config(TINY_DIGITS)), "--overwrite"]) == 0


# -- 4. tampered or broken weights ----------------------------------------------------------
def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's data: the file still parses
    path.write_bytes(bytes(data))


def nan_into(path: Path, *, record_digest: bool) -> None:
    """NaN in every float tensor, written as a valid safetensors file (optionally with the JSON's digest made to
    match)."""
    from safetensors.torch import load_file, save_file

    save_file(
        {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in load_file(str(path)).items()},
        str(path),
    )
    if record_digest:
        info_path = path.parent / (path.name.split(".")[0] + ".json")
        info = json.loads(info_path.read_text())
        info["sha256"][path.name] = runs.sha256_of(path)
        info_path.write_text(json.dumps(info))


def test_an_export_records_the_digest_of_each_weight_file(write_config, tmp_path):
    run = trained(write_config, tmp_path)
    info = json.loads((run / "networks" / "painter.json").read_text())
    assert set(info["sha256"]) == {"painter.safetensors", "painter.ema.safetensors"}
    for file, digest in info["sha256"].items():
        assert runs.sha256_of(run / "networks" / file) == digest


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.png"],
        ["evaluate", "RUN", "--metric", "fid_classifier", "--samples", "10"],
        ["train", "SAMPLER"],
    ],
    ids=["sample", "evaluate", "init"],
)
@pytest.mark.parametrize("damage", ["flipped byte", "NaN"])
def test_a_flipped_byte_or_a_nan_in_exported_weights_is_refused_naming_the_file(
    argv, damage, write_config, tmp_path, capsys
):
    run = trained(write_config, tmp_path)
    weights = run / "networks" / "painter.ema.safetensors"
    sampler = {
        "networks": {
            "painter": dict(
                TINY_DIGITS["networks"]["painter"], init={"run": str(run), "network": "painter", "ema": True}
            )
        },
        "roles": {"sampler": "painter"},
        "loop": "sample",
        "data": {"name": "sklearn_digits"},
        "run": {"sample_count": 4},
    }
    sampler_config = write_config(sampler, name="drawn")
    if damage == "flipped byte":
        flip_a_byte(weights)
        expected = f"{weights}: its SHA-256 is not the one painter.json recorded at export"
    else:
        nan_into(
            weights, record_digest=True
        )  # a file edited on purpose, its digest updated: the values are still checked
        expected = "holds NaN or inf: " + str(weights)
    argv = [
        a.replace("RUN", str(run)).replace("TMP", str(tmp_path)).replace("SAMPLER", str(sampler_config)) for a in argv
    ]
    capsys.readouterr()
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert expected in line and len(line) < 400, line
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "runs" / "drawn").exists()


def test_weights_that_are_not_finite_are_never_exported(tmp_path):
    from networks import build

    folder = runs.RunDir(tmp_path / "run")
    folder.networks.mkdir(parents=True)
    net = build({"family": "mlp", "source": "noise[2]", "target": "point[2]", "width": 4, "depth": 1})
    folder.export("net", net, "generator")
    before = {p.name: p.read_bytes() for p in folder.networks.iterdir()}
    key = next(iter(net.state_dict()))
    with torch.no_grad():
        net.state_dict()[key].view(-1)[0] = float("inf")
    with pytest.raises(
        runs.RunError, match=f"tensor '{key}' holds NaN or inf: network 'net' \\(net.safetensors\\) is not exported"
    ):
        folder.export("net", net, "generator")
    assert {p.name: p.read_bytes() for p in folder.networks.iterdir()} == before, "the last good export was replaced"


def test_a_checkpoint_with_nan_weights_is_skipped_for_an_older_one_that_loads(write_config, tmp_path, capsys):
    run = trained(write_config, tmp_path)
    nan_into(run / "checkpoints" / "step_00000004" / "model.safetensors", record_digest=False)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 0
    out = capsys.readouterr().out
    assert "resuming from step_00000002" in out and "holds NaN or inf" in out


def test_samples_that_are_not_finite_from_finite_weights_are_still_refused_by_scoring():
    from gan.measure.scoring import _finite

    samples = torch.zeros(4, 1, 8, 8)
    samples[1, 0, 0, 0] = float("inf")  # an overflow: finite weights can still draw it
    with pytest.raises(runs.RunError, match="1 of 4 samples of the generator are NaN or inf"):
        _finite(samples)


# -- 5. a full disk at every write site ends in one line naming the path -------------------------
NO_SPACE = "No space left on device"


def fail_after_step_2(monkeypatch, owner, attribute, error, where=lambda args: True):
    """Make ``owner.attribute`` raise ``error`` once the run has a complete checkpoint at step 2 (as a disk fills
    mid-run)."""
    real = getattr(owner, attribute)

    def fill(*args, **kwargs):
        if fill.armed and where(args):
            raise error(args)
        return real(*args, **kwargs)

    fill.armed = False
    monkeypatch.setattr(owner, attribute, fill)
    return fill


def arm_after_first_checkpoint(monkeypatch, fills):
    from gan.runs.folder import RunDir

    real = RunDir.commit_checkpoint

    def commit(self, *args, **kwargs):
        final = real(self, *args, **kwargs)
        for fill in fills:
            fill.armed = True
        return final

    monkeypatch.setattr(RunDir, "commit_checkpoint", commit)


def oserror(args):
    return OSError(28, NO_SPACE, str(args[0]) if args and isinstance(args[0], (str, Path)) else None)


def safetensors_error(args):
    from safetensors import SafetensorError

    return SafetensorError(
        'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
    )


def torch_zip_error(args):
    return RuntimeError(
        "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: file write failed"
    )


def accelerate_save_state(fail):
    from accelerate import Accelerator

    return lambda monkeypatch: fail_after_step_2(monkeypatch, Accelerator, "save_state", fail)


def network_export(monkeypatch):
    return fail_after_step_2(
        monkeypatch, runs, "atomic_write_bytes", oserror, where=lambda args: "networks" in str(args[0])
    )


def sample_grid(monkeypatch):
    import torchvision.utils as vutils

    return fail_after_step_2(monkeypatch, vutils, "save_image", lambda args: OSError(28, NO_SPACE))


@pytest.mark.parametrize(
    "site, path_named",
    [
        (accelerate_save_state(safetensors_error), "checkpoints/.partial-step_00000004"),
        (accelerate_save_state(torch_zip_error), "checkpoints/.partial-step_00000004"),
        (network_export, "networks/painter"),
        (sample_grid, "samples/step_00000004.png"),
    ],
    ids=["checkpoint weights (safetensors)", "checkpoint optimizer (torch.save)", "network export", "sample grid"],
)
def test_a_full_disk_while_training_ends_in_one_line_naming_the_path_and_the_checkpoint_to_resume(
    site, path_named, write_config, tmp_path, monkeypatch, capsys
):
    fill = site(monkeypatch)
    arm_after_first_checkpoint(monkeypatch, [fill])
    assert main(["train", str(write_config(TINY_DIGITS))]) == 2
    line = one_error_line(capsys)
    run = tmp_path / "runs" / "tiny"
    assert NO_SPACE in line or "could not be written" in line, line
    assert path_named in line, line
    assert "the last complete checkpoint is" in line and f"gan train --resume {run}" in line, line
    assert not [p for p in run.rglob("*.tmp")], "a temporary file was left behind"
    monkeypatch.undo()
    assert main(["train", "--resume", str(run)]) == 0


def test_a_full_disk_at_evaluation_prints_the_scores_and_names_evaluation_json(
    write_config, tmp_path, monkeypatch, capsys
):
    assert main(["train", str(write_config(TINY_RING, name="ring"))]) == 0
    run = tmp_path / "runs" / "ring"
    real = runs.atomic_write_text
    monkeypatch.setattr(
        runs,
        "atomic_write_text",
        lambda path, text: (
            (_ for _ in ()).throw(OSError(28, NO_SPACE, str(path)))
            if path.name == "evaluation.json"
            else real(path, text)
        ),
    )
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metric", "modes", "--samples", "200"]) == 2
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.startswith("gan: error:")]
    assert lines and f"cannot write {run / 'evaluation.json'} ({NO_SPACE})" in lines[-1], captured.err[-2000:]
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["modes"] >= 0, "the scores were lost with the file"
    assert not (run / "evaluation.json").exists()


def test_a_link_planted_at_a_checkpoints_staging_name_is_removed_not_followed(write_config, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not yours")
    run = tmp_path / "runs" / "tiny"
    assert main(["train", str(write_config(TINY_DIGITS, run={"steps": 2}))]) == 0
    (run / "checkpoints" / ".partial-step_00000004").symlink_to(outside, target_is_directory=True)
    (run / "checkpoints" / "step_00000004").symlink_to(outside, target_is_directory=True)
    assert main(["train", "--resume", str(run), "--set", "run.steps=4"]) == 0
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"], "a checkpoint was written through a link"
    assert (run / "checkpoints" / "step_00000004").is_dir() and not (run / "checkpoints" / "step_00000004").is_symlink()


def test_a_full_disk_anywhere_else_is_one_line_naming_the_file(write_config, tmp_path, monkeypatch, capsys):
    from gan.runs import resume

    run = trained(write_config, tmp_path)

    def full(path, cfg):
        raise OSError(28, NO_SPACE, str(path))

    monkeypatch.setattr(resume, "record", full)  # the run's config.yaml rewritten at a resume that changes a key
    from gan.session import checkpoints

    monkeypatch.setattr(checkpoints, "record", full)
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 2
    assert f"cannot write {run / 'config.yaml'} ({NO_SPACE})" in one_error_line(capsys)


def test_a_run_in_a_folder_whose_name_reads_as_yaml_resumes(write_config, tmp_path):
    """--resume passes the run's folder as a value: a name like 'a: b' or '*x' must stay a name."""
    for name in ("a: b", "*x"):
        config = write_config(TINY_DIGITS, run={"steps": 2, "name": name})
        assert main(["train", str(config)]) == 0
        run = tmp_path / "runs" / name
        assert main(["train", "--resume", str(run), "--set", "run.steps=4"]) == 0
        assert (run / "checkpoints" / "latest").read_text() == "step_00000004"
        assert (run / "config.yaml").read_text().startswith("# The config this run used, resolved")


def test_a_run_that_diverges_before_its_first_checkpoint_says_to_start_again_not_to_resume(
    write_config, tmp_path, monkeypatch, capsys
):
    from gan.loops import adversarial

    real = adversarial.generator_loss
    monkeypatch.setattr(
        adversarial, "generator_loss", lambda name, fake, *on_real: real(name, fake, *on_real) * float("nan")
    )
    config = write_config(TINY_DIGITS, run={"steps": 8, "checkpoint_every": 8, "max_bad_steps": 1})
    assert main(["train", str(config)]) == 1
    line = one_error_line(capsys)
    assert (
        "no checkpoint was written yet" in line
        and "start the run again with --overwrite" in line
        and "--resume" not in line
    ), line
    monkeypatch.undo()
    assert main(["train", str(config), "--overwrite"]) == 0  # the advice works
