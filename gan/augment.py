"""Differentiable augmentation of what the discriminator reads (DiffAugment, Zhao et al. 2020; ADA, Karras et al. 2020).

With few training images the discriminator memorises them and its feedback stops helping the
generator. Showing it randomly transformed images, real and generated alike, stops that without
teaching the generator to draw the transforms: the generator is judged only through them, and every
transform here is differentiable, so its gradient reaches the generator's weights.

Each transform is applied to each image with probability p (ADA's gating; p = 1 is DiffAugment).
p is fixed, or steered by ADA's overfitting heuristic r_t = E[sign(D(x_real))]: when the
discriminator is too sure of the real images (r_t above the target), p rises, else it falls.

The random draws come from a generator reseeded from (seed, process, call number), so they do not
touch the global random state (the noise a run draws is the same with or without augmentation), and
a resumed run, given the call number back, draws what the uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .augment_affine import COLOR_DRAWS, GEOMETRIC_DRAWS, color_matrix, geometric
from .config import DIFF_AUGMENT
from .data.examples import to_device

POLICIES = DIFF_AUGMENT  # the transforms drawn from the first DRAWS numbers, in the order they apply
MATRICES = ("geometric", "color_matrix")  # ADA's, applied first, from DRAWS more numbers only when a policy names one
DRAWS = 10  # uniform numbers per image per call for POLICIES, whatever the policy: the stream does not depend on it


# -- the transforms: pure functions of images and uniform draws in [0, 1) ---------------------------
def translation(x: torch.Tensor, u: torch.Tensor, *, fill: float, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size (whole pixels), filling the uncovered border.

    ``u`` [N, 2]: the vertical and horizontal shift, as uniform draws. Sizes as DiffAugment's code.
    """
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = (u[:, 0] * (2 * sy + 1)).long() - sy  # [N] in -sy..sy
    dx = (u[:, 1] * (2 * sx + 1)).long() - sx
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None] + 1).clamp(0, h + 1)  # [N, H] into the padded image
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None] + 1).clamp(0, w + 1)  # [N, W]
    padded = F.pad(x, [1, 1, 1, 1], value=fill)  # [N, C, H+2, W+2]; its border is what shifts in
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, u: torch.Tensor, *, fill: float, ratio: float = 0.5) -> torch.Tensor:
    """Blank a square of ``ratio`` times the image size at a random place (DeVries and Taylor 2017).

    ``u`` [N, 2]: the square's centre, as uniform draws.
    """
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = (u[:, 0] * (h + 1 - ch % 2)).long() - ch // 2  # [N]; as DiffAugment, the square may overhang the edge
    left = (u[:, 1] * (w + 1 - cw % 2)).long() - cw // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    inside_y = (ys[None, :] >= top[:, None]) & (ys[None, :] < top[:, None] + ch)  # [N, H]
    inside_x = (xs[None, :] >= left[:, None]) & (xs[None, :] < left[:, None] + cw)  # [N, W]
    hole = (inside_y[:, :, None] & inside_x[:, None, :])[:, None]  # [N, 1, H, W]
    return torch.where(hole, torch.full_like(x, fill), x)


