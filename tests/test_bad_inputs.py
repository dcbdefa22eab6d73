"""Bad input, refused early: each case stops with one line naming the problem (table-driven).

Every case runs ``gan`` as a user would and checks exit status 2, the message fragment,
no traceback, and that an existing run folder was left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from gan.cli import main

from .conftest import TINY_DIGITS


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
            target.write_bytes(target.read_bytes()[: 40])
    return damage


def other_architecture(run: Path):
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["networks"]["painter"]["width"] = 8
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))


C = "CONFIG"  # placeholder for the tiny config path
CASES = [
    # (id, argv, overrides of the tiny config or None, setup(tmp) -> extra, expected fragment)
    ("missing config file", ["train", "nowhere.yaml"], None, None, "config file 'nowhere.yaml' not found"),
    ("unknown top-level key", ["train", C, "--set", "netwrks.x=1"], None, None, "unknown key netwrks"),
    ("batch size zero", ["train", C, "--set", "data.batch_size=0"], None, None, "data.batch_size: expected an integer >= 1, got 0"),
    ("negative learning rate", ["train", C, "--set", "optimizers.generator.lr=-1"], None, None, "optimizers.generator.lr: expected a learning rate > 0"),
    ("wrong type", ["train", C, "--set", "run.seed=[1]"], None, None, "run.seed: expected an integer"),
    ("impossible space", ["train", C, "--set", "networks.painter.target=image[0,8,8]"], None, None, "image: channels must be a positive integer"),
    ("unreadable space", ["train", C, "--set", "networks.critic.source=picture[1,8,8]"], None, None, "cannot read space 'picture[1,8,8]'; accepted forms:"),
    ("unknown family", ["train", C, "--set", "networks.critic.family=lstm"], None, None, "unknown network family 'lstm'; accepted: conv, mlp"),
    ("unknown network keyword", ["train", C, "--set", "networks.critic.widht=3"], None, None, "family 'conv' does not take 'widht'; accepted: source, target, condition, width"),
    ("unknown norm", ["train", C, "--set", "networks.critic.norm=group"], None, None, "unknown norm 'group'; accepted:"),
    ("unknown dataset", ["train", C, "--set", "data.name=imagenet"], None, None, "data.name: unknown dataset 'imagenet'; accepted: digits"),
    ("torchvision dataset without a path", ["train", C, "--set", "data.name=mnist"], None, None, "data.path: dataset 'mnist' is read from a local folder"),
    ("missing dataset path", ["train", C, "--set", "data.name=cifar10", "--set", "data.path=/no/such/place"], None, None, "data.path: '/no/such/place' does not exist; fetch it once"),
    ("empty torchvision folder", ["train", C, "--set", "data.name=mnist", "--set", "data.path=TMP"], None, None, "could not read mnist from"),
    ("image folder of unreadable files", ["train", C, "--set", "data.name=folder", "--set", "data.path=FOLDER"], None, broken_png, "cannot read image"),
    ("images of the wrong size", ["train", C, "--set", "data.name=folder", "--set", "data.path=FOLDER"], None, gray_12x12, "images are 12x12 but the networks read image[1,8,8]; set data.resize: true"),
    ("images with the wrong channel count", ["train", C, "--set", "data.name=folder", "--set", "data.path=FOLDER"], None, rgb_8x8, "images have 3 channel(s) but the networks read image[1,8,8]"),
    ("labels for unconditioned networks", ["train", C, "--set", "data.labels=true"], None, None, "data.labels is true but network 'painter' takes no condition"),
    ("fp16 on the CPU", ["train", C, "--set", "run.mixed_precision=fp16", "--set", "run.cpu=true"], None, None, "fp16 does nothing on a CPU"),
    ("one network in both roles", ["train", C, "--set", "roles.discriminator=painter"], None, None, "network 'painter' cannot be both generator and discriminator"),
    ("run folder that cannot be created", ["train", C, "--set", "run.output=CONFIG/runs"], None, None, "run.output: cannot create the run folder"),
    ("existing run without --overwrite", ["train", C], "RUN", None, "already exists; pass --resume"),
    ("resume of a folder that is no run", ["train", "--resume", "TMP"], None, None, "no config.yaml there"),
    ("truncated optimizer state", ["train", "--resume", "RUN"], "RUN", corrupt("optimizer.bin"), "cannot be loaded"),
    ("truncated model weights", ["train", "--resume", "RUN"], "RUN", corrupt("model.safetensors"), "model.safetensors: not a readable safetensors file"),
    ("checkpoint of another architecture", ["train", "--resume", "RUN"], "RUN", other_architecture, "model.safetensors does not fit the network (shapes differ for body.0.weight"),
    ("sample count zero", ["sample", "RUN", "--network", "painter", "-n", "0", "-o", "TMP/x.png"], "RUN", None, "-n: expected a number of samples >= 1"),
    ("sample to an unknown format", ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.gif"], "RUN", None, "expected FILE.png, FILE.npz, FILE.pt or a FOLDER"),
    ("sample into a path that cannot be written", ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "CONFIG/x.png"], "RUN", None, "cannot write there"),
    ("labels for an unconditioned sampler", ["sample", "RUN", "--network", "painter", "-n", "2", "-o", "TMP/x.png", "--labels", "3"], "RUN", None, "--labels: this network takes no condition"),
    ("classify a missing file", ["classify", "RUN", "--network", "critic", "TMP/nothing.png"], "RUN", None, "nothing.png: no such file"),
    ("classify with a sampler", ["classify", "RUN", "--network", "painter", "TMP/nothing.png"], "RUN", None, "writes image[1,8,8], not a distribution over labels"),
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
    argv = [a.replace("CONFIG", str(config)).replace("FOLDER", str(folder)).replace("RUN", str(run)).replace("TMP", str(tmp_path)) for a in argv]
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    if needs_run and argv[0] == "train" and "--resume" not in argv:
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "the existing run was touched"
    if not needs_run and argv[0] == "train":
        assert not run.exists(), "a refused config must not create its run folder"
