"""The adversarial loop: roles from the config, each loss, resume, logs, several processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gan import config as C
from gan.cli import main
from gan.loops.setup import adversarial_loop
from gan.session.session import Session

from .conftest import ROOT, TINY_DIGITS, TINY_RING, two_processes


def run_loop(path, *overrides, resume=False):
    """Train in this process and hand back the loop, so tests can look inside."""
    cfg = C.load(path, list(overrides))
    with Session(cfg, resume=resume) as session:
        loop = adversarial_loop(session)
        loop.run()
    return loop


def weights(run: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted((run / "networks").glob("*.safetensors")):
        out.update({f"{f.name}:{k}": v for k, v in load_file(str(f)).items()})
    return out


def assert_resume_is_exact(write_config, tmp_path, base: dict, steps: int, **sections) -> None:
    """Train ``steps`` steps at once, and half of them then ``--resume`` for the rest: the same weights, bit for bit."""
    half = steps // 2
    run = {**base["run"], **sections.pop("run", {}), "steps": steps, "checkpoint_every": half}
    straight = run_loop(write_config(base, name="straight", run=run, **sections))
    run_loop(write_config(base, name="halves", run={**run, "steps": half}, **sections))
    assert main(["train", "--resume", str(tmp_path / "runs" / "halves"), "--set", f"run.steps={steps}"]) == 0
    a, b = weights(straight.session.run.path), weights(tmp_path / "runs" / "halves")
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_ring_run_learns_all_eight_modes(write_config, tmp_path):
    from gan.data import MIXTURES
    from gan.measure.metrics import mode_metrics

    cfg = C.load(ROOT / "configs" / "ring.yaml")
    short = {
        "steps": 1000,
        "lr_decay": "linear",
        "log_every": 100,
        "sample_every": 1000,
        "checkpoint_every": 1000,
        "progress": False,
    }
    path = write_config(cfg.to_dict() | {"run": short}, name="ring")  # the shipped config, 1/20 of its steps
    loop = run_loop(path)
    points = loop.ema.module.sample(2500, rng=torch.Generator().manual_seed(1))
    scores = mode_metrics(points, MIXTURES["ring"])
    assert scores["modes"] == 8, scores
    assert scores["high_quality"] > 0.5, scores


@pytest.mark.parametrize("loss", ["non_saturating", "minimax", "hinge", "wasserstein", "least_squares"])
def test_the_same_config_trains_with_every_loss(write_config, loss):
    nets = {k: dict(v) for k, v in TINY_RING["networks"].items()}
    objective = {"loss": loss}
    if loss == "wasserstein":  # a critic's score is real[1]; the penalty keeps it Lipschitz
        nets["judge"]["target"] = "real[1]"
        objective["gradient_penalty"] = 1.0
    loop = run_loop(write_config(TINY_RING, networks=nets, objective=objective))
    assert loop.session.step == 4
    for p in list(loop.G_net.parameters()) + list(loop.D_net.parameters()):
        assert torch.isfinite(p).all()


@pytest.mark.parametrize("loss", ["non_saturating", "hinge", "wasserstein", "least_squares"])
def test_top_k_the_generator_learns_only_from_its_best_rated_samples(loss):
    from gan.objectives import best_rated, generator_loss

    out = torch.tensor([[0.3], [-2.0], [1.5], [0.9], [-0.1], [2.2], [-1.0], [0.0]], requires_grad=True)
    generator_loss(loss, best_rated(out, 0.5)).backward()
    learned = set(torch.nonzero(out.grad.flatten()).flatten().tolist())
    assert learned == {5, 2, 3, 0}  # the four the discriminator rates most real
    assert best_rated(out, 1.0) is out  # share 1: everything, untouched


def test_top_k_share_starts_at_all_and_decays_to_the_floor():
    from gan.objectives import top_k_share

    shares = [top_k_share(step, 0.5, 0.99) for step in range(0, 20_000, 100)]
    assert shares[0] == 1.0 and shares[-1] == 0.5
    assert all(a >= b for a, b in zip(shares, shares[1:]))
    assert top_k_share(100, 0.5, 0.99) == pytest.approx(0.99)
    assert top_k_share(10_000, 1.0, 0.5) == 1.0  # off


def test_top_k_reaches_the_generator_update_and_is_logged(write_config, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import gan.loops.adversarial as adversarial

    kept, original = [], adversarial.best_rated

    def spy(out, share):
        chosen = original(out, share)
        kept.append((len(out), len(chosen)))
        return chosen

    monkeypatch.setattr(adversarial, "best_rated", spy)
    loop = run_loop(write_config(TINY_RING, objective={"top_k": 0.5, "top_k_decay": 1e-60}))
    assert kept[-1] == (32, 16)  # the generator's loss saw half its batch of 32
    events = EventAccumulator(str(loop.session.run.path / "logs")).Reload()
    assert [e.value for e in events.Scalars("generator/top_k_share")][-1] == pytest.approx(0.5)


def test_any_family_takes_either_role_and_one_class_takes_both(write_config):
    mlp_painter = {"family": "mlp", "source": "noise[8]", "target": "image[1,8,8]", "width": 16}
    mlp_critic = {"family": "mlp", "source": "image[1,8,8]", "target": "bernoulli", "width": 16}
    conv = TINY_DIGITS["networks"]
    for painter, critic in ((conv["painter"], mlp_critic), (mlp_painter, conv["critic"]), (mlp_painter, mlp_critic)):
        loop = run_loop(
            write_config(TINY_DIGITS, networks={"painter": painter, "critic": critic}),
            "run.steps=2",
            "run.name=x",
            "run.progress=false",
        )
        assert type(loop.G_net).family == painter["family"] and type(loop.D_net).family == critic["family"]
        import shutil

        shutil.rmtree(loop.session.run.path)


def test_class_conditional_training_uses_labels(write_config):
    nets = {k: dict(v, condition="categorical[10]") for k, v in TINY_DIGITS["networks"].items()}
    loop = run_loop(write_config(TINY_DIGITS, networks=nets, data={"labels": True}))
    z = torch.randn(1, 8).repeat(2, 1)
    a, b = loop.G_net.eval()(z, torch.tensor([0, 7]))
    assert not torch.allclose(a, b), "the label must change what is drawn"


@pytest.mark.parametrize("labels", [False, True], ids=["noise", "noise_and_label"])
def test_a_self_modulated_painter_learns_its_maps_and_reloads_from_its_run(write_config, labels):
    from networks import build

    condition = {"condition": "categorical[10]"} if labels else {}
    nets = {k: dict(v, **condition) for k, v in TINY_DIGITS["networks"].items()}
    nets["painter"]["self_modulation"] = True
    loop = run_loop(write_config(TINY_DIGITS, networks=nets, data={"labels": labels}))
    lasts = [p for n, p in loop.G_net.named_parameters() if n.endswith((".gain.2.weight", ".bias.2.weight"))]
    assert lasts and all(p.abs().sum() > 0 for p in lasts), "the loop's updates must reach the maps, zero at the start"
    again = build(loop.G_net.spec)
    again.load_state_dict(loop.G_net.state_dict())
    z, y = torch.randn(1, 8).repeat(2, 1), (torch.tensor([0, 7]) if labels else None)
    torch.testing.assert_close(again.eval()(z, y), loop.G_net.eval()(z, y))
    if labels:
        a, b = loop.G_net(z, y)
        assert not torch.allclose(a, b), "the label must change what is drawn"


def test_gradient_accumulation_steps_each_optimizer_once_per_update(write_config):
    loop = run_loop(write_config(TINY_DIGITS, objective={"d_steps": 2}, run={"grad_accum": 3, "steps": 3}))
    step_of = lambda opt: int(next(iter(opt.optimizer.state.values()))["step"])  # noqa: E731
    assert step_of(loop.opt_g) == 3
    assert step_of(loop.opt_d) == 6
    assert loop.batches.position == 3 * (2 * 3)  # d_steps x grad_accum real batches per step


def test_bf16_mixed_precision_trains_on_cpu(write_config):
    loop = run_loop(write_config(TINY_DIGITS, run={"mixed_precision": "bf16"}))
    assert all(torch.isfinite(p).all() for p in loop.G_net.parameters())


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_bf16_kernels_warns_before_training(write_config, monkeypatch, native):
    """On an AVX2-only CPU bf16 products run emulated, far slower than fp32: a user must hear it before the run."""
    import warnings

    from gan import device as S

    monkeypatch.setattr(S, "cpu_has_bf16", lambda: native)
    cfg = C.load(write_config(TINY_DIGITS, run={"mixed_precision": "bf16"}), [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Session(cfg)
    said = [str(w.message) for w in caught if "run.mixed_precision" in str(w.message)]
    if native:
        assert said == []
    else:
        assert len(said) == 1 and "no native kernels" in said[0] and "use 'no'" in said[0]


@pytest.mark.parametrize(
    "amx, native, expected",
    [(True, True, "bf16"), (False, False, "no"), (True, False, "no")],
    ids=["amx", "avx2-only", "amx-but-onednn-capped"],
)
def test_auto_precision_trains_in_bf16_only_on_a_cpu_with_amx(write_config, monkeypatch, capsys, amx, native, expected):
    """auto buys bf16 only where it was measured to pay (AMX: a digits step 0.65x fp32's, the same scores), never
    where bf16 runs emulated; the run's log says what auto meant, since its config.yaml keeps the word. The third case
    is an AMX chip whose oneDNN is held below its bf16 kernels (ONEDNN_MAX_CPU_ISA=AVX2): auto must see it as AVX2."""
    import warnings

    from gan import device as S

    monkeypatch.setattr(S, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(S, "cpu_has_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop = run_loop(write_config(TINY_DIGITS, run={"mixed_precision": "auto", "cpu": True}))
    assert not [w for w in caught if "run.mixed_precision" in str(w.message)]  # never the emulated-bf16 warning
    assert f"run.mixed_precision: auto is {expected} on this cpu" in capsys.readouterr().out
    layers = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    first = next(m for m in loop.G_net.modules() if isinstance(m, layers))  # accelerate hands outputs back in fp32
    computed = []
    first.register_forward_hook(lambda module, inputs, output: computed.append(output.dtype))
    with loop.acc.autocast():
        loop.G_ddp(*loop.prior(2))
    assert computed == [torch.bfloat16 if expected == "bf16" else torch.float32]
    assert all(torch.isfinite(p).all() for p in loop.G_net.parameters())


@pytest.mark.parametrize("bf16, expected", [(True, "bf16"), (False, "no")])
def test_auto_precision_on_a_gpu_is_bf16_where_the_gpu_has_it(monkeypatch, bf16, expected):
    from gan import device as S

    monkeypatch.setattr(S, "on_cpu", lambda run: False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert S.precision(C.Run(mixed_precision="auto")) == expected
    assert S.precision(C.Run(mixed_precision="fp16")) == "fp16"  # a precision named is taken as named


@pytest.mark.parametrize("mixed", ["no", "bf16"])  # bf16: what the default's auto settles to on an AMX CPU
def test_training_2n_steps_equals_n_steps_then_resume_for_n(write_config, tmp_path, mixed):
    straight = write_config(TINY_DIGITS, name="straight", run={"steps": 6, "checkpoint_every": 3})
    straight = run_loop(straight, f"run.mixed_precision={mixed}")
    half = write_config(TINY_DIGITS, name="halves", run={"steps": 3, "checkpoint_every": 3})
    run_loop(half, f"run.mixed_precision={mixed}")
    assert main(["train", "--resume", str(tmp_path / "runs" / "halves"), "--set", "run.steps=6"]) == 0
    a, b = weights(straight.session.run.path), weights(tmp_path / "runs" / "halves")
    assert a.keys() == b.keys() and len(a) > 10
    assert [key for key in a if not torch.equal(a[key], b[key])] == []  # bitwise, in either precision


def test_event_files_hold_scalars_per_role_and_sample_grids(write_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    loop = run_loop(write_config(TINY_DIGITS))
    events = EventAccumulator(str(loop.session.run.logs), size_guidance={"images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for tag in (
        "generator/loss",
        "discriminator/loss",
        "discriminator/on_real",
        "discriminator/on_generated",
        "generator/grad_norm",
        "discriminator/lr",
        "speed/examples_per_second",
    ):
        assert tag in scalars, (tag, scalars)
    assert "samples" in events.Tags()["images"]
    assert [e.step for e in events.Scalars("generator/loss")] == [2, 4]
    assert sorted(p.name for p in loop.session.run.samples.glob("*.png")) == ["step_00000002.png", "step_00000004.png"]


def test_tensorboard_server_serves_the_run_scalars(write_config):
    loop = run_loop(write_config(TINY_DIGITS))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(loop.session.run.path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, body = time.time() + 90, ""
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=5) as r:
                    body = r.read().decode()
                if "generator/loss" in body:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert "generator/loss" in body and "discriminator/loss" in body, body[:500]
    finally:
        server.terminate()
        server.wait(timeout=30)


def two_processes_train(config, out, *flags) -> subprocess.CompletedProcess:
    """tests/two_process_train.py under torchrun, two processes on the CPU."""
    return two_processes(str(ROOT / "tests" / "two_process_train.py"), str(config), str(out), *flags)


def test_two_processes_train_together_and_end_with_identical_weights(write_config, tmp_path):
    path = write_config(TINY_DIGITS, run={"steps": 3, "checkpoint_every": 3, "sample_every": 3})
    out = tmp_path / "ranks"
    result = two_processes_train(path, out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]  # none of our making, e.g. a deprecated DDP argument
    assert "terminate called" not in result.stderr, result.stderr[-3000:]
    ranks = sorted(out.glob("rank*.safetensors"))
    assert [p.name for p in ranks] == ["rank0.safetensors", "rank1.safetensors"]
    a, b = load_file(str(ranks[0])), load_file(str(ranks[1]))
    assert (out / "world_size").read_text() == "2"
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    run = tmp_path / "runs" / "tiny"
    assert len(list((run / "logs").glob("events.out.tfevents*"))) == 1, "only the main process logs"
    assert '"world_size": 2' in (run / "checkpoints" / "step_00000003" / "trainer.json").read_text()
    assert len(list((run / "checkpoints" / "step_00000003").glob("random_states_*.pkl"))) == 2
    assert [(out / f"groups_left{i}").read_text() for i in (0, 1)] == ["False", "False"]


def test_two_processes_that_leave_a_run_by_an_error_tear_their_process_groups_down(write_config, tmp_path):
    """A gloo group left to the interpreter's shutdown can abort a process whose work is done (SIGABRT at exit)."""
    path = write_config(TINY_DIGITS, run={"steps": 2, "checkpoint_every": 2, "sample_every": 2})
    out = tmp_path / "ranks"
    result = two_processes_train(path, out, "--fail-in-training")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [(out / f"groups_left{i}").read_text() for i in (0, 1)] == ["False", "False"], (
        "the session kept its process groups"
    )