def color(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Brightness, saturation and contrast, with DiffAugment's ranges for images in [-1, 1].

    ``u`` [N, 3]: brightness + [-0.5, 0.5), saturation x [0, 2), contrast x [0.5, 1.5). A grey image
    has no saturation to change: that factor leaves it as it is.
    """
    k = u[:, :, None, None, None].unbind(1)  # three [N, 1, 1, 1]
    x = x + (k[0] - 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (k[1] * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (k[2] + 0.5) + mean


def augment(
    x: torch.Tensor, u: torch.Tensor, p: torch.Tensor | float, policy: tuple[str, ...], *, fill: float
) -> torch.Tensor:
    """Apply each transform of ``policy`` to each image with probability ``p``, from the draws ``u`` [N, DRAWS] (and
    [N, DRAWS + GEOMETRIC_DRAWS + COLOR_DRAWS] when the policy names ADA's matrices).

    Columns of ``u``: 0-2 whether each transform applies, 3-4 translation, 5-6 cutout, 7-9 colour; then the
    geometric matrix's and the colour matrix's own (gan/augment_affine.py).
    With p = 0 the images come back unchanged, to the bit.

    >>> x = torch.zeros(2, 1, 8, 8)
    >>> torch.equal(augment(x, torch.rand(2, DRAWS), 0.0, POLICIES, fill=-1.0), x)
    True
    """
    if "geometric" in policy:  # the matrices are built in float32 whatever the images' precision
        x = geometric(x, u[:, DRAWS : DRAWS + GEOMETRIC_DRAWS].to(x.device, torch.float32), p)
    if "color_matrix" in policy:
        x = color_matrix(x, u[:, DRAWS + GEOMETRIC_DRAWS :].to(x.device, torch.float32), p)
    u = u.to(x.device, x.dtype)
    for i, name in enumerate(POLICIES):
        if name not in policy:
            continue
        if name == "translation":
            changed = translation(x, u[:, 3:5], fill=fill)
        elif name == "cutout":
            changed = cutout(x, u[:, 5:7], fill=fill)
        else:
            changed = color(x, u[:, 7:10])
        keep = (u[:, i] >= p)[:, None, None, None]  # [N, 1, 1, 1]: each image's own coin
        x = torch.where(keep, x, changed)
    return x


# -- the state a run keeps: p, the draw counter, the adaptive statistics -------------------------------
class Augmenter:
    """What the loop holds: the policy, p (fixed or adaptive) and the stream of draws; checkpointed whole.

    >>> aug = Augmenter(("translation",), p=1.0, fill=-1.0, seed=0)
    >>> aug(torch.zeros(4, 1, 8, 8)).shape
    torch.Size([4, 1, 8, 8])
    """

    def __init__(
        self,
        policy,
        *,
        p: float,
        fill: float,
        seed: int,
        rank: int = 0,
        device="cpu",
        adaptive: bool = False,
        target: float = 0.6,
        interval: int = 4,
        speed: float = 100_000,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.policy, self.fill, self.seed, self.rank = tuple(policy), fill, seed, rank
        self.adaptive, self.target, self.interval, self.speed = adaptive, target, interval, speed
        self.reduce = reduce or (lambda t: t)  # the sum over processes (accelerate's reduce); identity alone
        self.device = torch.device(device)
        # p and the statistics live on the device: steering p reads nothing back to the host
        self.p = torch.tensor(float(p), device=self.device)
        self.signs = torch.zeros((), device=self.device)  # sum of sign(D(x_real)) since p last moved
        self.seen = torch.zeros((), device=self.device)  # how many real images that sum covers
        self.r_t = torch.full((), float("nan"), device=self.device)  # the last heuristic, for the logs
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """A fresh random transform of each image of ``x`` [N, C, H, W]; differentiable in ``x``."""
        rng = torch.Generator().manual_seed(((self.seed * 1_000_003 + self.rank) * 1_000_033 + self.calls) % 2**63)
        self.calls += 1
        u = torch.rand(len(x), DRAWS, generator=rng)
        if any(name in MATRICES for name in self.policy):  # drawn after: DiffAugment's stream stays as it was
            u = torch.cat([u, torch.rand(len(x), GEOMETRIC_DRAWS + COLOR_DRAWS, generator=rng)], dim=1)
        return augment(x, _to(u, x.device), self.p, self.policy, fill=self.fill)

    def observe(self, out_real: torch.Tensor) -> None:
        """Count sign(D(x_real)) of one batch (adaptive p only)."""
        if self.adaptive:
            out = out_real.detach().float()
            self.signs += out.sign().sum()
            self.seen += out.numel()

    def adjust(self, updates: int) -> None:
        """After ``updates`` discriminator updates: every ``interval`` of them, move p towards the target.

        ADA's rule: r_t = E[sign(D(x_real))] over every process's images since the last move;
        p += sign(r_t - target) * images / speed, so p could cross [0, 1] in ``speed`` images.
        """
        if not self.adaptive or updates % self.interval:
            return
        signs, seen = self.reduce(self.signs.clone()), self.reduce(self.seen.clone())  # the same p on every process
        self.r_t = signs / seen.clamp_min(1)
        self.p = (self.p + torch.sign(self.r_t - self.target) * seen / self.speed).clamp(0.0, 1.0)
        self.signs.zero_()
        self.seen.zero_()

    def stats(self) -> dict[str, float]:
        """p (and r_t when adaptive) for the logs: reads values back, so only on logging steps."""
        out = {"augment/p": float(self.p)}
        if self.adaptive:
            out["augment/r_t"] = float(self.r_t)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything a resumed run needs to draw and steer as the uninterrupted one (every process calls this).

        The statistics are summed over processes: resumed, the first process holds the sum and the
        others nothing, which adds up to the same r_t (sums of signs are whole numbers: exact in float32).
        """
        return {
            "p": self.p.detach().cpu().clone(),
            "calls": torch.tensor([self.calls], dtype=torch.int64),
            "signs": self.reduce(self.signs.clone()).cpu(),
            "seen": self.reduce(self.seen.clone()).cpu(),
            # r_t is NaN until ADA first measures it (always, with a fixed p); checkpoints hold finite numbers
            # only (a non-finite tensor marks a damaged or diverged one), so "not measured" is a flag of its own
            "r_t": torch.nan_to_num(self.r_t.detach().cpu().clone(), nan=0.0),
            "r_t_measured": torch.tensor([bool(torch.isfinite(self.r_t))], dtype=torch.int64),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True) -> None:
        """The inverse of ``state_dict``; ``strict`` is there for the loader shared with networks (always strict
        here)."""
        self.p = state["p"].to(self.device).clone()
        self.calls = int(state["calls"][0])
        first = self.rank == 0
        self.signs = (state["signs"] if first else torch.zeros(())).to(self.device).clone()
        self.seen = (state["seen"] if first else torch.zeros(())).to(self.device).clone()
        measured = bool(state["r_t_measured"][0]) if "r_t_measured" in state else bool(torch.isfinite(state["r_t"]))
        self.r_t = (state["r_t"] if measured else torch.full((), float("nan"))).to(self.device).clone()


def _to(u: torch.Tensor, device) -> torch.Tensor:
    return to_device(u, device)
