"""An encoder by role (pairs drawn from a frozen generator, the likelihood loop's update) and ``gan project``."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml
from PIL import Image as PILImage

from gan import config as C
from gan.cli import main
from gan.loops.setup import likelihood_loop
from gan.roles import RoleError
from gan.runs.folder import load
from gan.session.session import Session
from gan.verbs.project import networks_of, project
from tests.conftest import TINY_DIGITS
from tests.test_adversarial import run_loop


def _config(folder, name: str, cfg: dict):
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    """A tiny GAN on 8x8 digits: noise[8] -> image[1,8,8], trained 60 steps."""
    folder = tmp_path_factory.mktemp("gan")
    cfg = copy.deepcopy(TINY_DIGITS)
    cfg["run"] = {"steps": 60, "log_every": 30, "sample_every": 60, "checkpoint_every": 60, "progress": False}
    cfg["run"]["output"] = str(folder / "runs")
    run_loop(_config(folder, "tiny", cfg))
    return folder / "runs" / "tiny"


def _encoder_config(folder, gan_run, *, target="normal[8]", roles=None, steps=300) -> dict:
    return {
        "networks": {
            "reader": {
                "family": "conv",
                "source": "image[1,8,8]",
                "target": target,
                "width": 4,  # the critic's: its body is the starting point
                "init": {"run": str(gan_run), "network": "critic"},
            },
            "painter": {**TINY_DIGITS["networks"]["painter"], "init": {"run": str(gan_run), "network": "painter"}},
        },
        "roles": roles or {"classifier": "reader", "source": "painter"},
        "loop": "likelihood",
        "optimizers": {"classifier": {"name": "adam", "lr": 3e-3, "betas": [0.9, 0.999]}},
        "data": {"name": "generated", "batch_size": 64},
        "run": {
            "steps": steps,
            "log_every": 50,
            "sample_every": steps,
            "checkpoint_every": steps,
            "progress": False,
            "output": str(folder / "runs"),
        },
    }


def _train_likelihood(path):
    with Session(C.load(path)) as session:
        loop = likelihood_loop(session)
        loop.run()
    return loop


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory, gan_run):
    folder = tmp_path_factory.mktemp("encoder")
    loop = _train_likelihood(_config(folder, "encoder", _encoder_config(folder, gan_run)))
    return folder / "runs" / "encoder", loop


def test_encoder_predicts_the_noise_better_than_its_mean(encoder_run):
    run, loop = encoder_run
    held = loop.held_out
    baseline = (held.y - held.y.mean(0)).pow(2).mean().item()  # predicting the noise's mean: its variance, ~1
    assert 0.8 < baseline < 1.2
    E = load(run, "reader", ema=False)
    with torch.no_grad():
        guess = E.distribution(held.x).mean
    error = (guess - held.y).pow(2).mean().item()
    assert error < 0.7 * baseline, (error, baseline)
    assert loop.scores["rmse"] ** 2 == pytest.approx(error, rel=1e-3)  # what the run logged is this error


def test_encoder_role_check_names_both_spaces(tmp_path, gan_run):
    path = _config(tmp_path, "bad", _encoder_config(tmp_path, gan_run, target="normal[4]", steps=2))
    with pytest.raises(RoleError, match=r"normal\[4\].*noise\[8\].*normal\[8\]"):
        _train_likelihood(path)
    missing = _encoder_config(tmp_path, gan_run, roles={"classifier": "reader"}, steps=2)
    with pytest.raises(RoleError, match="roles.source"):
        _train_likelihood(_config(tmp_path, "nosource", missing))
    untrained = _encoder_config(tmp_path, gan_run, steps=2)
    del untrained["networks"]["painter"]["init"]
    with pytest.raises(RoleError, match="role 'source'.*untrained"):
        _train_likelihood(_config(tmp_path, "untrained", untrained))


def test_projection_descends_monotonically_and_finds_a_drawn_noise(gan_run):
    G, D, _ = networks_of(gan_run)
    z_true = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        targets = G(z_true)
    found = project(G, targets, features=D, steps=300, starts=4, seed=1)
    history = found.history  # [steps + 1, images], the best start of each image
    assert (history[1:] <= history[:-1] + 1e-6).all(), (history[1:] - history[:-1]).max()
    assert (found.distance < 2e-3).all(), found.distance  # from about 1 at the starts
    assert (found.distance < 0.01 * history[0]).all()  # the search did the work, not a lucky start


def test_projection_from_the_encoder_starts_nearer(gan_run, encoder_run):
    G, D, E = networks_of(gan_run, encoder_run[0])
    with torch.no_grad():
        targets = G(torch.randn(16, 8, generator=torch.Generator().manual_seed(7)))
    guessed = project(G, targets, features=D, encoder=E, steps=0)
    random = project(G, targets, features=D, steps=0, starts=1)
    assert guessed.distance.mean() < random.distance.mean()


def _png(path, array):
    PILImage.fromarray(array).save(path)
    return str(path)


def test_gan_project_writes_pairs_and_noise(tmp_path, gan_run, encoder_run, capsys):
    G = load(gan_run, "painter")
    with torch.no_grad():
        x = G.target.to_unit(G(torch.randn(2, 8, generator=torch.Generator().manual_seed(3))))
    files = [_png(tmp_path / f"d{i}.png", (x[i, 0].numpy() * 255).round().astype(np.uint8)) for i in range(2)]
    out = tmp_path / "out"
    args = ["project", str(gan_run), *files, "-o", str(out), "--encoder", str(encoder_run[0]), "--steps", "20"]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("distance" in line for line in lines)
    with np.load(out / "d0.npz") as saved:
        assert saved["z"].shape == (8,) and saved["history"].shape == (21,)
    assert PILImage.open(out / "d0.png").size == (2 * 8 + 3, 8 + 2)  # target | reconstruction, 1-pixel borders
    assert main(args) == 2  # the outputs exist: refused without --overwrite
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "array, said",
    [
        (np.zeros((28, 28), np.uint8), "28x28 with 1 channel(s)"),
        (np.stack([np.zeros((8, 8)), np.full((8, 8), 255), np.zeros((8, 8))], 2).astype(np.uint8), "8x8 with 3"),
    ],
)
def test_gan_project_refuses_an_image_of_another_size_or_channels(tmp_path, gan_run, capsys, array, said):
    name = _png(tmp_path / "wrong.png", array)
    assert main(["project", str(gan_run), name, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err and said in err and "image[1,8,8], 8x8 with 1 channel(s)" in err
    assert not (tmp_path / "out").exists()


def test_gan_project_refuses_a_run_without_a_generator(tmp_path, encoder_run, capsys):
    name = _png(tmp_path / "d.png", np.zeros((8, 8), np.uint8))
    assert main(["project", str(encoder_run[0]), name, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no generator" in err and "classifier: reader" in err


def test_gan_evaluate_scores_an_encoder_on_the_pairs_its_run_held_out(encoder_run, capsys):
    import json

    from gan.cli import main

    run, loop = encoder_run
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rmse"] == pytest.approx(loop.scores["rmse"], rel=1e-5)  # the same pairs, the same network
