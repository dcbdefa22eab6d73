"""ADA's pipeline (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): the geometric
and colour transforms that R3GAN's presets ramp up over a run, each a matrix applied to every image.

``geometric`` is ADA's 'bg': x-flip, quarter turns, integer translation, isotropic scaling, rotation, anisotropic
scaling and fractional translation, composed into one inverse 2-D transform per image and applied by bilinear
``grid_sample`` with reflected borders. ADA samples through a 2x-upsampled image and a wavelet low-pass filter to keep
aliasing out of the rotated and scaled images; plain bilinear sampling is cheaper and exact for every flip, quarter
turn and whole-pixel shift, and lets a little aliasing into the others (said, not measured against theirs).

``color_matrix`` is ADA's 'c': brightness, contrast, luma flip, hue rotation and saturation, composed into one
4x4 matrix per image; a grey image takes the mean of the matrix's rows, as ADA's code does.

Each part applies to each image with its own coin against p (rotation twice, each at 1 - sqrt(1 - p), so that
some rotation happens with probability p), from uniform draws the caller supplies: the stream of draws is the
caller's, so a resumed run draws the same transforms. Both are differentiable in the images, twice (R1 through
the pipeline); the matrices carry no gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GEOMETRIC_DRAWS = 18  # uniform numbers an image uses, whatever p is
COLOR_DRAWS = 10
# ADA's defaults for its 'bgc' pipeline (stylegan2-ada-pytorch, training/augment.py)
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0


def _normal(u: torch.Tensor) -> torch.Tensor:
    """Standard normal numbers from uniform ones (the inverse of the normal CDF)."""
    return math.sqrt(2.0) * torch.erfinv(2.0 * u.clamp(1e-6, 1 - 1e-6) - 1.0)


def _gated(u_gate: torch.Tensor, p, value: torch.Tensor, identity: float) -> torch.Tensor:
    """``value`` where the image's coin falls under p, else the identity value."""
    return torch.where(u_gate < p, value, torch.full_like(value, identity))


def _matrix(n: int, rows, device, dtype) -> torch.Tensor:
    """[N, k, k] from a nested list of [N] tensors or numbers."""
    return torch.stack(
        [torch.stack([torch.as_tensor(v, device=device, dtype=dtype).expand(n) for v in r], -1) for r in rows], -2
    )


