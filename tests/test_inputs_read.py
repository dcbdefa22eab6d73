"""Inputs read as the user meant them, or refused: flags that do not apply, pictures in alpha, messages that mislead.

One tiny trained digits run serves the whole module; networks of the other kinds (a text model, an
image reader of strings, a predictor of reals, ...) are exported into it untrained, since what is
tested is how ``gan sample`` and ``gan classify`` read their arguments, not what the networks say.
"""

from __future__ import annotations

import copy
import json
import shlex
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from gan.cli import main
from networks import build

from .conftest import TINY_DIGITS

EXPORTED = {  # name -> spec, exported untrained beside the run's painter and critic
    "lm": {
        "family": "transformer",
        "source": "text[16]",
        "target": "categorical[64]",
        "width": 16,
        "depth": 1,
        "heads": 2,
    },
    "yes_no": {
        "family": "transformer",
        "source": "text[16]",
        "target": "bernoulli",
        "width": 16,
        "depth": 1,
        "heads": 2,
    },
    "speller": {"family": "conv", "source": "image[1,8,8]", "target": "text[3,lower]", "width": 8},
    "digit": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4},
    "measurer": {"family": "conv", "source": "image[1,8,8]", "target": "normal[2]", "width": 4},
    "predictor": {"family": "mlp", "source": "point[3]", "target": "normal[1]", "width": 8, "depth": 1},
    "drawer": {
        "family": "conv",
        "source": "noise[8]",
        "target": "image[1,8,8]",
        "width": 4,
        "condition": "categorical[10]",
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 4-step digits run (painter with EMA, critic) with networks of every other kind exported into it."""
    from gan.runs.folder import RunDir

    root = tmp_path_factory.mktemp("inputs")
    cfg = copy.deepcopy(TINY_DIGITS)
    cfg["run"]["output"] = str(root / "runs")
    (root / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(root / "tiny.yaml")]) == 0
    folder = RunDir(root / "runs" / "tiny")
    torch.manual_seed(0)
    for name, spec in EXPORTED.items():
        folder.export(name, build(spec), "classifier")
    return folder.path


def refused(argv, capsys) -> str:
    """Run ``gan ARGV``; it must stop with status 2 in one line and no traceback. Returns that line."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("gan: error: ") and "Traceback" not in err, err
    return err


# -- gan sample: every flag that the network at hand does not use is refused, naming it ---------------------
SAMPLE_REFUSALS = [
    # (id, network, output name, extra flags, fragment)
    (
        "labels on a text model",
        "lm",
        "x.txt",
        ["--labels", "3"],
        "--labels: this network takes no condition (it maps text[16] -> categorical[64])",
    ),
    (
        "labels on an image reader of strings",
        "speller",
        "x.txt",
        ["--labels", "3"],
        "--labels: this network takes no condition",
    ),
    (
        "labels on a predictor of reals",
        "predictor",
        "x.npz",
        ["--labels", "3"],
        "--labels: this network takes no condition (it maps point[3] -> normal[1])",
    ),
    (
        "empty labels on a conditioned painter",
        "drawer",
        "x.png",
        ["--labels", ""],
        "--labels: expected comma-separated integers such as 3,7, got ''",
    ),
    (
        "temperature on an image painter",
        "painter",
        "x.png",
        ["--temperature", "0.5"],
        "--temperature: this network maps noise[8] -> image[1,8,8]; only a text network",
    ),
    (
        "temperature on an image reader of strings",
        "speller",
        "x.txt",
        ["--temperature", "0.5"],
        "--temperature: this network maps image[1,8,8] -> text[3,lower]",
    ),
    (
        "temperature on a predictor of reals",
        "predictor",
        "x.npz",
        ["--temperature", "2"],
        "--temperature: this network maps point[3] -> normal[1]",
    ),
    (
        "temperature below zero on a painter",
        "painter",
        "x.png",
        ["--temperature", "-1"],
        "--temperature: expected a finite number > 0, got -1",
    ),
    (
        "temperature zero on a text model",
        "lm",
        "x.txt",
        ["--temperature", "0"],
        "--temperature: expected a finite number > 0, got 0",
    ),
    (
        "temperature nan on a text model",
        "lm",
        "x.txt",
        ["--temperature", "nan"],
        "--temperature: expected a finite number > 0, got nan",
    ),
    (
        "temperature inf on a text model",
        "lm",
        "x.txt",
        ["--temperature", "inf"],
        "--temperature: expected a finite number > 0, got inf",
    ),
    (
        "prompt on an image reader of strings",
        "speller",
        "x.txt",
        ["--prompt", "ab"],
        "--prompt: this network maps image[1,8,8] -> text[3,lower]; a prompt is the start",
    ),
    (
        "prompt on a predictor of reals",
        "predictor",
        "x.npz",
        ["--prompt", "ab"],
        "--prompt: this network maps point[3] -> normal[1]; a prompt is the start",
    ),
    (
        "prompt on a painter",
        "painter",
        "x.png",
        ["--prompt", "ab"],
        "--prompt: this network maps noise[8] -> image[1,8,8]; a prompt is the start",
    ),
    (
        "no-ema where no moving average was kept",
        "drawer",
        "x.png",
        ["--no-ema"],
        "--no-ema: network 'drawer' has no moving average of its weights",
    ),
    ("an empty output name", "painter", "", [], "-o: expected a file or folder name, got nothing"),
    ("an output name of spaces", "painter", "  ", [], "-o: expected a file or folder name, got only white space"),
]


@pytest.mark.parametrize("case", SAMPLE_REFUSALS, ids=[c[0] for c in SAMPLE_REFUSALS])
def test_sample_refuses_a_flag_the_network_does_not_use_and_writes_nothing(case, run, tmp_path, capsys, monkeypatch):
    _, network, name, flags, fragment = case
    monkeypatch.chdir(tmp_path)  # an empty -o would write into the working folder
    out = name if not name.strip() else str(tmp_path / name)
    err = refused(["sample", run, "--network", network, "-n", "2", "-o", out, *flags], capsys)
    assert fragment in err, err
    assert list(tmp_path.iterdir()) == [], "a refused sample wrote files"


def test_sample_still_takes_every_flag_that_applies(run, tmp_path):
    assert (
        main(
            [
                "sample",
                str(run),
                "--network",
                "lm",
                "-n",
                "2",
                "-o",
                str(tmp_path / "a.txt"),
                "--prompt",
                "a",
                "--temperature",
                "0.7",
            ]
        )
        == 0
    )
    assert (
        main(["sample", str(run), "--network", "drawer", "-n", "2", "-o", str(tmp_path / "b.png"), "--labels", "3,7"])
        == 0
    )
    assert (
        main(
            [
                "sample",
                str(run),
                "--network",
                "painter",
                "-n",
                "2",
                "-o",
                str(tmp_path / "c.npz"),
                "--no-ema",
                "--seed",
                "4",
            ]
        )
        == 0
    )


# -- gan classify: the same for its flags -------------------------------------------------------------------
def a_digit(path: Path, *, ink=255, paper=0) -> str:
    """An 8x8 grey picture: a bar of ``ink`` on ``paper``."""
    im = Image.new("L", (8, 8), paper)
    for y in range(1, 7):
        im.putpixel((4, y), ink)
    im.save(path)
    return str(path)


CLASSIFY_REFUSALS = [
    # (id, network, flags (IMAGE: a picture file), fragment)
    (
        "top of a predictor of reals",
        "measurer",
        ["--top", "2", "IMAGE"],
        "--top: network 'measurer' writes normal[2], a mean and a scale per image, no labels to rank; drop --top",
    ),
    ("seed without draws", "digit", ["--seed", "3", "IMAGE"], "--seed: only draws (--sample S) use a seed"),
    ("draws beyond memory", "digit", ["--sample", "1000000000000", "IMAGE"], "--sample 1000000000000 needs"),
    (
        "draws with --text",
        "lm",
        ["--text", "--sample", "2", "ab"],
        "--sample: with --text, classify prints the likeliest next characters and draws none",
    ),
    (
        "resize with --text",
        "lm",
        ["--text", "--resize", "ab"],
        "--resize: with --text, the inputs are strings, not images",
    ),
    ("seed with --text", "lm", ["--text", "--seed", "1", "ab"], "--seed: only draws (--sample S) use a seed"),
    (
        "top of a text network that writes bernoulli",
        "yes_no",
        ["--text", "--top", "2", "ab"],
        "--top: network 'yes_no' writes bernoulli, one probability per string, no labels to rank; drop --top",
    ),
    ("a folder", "digit", ["FOLDER"], "is a folder; gan classify takes image files"),
]


@pytest.mark.parametrize("case", CLASSIFY_REFUSALS, ids=[c[0] for c in CLASSIFY_REFUSALS])
def test_classify_refuses_a_flag_the_network_does_not_use(case, run, tmp_path, capsys):
    _, network, flags, fragment = case
    (tmp_path / "pictures").mkdir()
    image = a_digit(tmp_path / "pictures" / "x.png")
    flags = [image if f == "IMAGE" else str(tmp_path / "pictures") if f == "FOLDER" else f for f in flags]
    err = refused(["classify", run, "--network", network, *flags], capsys)
    assert fragment in err, err


def test_classify_still_takes_every_flag_that_applies(run, tmp_path, capsys):
    image = a_digit(tmp_path / "x.png")
    assert (
        main(
            [
                "classify",
                str(run),
                "--network",
                "digit",
                "--top",
                "2",
                "--sample",
                "3",
                "--seed",
                "1",
                "--resize",
                "--json",
                image,
            ]
        )
        == 0
    )
    assert (
        main(["classify", str(run), "--network", "measurer", "--sample", "2", image]) == 0
    )  # printed as a mean and a scale
    assert main(["classify", str(run), "--network", "lm", "--text", "--top", "2", "--json", "ab"]) == 0
    assert "gan: " not in capsys.readouterr().err


# -- pictures drawn in the alpha channel, and pictures of the opposite polarity ------------------------------
def classify_rows(run, files, capsys, network="digit") -> tuple[list[dict], str]:
    capsys.readouterr()
    assert main(["classify", str(run), "--network", network, "--top", "10", "--json", *map(str, files)]) == 0
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


def in_alpha(path: Path, ink=(0, 0, 0)) -> str:
    """The bar of ``a_digit`` drawn only in the alpha channel: ``ink`` everywhere, transparent around the bar."""
    im = Image.new("RGBA", (8, 8), (*ink, 0))
    for y in range(1, 7):
        im.putpixel((4, y), (*ink, 255))
    im.save(path)
    return str(path)


def probabilities(row: dict) -> list[float]:
    return [p for _, p in sorted(row["top"])]


@pytest.mark.parametrize("ink", [(0, 0, 0), (255, 255, 255), (200, 30, 30)], ids=["black ink", "white ink", "red ink"])
def test_a_picture_drawn_in_alpha_reads_as_the_same_picture_on_the_datas_background(run, tmp_path, capsys, ink):
    rows, err = classify_rows(run, [a_digit(tmp_path / "plain.png"), in_alpha(tmp_path / "alpha.png", ink)], capsys)
    assert probabilities(rows[1]) == pytest.approx(probabilities(rows[0]), abs=1e-6)
    assert err == ""


def test_a_colour_picture_with_transparency_is_read_over_the_datas_background(run, tmp_path, capsys):
    picture = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # a grey bar, half transparent, over nothing
    for y in range(1, 7):
        picture.putpixel((4, y), (255, 255, 255, 128))
        picture.putpixel((2, y), (90, 200, 40, 255))  # and a green one, opaque: a real colour picture
    picture.save(tmp_path / "colour.png")
    flat = Image.new("L", (8, 8), 0)  # what a viewer shows over black, in grey
    flat.paste(Image.alpha_composite(Image.new("RGBA", (8, 8), (0, 0, 0, 255)), picture).convert("L"))
    flat.save(tmp_path / "flat.png")
    rows, _ = classify_rows(run, [tmp_path / "flat.png", tmp_path / "colour.png"], capsys)
    assert probabilities(rows[1]) == pytest.approx(probabilities(rows[0]), abs=1e-6)


def test_pictures_of_the_opposite_polarity_are_warned_of_once(run, tmp_path, capsys):
    dark_on_light = [a_digit(tmp_path / f"{i}.png", ink=0, paper=255) for i in range(3)]
    rows, err = classify_rows(run, [a_digit(tmp_path / "fine.png"), *dark_on_light], capsys)
    assert len(rows) == 4
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gan: warning: 3 of 4 images"), err
    assert "0.png" in lines[0] and "light" in lines[0] and "dark" in lines[0]


def test_pictures_of_the_datas_polarity_pass_without_a_word(run, tmp_path, capsys):
    _, err = classify_rows(run, [a_digit(tmp_path / f"{i}.png") for i in range(2)], capsys)
    assert err == ""


def test_without_the_runs_data_alpha_is_read_over_black_and_nothing_is_warned(tmp_path, capsys):
    from gan.runs.folder import RunDir

    folder = RunDir(tmp_path / "bare")
    folder.networks.mkdir(parents=True)
    folder.export("digit", build(EXPORTED["digit"]), "classifier")
    rows, err = classify_rows(
        folder.path,
        [
            a_digit(tmp_path / "plain.png"),
            in_alpha(tmp_path / "alpha.png"),
            a_digit(tmp_path / "light.png", ink=0, paper=255),
        ],
        capsys,
    )
    assert probabilities(rows[1]) == pytest.approx(probabilities(rows[0]), abs=1e-6)
    assert err == ""


# -- messages that mislead -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, says",
    [("", "is empty"), ("\n  \n", "is empty"), ("a,b,c\n", "holds a header row and no rows of numbers")],
    ids=["empty", "blank lines", "header only"],
)
def test_an_empty_csv_is_said_to_be_empty_without_a_numpy_warning(tmp_path, content, says):
    from gan.config import Data
    from gan.data import DataError, open_examples
    from networks import Point

    path = tmp_path / "t.csv"
    path.write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError) as caught:
            open_examples(Data(name="table", path=str(path)), Point(2))
    assert f"data.path: {path} {says}" in str(caught.value)
    assert "columns" not in str(caught.value)


