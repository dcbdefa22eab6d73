"""Runs that survive: SIGKILL at any moment, clean stops, the divergence guard, safe loading."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gan import config as C
from gan.benchmark.speed.kernels import host_syncs
from gan.cli import main
from gan.loops import adversarial
from gan.loops.setup import adversarial_loop
from gan.session.guard import Diverged
from gan.session.progress import Clock
from gan.session.session import Session

from .conftest import ROOT, TINY_DIGITS, TORCHRUN, two_process_env

STEPS = 40


def weights(run: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted((run / "networks").glob("*.safetensors")):
        out.update({f"{f.name}:{k}": v for k, v in load_file(str(f)).items()})
    return out


def start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "gan", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition, proc, timeout=120.0, poll=0.001) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    return False


def test_sigkill_at_several_moments_then_resume_matches_an_uninterrupted_run(write_config, tmp_path):
    settings = {"steps": STEPS, "checkpoint_every": 1, "sample_every": 10, "log_every": 5}
    assert main(["train", str(write_config(TINY_DIGITS, name="straight", run=settings))]) == 0
    run = tmp_path / "runs" / "killed"
    checkpoints = run / "checkpoints"
    moments = [
        ("after a first checkpoint", lambda: (checkpoints / "latest").is_file()),
        ("while a checkpoint is being written", lambda: any(checkpoints.glob(".partial-*"))),
        ("while a checkpoint is being written, again", lambda: any(checkpoints.glob(".partial-*"))),
    ]
    args = ["train", str(write_config(TINY_DIGITS, name="killed", run=settings))]
    killed_during_save = 0
    for what, moment in moments:
        proc = start(args)
        hit = wait_for(moment, proc)
        if hit:
            proc.send_signal(signal.SIGKILL)
            killed_during_save += "being written" in what
        proc.wait(timeout=120)
        args = ["train", "--resume", str(run)]
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read()[-2000:]
        if proc.returncode == 0:
            break
    assert killed_during_save >= 1, "the test never caught a save in progress"
    latest = (checkpoints / "latest").read_text()
    assert (checkpoints / latest / "trainer.json").is_file(), "latest must name a complete checkpoint"
    assert main(["train", "--resume", str(run)]) == 0
    a, b = weights(tmp_path / "runs" / "straight"), weights(run)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    assert not list(checkpoints.glob(".partial-*")), "leftovers of killed saves are cleaned up"
    assert len(list(checkpoints.glob("step_*"))) == 3  # keep_checkpoints


def test_resuming_a_finished_run_succeeds_says_so_and_changes_nothing(write_config, tmp_path, capsys):
    """A requeued job resumes its run after it finished: that must succeed, and say how to train on."""
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    run = tmp_path / "runs" / "tiny"
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and "logs" not in p.parts}
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    assert "nothing to train: run.steps is 4; to train on, pass --set run.steps=N with N > 4" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and "logs" not in p.parts} == before


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_a_checkpoint_and_say_how_to_resume(write_config, tmp_path, sig):
    path = write_config(
        TINY_DIGITS,
        name="stopped",
        run={"steps": 100000, "checkpoint_every": 100000, "sample_every": 100000, "log_every": 10},
    )
    proc = start(["train", str(path)])
    run = tmp_path / "runs" / "stopped"
    assert wait_for(lambda: any((run / "logs").glob("events*")) and (run / "networks").is_dir(), proc, poll=0.05)
    time.sleep(1.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err[-2000:]  # what shells and schedulers expect; a finished run exits 0
    assert f"gan train --resume {run}" in out + err
    step = int((run / "checkpoints" / "latest").read_text().split("_")[1])
    assert 0 < step < 100000
    assert (run / "networks" / "painter.safetensors").is_file()


def nan_generator_losses(monkeypatch, bad_calls) -> None:
    """From now on the generator's losses numbered in ``bad_calls`` (1, 2, ...) are NaN."""
    calls = {"n": 0}
    real_loss = adversarial.generator_loss

    def sometimes_nan(name, fake, *real):
        calls["n"] += 1
        loss = real_loss(name, fake, *real)
        return loss * float("nan") if calls["n"] in bad_calls else loss

    monkeypatch.setattr(adversarial, "generator_loss", sometimes_nan)


