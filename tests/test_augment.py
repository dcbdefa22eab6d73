"""Differentiable augmentation: gradients pass through it, p = 0 changes nothing, draws repeat, resume is exact."""

from __future__ import annotations

import doctest

import pytest
import torch
from safetensors.torch import load_file

import gan.augment
from gan.augment import POLICIES, Augmenter
from gan.cli import main
from networks import build

from .conftest import TINY_DIGITS
from .test_adversarial import run_loop, weights

ADAPTIVE = {"augment": {"adaptive": True, "p": 0.5, "interval": 1, "speed": 2000}}  # p moves at every update


def test_docstring_examples_hold():
    assert doctest.testmod(gan.augment).failed == 0


@pytest.mark.parametrize("policy", [[name] for name in POLICIES] + [list(POLICIES)])
def test_a_gradient_reaches_the_generators_weights_through_the_augmentation(policy):
    torch.manual_seed(0)
    painter = build({"family": "conv", "source": "noise[8]", "target": "image[3,8,8]", "width": 4})
    critic = build({"family": "conv", "source": "image[3,8,8]", "target": "bernoulli", "width": 4})
    aug = Augmenter(policy, p=1.0, fill=-1.0, seed=0)
    fake = painter(painter.source.sample(16))
    seen = aug(fake)
    assert not torch.equal(seen, fake)  # every image was transformed ...
    critic(seen).sum().backward()  # ... and the generator still learns through it
    grads = [p.grad for p in painter.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_with_p_zero_the_loops_losses_equal_those_without_augmentation(write_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = {"steps": 6, "log_every": 1}
    plain = run_loop(write_config(TINY_DIGITS, name="plain", run=run))
    zero = run_loop(
        write_config(TINY_DIGITS, name="zero", run=run, objective={"augment": {"policy": list(POLICIES), "p": 0.0}})
    )
    assert zero.augment is not None and zero.augment.calls > 0  # the transforms ran, with every coin saying no
    logs = [EventAccumulator(str(loop.session.run.logs)).Reload() for loop in (plain, zero)]
    for tag in ("discriminator/loss", "generator/loss"):
        a, b = ([e.value for e in log.Scalars(tag)] for log in logs)
        assert len(a) == 6
        torch.testing.assert_close(a, b, msg=tag)


def test_the_same_seed_gives_the_same_augmentations_and_leaves_the_global_rng_alone():
    x = torch.linspace(-1, 1, 8 * 3 * 8 * 8).view(8, 3, 8, 8)
    before = torch.random.get_rng_state()
    first = [Augmenter(POLICIES, p=0.5, fill=-1.0, seed=3)(x) for _ in range(2)]
    again = Augmenter(POLICIES, p=0.5, fill=-1.0, seed=3)
    other = Augmenter(POLICIES, p=0.5, fill=-1.0, seed=4)
    assert torch.equal(first[0], first[1]) and torch.equal(first[0], again(x))
    assert not torch.equal(again(x), first[0])  # the next call draws anew
    assert not torch.equal(other(x), first[0])
    assert torch.equal(torch.random.get_rng_state(), before)


def test_each_transform_moves_pixels_as_its_definition_says():
    from gan.augment import augment, translation

    x = torch.arange(16.0).view(1, 1, 4, 4)
    moved = translation(x, torch.tensor([[0.5, 0.99]]), fill=-1.0)  # no vertical shift, one pixel sideways
    assert torch.equal(moved[0, 0, :, :3], x[0, 0, :, 1:]) and (moved[0, 0, :, 3] == -1).all()
    u = torch.zeros(1, gan.augment.DRAWS)  # every coin says yes; cutout centred at the top-left corner
    hole = augment(torch.ones(1, 1, 4, 4), u, 1.0, ("cutout",), fill=-1.0)
    assert int((hole == -1).sum()) == 1 and hole[0, 0, 0, 0] == -1  # a 2x2 square overhanging the corner


def test_adaptive_p_moves_is_logged_and_resume_is_bitwise_exact(write_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = {"steps": 8, "checkpoint_every": 4, "log_every": 1}
    straight = run_loop(write_config(TINY_DIGITS, name="straight", run=settings, objective=ADAPTIVE))
    run_loop(write_config(TINY_DIGITS, name="halves", run=dict(settings, steps=4), objective=ADAPTIVE))
    assert main(["train", "--resume", str(tmp_path / "runs" / "halves"), "--set", "run.steps=8"]) == 0
    a, b = weights(straight.session.run.path), weights(tmp_path / "runs" / "halves")
    assert a.keys() == b.keys() and len(a) > 10
    for key in a:
        assert torch.equal(a[key], b[key]), key
    state = [
        load_file(str(next((tmp_path / "runs" / name / "checkpoints").glob("step_*8")) / "augment.safetensors"))
        for name in ("straight", "halves")
    ]
    assert state[0].keys() == state[1].keys() and all(torch.equal(state[0][k], state[1][k]) for k in state[0])
    events = EventAccumulator(str(straight.session.run.logs)).Reload()
    p = [e.value for e in events.Scalars("augment/p")]
    r_t = [e.value for e in events.Scalars("augment/r_t")]
    assert len(p) == len(r_t) == 8 and len(set(p)) > 1
    assert all(
        abs(b - a) == pytest.approx(16 / 2000, abs=1e-6) or b in (0.0, 1.0) for a, b in zip([0.5] + p, p)
    )  # batch / speed a move


@pytest.mark.parametrize(
    "augment, key",
    [
        ({"policy": ["translation", "blur"]}, "objective.augment.policy"),
        ({"p": 1.5}, "objective.augment.p"),
        ({"p": -0.1}, "objective.augment.p"),
        ({"adaptive": True, "target": 1.0}, "objective.augment.target"),
        ({"adaptive": True, "target": 0.0}, "objective.augment.target"),
        ({"strength": 1}, "objective.augment.strength"),
    ],
)
def test_a_bad_augmentation_is_refused_in_one_line_naming_the_key(write_config, capsys, augment, key):
    assert main(["train", str(write_config(TINY_DIGITS, objective={"augment": augment}))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gan: error: ") and "\n" not in err and key in err, err


def test_augmentation_of_points_is_refused_naming_the_key_before_a_run_folder_exists(write_config, capsys, tmp_path):
    from .conftest import TINY_RING

    assert main(["train", str(write_config(TINY_RING, objective={"augment": {"p": 0.5}}))]) == 2
    assert "objective.augment" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "tiny").exists()


def test_two_processes_agree_on_adaptive_p_and_resume_to_the_same_weights(write_config, tmp_path):
    from .conftest import ROOT, two_processes

    def torchrun(config, out, *args):
        done = two_processes(str(ROOT / "tests" / "two_process_augment.py"), str(config), str(out), *args)
        assert done.returncode == 0, (
            "\n".join(l for l in done.stderr.splitlines() if "rank1" in l or "Error" in l)[  # noqa: E741
                -4000:
            ]
        )
        return [load_file(str(out / f"rank{r}.safetensors")) for r in (0, 1)]

    settings = {"steps": 6, "checkpoint_every": 3, "sample_every": 6}
    objective = {"augment": {"adaptive": True, "p": 0.5, "interval": 2, "speed": 1000}}
    straight = torchrun(
        write_config(TINY_DIGITS, name="straight", run=settings, objective=objective), tmp_path / "straight", "new"
    )
    assert torch.equal(straight[0]["p"], straight[1]["p"]) and float(straight[0]["p"]) != 0.5
    halves = write_config(TINY_DIGITS, name="halves", run=dict(settings, steps=3), objective=objective)
    torchrun(halves, tmp_path / "first", "new")
    resumed = torchrun(halves, tmp_path / "second", "resume", "run.steps=6")
    for rank in (0, 1):
        for key in straight[rank]:
            assert torch.equal(straight[rank][key], resumed[rank][key]), (rank, key)


def test_a_run_with_a_fixed_p_resumes_and_ends_as_an_unbroken_one(write_config, tmp_path):
    """With a fixed p, ADA's r_t is never measured (NaN in memory); the checkpoint must still load."""
    from .conftest import TINY_DIGITS
    from .test_adversarial import assert_resume_is_exact

    objective = {"augment": {"policy": ["translation"], "p": 0.5}}
    assert_resume_is_exact(write_config, tmp_path, TINY_DIGITS, 4, objective=objective)
