"""``sphere[D]``: unit vectors in D dimensions, the space a network writes when its output is compared, not read.

An embedding is only ever used through its similarity to other embeddings (a search, a contrastive
loss), so its length carries nothing but a way to cheat: a longer vector scores higher against every
other. Putting every output on the unit sphere takes that away, and makes the dot product the cosine
similarity, so an exact search is one matrix product. Registered with ``register_space``: this module
is the whole space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .messages import shorten
from .space_base import MAX_SIZE, SpaceError
from .spaces import _Vector, register_space


@dataclass(frozen=True)
class Sphere(_Vector):
    """Unit vectors of R^dim; a network targeting it writes [N, dim] rows of length 1.

    >>> Sphere(3).onto(torch.tensor([[3.0, 0.0, 4.0]]))
    tensor([[0.6000, 0.0000, 0.8000]])
    """

    kind = "sphere"

    def __post_init__(self):
        # one dimension leaves only +1 and -1: no room for distances to mean anything
        if not isinstance(self.dim, int) or not 2 <= self.dim <= MAX_SIZE:
            raise SpaceError(
                f"sphere[{shorten(self.dim)}]: the dimension must be an integer >= 2 (at most {MAX_SIZE:,})"
            )

    def onto(self, x: torch.Tensor) -> torch.Tensor:
        """Rows scaled to length 1 (a zero row stays finite: eps in the norm), computed in float32 so that
        similarities of 1 mean the same under bf16 and fp16."""
        return F.normalize(x.float(), dim=-1, eps=1e-12).to(x.dtype)

    @staticmethod
    def similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of every row of ``a`` with every row of ``b``: [N, M], in [-1, 1]."""
        return a.float() @ b.float().T

    def check(self, x: torch.Tensor, what: str = "input") -> None:
        super().check(x, what)
        norms = x.detach().float().norm(dim=-1)
        if len(x) and not torch.allclose(norms, torch.ones_like(norms), atol=1e-3):
            raise SpaceError(
                f"{what} does not fit {self}: rows must have length 1, got lengths up to {norms.max():.3g}"
            )


@register_space("sphere", "sphere[D]")
def _read(parts: list[str]) -> Sphere:
    if len(parts) != 1:
        raise ValueError("sphere takes one dimension")
    return Sphere(int(parts[0]))
