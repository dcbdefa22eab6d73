"""What each half of an adversarial update hands on: to the other half, and to the log."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class DiscriminatorPhase:
    """What the discriminator phase hands on: G(z) kept for the generator phase, and its last values for the log."""

    fake: torch.Tensor | None  # G(z) of the last micro-batch, graph kept (one micro-batch an update), else None
    y_fake: torch.Tensor | None  # the labels G(z) was drawn for, when G is conditioned
    batch: int  # examples per micro-batch: the generator phase draws as many
    loss: torch.Tensor
    out_real: torch.Tensor  # D(T(x)) and D(T(G(z))) of the last micro-batch, as logits or scores
    out_fake: torch.Tensor
    norm: torch.Tensor | None  # gradient norm of the last update
    real: torch.Tensor  # the last micro-batch's real examples and labels: a paired loss's generator side reads them
    y_real: torch.Tensor | None
    penalties: dict  # the penalties of the last update that had them ("r1", "r2"), unweighted


@dataclass
class GeneratorPhase:
    loss: torch.Tensor
    norm: torch.Tensor | None
    top_k_share: float  # share of the generated batch learned from (objective.top_k)
