"""After training: the run's own networks by role, latent walks, truncation, point scatters, strings beside inputs."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import yaml

import gan
from gan.cli import main

from .conftest import TINY_DIGITS, TINY_RING
from .test_numbers_string import TINY_STRINGS

LABELLED_DIGITS = copy.deepcopy(TINY_DIGITS)
for _net in LABELLED_DIGITS["networks"].values():
    _net["condition"] = "categorical[10]"
LABELLED_DIGITS["data"]["labels"] = True


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs, trained once for the module: digits (a GAN), ring (points), numbers read as strings (no generator)."""
    folder = tmp_path_factory.mktemp("runs")
    made = {}
    for name, base in (("digits", TINY_DIGITS), ("ring", TINY_RING), ("strings", TINY_STRINGS)):
        cfg = copy.deepcopy(base)
        cfg["run"] = {**cfg["run"], "output": str(folder), "name": name}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        assert main(["train", str(path)]) == 0
        made[name] = folder / name
    return made


def refused(argv, capsys) -> str:
    """The one line ``gan`` prints for a user mistake (exit 2)."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gan: error: ") and "\n" not in err, err
    return err


def test_sample_without_network_draws_the_generators_samples(runs, tmp_path, capsys):
    run = str(runs["digits"])
    main(["sample", run, "-n", "5", "--seed", "3", "-o", str(tmp_path / "default.npz")])
    main(["sample", run, "--network", "painter", "-n", "5", "--seed", "3", "-o", str(tmp_path / "named.npz")])
    main(["sample", run, "--network", "critic", "-n", "5", "--seed", "3", "-o", str(tmp_path / "x.npz")])
    capsys.readouterr()
    assert (tmp_path / "default.npz").read_bytes() == (tmp_path / "named.npz").read_bytes()
    assert not (tmp_path / "x.npz").exists()  # --network still picks any other (the critic draws nothing)


def test_classify_without_network_reads_with_the_discriminator(runs, tmp_path, capsys):
    run, picture = str(runs["digits"]), tmp_path / "a.png"
    assert main(["sample", run, "-n", "1", "-o", str(picture)]) == 0
    capsys.readouterr()
    assert main(["classify", run, str(picture), "--json"]) == 0
    default = capsys.readouterr().out
    assert main(["classify", run, "--network", "critic", str(picture), "--json"]) == 0
    assert default == capsys.readouterr().out and "p_real" in json.loads(default)


def test_sample_of_a_likelihood_run_without_network_draws_strings_beside_their_inputs(runs, tmp_path, capsys):
    out = tmp_path / "read.txt"
    assert main(["sample", str(runs["strings"]), "-n", "2", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["input", "label", "sample_1", "sample_2"]
    rows = [line.split("\t") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(40)) and all(len(r) == 4 for r in rows)
    assert all(r[1].isdigit() for r in rows)  # the held-out number each string was drawn for


def test_a_walks_frames_are_distinct_and_its_ends_are_the_samples_of_its_end_noise(runs, tmp_path):
    run, out = str(runs["digits"]), tmp_path / "walk.npz"
    assert main(["sample", run, "--walk", "3", "--frames", "4", "--seed", "5", "-o", str(out)]) == 0
    saved = np.load(out)
    frames, noise = torch.from_numpy(saved["frames"]), torch.from_numpy(saved["noise"])
    assert frames.shape == (2, 5, 1, 8, 8) and noise.shape == (3, 8)
    every = torch.cat([frames[:, :-1].flatten(0, 1), frames[-1, -1:]])
    assert len({tuple(f.flatten().tolist()) for f in every}) == len(every) == 9
    net = gan.load(run, "painter")
    with torch.no_grad():
        ends = net(noise)
    assert torch.allclose(frames[:, 0], ends[:-1], atol=1e-6) and torch.allclose(frames[:, -1], ends[1:], atol=1e-6)
    assert torch.equal(frames[0, -1], frames[1, 0])  # segments meet


@pytest.mark.parametrize("suffix", [".png", ".gif", ".npz"])
def test_the_same_seed_gives_the_same_walk_file(runs, tmp_path, suffix):
    run = str(runs["digits"])
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert (
            main(
                ["sample", run, "--walk", "3", "--frames", "3", "--seed", seed, "-o", str(tmp_path / f"{name}{suffix}")]
            )
            == 0
        )
    a, b, c = ((tmp_path / f"{name}{suffix}").read_bytes() for name in "abc")
    assert a == b and a != c
    if suffix == ".gif":
        from PIL import Image

        with Image.open(tmp_path / f"a{suffix}") as gif:
            assert gif.n_frames == 7  # (K - 1) x F + 1, each frame once


def test_a_conditioned_walk_holds_the_label_of_the_nearer_end(tmp_path, write_config):
    from gan.verbs.walks import walk

    assert main(["train", str(write_config(LABELLED_DIGITS))]) == 0
    net = gan.load(tmp_path / "runs" / "tiny", "painter")
    x, noise, labels = walk(net, 3, frames=4, seed=0, labels=torch.tensor([2, 7, 4]))
    with torch.no_grad():
        first_half = net(noise[:1].expand(3, -1), torch.tensor([2, 2, 2]))
        ends = net(noise, labels)
    assert torch.allclose(x[0, 0], first_half[0], atol=1e-6) and torch.allclose(x[:, -1], ends[1:], atol=1e-6)


def test_truncation_scales_the_noise_and_one_is_no_truncation(runs, tmp_path):
    run = str(runs["digits"])
    for name, flags in (("plain", []), ("one", ["--truncation", "1"]), ("half", ["--truncation", "0.5"])):
        assert main(["sample", run, "-n", "6", "--seed", "2", "-o", str(tmp_path / f"{name}.npz"), *flags]) == 0
    plain, one, half = (np.load(tmp_path / f"{name}.npz")["samples"] for name in ("plain", "one", "half"))
    assert np.array_equal(plain, one) and not np.allclose(plain, half)
    net = gan.load(run, "painter")
    z = net.source.sample(6, rng=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(half), net(z * 0.5), atol=1e-6)


def test_a_ring_run_samples_a_scatter_png(runs, tmp_path):
    from PIL import Image

    out = tmp_path / "points.png"
    assert main(["sample", str(runs["ring"]), "-n", "500", "-o", str(out)]) == 0
    with Image.open(out) as picture:
        assert picture.size == (256, 256)


@pytest.mark.parametrize(
    "run, flags, says",
    [
        ("digits", ["-n", "2", "-o", "TMP/x.png", "--truncation", "0"], "--truncation: expected a number in (0, 1]"),
        ("digits", ["-n", "2", "-o", "TMP/x.png", "--truncation", "1.5"], "--truncation: expected a number in (0, 1]"),
        ("digits", ["-n", "2", "-o", "TMP/x.png", "--truncation", "nan"], "--truncation: expected a number in (0, 1]"),
        ("strings", ["-n", "2", "-o", "TMP/x.txt", "--truncation", "0.5"], "--truncation: this network maps"),
        ("digits", ["--walk", "1", "-o", "TMP/w.png"], "--walk: expected a number of ends K >= 2"),
        ("digits", ["--walk", "3", "--frames", "0", "-o", "TMP/w.png"], "--frames: expected"),
        ("digits", ["--frames", "3", "-o", "TMP/w.png"], "--frames: only a walk has frames"),
        ("digits", ["--walk", "3", "-n", "4", "-o", "TMP/w.png"], "-n: a walk"),
        ("digits", ["--walk", "3", "--size", "16", "-o", "TMP/w.png"], "--size: network"),
        ("digits", ["--walk", "3", "-o", "TMP/w.pt"], "-o TMP/w.pt: a walk is written as FILE.png"),
        ("strings", ["--walk", "3", "-o", "TMP/w.png"], "--network: run RUN has no generator or sampler role"),
        ("ring", ["--walk", "3", "-o", "TMP/w.png"], "--walk: network 'sampler' writes point[2], not images"),
        ("digits", ["-n", "2", "-o", "TMP/x.gif"], "expected FILE.png, FILE.npz, FILE.pt or a FOLDER"),
    ],
)
def test_bad_sample_input_is_one_line_naming_it(runs, tmp_path, capsys, run, flags, says):
    flags = [f.replace("TMP", str(tmp_path)) for f in flags]
    err = refused(["sample", str(runs[run]), *flags], capsys)
    assert says.replace("TMP", str(tmp_path)).replace("RUN", str(runs[run])) in err, err