def loop_with_bad_losses(write_config, monkeypatch, bad_calls: set[int], **run):
    nan_generator_losses(monkeypatch, bad_calls)
    cfg = C.load(write_config(TINY_DIGITS, run={"steps": 8, "checkpoint_every": 2, "max_bad_steps": 3, **run}))
    with Session(cfg) as session:
        loop = adversarial_loop(session)
        loop.run()
    return loop


def test_a_few_nan_losses_are_skipped_counted_and_logged(write_config, monkeypatch):
    loop = loop_with_bad_losses(write_config, monkeypatch, {3, 4})
    assert loop.session.skipped == 2
    assert all(torch.isfinite(p).all() for p in loop.G_net.parameters())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(loop.session.run.logs))
    events.Reload()
    assert events.Scalars("guard/skipped_updates")[-1].value == 2


def test_nan_losses_in_a_row_stop_the_run_naming_role_step_and_checkpoint(write_config, monkeypatch, tmp_path):
    with pytest.raises(Diverged) as info:
        loop_with_bad_losses(write_config, monkeypatch, set(range(5, 100)))
    message = str(info.value)
    assert "role 'generator'" in message and "at step 8" in message and "step_00000006" in message
    run = tmp_path / "runs" / "tiny"
    for f in list(run.rglob("*.safetensors")):
        for key, value in load_file(str(f)).items():
            assert torch.isfinite(value.float()).all(), (f, key)


def test_a_divergence_found_at_a_checkpoint_stops_the_run_before_that_checkpoint_is_written(
    write_config, monkeypatch, tmp_path
):
    """The guard's counts are read at log steps and checkpoints: here the 4th bad update in a row (step 6)
    is first seen at step 6's checkpoint, which must not be written."""
    with pytest.raises(Diverged) as info:
        loop_with_bad_losses(write_config, monkeypatch, set(range(3, 100)), log_every=5)
    assert "at step 6" in str(info.value) and "step_00000004" in str(info.value)
    checkpoints = tmp_path / "runs" / "tiny" / "checkpoints"
    assert (checkpoints / "latest").read_text().strip() == "step_00000004"
    assert not list(checkpoints.glob("step_00000006*"))


@contextmanager
def built_loop(write_config, monkeypatch=None, bad_calls=(), implementation="auto"):
    """An adversarial loop to step by hand; the generator's losses numbered in ``bad_calls`` are NaN."""
    if monkeypatch is not None:
        nan_generator_losses(monkeypatch, bad_calls)
    adam = {"name": "adam", "implementation": implementation}
    cfg = C.load(
        write_config(
            TINY_DIGITS, run={"steps": 50, "log_every": 10}, optimizers={"generator": adam, "discriminator": adam}
        )
    )
    with Session(cfg) as session:
        yield adversarial_loop(session)


@pytest.mark.parametrize("implementation", ["auto", "fused"])
def test_with_the_guard_on_the_device_a_step_between_log_steps_reads_nothing_back(write_config, implementation):
    """On a GPU each read stalls the queue until the GPU catches up; the guard skips there on the device (fused
    optimizers, the default). On a CPU, where a read is free, it reads one verdict an update. Torch's own foreach
    and per-tensor Adam read each parameter's step count back anyway."""
    with built_loop(write_config, implementation=implementation) as loop:
        loop.iteration(False)  # warm: first calls may read shapes or flags
        assert host_syncs(lambda: loop.iteration(False)) == 2  # a CPU: one read for each of the two updates
        loop.session.guard.on_device = True  # what a GPU run does
        assert host_syncs(lambda: loop.iteration(False)) == 0
        assert host_syncs(lambda: loop.iteration(True)) > 0  # the counter does see reads: the logging step makes them


@pytest.mark.parametrize("on_device", [False, True])
def test_a_skipped_update_leaves_weights_and_optimizer_state_exactly_as_they_were(write_config, monkeypatch, on_device):
    with built_loop(write_config, monkeypatch, bad_calls={3}) as loop:
        loop.session.guard.on_device = on_device
        for _ in range(2):
            loop.iteration(False)
        opt, params = loop.opt_g.optimizer, list(loop.G_net.parameters())
        before = [p.detach().clone() for p in params]
        state = [{k: v.clone() for k, v in opt.state[p].items()} for p in params]
        loop.iteration(False)  # the generator's third loss is NaN: its update is skipped
        assert all(torch.equal(a, p) for a, p in zip(before, params))
        assert all(torch.equal(s[k], opt.state[p][k]) for s, p in zip(state, params) for k in s)
        loop.iteration(False)  # and the next one steps again
        assert not any(torch.equal(a, p) for a, p in zip(before, params))
        assert loop.session.settle_guard() == 1


