"""Latent walks: ``gan sample RUN --walk K``, a network's images along a path through its noise.

A walk shows what the noise means to a trained network: whether neighbouring noise draws neighbouring images, and
which directions change what. Written as a grid PNG (one row per segment) or an animated GIF (every frame once).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from networks import Image, Network, Noise

from ..runs.folder import RunError

WALK_SUFFIXES = (".png", ".gif", ".npz")


def check_walk(net: Network, network: str, k: int, frames: int) -> None:
    """A walk needs at least two ends, a step between them, and noise to walk through whose images can be drawn."""
    if k < 2:
        raise RunError(
            f"--walk: expected a number of ends K >= 2 (a walk goes from one noise vector to another), got {k}"
        )
    if frames < 1:
        raise RunError(f"--frames: expected a number of steps between ends >= 1, got {frames}")
    if not isinstance(net.source, Noise):
        raise RunError(
            f"--walk: network {network!r} reads {net.source}, not noise[D]; a walk needs noise to walk through"
        )
    if not isinstance(net.target, Image):
        raise RunError(f"--walk: network {network!r} writes {net.target}, not images; a walk is drawn as pictures")


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (Shoemake; White 2016 for generative models): straight lines between two normal draws
    pass near the origin, where the noise is atypical; arcs keep the norm the prior gives. Exact at t = 0 and 1."""
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1).clamp(-1, 1).unsqueeze(-1)
    omega = torch.arccos(cos)
    if float(omega.abs().max()) < 1e-6:  # (nearly) parallel: the arc is the line
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def walk(
    net: Network,
    k: int,
    *,
    frames: int = 8,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    truncation: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Images along K - 1 slerp segments between K noise vectors drawn with ``seed``: [K - 1, frames + 1, C, H, W],
    each segment with both its ends; and the ends' noise [K, D] and labels [K] (None unconditioned).

    A conditioned network's label holds the label of the nearer end (the start's up to and including the middle):
    labels are categories with nothing between them, and a mixed embedding is an input the network never saw.
    """
    rng = torch.Generator().manual_seed(seed)
    ends = net.source.sample(k, rng=rng, truncation=truncation)
    ts = [j / frames for j in range(frames + 1)]
    z = torch.stack([torch.stack([slerp(ends[i], ends[i + 1], t) for t in ts]) for i in range(k - 1)])
    y = None
    if labels is not None:
        y = torch.stack([torch.stack([labels[i] if t <= 0.5 else labels[i + 1] for t in ts]) for i in range(k - 1)])
    device = next(net.parameters()).device
    with torch.no_grad():
        x = net(z.flatten(0, 1).to(device), None if y is None else y.flatten().to(device))
    return x.float().cpu().unflatten(0, (k - 1, frames + 1)), ends, labels


def write_walk(out: Path, x: torch.Tensor, ends: torch.Tensor, labels, net: Network) -> None:
    """The walk as a grid (.png), an animation (.gif: each frame once, 80 ms each, looping) or arrays (.npz)."""
    import numpy as np
    import torchvision.utils as vutils

    from ..runs.folder import replacing

    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as f:
        if suffix == ".npz":
            extra = {} if labels is None else {"labels": labels.numpy()}
            np.savez(f, frames=x.numpy(), noise=ends.numpy(), **extra)
        elif suffix == ".png":
            grid = net.target.to_unit(x.flatten(0, 1))
            vutils.save_image(grid, f, format="png", nrow=x.shape[1], padding=2, pad_value=1.0)
        else:
            pictures = _gif_frames(net.target.to_unit(torch.cat([x[:, :-1].flatten(0, 1), x[-1, -1:]])))
            pictures[0].save(f, format="gif", save_all=True, append_images=pictures[1:], duration=80, loop=0)


def _gif_frames(x: torch.Tensor) -> list:
    """[N, C, H, W] in [0, 1] as PIL images, enlarged by a whole factor to at least 128 pixels: a 28-pixel GIF is a
    speck in a viewer, and nearest-neighbour enlarging adds no colour the quantiser would have to choose."""
    from PIL import Image as PILImage

    scale = max(1, math.ceil(128 / max(x.shape[-2:])))
    x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
    arrays = (x * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    mode = "L" if x.shape[1] == 1 else "RGB"
    return [PILImage.fromarray(a[..., 0] if mode == "L" else a[..., :3], mode) for a in arrays]
