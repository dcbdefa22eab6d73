"""A loop is one registration: a loop written in this file alone is accepted by a config, listed by the CLI, trained
with the session's rhythm (logs, checkpoints, resume), and scored by ``gan evaluate``; no other file changes."""

from __future__ import annotations

import json

import pytest
import torch

from gan import config as C
from gan import data as datasets
from gan.cli import main
from gan.loop_registry import LOOPS, register_loop, unregister_loop
from gan.loops.inputs import open_labelled
from gan.loops.setup import networks
from gan.roles import check_roles_named

from .conftest import TINY_DIGITS


class PlainLikelihood:
    """The smallest loop: plain SGD on -log p(label | image), one network in the role ``classifier``."""

    def __init__(self, session, name, net, opt, batches):
        self.session, self.name, self.net, self.opt, self.batches = session, name, net, opt, batches

    def run(self) -> None:
        self.session.train(self)

    def update(self, log: bool) -> tuple[dict, int]:
        x, y = next(self.batches)
        loss = -self.net.distribution(x).log_prob(y).mean()
        self.opt.zero_grad()
        self.session.accelerator.backward(loss)
        self.opt.step()
        return ({"classifier/loss": loss.item()} if log else {}), len(x)

    def jobs(self) -> list:
        return []

    def checkpoint(self) -> None:
        s = self.session
        s.save({}, {"data_position": self.batches.position}, lambda: s.run.export(self.name, self.net, "classifier"))

    def finish(self) -> None:
        self.session.accelerator.print("plain likelihood: done")


def plain_likelihood(session):
    cfg, acc = session.cfg, session.accelerator
    check_roles_named(cfg.loop, cfg.roles)
    name = cfg.roles["classifier"]
    net = networks(session)[name]
    train, _ = open_labelled(cfg, name, net)
    batches = datasets.batches(
        cfg.data, train, seed=cfg.run.seed, rank=acc.process_index, world=acc.num_processes, device=acc.device
    )
    session.open_folder()
    opt = torch.optim.SGD(net.parameters(), lr=cfg.optimizers["classifier"].lr)
    _, opt = session.prepare(net, opt)
    loop = PlainLikelihood(session, name, net, opt, batches)
    if session.resume:
        batches.position = session.restore({})["data_position"]
    return loop


@pytest.fixture
def registered():
    register_loop(
        "plain_likelihood",
        roles=("classifier",),
        setup=plain_likelihood,
        optimizers={"classifier": {"lr": 0.05}},
        counters=("data_position",),
        scored_by="held_out",
    )
    yield
    unregister_loop("plain_likelihood")
    assert "plain_likelihood" not in LOOPS


READER = {
    "networks": {"reader": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4}},
    "roles": {"classifier": "reader"},
    "loop": "plain_likelihood",
    "data": {"name": "sklearn_digits", "batch_size": 16},
    "run": {"steps": 4, "log_every": 2, "sample_every": 2, "checkpoint_every": 2, "progress": False},
}


def test_a_loop_registered_in_a_test_file_is_accepted_listed_trained_resumed_and_scored(
    registered, write_config, tmp_path, capsys
):
    config = write_config(READER, name="plain")
    cfg = C.load(config)
    assert (
        cfg.loop == "plain_likelihood" and cfg.optimizers["classifier"].lr == 0.05
    )  # its default optimizer, filled in
    assert main(["train", "-h"]) == 0
    assert "plain_likelihood (roles: classifier)" in capsys.readouterr().out
    assert main(["train", str(config)]) == 0
    assert "plain likelihood: done" in capsys.readouterr().out
    run = tmp_path / "runs" / "plain"
    assert (run / "checkpoints" / "latest").read_text() == "step_00000004"
    assert json.loads((run / "checkpoints" / "step_00000004" / "trainer.json").read_text())["data_position"] > 0
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 0
    assert (run / "checkpoints" / "latest").read_text() == "step_00000006"
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert 0.0 <= scores["accuracy"] <= 1.0 and scores["nll"] > 0


def test_a_checkpoint_without_a_counter_its_loop_registered_is_taken_for_damaged(
    registered, write_config, tmp_path, capsys
):
    config = write_config(READER, name="plain")
    assert main(["train", str(config)]) == 0
    run = tmp_path / "runs" / "plain"
    for trainer in (run / "checkpoints").glob("step_*/trainer.json"):
        trainer.write_text(
            json.dumps({k: v for k, v in json.loads(trainer.read_text()).items() if k != "data_position"})
        )
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 2
    assert "trainer.json: missing data_position" in capsys.readouterr().err


def test_an_unknown_loop_is_refused_naming_the_registered_ones(write_config, capsys):
    from gan.loop_registry import LOOPS

    assert main(["train", str(write_config(TINY_DIGITS, loop="lstm"))]) == 2
    named = ", ".join(map(repr, LOOPS))
    assert f"loop: expected one of {named}, got 'lstm'" in capsys.readouterr().err
    assert {"adversarial", "likelihood", "sample", "contrastive"} <= set(LOOPS)


def test_a_loop_name_is_registered_once():
    with pytest.raises(ValueError, match="loop 'adversarial' is registered already"):
        register_loop("adversarial", roles=("generator",), setup=plain_likelihood)


def test_no_code_outside_a_loop_names_a_shipped_loop():
    """The registry is the one place that knows the shipped loops by name: nothing else branches on one."""
    import re

    from .conftest import ROOT

    named = re.compile(r"""(loop\s*(==|!=|in)\s*|["'](adversarial|likelihood|sample)["']\s*:\s*)""")
    offenders = []
    for path in sorted((ROOT / "gan").rglob("*.py")):
        if path.name == "loop_registry.py" or "benchmark" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if named.search(line) and re.search(r"""["'](adversarial|likelihood|sample)["']""", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
