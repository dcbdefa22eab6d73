"""The modern baseline (issue 35): the relativistic pairing loss with R1 and R2, schedules, and the ResNeXt family.

R3GAN (Huang, Gokaslan, Kuleshov, Tompkin, NeurIPS 2024) pairs each real example with a generated one,
penalises the discriminator's gradient on both (R1 on real, R2 on generated data), anneals gamma, the
learning rate and beta2, and uses one normalisation-free residual design in both directions.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from gan import config as C
from gan.cli import main
from gan.objectives import discriminator_loss, generator_loss, zero_centred_penalty
from gan.schedules import scheduled
from networks import build
from networks.resnext import Block, ResNeXt

from .conftest import ROOT, TINY_DIGITS
from .test_adversarial import assert_resume_is_exact, run_loop, two_processes_train

TINY_R3 = {
    **TINY_DIGITS,
    "networks": {
        "painter": {"family": "resnext", "source": "noise[8]", "target": "image[1,8,8]", "width": 8, "blocks": 1},
        "critic": {"family": "resnext", "source": "image[1,8,8]", "target": "bernoulli", "width": 8, "blocks": 1},
    },
    "objective": {"loss": "relativistic", "r1": 0.5, "r2": 0.5, "ema": 0.0},
    "optimizers": {
        "generator": {"name": "adam", "lr": 2.0e-4, "betas": [0.0, 0.9]},
        "discriminator": {"name": "adam", "lr": 2.0e-4, "betas": [0.0, 0.9]},
    },
}
SCHEDULE = {"shape": "cosine", "gamma": 0.05, "lr": 5.0e-5, "beta2": 0.99, "warmup": 1}


# -- the loss ------------------------------------------------------------------------------------------
def test_the_pairing_loss_equals_its_formula_on_hand_made_logits():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([1.0, 0.0, 3.0])
    by_hand_d = sum(math.log1p(math.exp(-(r - f))) for r, f in zip(real.tolist(), fake.tolist())) / 3
    by_hand_g = sum(math.log1p(math.exp(-(f - r))) for r, f in zip(real.tolist(), fake.tolist())) / 3
    assert discriminator_loss("relativistic", real, fake).item() == pytest.approx(by_hand_d, rel=1e-6)
    assert generator_loss("relativistic", fake, real).item() == pytest.approx(by_hand_g, rel=1e-6)
    # the pairs matter: the same logits in another order give another loss
    assert discriminator_loss("relativistic", real, fake.flip(0)).item() != pytest.approx(by_hand_d, rel=1e-3)


def test_r2_differentiates_through_the_generated_images_only_and_never_reaches_the_generator():
    torch.manual_seed(0)
    G = build({"family": "mlp", "source": "noise[4]", "target": "point[2]", "width": 8})
    D = build({"family": "mlp", "source": "point[2]", "target": "bernoulli", "width": 8})
    fake = G(torch.randn(16, 4)).detach().requires_grad_(True)
    out = D(fake)
    penalty = zero_centred_penalty(out, fake)
    (grad,) = torch.autograd.grad(out.sum(), fake, create_graph=True)
    torch.testing.assert_close(penalty, grad.pow(2).sum(1).mean())  # E ||grad_x D(x)||^2 at the generated points
    penalty.backward()
    assert all(p.grad is None for p in G.parameters()), "the penalty reached the generator"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())


def test_with_gamma_zero_the_discriminator_step_equals_a_hand_written_pytorch_step(write_config):
    """One update of the toolkit's discriminator against the same update written out by hand."""
    cfg_dict = {**TINY_R3, "objective": {"loss": "relativistic", "ema": 0.0}, "run": {**TINY_R3["run"], "steps": 1}}
    cfg = C.load(write_config(cfg_dict))
    from gan.loops.setup import adversarial_loop
    from gan.session.session import Session

    with Session(cfg) as session:
        loop = adversarial_loop(session)
        D = loop.D_net
        before = {k: v.clone() for k, v in D.state_dict().items()}
        G_state = {k: v.clone() for k, v in loop.G_net.state_dict().items()}
        position = loop.batches.position
        torch.manual_seed(123)
        d = loop.discriminator_phase()
        after = {k: v.clone() for k, v in D.state_dict().items()}
        # by hand: the same batch, the same noise, plain Adam
        loop.batches.position = position
        real, _ = next(loop.batches)
        D.load_state_dict(before)
        loop.G_net.load_state_dict(G_state)
        torch.manual_seed(123)
        z = torch.randn(len(real), 8)
        fake = loop.G_net(z).detach()
        opt = torch.optim.Adam(D.parameters(), lr=2.0e-4, betas=(0.0, 0.9))
        loss = F.softplus(-(D(real) - D(fake))).mean()
        loss.backward()
        opt.step()
    torch.testing.assert_close(d.loss.detach(), loss.detach())
    for key in after:
        torch.testing.assert_close(after[key], D.state_dict()[key], msg=key)
    assert any(not torch.equal(after[k], before[k]) for k in after), "the step changed nothing"