def test_a_command_printed_for_pasting_quotes_a_path_with_a_space():
    from gan.words import command

    assert command("gan", "train", "--resume", "runs/a b") == "gan train --resume 'runs/a b'"
    assert command("tensorboard", "--logdir", Path("runs/plain/logs")) == "tensorboard --logdir runs/plain/logs"


def test_a_diverged_run_named_with_a_space_says_how_to_resume_it_quoted(tmp_path, monkeypatch):
    from gan import config as C
    from gan.loops import adversarial
    from gan.loops.setup import adversarial_loop
    from gan.session.guard import Diverged
    from gan.session.session import Session

    real_loss, calls = adversarial.generator_loss, []

    def nan_after_a_checkpoint(
        name, fake, *real
    ):  # the first checkpoint (step 2) is written before the losses turn NaN
        calls.append(1)
        return real_loss(name, fake, *real) * (float("nan") if len(calls) > 3 else 1.0)

    monkeypatch.setattr(adversarial, "generator_loss", nan_after_a_checkpoint)
    cfg = copy.deepcopy(TINY_DIGITS)
    cfg["run"].update(output=str(tmp_path / "runs"), name="a b", steps=8, max_bad_steps=1)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(Diverged) as caught:
        with Session(C.load(tmp_path / "c.yaml")) as session:
            adversarial_loop(session).run()
    assert "gan train --resume " + shlex.quote(str(tmp_path / "runs" / "a b")) in str(caught.value)


# -- progress written to a file or a pipe ----------------------------------------------------------------------
def test_progress_to_a_file_is_one_plain_line_per_interval_with_no_carriage_returns(tmp_path, capsys):
    cfg = copy.deepcopy(TINY_DIGITS)
    cfg["run"].update(output=str(tmp_path / "runs"), steps=8, log_every=2, progress=True)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert (
        main(["train", str(tmp_path / "tiny.yaml")]) == 0
    )  # capsys's stderr is no terminal, as a file or a pipe is not
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    lines = [line for line in err.splitlines() if line.startswith("tiny:")]
    assert 1 <= len(lines) <= 8 // 2 + 1, err
    assert "step 8/8" in lines[-1] and all(len(line) < 200 for line in lines), lines
