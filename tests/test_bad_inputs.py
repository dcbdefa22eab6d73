"""Bad input, refused early: each case stops with one line naming the problem (table-driven).

Every case runs ``gan`` as a user would and checks exit status 2, the message fragment,
no traceback, and that an existing run folder was left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from gan.cli import main

from .conftest import TINY_DIGITS
from .test_config_inputs import bomb_config, twice_config, written


def folder_of(tmp: Path, make) -> str:
    root = tmp / "images"
    (root / "a").mkdir(parents=True)
    make(root / "a")
    return str(root)


def rgb_8x8(folder: Path):
    for i in range(4):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"{i}.png")


def gray_12x12(folder: Path):
    for i in range(4):
        Image.new("L", (12, 12), i * 40).save(folder / f"{i}.png")


def broken_png(folder: Path):
    (folder / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really an image")


def trained_run(tmp: Path) -> Path:
    return tmp / "runs" / "tiny"


def corrupt(name: str):
    def damage(run: Path):  # every checkpoint: a resume falls back to an older one that loads
        for checkpoint in (run / "checkpoints").glob("step_*"):
            target = checkpoint / name
            target.write_bytes(target.read_bytes()[:40])

    return damage


def other_architecture(run: Path):
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["networks"]["painter"]["width"] = 8
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))


def write_json(relative: str, content):
    """Replace a JSON file of the run (``networks/painter.json``, ``LATEST/trainer.json``) with ``content(old)``.

    ``LATEST/...`` is damaged in every checkpoint: a resume falls back to an older one that loads.
    """
    import json

    def damage(run: Path):
        folders = sorted((run / "checkpoints").glob("step_*")) if "LATEST" in relative else [None]
        for folder in folders:
            path = run / relative.replace("LATEST", f"checkpoints/{folder.name if folder else ''}")
            path.write_text(json.dumps(content(json.loads(path.read_text())) if callable(content) else content))

    return damage


def with_spec(**keywords):
    return lambda info: {**info, "spec": {**info["spec"], **keywords}}


def without(key):
    return lambda trainer: {k: v for k, v in trainer.items() if k != key}


def nan_weights(run: Path):
    """NaN weights in a valid file whose digest the network's JSON records (edited on purpose, not damaged)."""
    import json

    from safetensors.torch import load_file, save_file

    from gan.runs.folder import sha256_of

    info_path = run / "networks" / "painter.json"
    info = json.loads(info_path.read_text())
    for f in (run / "networks").glob("painter*.safetensors"):
        save_file(
            {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in load_file(str(f)).items()},
            str(f),
        )
        info["sha256"][f.name] = sha256_of(f)
    info_path.write_text(json.dumps(info))


def flipped_byte(run: Path):
    weights = run / "networks" / "painter.ema.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # inside a tensor: the file still parses
    weights.write_bytes(bytes(data))


def an_image_beside(run: Path):
    Image.new("L", (8, 8), 0).save(run.parent.parent / "x.png")


def a_decompression_bomb(run: Path):
    Image.new("1", (30000, 30000)).save(run.parent.parent / "bomb.png", optimize=True)  # 100 kB on disk, 900 megapixels