def test_penalties_and_schedules_are_logged_and_reach_their_end_values(write_config):
    objective = {**TINY_R3["objective"], "schedule": {**SCHEDULE, "steps": 4}}
    loop = run_loop(write_config(TINY_R3, objective=objective, run={**TINY_R3["run"], "steps": 6}))
    assert loop.gammas() == (pytest.approx(0.05), pytest.approx(0.05))  # past schedule.steps: the end values
    assert loop.opt_d.param_groups[0]["lr"] == pytest.approx(5.0e-5)
    assert loop.opt_g.param_groups[0]["betas"][1] == pytest.approx(0.99)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(loop.session.run.path / "logs")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"discriminator/r1", "discriminator/r2", "discriminator/gamma", "discriminator/beta2"} <= tags, tags


def test_a_schedule_moves_from_the_start_to_the_end_on_the_shape_it_names():
    assert scheduled(0.05, 0.005, 0, 100, "cosine") == pytest.approx(0.05)
    assert scheduled(0.05, 0.005, 50, 100, "cosine") == pytest.approx(0.0275)
    assert scheduled(0.05, 0.005, 100, 100, "cosine") == pytest.approx(0.005)
    assert scheduled(0.05, 0.005, 50, 100, "linear") == pytest.approx(0.0275)
    assert scheduled(0.05, 0.005, 25, 100, "cosine") > scheduled(0.05, 0.005, 25, 100, "linear")
    assert scheduled(0.05, 0.005, 70, 100, "constant") == 0.05


def test_resume_over_a_schedule_is_bitwise_exact(write_config, tmp_path):
    objective = {**TINY_R3["objective"], "r1_every": 2, "schedule": {**SCHEDULE, "steps": 6}}
    assert_resume_is_exact(write_config, tmp_path, TINY_R3, 6, objective=objective)


def test_two_processes_train_with_r1_and_r2_and_end_with_identical_weights(write_config, tmp_path):
    """The double backward of R1 and R2 through the DDP-wrapped discriminator, on 2 CPU processes."""
    path = write_config(TINY_R3, run={**TINY_R3["run"], "steps": 2, "checkpoint_every": 2, "sample_every": 2})
    out = tmp_path / "ranks"
    result = two_processes_train(path, out)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = (load_file(str(out / f"rank{i}.safetensors")) for i in (0, 1))
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_under_a_grad_scaler_the_penalties_are_taken_on_the_unscaled_outputs(write_config):
    """fp16 multiplies the loss by a grad scaler's scale before backward. R1 and R2 must still be the gradients of
    the discriminator's own outputs, so one update with them under a scaler equals the update without one.

    fp16 itself needs a GPU; a CPU grad scaler in accelerate's place runs the same branch (as in test_update.py).
    """
    from accelerate.optimizer import AcceleratedOptimizer

    from gan.loops.setup import adversarial_loop
    from gan.session.session import Session

    objective = {**TINY_R3["objective"], "r1": 10.0, "r2": 10.0}  # large enough to move the update
    path = write_config(TINY_R3, objective=objective, run={**TINY_R3["run"], "steps": 1})
    penalties, weights = [], []
    for scale in (None, 2.0**12):
        with Session(C.load(path, [f"run.name=scale_{scale}"])) as session:
            loop = adversarial_loop(session)
            before = {k: v.clone() for k, v in loop.D_net.state_dict().items()}
            if scale is not None:
                scaler = torch.amp.GradScaler("cpu", init_scale=scale)
                session.accelerator.scaler = scaler  # accelerator.backward scales the loss with it
                loop.opt_d = AcceleratedOptimizer(loop.opt_d.optimizer, scaler=scaler)
            torch.manual_seed(123)
            d = loop.discriminator_phase()
            if scale is not None:
                assert scaler.get_scale() == scale  # no overflow: the scaler stepped, it did not skip
            penalties.append({k: v.item() for k, v in d.penalties.items()})
            weights.append({k: v.clone() for k, v in loop.D_net.state_dict().items()})
            assert any(not torch.equal(weights[-1][k], before[k]) for k in before), "the update changed nothing"
    assert set(penalties[0]) == {"r1", "r2"} and penalties[0] == pytest.approx(penalties[1], rel=1e-6)
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], msg=key)


