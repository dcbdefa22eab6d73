"""An encoder into function space: image -> the function that is that image, trained by the likelihood of its own
pixels at random pixel centres, drawn at any size afterwards (``gan render``)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image as PILImage

import gan
from gan import config as C
from gan.cli import main
from gan.data import open_examples
from networks import Fourier, Function, PlaneFunction, SpaceError
from networks.functions import pixel_centres

ENCODER = {
    "family": "fourier",
    "source": "image[1,8,8]",
    "target": "function[2->1]",
    "width": 32,
    "depth": 2,
    "frequencies": 16,
    "scale": 1.5,  # below the 8x8 grid's Nyquist rate (4 half-cycles a unit): the function is what the grid shows
    "points": 32,
}
TINY_ENCODER = {
    "networks": {"encoder": ENCODER},
    "roles": {"classifier": "encoder"},
    "loop": "likelihood",
    "optimizers": {"classifier": {"name": "adam", "lr": 3.0e-3, "betas": [0.9, 0.99]}},
    "data": {"name": "sklearn_digits", "batch_size": 32, "targets": "images"},
    "run": {"steps": 300, "log_every": 300, "sample_every": 300, "checkpoint_every": 300, "progress": False},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny encoder trained 300 steps on the 8x8 digits by the likelihood loop, as `gan train` runs it."""
    folder = tmp_path_factory.mktemp("function_encoder")
    cfg = copy.deepcopy(TINY_ENCODER)
    cfg["run"]["output"] = str(folder / "runs")
    path = folder / "encoder.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path)]) == 0
    return folder / "runs" / "encoder"


def held_out_and_mean(run):
    """The images the run held out, and the mean of those it trained on (the best constant picture)."""
    cfg = C.load(run / "config.yaml")
    train, held = open_examples(cfg.data, gan.load(run, "encoder").source).split(cfg.data.holdout, cfg.run.seed)
    return held.x, train.x.mean(0, keepdim=True)