C = "CONFIG"  # placeholder for the tiny config path
CASES = [
    # (id, argv, overrides of the tiny config or None, setup(tmp) -> extra, expected fragment)
    ("missing config file", ["train", "nowhere.yaml"], None, None, "config file 'nowhere.yaml' not found"),
    ("unknown top-level key", ["train", C, "--set", "netwrks.x=1"], None, None, "unknown key netwrks"),
    (
        "batch size zero",
        ["train", C, "--set", "data.batch_size=0"],
        None,
        None,
        "data.batch_size: expected an integer >= 1, got 0",
    ),
    (
        "negative learning rate",
        ["train", C, "--set", "optimizers.generator.lr=-1"],
        None,
        None,
        "optimizers.generator.lr: expected a learning rate > 0",
    ),
    ("wrong type", ["train", C, "--set", "run.seed=[1]"], None, None, "run.seed: expected an integer"),
    (
        "impossible space",
        ["train", C, "--set", "networks.painter.target=image[0,8,8]"],
        None,
        None,
        "image: channels must be a positive integer",
    ),
    (
        "unreadable space",
        ["train", C, "--set", "networks.critic.source=picture[1,8,8]"],
        None,
        None,
        "cannot read space 'picture[1,8,8]'; accepted forms:",
    ),
    (
        "unknown family",
        ["train", C, "--set", "networks.critic.family=lstm"],
        None,
        None,
        "unknown network family 'lstm'; accepted: conv, ",
    ),
    (
        "unknown network keyword",
        ["train", C, "--set", "networks.critic.widht=3"],
        None,
        None,
        "family 'conv' does not take 'widht'; accepted: source, target, condition, width",
    ),
    (
        "unknown norm",
        ["train", C, "--set", "networks.critic.norm=group"],
        None,
        None,
        "unknown norm 'group'; accepted:",
    ),
    (
        "unknown dataset",
        ["train", C, "--set", "data.name=imagenet"],
        None,
        None,
        "data.name: unknown dataset 'imagenet'; accepted: digits",
    ),
    (
        "torchvision dataset without a path",
        ["train", C, "--set", "data.name=mnist"],
        None,
        None,
        "data.path: dataset 'mnist' is read from a local folder",
    ),
    (
        "missing dataset path",
        ["train", C, "--set", "data.name=cifar10", "--set", "data.path=/no/such/place"],
        None,
        None,
        "data.path: '/no/such/place' does not exist; fetch it once",
    ),
    (
        "empty torchvision folder",
        ["train", C, "--set", "data.name=mnist", "--set", "data.path=TMP"],
        None,
        None,
        "could not read mnist from",
    ),
    (
        "image folder of unreadable files",
        ["train", C, "--set", "data.name=folder", "--set", "data.path=FOLDER"],
        None,
        broken_png,
        "cannot read image",
    ),
    (
        "images of the wrong size",
        ["train", C, "--set", "data.name=folder", "--set", "data.path=FOLDER"],
        None,
        gray_12x12,
        "images are 12x12 but the networks read image[1,8,8]; set data.resize: true",
    ),
    (
        "images with the wrong channel count",
        ["train", C, "--set", "data.name=folder", "--set", "data.path=FOLDER"],
        None,
        rgb_8x8,
        "images have 3 channel(s) but the networks read image[1,8,8]",
    ),
    (
        "labels for unconditioned networks",
        ["train", C, "--set", "data.labels=true"],
        None,
        None,
        "data.labels is true but network 'painter' takes no condition",
    ),
    (
        "fp16 on the CPU",
        ["train", C, "--set", "run.mixed_precision=fp16", "--set", "run.cpu=true"],
        None,
        None,
        "fp16 does nothing on a CPU",
    ),
    (
        "one network in both roles",
        ["train", C, "--set", "roles.discriminator=painter"],
        None,
        None,
        "network 'painter' cannot be both generator and discriminator",
    ),
    (
        "run folder that cannot be created",
        ["train", C, "--set", "run.output=CONFIG/runs"],
        None,
        None,
        "run.output: cannot create the run folder",
    ),
    ("existing run without --overwrite", ["train", C], "RUN", None, "already exists; pass --resume"),
    ("resume of a folder that is no run", ["train", "--resume", "TMP"], None, None, "no config.yaml there"),
    ("truncated optimizer state", ["train", "--resume", "RUN"], "RUN", corrupt("optimizer.bin"), "cannot be loaded"),
    (
        "truncated model weights",
        ["train", "--resume", "RUN"],
        "RUN",
        corrupt("model.safetensors"),
        "model.safetensors: not a readable safetensors file",
    ),
    (
        "checkpoint of another architecture",
        ["train", "--resume", "RUN"],
        "RUN",
        other_architecture,
        "model.safetensors does not fit the network (shapes differ for body.0.weight",
    ),
    (
        "sample count zero",
        ["sample", "RUN", "--network", "painter", "-n", "0", "-o", "TMP/x.png"],
        "RUN",
        None,
        "-n: expected a number of samples >= 1",
    ),
    (
        "sample to an unknown format",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.gif"],
        "RUN",
        None,
        "expected FILE.png, FILE.npz, FILE.pt or a FOLDER",
    ),
    (
        "sample into a path that cannot be written",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "CONFIG/x.png"],
        "RUN",
        None,
        "cannot write there",
    ),
    (
        "labels for an unconditioned sampler",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.png", "--labels", "3"],
        "RUN",
        None,
        "--labels: this network takes no condition",
    ),
    (
        "classify a missing file",
        ["classify", "RUN", "--network", "critic", "TMP/nothing.png"],
        "RUN",
        None,
        "nothing.png: no such file",
    ),
    (
        "classify with a sampler",
        ["classify", "RUN", "--network", "painter", "TMP/nothing.png"],
        "RUN",
        None,
        "writes image[1,8,8], not a distribution over labels",
    ),
    (
        "run path that is a file",
        ["train", C, "--set", "run.output=TMP", "--set", "run.name=tiny.yaml"],
        None,
        None,
        "is a file, not a run folder",
    ),
    (
        "negative metrics.samples",
        ["train", C, "--set", "metrics.samples=-5", "--set", "metrics.every=2"],
        None,
        None,
        "metrics.samples: expected an integer >= 2, got -5",
    ),
    (
        "unknown metric name",
        ["train", C, "--set", "metrics.names=[bogus]"],
        None,
        None,
        "metrics.names: 'bogus' does not score sklearn_digits (images); its metrics are fid_classifier",
    ),
    (
        "batch larger than the data",
        ["train", C, "--set", "data.batch_size=5000"],
        None,
        None,
        "data.batch_size: 5000 x 1 process(es) is more than the",
    ),
    (
        "network too large for memory",
        ["train", C, "--set", "networks.painter.width=1000000000", "--set", "networks.painter.max_width=1000000000"],
        None,
        None,
        "out of memory (an allocation of",
    ),
    (
        "seed beyond NumPy's 32 bits",
        ["train", C, "--set", "run.seed=99999999999"],
        None,
        None,
        "run.seed: expected an integer in 0..4294967295",
    ),
    (
        "width that is no number",
        ["train", C, "--set", "networks.painter.width=abc"],
        None,
        None,
        "networks.painter: width: expected an integer, got 'abc'",
    ),
    (
        "image range without bounds",
        ["train", C, "--set", "networks.painter.target=image[1,8,8,-inf:inf]"],
        None,
        None,
        "value range must be two finite numbers",
    ),
    (
        "sample more than memory holds",
        ["sample", "RUN", "--network", "painter", "-n", "1000000000", "-o", "TMP/x.npz"],
        "RUN",
        None,
        "-n 1000000000 needs",
    ),
    (
        "seed beyond 64 bits",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.npz", "--seed", str(2**64)],
        "RUN",
        None,
        "argument --seed: expected an integer in 0..",
    ),
    (
        "evaluate more samples than memory holds",
        ["evaluate", "RUN", "--samples", "1000000000", "--metric", "fid_classifier"],
        "RUN",
        None,
        "--samples 1000000000 needs",
    ),
    (
        "evaluate with a seed beyond 64 bits",
        ["evaluate", "RUN", "--seed", "-1"],
        "RUN",
        None,
        "argument --seed: expected an integer in 0..",
    ),
    (
        "evaluate a metric of toy mixtures on images",
        ["evaluate", "RUN", "--metric", "modes"],
        "RUN",
        None,
        "--metric modes: it does not score sklearn_digits (images)",
    ),
    (
        "evaluate a generator with NaN weights",
        ["evaluate", "RUN", "--metric", "fid_classifier", "--samples", "10"],
        "RUN",
        nan_weights,
        "holds NaN or inf: ",
    ),
    (
        "evaluate with a malformed classifier",
        ["evaluate", "RUN", "--metric", "fid_classifier", "--samples", "10", "--classifier", "RUN"],
        "RUN",
        lambda run: (run / "networks" / "critic.json").write_text("{not json"),
        "critic.json is not readable JSON",
    ),
    (
        "classify the top -1 labels",
        ["classify", "RUN", "--network", "critic", "--top", "-1", "TMP/x.png"],
        "RUN",
        an_image_beside,
        "--top: expected a number of labels >= 1, got -1",
    ),
    (
        "classify the top labels of a bernoulli",
        ["classify", "RUN", "--network", "critic", "--top", "3", "TMP/x.png"],
        "RUN",
        an_image_beside,
        "writes bernoulli, one probability per image (P(real)), no labels to rank",
    ),
    (
        "classify a decompression bomb",
        ["classify", "RUN", "--network", "critic", "TMP/bomb.png"],
        "RUN",
        a_decompression_bomb,
        "bomb.png: not decoded: Image size (900000000 pixels) exceeds limit",
    ),
    (
        "network file that is a list",
        ["sample", "RUN", "--network", "painter", "-o", "TMP/x.png"],
        "RUN",
        write_json("networks/painter.json", [1, 2]),
        "painter.json: cannot rebuild the network",
    ),
    (
        "network file with a width that is no number",
        ["sample", "RUN", "--network", "painter", "-o", "TMP/x.png"],
        "RUN",
        write_json("networks/painter.json", with_spec(width="abc")),
        "cannot rebuild the network (width: expected an integer, got 'abc')",
    ),
    (
        "network file with a width of 1e12",
        ["sample", "RUN", "--network", "painter", "-o", "TMP/x.png"],
        "RUN",
        write_json("networks/painter.json", with_spec(width=1e12)),
        "cannot rebuild the network (width: expected an integer, got 1000000000000.0)",
    ),
    (
        "trainer.json with a step that is no number",
        ["train", "--resume", "RUN", "--set", "run.steps=6"],
        "RUN",
        write_json("LATEST/trainer.json", lambda t: {**t, "step": "abc"}),
        "trainer.json: step must be an integer >= 0, got 'abc'",
    ),
    (
        "trainer.json without a key",
        ["train", "--resume", "RUN", "--set", "run.steps=6"],
        "RUN",
        write_json("LATEST/trainer.json", without("data_position")),
        "trainer.json: missing data_position",
    ),
    (
        "trainer.json that is a list",
        ["train", "--resume", "RUN", "--set", "run.steps=6"],
        "RUN",
        write_json("LATEST/trainer.json", [4]),
        "trainer.json: expected a mapping of counters",
    ),
    # config and YAML (round three)
    (
        "config with a YAML alias bomb",
        ["train", "FOLDER/a/bomb.yaml"],
        None,
        written("bomb.yaml", bomb_config),
        "line 21: its aliases expand to 1.14e+13 values, more than the 10,000 a config may hold; write the values out, "
        "or alias less",
    ),
    (
        "config with a section given twice",
        ["train", "FOLDER/a/twice.yaml"],
        None,
        written("twice.yaml", twice_config),
        "twice.yaml: key 'run' appears twice in one mapping, at lines 19 and 26; keep one (YAML would silently keep "
        "the last)",
    ),
    (
        "--set value with a key given twice",
        ["train", C, "--set", "objective={loss: hinge, loss: hinge}"],
        None,
        None,
        "key 'loss' appears twice in one mapping",
    ),
    (
        "--set value with an alias that names nothing",
        ["train", C, "--set", "run.name=*a"],
        None,
        None,
        "malformed YAML at line 1, column 1: found undefined alias 'a'",
    ),
    (
        "config nested too deep",
        ["train", C, "--set", f"run.name={'[' * 100}{']' * 100}"],
        None,
        None,
        "line 1: nested more than 64 levels deep; a config needs a few",
    ),
    (
        "a long value echoed",
        ["train", C, "--set", f"data.batch_size={'x' * 100_000}"],
        None,
        None,
        "data.batch_size: expected an integer, got '" + "x" * 76 + "...",
    ),
    (
        "a long network name",
        ["train", C, "--set", f"networks.{'n' * 500}.family=mlp"],
        None,
        None,
        "a network name holds at most 100 characters",
    ),
    (
        "a data key the data set does not read",
        ["train", C, "--set", "data.path=/etc/passwd"],
        None,
        None,
        "data.path: data set sklearn_digits does not read it, so '/etc/passwd' would be ignored; sklearn_digits reads "
        "data.resize, data.targets, data.mirror and the keys every",
    ),
    (
        "--resume with --overwrite",
        ["train", "--resume", "RUN", "--overwrite"],
        "RUN",
        None,
        "--resume continues the run, --overwrite deletes it and starts again; pass one of them",
    ),
    # run folders and weights (round three; full disks, writers at once and planted links: tests/test_nothing_lost.py)
    (
        "overwrite a folder this toolkit did not make",
        ["train", C, "--overwrite"],
        "RUN",
        lambda run: (run / ".gan-run").unlink(),
        "holds no .gan-run marker, so this toolkit did not make it (or a version from before markers did); --overwrite "
        "leaves it as it is",
    ),
    (
        "sample over a link that points nowhere",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/link.png"],
        "RUN",
        lambda run: (run.parent.parent / "link.png").symlink_to(run.parent.parent / "nowhere.png"),
        "link.png already exists; pass --overwrite",
    ),
    (
        "sample from weights with a flipped byte",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.png"],
        "RUN",
        flipped_byte,
        "painter.ema.safetensors: its SHA-256 is not the one painter.json recorded at export, so the file was changed "
        "or damaged since",
    ),
    (
        "a space too large for any tensor",
        ["train", C, "--set", "networks.painter.source=noise[99999999999999999999999]"],
        None,
        None,
        "noise[99999999999999999999999]: the dimension must be a positive integer (at most 2,147,483,647)",
    ),
    # flags and files (round three)
    (
        "sample an image painter with a temperature",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.png", "--temperature", "0.5"],
        "RUN",
        None,
        "--temperature: this network maps noise[8] -> image[1,8,8]; only a text network that writes its next character "
        "(text[L] -> categorical[K]) draws with a temperature",
    ),
    (
        "sample with a temperature below zero",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.png", "--temperature", "-1"],
        "RUN",
        None,
        "--temperature: expected a finite number > 0, got -1.0",
    ),
    (
        "sample to an empty output name",
        ["sample", "RUN", "--network", "painter", "-n", "2", "-o", ""],
        "RUN",
        None,
        "-o: expected a file or folder name, got nothing",
    ),
    (
        "classify a folder",
        ["classify", "RUN", "--network", "critic", "TMP"],
        "RUN",
        None,
        "is a folder; gan classify takes image files, e.g. ",
    ),
    (
        "classify with a seed and no draws",
        ["classify", "RUN", "--network", "critic", "--seed", "3", "TMP/x.png"],
        "RUN",
        an_image_beside,
        "--seed: only draws (--sample S) use a seed",
    ),
    (
        "classify strings with draws",
        ["classify", "RUN", "--network", "critic", "--text", "--sample", "2", "ab"],
        "RUN",
        None,
        "--sample: with --text, classify prints the likeliest next characters and draws none; drop --sample",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_one_clear_line(case, write_config, tmp_path, capsys):
    _, argv, needs_run, setup, fragment = case
    config = write_config(TINY_DIGITS)
    run = trained_run(tmp_path)
    if needs_run:
        assert main(["train", str(config)]) == 0
    folder = None
    if setup is not None:
        if needs_run:
            setup(run)
        else:
            folder = folder_of(tmp_path, setup)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) if needs_run else None
    argv = [
        a.replace("CONFIG", str(config))
        .replace("FOLDER", str(folder))
        .replace("RUN", str(run))
        .replace("TMP", str(tmp_path))
        for a in argv
    ]
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    if needs_run:
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, (
            "a refused command wrote or removed files"
        )
    if not needs_run and argv[0] == "train":
        assert not run.exists(), "a refused config must not create its run folder"


def test_sample_writes_the_file_its_output_names_whatever_the_case_of_its_suffix(write_config, tmp_path):
    import numpy as np

    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    out = tmp_path / "X.NPZ"
    assert main(["sample", str(tmp_path / "runs" / "tiny"), "--network", "painter", "-n", "3", "-o", str(out)]) == 0
    assert np.load(out)["samples"].shape == (3, 1, 8, 8)
    assert not (tmp_path / "X.NPZ.npz").exists()