def test_bf16_mixed_precision_trains_with_the_penalties(write_config):
    loop = run_loop(write_config(TINY_R3, run={**TINY_R3["run"], "mixed_precision": "bf16"}))
    assert loop.session.step == 4
    assert all(torch.isfinite(p).all() for p in loop.D_net.parameters())


# -- the network ---------------------------------------------------------------------------------------
def test_a_block_starts_as_the_identity():
    block = Block(16, expansion=2, group_width=8, total_blocks=4)
    x = torch.randn(2, 16, 5, 5)
    assert torch.equal(block(x), x)
    assert torch.count_nonzero(block.project.weight) == 0 and torch.count_nonzero(block.expand.weight) > 0


def test_one_class_builds_both_directions_with_the_stages_reversed():
    spec = {"widths": [48, 32, 16], "blocks": 1}
    painter = build({"family": "resnext", "source": "noise[16]", "target": "image[3,28,28]", **spec})
    reader = build({"family": "resnext", "source": "image[3,28,28]", "target": "bernoulli", **spec})
    assert type(painter) is type(reader) is ResNeXt
    assert painter.widths == [48, 32, 16] and reader.widths == [16, 32, 48]
    assert (painter.h0, painter.w0) == (reader.h0, reader.w0) == (7, 7)  # 28x28: a 7x7 basis and two stages
    x = painter.sample(3)
    assert x.shape == (3, 3, 28, 28) and reader(x).shape == (3,)
    categorical = build({"family": "resnext", "source": "image[3,28,28]", "target": "categorical[10]", **spec})
    assert categorical(x).shape == (3, 10)


def count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def test_the_cifar10_preset_has_the_authors_parameter_counts():
    """R3GAN's CIFAR-10 networks (train.py preset CIFAR10, conditional): widths 3 * 1024 // 4 = 768 at four stages,
    2 blocks a stage, expansion 2, cardinality 96 (group width 1536 / 96 = 16), noise 64, a label embedding of
    64 in the generator and of 768 (projection) in the discriminator. Counted from their Networks.py layer by layer:
    a block is 768*1536 + 1536*16*9 + 1536*768 weights and 2 * 1536 biases = 2,583,552;
    generator = 10*64 (embedding) + 768*16 (basis) + 128*768 (its linear map) + 8 blocks + 768*3 (last 1x1)
             = 20,781,952;
    discriminator = 3*768 (first 1x1) + 8 blocks + 768*16 (depthwise 4x4) + 768*768 (linear) + 10*768 (embedding)
                  = 21,280,512."""
    cfg = C.load(ROOT / "configs" / "cifar10.yaml")
    painter, reader = build(cfg.networks["painter"]), build(cfg.networks["critic"])
    assert count(painter) == 20_781_952
    assert count(reader) == 21_280_512