def test_log_likelihood_is_the_normals_formula_at_given_pixels():
    """log N(v; f(c), s) summed over the pixels read, times pixels / points read: a hand-made function (0.5 x at
    every point) and a hand-made 4x4 image, read at three given pixels."""
    log_s = -1.0
    f = PlaneFunction(Function(1), 1, lambda xy: 0.5 * xy[..., :1], log_scale=torch.tensor([log_s]))
    image = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    at = torch.tensor([[0, 5, 15]])
    got = Function(1).distribution(f).log_prob(image, at=at)
    centres = pixel_centres(4, 4)
    expected = 0.0
    for i in at[0].tolist():
        v, m, s = image.flatten()[i].item(), 0.5 * centres[i, 0].item(), math.exp(log_s)
        expected += -0.5 * ((v - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
    assert got.shape == (1,) and got.item() == pytest.approx(expected * 16 / 3, rel=1e-5)
    pixels = ((image + 1) * 127.5).round().to(torch.uint8)  # 8-bit targets read as the same values, to 1/255
    assert Function(1).distribution(f).log_prob(pixels, at=at).item() == pytest.approx(got.item(), abs=0.2)
    every = Function(1).distribution(f).log_prob(image)  # no points given: every pixel, once
    assert every.item() == pytest.approx(Function(1).distribution(f).log_prob(image, at=torch.arange(16)[None]))


def test_training_lowers_held_out_pixel_error_below_the_mean_image(trained):
    """The mean training image is the best picture that ignores its input; an encoder that read nothing of the
    image could do no better. 300 steps reach well below it (measured: RMSE about 0.5x the mean image's), so a
    bound of 0.8x fails only if the encoder does not read its input into the function."""
    net = gan.load(trained, "encoder")
    held, mean = held_out_and_mean(trained)
    with torch.no_grad():
        again = net.function(held).render(8)
    rmse, baseline = (again - held).pow(2).mean().sqrt().item(), (mean - held).pow(2).mean().sqrt().item()
    assert rmse < 0.8 * baseline, (rmse, baseline)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert math.isfinite(metrics["held_out/nll"])


def test_the_4x_render_pooled_by_4_is_the_render_at_the_image_size(trained):
    """Drawn at 32x32 and averaged over 4x4 blocks, the function is its 8x8 render up to what it does between two
    pixel centres, which an 8x8 grid never sees: measured mean |difference| 0.07, against 0.18 between the 8x8 render
    and the image (0.013 against 0.25 RMSE at 28x28, docs/benchmarks/functions.md). Bound: 0.6x the reconstruction's
    own error, so a 4x picture adds less than the encoding loses; a render read at other points than the pixel
    centres (corners, a transposed or shifted grid) moves whole strokes and fails it."""
    net = gan.load(trained, "encoder")
    held, _ = held_out_and_mean(trained)
    with torch.no_grad():
        functions = net.function(held)
        small, large = functions.render(8), functions.render(32)
    assert large.shape == (len(held), 1, 32, 32)
    pooled, lost = (F.avg_pool2d(large, 4) - small).abs().mean().item(), (small - held).abs().mean().item()
    assert pooled < 0.6 * lost, (pooled, lost)


def write_png(path, size: int, mode: str = "L"):
    PILImage.new(mode, (size, size), (200, 30, 30) if mode == "RGB" else 0).save(path)
    return str(path)


def test_render_writes_each_image_at_the_size_asked(trained, tmp_path, capsys):
    digit = write_png(tmp_path / "digit.png", 8)
    assert main(["render", str(trained), digit, "--size", "32", "--beside", "-o", str(tmp_path / "r.png")]) == 0
    assert "reconstruction RMSE" in capsys.readouterr().out
    with PILImage.open(tmp_path / "r.png") as im:  # a row: the image, its reconstruction, the render; 2 px apart
        assert im.size == (3 * 32 + 4 * 2, 32 + 2 * 2)
    # a picture already there is kept, byte for byte, unless --overwrite says otherwise
    before = (tmp_path / "r.png").read_bytes()
    assert main(["render", str(trained), digit, "--size", "16", "-o", str(tmp_path / "r.png")]) == 2
    assert "--overwrite" in capsys.readouterr().err and (tmp_path / "r.png").read_bytes() == before
    assert main(["render", str(trained), digit, "--size", "16", "-o", str(tmp_path / "r.png"), "--overwrite"]) == 0
    with PILImage.open(tmp_path / "r.png") as im:
        assert im.size == (16, 16)  # one picture alone: no padding


@pytest.mark.parametrize(
    "args, said",
    [
        (["--size", "0"], "1 to 4096"),
        (["--size", "-3"], "1 to 4096"),
        (["--size", "5000"], "GiB"),
        (["--size", "32", "@wrong_size"], "reads image[1,8,8]"),
        (["--size", "32", "@colour"], "3 channel(s)"),
    ],
)
def test_bad_inputs_are_refused_in_one_line(trained, tmp_path, capsys, args, said):
    files = {"@wrong_size": write_png(tmp_path / "big.png", 28), "@colour": write_png(tmp_path / "red.png", 8, "RGB")}
    images = [files[a] for a in args if a in files] or [write_png(tmp_path / "ok.png", 8)]
    flags = [a for a in args if a not in files]
    code = main(["render", str(trained), *images, *flags, "-o", str(tmp_path / "r.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and said in err, err
    assert not (tmp_path / "r.png").exists()


def test_an_encoder_refuses_labels_as_targets_and_a_grid():
    """Scored against class labels, not images, it names the key that makes each image its own target."""
    net = Fourier(source="image[1,8,8]", target="function[2->1]", width=8)
    with pytest.raises(SpaceError, match="data.targets: images"):
        net.distribution(torch.zeros(2, 1, 8, 8)).log_prob(torch.tensor([3, 4]))
    with pytest.raises(SpaceError, match="no grid"):
        Fourier(source="image[1,8,8]", target="function[2->1]", grid=[8, 8])
    with pytest.raises(SpaceError, match="render"):
        net.sample(x=torch.zeros(2, 1, 8, 8))
