"""The parts of R3GAN's presets beyond the loss and the networks: ADA's geometric and colour matrices, x-flips of the
data, and the augmentation's p and the moving average's half-life on the schedule."""

from __future__ import annotations

import pytest
import torch

from gan import config as C
from gan.augment import DRAWS, POLICIES, Augmenter, augment
from gan.augment_affine import COLOR_DRAWS, GEOMETRIC_DRAWS, color_matrix, geometric
from gan.cli import main
from gan.data import Examples, batches
from gan.data.images import mirrored
from gan.ema import EMA, averaged

from .conftest import TINY_DIGITS
from .test_adversarial import assert_resume_is_exact, run_loop

ALL_DRAWS = DRAWS + GEOMETRIC_DRAWS + COLOR_DRAWS


def only(column: int, value: float, draws: int) -> torch.Tensor:
    """Draws for 4 images in which only the coin at ``column`` falls under p = 0.5, its value ``value``."""
    u = torch.ones(4, draws)
    u[:, column], u[:, column + 1] = 0.0, value
    return u


# -- the matrices ------------------------------------------------------------------------------------
def test_at_p_zero_the_matrices_change_nothing_to_the_bit():
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(geometric(x, torch.rand(4, GEOMETRIC_DRAWS), 0.0), x)
    assert torch.equal(color_matrix(x, torch.rand(4, COLOR_DRAWS), 0.0), x)
    aug = Augmenter(("geometric", "color_matrix", "cutout"), p=0.0, fill=-1.0, seed=0)
    assert torch.equal(aug(x), x)


def test_flips_quarter_turns_and_whole_pixel_shifts_move_pixels_exactly():
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(geometric(x, only(0, 0.9, GEOMETRIC_DRAWS), 0.5), x.flip(-1), atol=1e-6)
    turned = geometric(x, only(2, 0.3, GEOMETRIC_DRAWS), 0.5)  # one quarter turn
    assert min((turned - torch.rot90(x, k, (2, 3))).abs().max() for k in (1, 3)) < 1e-5
    u = torch.ones(4, GEOMETRIC_DRAWS)
    u[:, 4], u[:, 5], u[:, 6] = 0.0, 1.0, 0.5  # shift right by round(0.125 * 8) = 1 pixel, not vertically
    shifted = geometric(x, u, 0.5)
    assert torch.allclose(shifted[..., 1:], x[..., :-1], atol=1e-6)
    assert torch.allclose(shifted[..., 0], x[..., 0], atol=1e-6)  # the border reflected, not blank


def test_the_colour_matrix_keeps_luma_under_hue_and_saturation_and_negates_grey_under_a_luma_flip():
    x = torch.rand(4, 3, 6, 6) * 2 - 1
    luma = x.mean(dim=1)
    for column in (6, 8):  # hue rotation, saturation: both leave the grey axis alone
        y = color_matrix(x, only(column, 0.8, COLOR_DRAWS), 0.5)
        assert not torch.allclose(y, x) and torch.allclose(y.mean(dim=1), luma, atol=1e-5)
    grey = torch.full((2, 1, 4, 4), 0.3)
    assert torch.allclose(color_matrix(grey, only(4, 0.9, COLOR_DRAWS)[:2], 0.5), -grey, atol=1e-6)
    brighter = color_matrix(grey, only(0, 0.9, COLOR_DRAWS)[:2], 0.5)  # brightness: one shift for every pixel
    assert (brighter - grey).std() < 1e-6 and (brighter - grey).mean() > 0.1


