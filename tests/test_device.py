"""Device policy is one module that every loop asks: the likelihood loop lays images out as the adversarial loop
does."""

from __future__ import annotations

import pytest
import torch

from gan import config as C
from gan.loops.setup import likelihood_loop
from gan.session.session import Session

from .conftest import TINY_DIGITS

TINY_READER = dict(
    TINY_DIGITS,
    networks={"reader": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4}},
    roles={"classifier": "reader"},
    loop="likelihood",
)


@pytest.mark.parametrize("setting", [True, False])
def test_a_likelihood_run_on_images_keeps_its_network_channels_last_as_asked(write_config, setting):
    """oneDNN's convolutions are faster channels-last on a CPU; the classifier loop ignored the setting, the GAN loop
    did not."""
    cfg = C.load(write_config(TINY_READER, run={"channels_last": setting}))
    with Session(cfg) as session:
        loop = likelihood_loop(session)
        before = {k: v.clone() for k, v in loop.net.state_dict().items()}
        loop.run()
    weight = next(p for p in loop.net.parameters() if p.dim() == 4 and p.shape[1] > 1)  # one channel is both layouts
    assert loop.channels_last is setting
    assert weight.is_contiguous(memory_format=torch.channels_last) is setting and weight.is_contiguous() is not setting
    assert any(not torch.equal(before[k], v) for k, v in loop.net.state_dict().items())  # it trained
    assert all(torch.isfinite(p).all() for p in loop.net.parameters())


def test_a_likelihood_run_on_points_keeps_its_layout_whatever_channels_last_says(write_config):
    reader = {"family": "mlp", "source": "point[10]", "target": "normal[1]", "width": 8, "depth": 1}
    cfg = C.load(
        write_config(
            dict(TINY_READER, networks={"reader": reader}, data={"name": "diabetes", "batch_size": 16}),
            run={"channels_last": True},
        )
    )
    with Session(cfg) as session:
        assert likelihood_loop(session).channels_last is False