def test_the_ffhq64_preset_has_the_authors_parameter_counts():
    """R3GAN's FFHQ-64 networks (train.py preset FFHQ-64, unconditional): widths 3 * [1024, 1024, 1024, 1024, 512] // 4
    = [768, 768, 768, 768, 384] over five stages, 2 blocks a stage, expansion 2, cardinality 3 * [32, 32, 32, 32, 16]
    (group width 16 throughout), noise 64. Counted from their Networks.py layer by layer: a block at 768 channels is
    2,583,552 weights and biases (the CIFAR-10 test above), one at 384 is 384*768 + 768*16*9 + 768*384 + 2*768 =
    701,952, and the change of width is a 1x1 convolution of 768*384 = 294,912 each way;
    generator = 768*16 (basis) + 64*768 (its linear map) + 8 blocks at 768 + 294,912 + 2 blocks at 384 + 384*3
             = 22,429,824;
    discriminator = 3*384 (first 1x1) + 2 blocks at 384 + 294,912 + 8 blocks at 768 + 768*16 (depthwise 4x4)
                  + 768*1 (linear) = 22,381,440."""
    cfg = C.load(ROOT / "configs" / "ffhq64.yaml")
    painter, reader = build(cfg.networks["painter"]), build(cfg.networks["critic"])
    assert count(painter) == 22_429_824
    assert count(reader) == 22_381_440


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"widths": [48, 32, 20], "group_width": 16}, "group_width"),  # 20 x 2 = 40 is not a multiple of 16
        ({"widths": [16, 16, 16, 16]}, "widths"),  # 28 cannot be halved three times
        ({"widths": []}, "widths"),
        ({"width": 0}, "width"),
        ({"blocks": 0}, "blocks"),
        ({"widths": [16, "a"]}, "widths"),
    ],
)
def test_bad_network_values_are_refused_in_one_line_naming_the_key(write_config, capsys, spec, key):
    nets = {
        "painter": {"family": "resnext", "source": "noise[8]", "target": "image[1,28,28]", **spec},
        "critic": {"family": "conv", "source": "image[1,28,28]", "target": "bernoulli", "width": 4},
    }
    cfg = {**TINY_DIGITS, "networks": nets, "data": {"name": "digits", "batch_size": 8}}
    assert main(["train", str(write_config(cfg))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err, err


@pytest.mark.parametrize(
    "objective, key",
    [
        ({"loss": "relativistic", "r1": -1.0}, "objective.r1"),
        ({"loss": "relativistic", "r2": -0.1}, "objective.r2"),
        ({"loss": "relativistic", "r1": 1.0, "schedule": {"shape": "exponential"}}, "objective.schedule.shape"),
        ({"loss": "relativistic", "r1": 0.0, "r2": 0.0, "schedule": {"gamma": 0.1}}, "objective.schedule.gamma"),
        ({"loss": "relativistic", "r1": 1.0, "schedule": {"beta2": 1.5}}, "objective.schedule.beta2"),
        ({"loss": "relativistic", "r1": 1.0, "schedule": {"lr": 0}}, "objective.schedule.lr"),
        ({"loss": "relativistic", "top_k": 0.5}, "objective.top_k"),
    ],
)
def test_bad_objective_values_are_refused_in_one_line_naming_the_key(write_config, capsys, objective, key):
    assert main(["train", str(write_config(TINY_R3, objective=objective))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err, err


# -- the presets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, shape", [("cifar10", (3, 32, 32)), ("ffhq64", (3, 64, 64))])
def test_the_gpu_presets_train_two_steps_at_a_reduced_width_on_random_tensors(name, shape, write_config, tmp_path):
    import numpy as np
    from PIL import Image

    cfg = C.load(ROOT / "configs" / f"{name}.yaml").to_dict()
    classes = 10 if cfg["data"].get("labels") else 1  # a folder a class: the conditional preset keeps its labels
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = tmp_path / "images" / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(8 // classes + 1):
            Image.fromarray(rng.integers(0, 255, (shape[1], shape[2], 3), dtype=np.uint8)).save(folder / f"{i}.png")
    small = {k: dict(v, widths=[16] * len(v["widths"]), blocks=1) for k, v in cfg["networks"].items()}
    data = {"name": "folder", "path": str(tmp_path / "images"), "batch_size": 4, "workers": 0}
    run = {"steps": 2, "log_every": 1, "sample_every": 2, "checkpoint_every": 2, "progress": False, "sample_count": 4}
    loop = run_loop(write_config(cfg, networks=small, data=data, run=run, metrics={}))
    assert loop.session.step == 2
    # the whole recipe ran: ADA's matrices and x-flips, p and the average's half-life rising from 0 on the schedule
    assert {"geometric", "color_matrix"} <= set(loop.augment.policy) and loop.cfg.data.mirror
    assert 0 < float(loop.augment.p) < 1e-6 and loop.ema.half_life(0) == 0 < loop.ema.half_life(2)


def test_the_speed_benchmarks_hand_written_loop_does_the_same_work_with_the_penalties(write_config):
    """The loop with R1 and R2 every step is timed against a hand-written loop doing the same, not one without."""
    from gan.benchmark.speed.kernels import count_flops
    from gan.benchmark.speed.reference import Reference
    from gan.loops.setup import adversarial_loop
    from gan.session.session import Session

    def flops(name: str, objective: dict) -> tuple[int, int]:
        cfg = C.load(write_config(TINY_R3, name=name, objective=objective))
        with Session(cfg) as session:
            loop = adversarial_loop(session)
            ref = Reference(cfg, torch.rand(64, 1, 8, 8) * 2 - 1, torch.device("cpu"))
            return count_flops(lambda: loop.iteration(False)), count_flops(ref.step)

    ours, theirs = flops("penalised", {**TINY_R3["objective"], "r1_every": 1})
    ours_plain, theirs_plain = flops("plain", {"loss": "relativistic", "r1": 0.0, "r2": 0.0})
    assert theirs > 1.3 * theirs_plain  # two double backwards: the penalties are really there
    # the penalties cost both loops the same work (the loops differ by 5% elsewhere: the DCGAN example's
    # generator update also computes the discriminator's weight gradients, which the toolkit skips)
    assert abs((ours - ours_plain) - (theirs - theirs_plain)) <= 0.02 * (theirs - theirs_plain)
