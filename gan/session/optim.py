"""Optimizers from the config, their learning-rate schedule, and their settings at a resume.

What ``optimizers.ROLE`` and ``run.lr_decay`` say is made here, once for every loop; a resumed
optimizer keeps its moments from the checkpoint but takes its settings from the config.
"""

from __future__ import annotations

import math

import torch

from ..config import Optimizer, Run

FUSED = ("adam", "adamw", "sgd")  # torch.optim classes with fused CPU and CUDA kernels
OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def make_optimizer(params, opt: Optimizer) -> torch.optim.Optimizer:
    """The torch optimizer ``opt`` names, over ``params``.

    >>> make_optimizer([torch.nn.Parameter(torch.zeros(1))], Optimizer(name="sgd", lr=0.1)).defaults["momentum"]
    0.5
    """
    cls = OPTIMIZERS[opt.name]
    kwargs: dict = {"lr": opt.lr, "weight_decay": opt.weight_decay}
    if opt.name in ("adam", "adamw"):
        kwargs["betas"] = opt.betas
    elif opt.name in ("sgd", "rmsprop"):
        kwargs["momentum"] = opt.betas[0]
    # auto: PyTorch's fused kernels where the optimizer has them (one kernel per step instead of
    # several per tensor, which counts on short steps; BENCHMARKS.md), its own default elsewhere.
    if opt.implementation == "fused" or (opt.implementation == "auto" and opt.name in FUSED):
        kwargs["fused"] = True
    elif opt.implementation == "foreach":
        kwargs["foreach"] = True
    elif opt.implementation == "for_loop":
        kwargs["foreach"] = False
    return cls(params, **kwargs)


def decay_factor(run: Run, step: int) -> float:
    """What run.lr_decay multiplies the configured learning rate by at ``step``: 1 until the last
    ``run.lr_decay_share`` of the steps, then falling to 0 at the last step: linearly, on a half cosine, or as
    1 - sqrt(t), which drops fast and then spends longest at the lowest rates.

    >>> from gan.config import Run
    >>> [decay_factor(Run(steps=10, lr_decay="linear", lr_decay_share=0.5), s) for s in (0, 5, 6, 10)]
    [1.0, 1.0, 0.8, 0.0]
    >>> [round(decay_factor(Run(steps=8, lr_decay="sqrt", lr_decay_share=0.5), s), 3) for s in (4, 5, 8)]
    [1.0, 0.5, 0.0]
    """
    if run.lr_decay == "none":
        return 1.0
    held = run.steps * (1.0 - run.lr_decay_share)
    t = min(max(step - held, 0.0) / (run.steps - held), 1.0)
    if run.lr_decay == "sqrt":
        return 1.0 - math.sqrt(t)
    return 1.0 - t if run.lr_decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * t))


def schedule(run: Run, step: int, *optimizers: torch.optim.Optimizer) -> None:
    """Set each optimizer's learning rate for the step after ``step`` (run.lr_decay)."""
    if run.lr_decay == "none":
        return
    factor = decay_factor(run, step)
    for opt in optimizers:
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


def settings(optimizers) -> list[list[dict]]:
    """Each optimizer's settings as built from the config (learning rate, betas, ...), before a checkpoint loads over
    them."""
    return [
        [{k: v for k, v in g.items() if k not in ("params", "initial_lr")} for g in opt.param_groups]
        for opt in optimizers
    ]


def reapply_settings(optimizers, fresh: list[list[dict]]) -> None:
    """Loading an optimizer's state brings back the learning rate, betas and weight decay it was saved with;
    the config's (as built, in ``fresh``) win, so ``--resume RUN --set optimizers.ROLE.lr=...`` takes effect.
    run.lr_decay scales from ``initial_lr``, so that is the value the config sets."""
    for opt, groups in zip(optimizers, fresh):
        for group, settings in zip(opt.param_groups, groups):
            group.update(settings)
            if "initial_lr" in group:
                group["initial_lr"] = settings["lr"]
