"""Every loop updates through one function: under a grad scaler the likelihood loop logs the true
gradient norm and leaves an overflow to the scaler, as the adversarial loop does.

fp16 itself needs a GPU; a CPU grad scaler in accelerate's place runs the same branch: the loss is
scaled before backward, the gradients come back scaled, and the scaler skips steps that overflow.
"""

from __future__ import annotations

import pytest
import torch
from accelerate.optimizer import AcceleratedOptimizer

from gan import config as C
from gan.loops.setup import likelihood_loop
from gan.session.session import Session

READER = {
    "networks": {"reader": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4}},
    "roles": {"classifier": "reader"},
    "loop": "likelihood",
    "optimizers": {"classifier": {"name": "adam", "lr": 1.0e-3}},
    "data": {"name": "sklearn_digits", "batch_size": 16, "holdout": 0.2},
    "run": {"steps": 4, "log_every": 1, "sample_every": 4, "checkpoint_every": 4, "progress": False},
}
SCALE = 2.0**10


@pytest.fixture(params=[0.0, 100.0], ids=["no_clip", "clip"])
def scaled_loop(request, write_config):
    """A likelihood loop whose backward and step go through a grad scaler, as under fp16 (with and without clipping)."""
    cfg = C.load(write_config(READER, objective={"clip_grad_norm": request.param}))
    with Session(cfg) as session:
        loop = likelihood_loop(session)
        scaler = torch.amp.GradScaler("cpu", init_scale=SCALE)
        session.accelerator.scaler = scaler  # accelerator.backward scales the loss with it
        loop.opt = AcceleratedOptimizer(loop.opt.optimizer, scaler=scaler)
        stepped = []  # the norm of the gradients the optimizer is handed, at each update
        guard_step = session.guard.step

        def watch(role, optimizer, loss, grad_norm, *, step):
            stepped.append(float(torch.nn.utils.get_total_norm([p.grad for p in loop.params if p.grad is not None])))
            guard_step(role, optimizer, loss, grad_norm, step=step)

        session.guard.step = watch
        yield loop, scaler, stepped


def test_the_logged_gradient_norm_is_that_of_the_unscaled_gradients(scaled_loop):
    loop, scaler, stepped = scaled_loop
    stats = loop.iteration(log=True)
    assert scaler.get_scale() == SCALE  # no overflow: the gradients the optimizer read were unscaled
    assert stats["classifier/grad_norm"] == pytest.approx(stepped[-1], rel=1e-5)
    assert 0 < stats["classifier/grad_norm"] < SCALE / 100  # the scaled norm is SCALE times the true one


def test_an_overflow_is_left_to_the_grad_scaler_not_counted_as_a_bad_update(scaled_loop):
    loop, scaler, _ = scaled_loop
    before = [p.detach().clone() for p in loop.params]
    hook = loop.params[0].register_hook(lambda grad: grad * float("inf"))  # one overflowing gradient, a finite loss
    try:
        stats = loop.iteration(log=True)
    finally:
        hook.remove()
    assert torch.isfinite(torch.tensor(stats["classifier/loss"]))
    assert loop.session.settle_guard() == 0  # the guard counts no skipped update ...
    assert scaler.get_scale() == SCALE / 2  # ... the scaler skipped it and lowered its scale
    assert all(torch.equal(a, p) for a, p in zip(before, loop.params))
    loop.iteration(log=True)  # and the next update goes through
    assert not all(torch.equal(a, p) for a, p in zip(before, loop.params))
