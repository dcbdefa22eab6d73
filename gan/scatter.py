"""2-D points drawn as a picture: what training and `gan sample` show for point[2] data."""

from __future__ import annotations

import torch


def scatter(points: torch.Tensor, size: int = 256) -> torch.Tensor:
    """2-D points as a density picture [1, size, size] in [0, 1] (dark = many points)."""
    lim = max(float(points.abs().max()), 1e-3) * 1.1
    hist, _ = torch.histogramdd(points.float(), bins=[size, size], range=[-lim, lim, -lim, lim])
    img = 1.0 - (hist.T.flip(0) > 0).float() * 0.85 - (hist.T.flip(0) / hist.max().clamp_min(1)) * 0.15
    return img.unsqueeze(0).clamp(0, 1)