@pytest.mark.parametrize("on_device", [False, True])
def test_a_streak_of_bad_updates_kept_on_the_device_is_found_when_read_back(write_config, monkeypatch, on_device):
    with built_loop(
        write_config, monkeypatch, bad_calls=set(range(2, 100))
    ) as loop:  # max_bad_steps 5: the 6th in a row, step 7
        loop.session.guard.on_device = on_device
        clock = Clock()
        with pytest.raises(Diverged, match="role 'generator': non-finite loss or gradient at step 7, 6 update"):
            for _ in range(20):
                loop.step(clock)
        assert loop.session.step == 8  # read back at the next checkpoint (every 2 steps), before it is written
        assert "step_00000008" not in (loop.session.run.path / "checkpoints" / "latest").read_text()


def test_verdicts_kept_on_the_device_are_read_back_at_least_every_read_every_updates(monkeypatch):
    """A run that never logs or checkpoints (log_every beyond run.steps) must not hold a tensor for every update."""
    from gan.session.guard import UpdateGuard

    monkeypatch.setattr(UpdateGuard, "READ_EVERY", 4)
    guard = UpdateGuard(max_bad_steps=100, device=torch.device("cpu"))
    guard.on_device = True
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([w], fused=True)
    for i in range(10):
        w.grad = torch.full_like(w, float("nan") if i % 3 == 0 else 1.0)  # updates 0, 3, 6, 9 are bad
        guard.step("generator", opt, torch.tensor(0.5), w.grad.norm(), step=i + 1)
        assert len(guard._verdicts) < 4
    assert guard.skipped == 3 and guard.settle() is None and guard.skipped == 4
    assert torch.isfinite(w).all()


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EXPLOIT_MARK']}",))


@pytest.mark.parametrize("victim", ["optimizer.bin", "random_states_0.pkl"])
def test_a_checkpoint_crafted_to_run_code_is_refused_and_the_code_never_runs(
    write_config, tmp_path, monkeypatch, capsys, victim
):
    mark = tmp_path / "pwned"
    monkeypatch.setenv("EXPLOIT_MARK", str(mark))
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    run = tmp_path / "runs" / "tiny"
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text()
    for checkpoint in (run / "checkpoints").glob("step_*"):  # every one: a resume would fall back to an older one
        with open(checkpoint / victim, "wb") as f:
            pickle.dump({"state": Exploit()}, f)
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 2
    assert not mark.exists(), "loading a checkpoint executed code"
    err = capsys.readouterr().err
    assert str(latest) in err and "cannot be loaded" in err


def test_a_weights_file_that_is_a_pickle_is_refused(write_config, tmp_path, monkeypatch):
    from gan import load
    from gan.runs.folder import RunError

    mark = tmp_path / "pwned"
    monkeypatch.setenv("EXPLOIT_MARK", str(mark))
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    weights_file = tmp_path / "runs" / "tiny" / "networks" / "critic.safetensors"
    torch.save({"x": Exploit()}, weights_file)
    with pytest.raises(RunError, match="critic.safetensors: its SHA-256 is not the one critic.json recorded"):
        load(tmp_path / "runs" / "tiny", "critic")
    info = (
        tmp_path / "runs" / "tiny" / "networks" / "critic.json"
    )  # an export from before digests: the file itself is refused
    info.write_text(json.dumps({k: v for k, v in json.loads(info.read_text()).items() if k != "sha256"}))
    with pytest.raises(RunError, match="critic.safetensors: not a readable safetensors file"):
        load(tmp_path / "runs" / "tiny", "critic")
    assert not mark.exists()


