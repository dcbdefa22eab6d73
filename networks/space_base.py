"""What every space is: the ``Space`` base class, the error a space raises, and seeded drawing.

Apart from ``spaces.py`` so that the text space (``text.py``) and the fixed-size spaces build on
the same base while ``spaces.py`` gathers them all and reads them from their short strings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch


class RandomSource(Protocol):
    """A seeded random-number state, such as ``torch.manual_seed``-able RNG objects made with
    ``torch.random`` (anything with ``device``, ``get_state`` and ``set_state``)."""

    device: torch.device

    def get_state(self) -> torch.Tensor: ...

    def set_state(self, state: torch.Tensor): ...


@contextmanager
def drawing(rng: RandomSource | None) -> Iterator[None]:
    """Make torch's default random functions draw from ``rng`` (and advance it); no-op for None.

    Draws equal those of passing the RNG object to torch.randn & co., so seeded samples
    are reproducible; the process-wide random state is left as it was.
    """
    if rng is None:
        yield
        return
    cuda = rng.device.type == "cuda"
    with torch.random.fork_rng(devices=[rng.device] if cuda else []):
        set_state, get_state = (
            (torch.cuda.set_rng_state, torch.cuda.get_rng_state) if cuda else (torch.set_rng_state, torch.get_rng_state)
        )
        set_state(rng.get_state(), *([rng.device] if cuda else []))
        yield
        rng.set_state(get_state(*([rng.device] if cuda else [])))


# The largest size of any one dimension: torch indexes with 64-bit integers, but a size past 2**31 - 1 is a typo
# (no network reads noise[10**12]) and past 2**63 torch fails in its own words; refuse both in ours.
MAX_SIZE = 2**31 - 1


class SpaceError(ValueError):
    """A space string or a pairing of spaces that cannot be used."""


@dataclass(frozen=True)
class Space:
    """Base of all spaces. Subclasses are frozen dataclasses, so spaces compare by value."""

    kind = "space"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one value of this space (without the batch dimension)."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        """Number of numbers a network needs to read or write one value."""
        return math.prod(self.shape)

    @property
    def sampleable(self) -> bool:
        """Whether the space has a prior to draw inputs from (noise, labels)."""
        return False

    @property
    def is_distribution(self) -> bool:
        return False

    @property
    def is_vector(self) -> bool:
        return False

    @property
    def is_image(self) -> bool:
        return False

    def sample(self, n: int, *, rng: RandomSource | None = None, device=None) -> torch.Tensor:
        raise SpaceError(f"{self} has no prior to sample from; sampleable spaces: noise, categorical, bernoulli")

    def check(self, x: torch.Tensor, what: str = "input") -> None:
        """Fail with a readable message when a batch does not belong to this space."""
        if tuple(x.shape[1:]) != self.shape:
            raise SpaceError(
                f"{what} of shape {tuple(x.shape)} does not fit {self}: "
                f"expected [N, {', '.join(map(str, self.shape))}]".replace("[N, ]", "[N]")
            )
