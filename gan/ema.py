"""Exponential moving average of a network's weights (Karras et al. 2018; Yazici et al. 2019).

Samples and evaluation use the average: it is smoother than the last iterate of an
adversarial game, which oscillates.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of ``net`` that trails it: w_ema <- decay * w_ema + (1 - decay) * w."""

    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self._pairs = None

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        if self._pairs is None:  # parameters are fixed objects: pair them once
            ours = [p for p in self.module.parameters()]
            theirs = [p for p in net.parameters()]
            self._pairs = (ours, theirs, list(self.module.buffers()), list(net.buffers()))
        ours, theirs, our_buffers, their_buffers = self._pairs
        torch._foreach_lerp_(ours, theirs, 1.0 - self.decay)  # one fused kernel for all tensors
        for a, b in zip(our_buffers, their_buffers):  # batch-norm statistics: copy, do not average
            a.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