def torchrun(args: list[str], **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [*TORCHRUN, *args],
        env=two_process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def test_sigterm_to_one_of_two_processes_stops_both_at_one_step_with_a_checkpoint(write_config, tmp_path):
    """A scheduler may signal one rank only; alone it would wait for the others in its checkpoint forever."""
    import psutil

    path = write_config(
        TINY_DIGITS,
        name="two",
        run={"steps": 100000, "checkpoint_every": 100000, "sample_every": 100000, "log_every": 10},
    )
    proc = torchrun(["-m", "gan", "train", str(path)])
    run = tmp_path / "runs" / "two"
    assert wait_for(lambda: any((run / "logs").glob("events*")), proc, poll=0.05)
    time.sleep(2.0)
    ranks = {p.environ().get("RANK"): p for p in psutil.Process(proc.pid).children()}
    ranks["1"].send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the two processes did not stop: a deadlock")
    assert f"stopped by signal {int(signal.SIGTERM)}" in out, err[-3000:]
    # Each rank exits 128 + SIGTERM after the checkpoint; once one has, torchrun may SIGTERM the other on its way out.
    codes = re.findall(r"exitcode  : (-?\d+)", err)  # torchrun's summary, one line a failed rank
    assert "143" in codes and set(codes) <= {"143", "-15"} and len(codes) == 2, err[-3000:]
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text()
    assert sorted(p.name for p in latest.glob("random_states_*.pkl")) == ["random_states_0.pkl", "random_states_1.pkl"]
    assert '"world_size": 2' in (latest / "trainer.json").read_text()


def test_a_loss_that_is_non_finite_on_one_process_only_is_skipped_by_both(write_config, tmp_path):
    path = write_config(TINY_DIGITS, run={"steps": 4, "checkpoint_every": 4, "sample_every": 4})
    out = tmp_path / "ranks"
    proc = torchrun([str(ROOT / "tests" / "two_process_train.py"), str(path), str(out), "--inf-loss-on-rank-1"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert (out / "skipped0").read_text() == (out / "skipped1").read_text() == "1"
    a, b = (load_file(str(out / f"rank{i}.safetensors")) for i in (0, 1))
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


@pytest.mark.parametrize("data,threads,expected", [("ring", "auto", 1), ("sklearn_digits", "auto", 2), ("ring", 3, 3)])
def test_run_threads_auto_gives_toy_runs_one_thread_so_two_runs_can_share_a_machine(
    write_config, monkeypatch, data, threads, expected
):
    """Spinning OpenMP threads of one run took the cores of another (scripts/benchmark_shared.py measures it)."""
    from gan import device as S

    from .conftest import TINY_RING

    monkeypatch.setattr(S, "TORCH_THREADS", 2)  # what PyTorch picks on a 2-core machine without OMP_NUM_THREADS
    before = torch.get_num_threads()
    base = TINY_RING if data == "ring" else TINY_DIGITS
    try:
        with Session(C.load(write_config(base, run={"threads": threads}))):
            assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)


def test_a_second_ctrl_c_interrupts_at_once(write_config):
    """The first asks for a checkpoint at the end of the step; a user who presses again does not want to wait for it."""
    cfg = C.load(write_config(TINY_DIGITS))
    # From Python's own handler, as in a terminal: a shell starts a background job (`pytest &`) with Ctrl-C ignored,
    # and the session rightly hands a second Ctrl-C back to "ignored".
    outside = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with Session(cfg) as session:
            signal.raise_signal(signal.SIGINT)
            assert session.stop_signal == signal.SIGINT
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
                time.sleep(1)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outside)


def test_a_batch_too_large_for_memory_is_one_line_and_leaves_no_run_folder(write_config, tmp_path, capsys):
    from .conftest import TINY_RING

    assert main(["train", str(write_config(TINY_RING)), "--set", "data.batch_size=20000000000"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("gan: error: out of memory (an allocation of")
        and "data.batch_size" in err
        and err.count("\n") == 1
    ), err
    assert not (tmp_path / "runs" / "tiny").exists()


def test_a_checkpoint_without_every_processs_random_state_is_never_marked_complete(write_config, tmp_path):
    """Nodes that do not share run.output each see part of a checkpoint; it must not become latest."""
    path = write_config(TINY_DIGITS, run={"steps": 4, "checkpoint_every": 2, "sample_every": 4})
    proc = torchrun(
        [str(ROOT / "tests" / "two_process_train.py"), str(path), str(tmp_path / "ranks"), "--lose-rank-1-random-state"]
    )
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the two processes did not stop: a deadlock")
    assert proc.returncode != 0
    assert "lacks random_states_1.pkl" in err and "a file system all nodes share" in err, err[-3000:]
    checkpoints = tmp_path / "runs" / "tiny" / "checkpoints"
    assert not (checkpoints / "latest").exists() and not list(checkpoints.glob("step_*"))


def test_a_second_sigterm_still_waits_for_the_checkpoint(write_config):
    """A scheduler signals every process and a launcher forwards the signal too: a worker receives it twice."""
    with Session(C.load(write_config(TINY_DIGITS))) as session:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)
        assert session.stop_signal == signal.SIGTERM
