"""Training loops by name: what a config's ``loop:`` may say, and everything the rest of the toolkit asks of a loop.

A loop is registered once, with ``register_loop``: its name, the roles it gives networks, the optimizer it
gives a role the config leaves out, the counters its checkpoints hold, how ``gan evaluate`` scores its
runs, and the function that sets it up from a ``Session``. The config's check, the role check, the
checkpoint loader and ``gan evaluate`` read this table; none of them branches on a loop's name.

This module imports nothing from the toolkit, so the config (a base module) can ask which loops exist
without importing the loops. The shipped loops are registered below, their set-up named as
``module:function`` and imported only when a run starts; a loop of one's own passes the function itself:

    @register_loop("contrastive", roles=("embedder",), counters=("data_position",))
    def contrastive_loop(session): ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

# How gan evaluate scores a run of the loop: the generator's samples against the data, the network on the data
# its run held out, or nothing (a loop that only draws).
SCORED_BY = ("samples", "held_out", "retrieval", "nothing")


@dataclass(frozen=True)
class Loop:
    name: str
    roles: tuple[str, ...]  # every role the loop gives; a config must assign each, and no other
    setup: str | Callable  # Session -> the loop object (or None: nothing to do); "module:function" is imported late
    optimizers: dict = field(default_factory=dict)  # role -> Optimizer keywords, for a role the config gives none
    counters: tuple[
        str, ...
    ] = ()  # what trainer.json must hold besides the step (a checkpoint without them is damaged)
    scored_by: str = "nothing"  # one of SCORED_BY

    def set_up(self, session):
        """The loop, ready to run (its networks built, its data open, its run folder made), or None."""
        setup = self.setup
        if isinstance(setup, str):
            module, _, function = setup.partition(":")
            setup = getattr(importlib.import_module(module), function)
        return setup(session)


LOOPS: dict[str, Loop] = {}


def register_loop(name: str, *, roles, setup=None, optimizers=None, counters=(), scored_by: str = "nothing"):
    """Register a loop; used as ``register_loop(name, roles=..., setup=FUNCTION)`` or as a decorator of its set-up."""
    if name in LOOPS:
        raise ValueError(f"loop {name!r} is registered already")
    if scored_by not in SCORED_BY:
        raise ValueError(f"scored_by: expected one of {', '.join(SCORED_BY)}, got {scored_by!r}")

    def add(function):
        LOOPS[name] = Loop(name, tuple(roles), function, dict(optimizers or {}), tuple(counters), scored_by)
        return function

    return add(setup) if setup is not None else add


def unregister_loop(name: str) -> None:
    LOOPS.pop(name, None)


def loop(name: str) -> Loop:
    """The registered loop ``name``; a ValueError naming the registered ones when there is none."""
    if name not in LOOPS:
        raise ValueError(f"unknown loop {name!r}; accepted: {', '.join(LOOPS)}")
    return LOOPS[name]


# -- the shipped loops ---------------------------------------------------------------------------------
register_loop(
    "adversarial",
    roles=("generator", "discriminator"),
    setup="gan.loops.setup:adversarial_loop",
    optimizers={"generator": {}, "discriminator": {}},  # the Optimizer defaults: Adam 2e-4, betas (0.5, 0.999)
    counters=("data_position", "d_updates"),
    scored_by="samples",
)
register_loop(
    "likelihood",
    roles=("classifier",),
    setup="gan.loops.setup:likelihood_loop",
    optimizers={"classifier": {"lr": 1e-3, "betas": (0.9, 0.999)}},  # Adam's usual betas: classifiers learn faster
    counters=("data_position",),
    scored_by="held_out",
)
register_loop("sample", roles=("sampler",), setup="gan.loops.setup:sample_loop")
register_loop(
    "contrastive",
    roles=("embedder",),
    setup="gan.loops.setup:contrastive_loop",
    optimizers={"embedder": {"lr": 1e-3, "betas": (0.9, 0.999)}},
    counters=("data_position",),
    scored_by="retrieval",
)
