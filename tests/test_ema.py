"""The moving average of the generator's weights ramps in, so a short run samples what it learned."""

from __future__ import annotations

import copy
import doctest

import torch

import gan.ema
from gan import config as C
from gan.ema import EMA
from gan.loops.setup import adversarial_loop
from gan.session.session import Session

from .conftest import TINY_DIGITS


def test_docstring_examples_hold():
    assert doctest.testmod(gan.ema).failed == 0


def test_at_step_200_the_averaged_samples_are_closer_to_the_raw_ones_than_to_the_initial_ones(write_config):
    path = write_config(TINY_DIGITS, run={"steps": 200, "log_every": 100, "sample_every": 200, "checkpoint_every": 200})
    cfg = C.load(path)
    with Session(cfg) as session:
        loop = adversarial_loop(session)
        initial = copy.deepcopy(loop.G_net).eval()
        loop.run()
    z = initial.source.sample(256, rng=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw, averaged, start = loop.G_net.eval()(z), loop.ema.module(z), initial(z)
    to_raw, to_start = (averaged - raw).square().mean(), (averaged - start).square().mean()
    assert to_raw < to_start / 4, (float(to_raw), float(to_start))


def test_the_decay_grows_with_the_steps_up_to_the_configured_one_and_rampup_zero_keeps_it():
    ema = EMA(torch.nn.Linear(1, 1), 0.999, rampup=0.05)
    decays = [ema.decay_at(step) for step in (1, 10, 100, 1000, 10_000, 100_000)]
    assert decays == sorted(decays) and decays[0] < 0.01 and decays[-1] == 0.999
    assert EMA(torch.nn.Linear(1, 1), 0.999, rampup=0.0).decay_at(1) == 0.999
