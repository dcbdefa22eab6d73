"""The 2-D Gaussian mixtures of PacGAN (Lin et al. 2018, arXiv 1712.04086, section 5.1): ``ring`` and ``grid``.

Toy data with known modes: a generator's samples can be scored by which modes they reach
(``gan.measure.metrics.mode_metrics``). Each batch is a fresh draw, so there is nothing to hold in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensor fields with == is ambiguous
class Mixture:
    """A mixture of equal-weight isotropic Gaussians in the plane.

    Training draws its batches from these same objects and ``gan.measure.metrics.mode_metrics`` scores
    against their means, so the data a generator sees and the modes it is scored against cannot disagree.
    """

    name: str
    means: torch.Tensor  # [K, 2]
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from the true mixture (modes uniformly at random): [n, 2].

        >>> MIXTURES["grid"].sample(3, torch.Generator().manual_seed(0)).shape
        torch.Size([3, 2])
        """
        modes = torch.randint(0, len(self.means), (n,), generator=generator)
        return self.means[modes] + self.std * torch.randn(n, 2, generator=generator)


def ring_means() -> torch.Tensor:
    """8 means on the unit circle, (cos 2 pi i / 8, sin 2 pi i / 8): [8, 2].

    >>> ring_means()[[0, 2]].round().abs().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    angle = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    return torch.stack([angle.cos(), angle.sin()], dim=1)


def grid_means() -> torch.Tensor:
    """25 means at (-4 + 2i, -4 + 2j), i, j in 0..4: [25, 2].

    >>> grid_means()[[0, -1]].tolist()
    [[-4.0, -4.0], [4.0, 4.0]]
    """
    axis = torch.arange(5, dtype=torch.float32) * 2 - 4
    return torch.cartesian_prod(axis, axis)


MIXTURES = {
    "ring": Mixture("ring", ring_means(), 0.01),
    "grid": Mixture("grid", grid_means(), 0.05),
}


def is_mixture(name: str) -> bool:
    """Whether ``data.name`` is a toy mixture: points drawn fresh, scored by the modes they reach."""
    return name in MIXTURES