def test_the_matrices_are_differentiable_twice_for_a_penalty_through_them():
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    u = torch.rand(4, ALL_DRAWS)
    w = torch.randn(2, 3, 3, 3, requires_grad=True)
    out = torch.nn.functional.conv2d(augment(x, u, 1.0, ("geometric", "color_matrix"), fill=-1.0), w)
    (grad,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
    grad.square().sum().backward()  # R1's double backward
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_diffaugments_stream_of_draws_is_as_it_was():
    """Runs with translation, cut-outs and colour draw what they drew before the matrices were added."""
    x = torch.randn(5, 1, 8, 8)
    aug = Augmenter(POLICIES, p=0.5, fill=-1.0, seed=3)
    rng = torch.Generator().manual_seed(((3 * 1_000_003 + 0) * 1_000_033 + 0) % 2**63)
    assert torch.equal(aug(x), augment(x, torch.rand(5, DRAWS, generator=rng), 0.5, POLICIES, fill=-1.0))


# -- x-flips ------------------------------------------------------------------------------------------
def test_mirror_doubles_the_set_with_its_mirror_images_and_their_labels():
    x, y = torch.randn(6, 1, 4, 4), torch.arange(6)
    both = mirrored(Examples(x, y, 6), "digits")
    assert len(both) == 12 and torch.equal(both.x[:6], x) and torch.equal(both.x[6:], x.flip(-1))
    assert torch.equal(both.y, torch.cat([y, y]))
    cfg = C.Data(name="digits", batch_size=12, mirror=True)
    drawn, _ = next(iter(batches(cfg, Examples(x, y, 6), seed=0)))
    flipped = sum(any(torch.equal(d, f.flip(-1)) for f in x) for d in drawn)
    assert flipped == 6  # one epoch of the doubled set: each image once as it is and once mirrored


def test_a_streamed_folder_is_mirrored_too(tmp_path, monkeypatch):
    from .test_data import streamed_folder

    cfg, source = streamed_folder(tmp_path, monkeypatch, workers=0)
    mirror = C.Data(**{**cfg.__dict__, "mirror": True})
    once = batches(cfg, source, seed=0)
    plain = torch.cat([next(once)[0] for _ in range(6)])  # the 24 images, one epoch
    both = batches(mirror, source, seed=0)
    drawn = torch.cat([next(both)[0] for _ in range(12)])  # one epoch of the doubled set
    keys = lambda images: sorted(tuple(x.flatten().tolist()) for x in images)  # noqa: E731
    assert keys(drawn) == keys(torch.cat([plain, plain.flip(-1)]))


def test_mirror_flips_targets_that_are_the_images_themselves():
    x = torch.randn(2, 1, 4, 4)
    pixels = (torch.rand(2, 1, 4, 4) * 255).to(torch.uint8)
    both = mirrored(Examples(x, pixels, None), "digits")
    assert torch.equal(both.y[2:], pixels.flip(-1))


def test_mirror_is_refused_for_data_without_images(tmp_path, capsys):
    assert main(["train", "ring", "--set", "data.mirror=true", "--set", f"run.output={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "data.mirror" in err and "ring" in err and len(err.strip().splitlines()) == 1


# -- the schedule of p and of the average's half-life ----------------------------------------------------
AUGMENTED = {
    **TINY_DIGITS,
    "objective": {
        "loss": "hinge",
        "ema": 0.99,
        "augment": {"policy": ["geometric", "color_matrix", "cutout"], "p": 0.0},
        "schedule": {"shape": "linear", "steps": 4, "augment": 0.6, "ema_images": 64.0},
    },
    "data": {**TINY_DIGITS["data"], "mirror": True},
}


def test_p_rises_on_its_schedule_during_a_run(write_config):
    loop = run_loop(write_config(AUGMENTED, run={**TINY_DIGITS["run"], "steps": 4}))
    assert float(loop.augment.p) == pytest.approx(0.6 * 3 / 4)  # set before the 4th update (step 3 of 4)


def test_the_half_life_in_images_rises_from_zero_as_r3gan_counts_it():
    objective = {**AUGMENTED["objective"], "schedule": {"shape": "linear", "ema_images": 64.0}}
    cfg = C.from_dict({**AUGMENTED, "objective": objective, "run": {**TINY_DIGITS["run"], "steps": 10}})
    ema = averaged(torch.nn.Linear(2, 2), cfg, processes=2)  # 16 images a process: 32 a step
    assert ema.decay_at(0) == 0.0  # the average starts as the weights themselves
    assert ema.decay_at(10) == pytest.approx(0.5 ** (32 / 64.0))
    assert ema.decay_at(5) == pytest.approx(0.5 ** (32 / 32.0))  # halfway on a linear schedule
    assert EMA(torch.nn.Linear(2, 2), 0.99).decay_at(5) == 0.99  # without it, the configured decay


def test_resume_over_the_augmentation_schedule_is_exact(write_config, tmp_path):
    assert_resume_is_exact(write_config, tmp_path, AUGMENTED, steps=4)


@pytest.mark.parametrize(
    "objective, key",
    [
        ({"schedule": {"augment": 0.5}}, "objective.schedule.augment"),
        ({"augment": {"adaptive": True}, "schedule": {"augment": 0.5}}, "objective.schedule.augment"),
        ({"augment": {"p": 0.0}, "schedule": {"augment": 1.5}}, "objective.schedule.augment"),
        ({"schedule": {"ema_images": 0}}, "objective.schedule.ema_images"),
        ({"ema": 0.0, "schedule": {"ema_images": 1000}}, "objective.schedule.ema_images"),
        ({"augment": {"policy": ["geometric", "warp"]}}, "objective.augment.policy"),
    ],
)
def test_bad_schedule_and_policy_values_are_refused_naming_the_key(objective, key, write_config):
    with pytest.raises(C.ConfigError) as error:
        C.load(write_config(TINY_DIGITS, objective={"loss": "hinge", **objective}))
    assert str(error.value).startswith(key) and "\n" not in str(error.value), str(error.value)
