"""Values that move during training: the penalty weight, the learning rate, Adam's beta2, the augmentation's p
and the moving average's half-life.

R3GAN (Huang et al. 2024) anneals all five on cosine curves: gamma and the learning rate fall, beta2, p and
the half-life rise (e.g. CIFAR-10: gamma 0.05 -> 0.005, lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99, p 0 -> 0.55, the
half-life 0 -> 5M images, all over 20M images). Each value here is a pure function of the step, so a resumed run
sets exactly what an unbroken one would: the checkpoint needs to keep nothing but the step.
"""

from __future__ import annotations

import math

SHAPES = ("constant", "linear", "cosine")


def scheduled(start: float, final: float | None, step: int, steps: int, shape: str, warmup: int = 0) -> float:
    """The value at ``step``: a linear rise from 0 over ``warmup`` steps, then ``shape`` from ``start`` to ``final``
    over the next ``steps - warmup`` steps, then ``final``.

    >>> [round(scheduled(1.0, 0.1, s, 10, "cosine"), 3) for s in (0, 5, 10, 20)]
    [1.0, 0.55, 0.1, 0.1]
    >>> [scheduled(2.0, 1.0, s, 10, "linear", warmup=4) for s in (0, 2, 4, 7)]
    [0.0, 1.0, 2.0, 1.5]
    """
    if warmup and step < warmup:
        return start * step / warmup
    if final is None or shape == "constant":
        return start
    t = min(max(step - warmup, 0) / max(steps - warmup, 1), 1.0)
    done = t if shape == "linear" else 0.5 * (1.0 - math.cos(math.pi * t))
    return start + (final - start) * done


def set_optimizer(opt, step: int, steps: int, schedule) -> None:
    """The learning rate and beta2 of every group of ``opt`` for ``step``, from the values the config built it with
    (``initial_lr``, ``initial_beta2``, kept in the group the first time)."""
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = scheduled(group["initial_lr"], schedule.lr, step, steps, schedule.shape, schedule.warmup)
        if schedule.beta2 is not None and "betas" in group:
            group.setdefault("initial_beta2", group["betas"][1])
            beta2 = scheduled(group["initial_beta2"], schedule.beta2, step, steps, schedule.shape)
            group["betas"] = (group["betas"][0], beta2)


def penalty_weights(objective, step: int, run_steps: int) -> tuple[float, float]:
    """The weights of R1 and R2 at ``step``: ``objective.r1`` and ``objective.r2``, moved by ``objective.schedule``."""
    sch = objective.schedule
    if sch is None or sch.gamma is None:
        return objective.r1, objective.r2
    steps = sch.steps or run_steps
    return tuple(scheduled(g, sch.gamma, step, steps, sch.shape) if g else 0.0 for g in (objective.r1, objective.r2))


def set_optimizers(objective, step: int, run_steps: int, *optimizers) -> None:
    """Every optimizer's learning rate and beta2 at ``step`` under ``objective.schedule`` (none: left alone)."""
    sch = objective.schedule
    for opt in optimizers if sch is not None else ():
        set_optimizer(opt, step, sch.steps or run_steps, sch)


def set_augment(objective, step: int, run_steps: int, augmenter) -> None:
    """The augmentation's p at ``step``, from objective.augment.p to objective.schedule.augment (none: left alone).

    Written into the tensor the augmenter holds (``fill_``: no copy from the host that would make it wait)."""
    sch = objective.schedule
    if augmenter is None or sch is None or sch.augment is None:
        return
    start = objective.augment.p or 0.0
    augmenter.p.fill_(scheduled(start, sch.augment, step, sch.steps or run_steps, sch.shape))


def ema_half_life(objective, run_steps: int, images_per_step: int):
    """A function from the step to the moving average's half-life in steps, rising from 0 to
    objective.schedule.ema_images (R3GAN's EMA schedule); None where the schedule does not move it."""
    sch = objective.schedule
    if sch is None or sch.ema_images is None:
        return None
    steps = sch.steps or run_steps
    return lambda step: scheduled(0.0, sch.ema_images, step, steps, sch.shape) / images_per_step