def _scale(sx, sy):
    n = sx.shape[0]
    return _matrix(n, [[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx.device, sx.dtype)


def _translate(tx, ty):
    n = tx.shape[0]
    return _matrix(n, [[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx.device, tx.dtype)


def _rotate(theta):
    c, s = torch.cos(theta), torch.sin(theta)
    return _matrix(theta.shape[0], [[c, -s, 0], [s, c, 0], [0, 0, 1]], theta.device, theta.dtype)


def geometric_matrix(u: torch.Tensor, p, height: int, width: int) -> torch.Tensor:
    """[N, 3, 3]: output pixel -> input pixel, in pixels about the image centre (ADA's G_inv), from ``u``
    [N, GEOMETRIC_DRAWS]."""
    p = torch.as_tensor(p, dtype=u.dtype, device=u.device)
    flip = _gated(u[:, 0], p, torch.floor(u[:, 1] * 2), 0.0)
    quarter = _gated(u[:, 2], p, torch.floor(u[:, 3] * 4), 0.0)
    shift = torch.where((u[:, 4] < p)[:, None], (u[:, 5:7] * 2 - 1) * XINT_MAX, torch.zeros_like(u[:, 5:7]))
    scale = _gated(u[:, 7], p, torch.exp2(_normal(u[:, 8]) * SCALE_STD), 1.0)
    p_rot = 1 - (1 - p).clamp(0, 1).sqrt()
    pre = _gated(u[:, 9], p_rot, (u[:, 10] * 2 - 1) * math.pi * ROTATE_MAX, 0.0)
    aniso = _gated(u[:, 11], p, torch.exp2(_normal(u[:, 12]) * ANISO_STD), 1.0)
    post = _gated(u[:, 13], p_rot, (u[:, 14] * 2 - 1) * math.pi * ROTATE_MAX, 0.0)
    frac = torch.where((u[:, 15] < p)[:, None], _normal(u[:, 16:18]) * XFRAC_STD, torch.zeros_like(u[:, 16:18]))
    one = torch.ones_like(flip)
    m = _scale(1 - 2 * flip, one)  # each factor inverted, in ADA's order
    m = m @ _rotate(math.pi / 2 * quarter)
    m = m @ _translate(-torch.round(shift[:, 0] * width), -torch.round(shift[:, 1] * height))
    m = m @ _scale(1 / scale, 1 / scale)
    m = m @ _rotate(pre)
    m = m @ _scale(1 / aniso, aniso)
    m = m @ _rotate(post)
    return m @ _translate(-frac[:, 0] * width, -frac[:, 1] * height)


def geometric(x: torch.Tensor, u: torch.Tensor, p) -> torch.Tensor:
    """ADA's geometric transforms of ``x`` [N, C, H, W], borders reflected."""
    n, _, h, w = x.shape
    m = geometric_matrix(u.float(), p, h, w)
    full = lambda v: torch.full((n,), v, dtype=m.dtype, device=m.device)  # noqa: E731
    to_unit, from_unit = _scale(full(2.0 / w), full(2.0 / h)), _scale(full(w / 2.0), full(h / 2.0))
    theta = (to_unit @ m @ from_unit)[:, :2, :].to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return _unless_identity(m, x, moved)


def _unless_identity(m: torch.Tensor, x: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
    """``changed`` where an image's matrix moves it, else the image itself, to the bit (p = 0 changes nothing)."""
    eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
    still = (m == eye).flatten(1).all(dim=1).to(x.device)[:, None, None, None]
    return torch.where(still, x, changed)


def color_transform(u: torch.Tensor, p) -> torch.Tensor:
    """[N, 4, 4]: ADA's colour matrix acting on (r, g, b, 1), from ``u`` [N, COLOR_DRAWS]."""
    n, like = u.shape[0], {"dtype": u.dtype, "device": u.device}
    p = torch.as_tensor(p, **like)
    eye = torch.eye(4, **like).expand(n, 4, 4)
    v = torch.tensor([1.0, 1.0, 1.0, 0.0], **like) / math.sqrt(3)  # the luma axis
    vv = torch.outer(v, v).expand(n, 4, 4)
    b = _gated(u[:, 0], p, _normal(u[:, 1]) * BRIGHTNESS_STD, 0.0)
    c = _gated(u[:, 2], p, torch.exp2(_normal(u[:, 3]) * CONTRAST_STD), 1.0)
    flip = _gated(u[:, 4], p, torch.floor(u[:, 5] * 2), 0.0)
    hue = _gated(u[:, 6], p, (u[:, 7] * 2 - 1) * math.pi * HUE_MAX, 0.0)
    sat = _gated(u[:, 8], p, torch.exp2(_normal(u[:, 9]) * SATURATION_STD), 1.0)
    m = eye.clone()
    m[:, :3, 3] = b[:, None]  # brightness: a shift along every channel
    m = torch.diag_embed(torch.stack([c, c, c, torch.ones_like(c)], -1)) @ m
    m = (eye - 2 * vv * flip[:, None, None]) @ m
    m = _rotate_about_luma(hue, v) @ m
    return (vv + (eye - vv) * sat[:, None, None]) @ m


def _rotate_about_luma(theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """[N, 4, 4] rotations by ``theta`` about the axis ``v`` (Rodrigues), the hue rotation."""
    a = v[:3]
    zero = torch.zeros((), dtype=a.dtype, device=a.device)
    cross = torch.stack([torch.stack(r) for r in ((zero, -a[2], a[1]), (a[2], zero, -a[0]), (-a[1], a[0], zero))])
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    r = c * torch.eye(3, dtype=a.dtype, device=a.device) + s * cross + (1 - c) * torch.outer(a, a)
    out = torch.eye(4, dtype=a.dtype, device=a.device).repeat(len(theta), 1, 1)
    out[:, :3, :3] = r
    return out


def color_matrix(x: torch.Tensor, u: torch.Tensor, p) -> torch.Tensor:
    """ADA's colour transforms of ``x`` [N, C, H, W] (C = 3, or 1: the mean of the matrix's rows)."""
    n, channels, h, w = x.shape
    exact = color_transform(u.float(), p)
    m = exact.to(device=x.device, dtype=x.dtype)
    flat = x.reshape(n, channels, h * w)
    if channels == 3:
        out = m[:, :3, :3] @ flat + m[:, :3, 3:]
    else:  # grey (or any other count): every channel alike, as ADA does for one channel
        rows = m[:, :3, :].mean(dim=1, keepdim=True)  # [N, 1, 4]
        out = flat * rows[:, :, :3].sum(dim=2, keepdim=True) + rows[:, :, 3:]
    return _unless_identity(exact, x, out.reshape(n, channels, h, w))
