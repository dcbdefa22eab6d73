"""Exponential moving average of a network's weights (Karras et al. 2018; Yazici et al. 2019).

Samples and evaluation use the average: it is smoother than the last iterate of an
adversarial game, which oscillates. A fixed decay of 0.999 keeps most of the random initial
weights for the first thousand steps, so early grids and short runs would show noise; as in
StyleGAN2-ADA, the average's half-life is at most a share (``rampup``) of the steps taken, and
grows to the configured decay's. The decay is a function of the step, so resume stays exact.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from .schedules import ema_half_life


class EMA:
    """A frozen copy of ``net`` that trails it: w_ema <- decay * w_ema + (1 - decay) * w."""

    def __init__(
        self, net: nn.Module, decay: float, rampup: float = 0.0, half_life: Callable[[int], float] | None = None
    ):
        self.decay, self.rampup = decay, rampup  # rampup 0 = the configured decay from the first step
        self.half_life = half_life  # step -> half-life in steps (objective.schedule.ema_images); replaces both
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self._pairs = None

    def decay_at(self, step: int) -> float:
        """The decay used by the update that ends ``step`` (1, 2, ...).

        Half-life h in steps: decay = 0.5 ** (1 / h). The configured decay fixes the longest one;
        with ramp-up, h = min(that, rampup * step) (StyleGAN2-ADA counts images; per step the batch cancels).

        >>> ema = EMA(nn.Linear(1, 1), 0.999, rampup=0.05)
        >>> round(ema.decay_at(200), 4), round(ema.decay_at(10**6), 4)  # half-life 10 steps, then 693
        (0.933, 0.999)
        """
        if self.half_life is not None:  # 0 at the start: the average is the weights themselves
            half = self.half_life(step)
            return 0.5 ** (1.0 / half) if half > 0 else 0.0
        if self.rampup <= 0 or self.decay <= 0:
            return self.decay
        longest = math.log(0.5) / math.log(self.decay)
        half = min(longest, self.rampup * max(step, 1))
        return min(0.5 ** (1.0 / half), self.decay)

    @torch.no_grad()
    def update(self, net: nn.Module, step: int | None = None) -> None:
        """Move the average towards ``net`` after the update that ends ``step`` (None: the configured decay)."""
        decay = self.decay if step is None else self.decay_at(step)
        if self._pairs is None:  # parameters are fixed objects: pair them once
            ours = [p for p in self.module.parameters()]
            theirs = [p for p in net.parameters()]
            self._pairs = (ours, theirs, list(self.module.buffers()), list(net.buffers()))
        ours, theirs, our_buffers, their_buffers = self._pairs
        torch._foreach_lerp_(ours, theirs, 1.0 - decay)  # one fused kernel for all tensors
        for a, b in zip(our_buffers, their_buffers):  # batch-norm statistics: copy, do not average
            a.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


def averaged(net: nn.Module, cfg, processes: int) -> EMA | None:
    """objective.ema for ``net``: None when off; the half-life on objective.schedule.ema_images when it moves, counted
    in generated images: a step's global batch (every process's data.batch_size times run.grad_accum), as R3GAN
    counts a step's images."""
    obj = cfg.objective
    if not obj.ema > 0:
        return None
    images = cfg.data.batch_size * cfg.run.grad_accum * processes
    return EMA(net, obj.ema, obj.ema_rampup, ema_half_life(obj, cfg.run.steps, images))
