"""A function of the plane read from a grid of latent codes: a local implicit function (LIIF, Chen, Liu and Wang
2021), written by a conv body; Chai et al. 2022 draw GAN samples at any size the same way.

Why a grid of codes rather than one style: a coordinate network modulated by a single vector (``fourier``) has to
hold every digit's layout in a few thousand shared weights, and its samples lose variety. Here the layout lives in
the codes, written by the same transposed convolutions as the ``conv`` family's pictures, and the network that reads
a point only has to draw what lies between a few codes, which a small one can.

Why the local ensemble: a point read from its nearest code alone jumps where the nearest code changes. Blending the
values read from the four nearest codes, each weighted by the area of the rectangle between the point and the
opposite code (bilinear weights), changes neighbours only where a weight is zero, so the function is continuous.

Why codes that write polynomials (``polynomial: 1``, what configs/digits_local_function.yaml uses): LIIF's point
network runs a hidden layer on every (point, code) pair, four per pixel, which made a training step 1.4x the conv
painter's; a plane per code (a value and two slopes) is read with a few products per pair, a whole run takes the
conv painter's time, and the digits scored as the point network's at the same steps (101.0 against 101.2, 3 seeds;
docs/benchmarks/functions.md). The blend of four
planes is still a smooth function of the plane; with degree 0 it is bilinear interpolation of the codes' values.

Why no cell size among the inputs (LIIF's "cell decoding"): it would make the value at a point depend on the grid it
is drawn on; a function of the plane is the same picture at every size.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Network
from .conv import ConvNet
from .functions import DrawnOnAGrid, Function, PlaneFunction
from .registry import register
from .space_base import SpaceError

__all__ = ["LocalImplicit"]


class LocalDecoder(nn.Module):
    """A code map [N, D, h, w] and points [1 or N, P, 2] -> values [N, P, C] before the final squashing.

    The first layer of the point network reads a code and the point's offset from the code's cell centre; the code's
    share of it is a 1x1 convolution of the map, computed once per cell rather than once per point and code, so
    reading many points of one function (a large picture) costs the point network's later layers only.
    """

    def __init__(self, codes: int, channels: int, hidden: int, depth: int, frequencies: int, ensemble: bool):
        super().__init__()
        self.frequencies, self.ensemble = frequencies, ensemble
        self.from_code = nn.Conv2d(codes, hidden, 1)
        self.from_offset = nn.Linear(2 + 4 * frequencies, hidden, bias=False)
        layers: list[nn.Module] = [nn.LeakyReLU(0.2)]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.LeakyReLU(0.2)]
        self.layers = nn.Sequential(*layers, nn.Linear(hidden, channels))

    def offsets(self, rel: torch.Tensor) -> torch.Tensor:
        """The offset and its octaves: sines and cosines of pi * 2^k times it. Off by default: the training grid reads
        each code at four offsets a side only, and octave 1 (a cycle a cell, the training grid's Nyquist rate) was free
        to draw beads between them, seen at 112 pixels; the offset alone, through the point network's kinks, drew
        smooth strokes at the same Frechet distance at 28 (docs/benchmarks/functions.md)."""
        if not self.frequencies:
            return rel
        scales = math.pi * 2.0 ** torch.arange(self.frequencies, device=rel.device, dtype=rel.dtype)
        angles = (rel[..., None] * scales).flatten(-2)
        return torch.cat([rel, angles.sin(), angles.cos()], -1)

    def forward(self, codes: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        cells = self.from_code(codes)
        index, rel, weights = around(coords, *cells.shape[-2:], self.ensemble)
        values = self.layers(pick(cells.flatten(2).transpose(1, 2), index) + self.from_offset(self.offsets(rel)))
        return values if weights is None else blend(values, weights)


class PolynomialDecoder(nn.Module):
    """A code map [N, D, h, w] and points [1 or N, P, 2] -> values [N, P, C]: each code writes a polynomial of the
    offset from its centre (degree 1: a value and two slopes, a plane), and the four codes' polynomials are blended.

    Why: a point network with a hidden layer runs its nonlinearity on every (point, code) pair, four per pixel, and
    at the training grid that costs more than the rest of the painter. A polynomial is read with a few products per
    pair; the nonlinearity is the conv body's and the final squashing's. Still a function of the plane: continuous
    by the ensemble, drawn at any size.
    """

    def __init__(self, codes: int, channels: int, degree: int, ensemble: bool):
        super().__init__()
        self.channels, self.ensemble = channels, ensemble
        self.powers = [(i, d - i) for d in range(degree + 1) for i in range(d, -1, -1)]  # (x, y) exponents
        # A matrix product over the codes' channels, as a 1x1 convolution would be: oneDNN's 1x1 convolution to three
        # channels took 0.55 ms a training step (0.43 of it its backward), the product over channels-last codes 0.29.
        self.from_code = nn.Linear(codes, channels * len(self.powers))
        self._last = None  # the last matrices read (``reading``): not state, rebuilt from the points when they change

    def forward(self, codes: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        h, w = codes.shape[-2:]
        cells = self.from_code(codes.permute(0, 2, 3, 1)).flatten(1, 2)  # [N, h * w, M * C]
        if len(coords) == 1:  # the same points for every function (a drawing): one matrix product
            n, hw, _ = cells.shape
            coefficients = cells.view(n, hw, len(self.powers), self.channels).permute(0, 3, 2, 1).flatten(2)
            values = [coefficients.flatten(0, 1) @ matrix for matrix in self.reading(coords[0], h, w, cells.dtype)]
            return torch.cat(values, 1).view(n, self.channels, -1).transpose(1, 2)
        index, rel, weights = around(coords, h, w, self.ensemble)
        picked = pick(cells, index).unflatten(-1, (len(self.powers), self.channels))  # [N, K * P, M, C]
        values = (picked * self.terms(rel)[..., None]).sum(-2)
        return values if weights is None else blend(values, weights)

    def terms(self, rel: torch.Tensor) -> torch.Tensor:
        """The offsets' monomials, [..., 2] -> [..., M], in the order the codes write their coefficients."""
        x, y = rel[..., 0], rel[..., 1]
        return torch.stack([x**i * y**j for i, j in self.powers], -1)

    def reading(self, coords: torch.Tensor, h: int, w: int, dtype: torch.dtype) -> list[torch.Tensor]:
        """What points every function shares read from the codes, as matrices [M * h * w, points] (in slices of
        points, so a large picture costs its own size in memory and no more): the decoder is linear in the codes'
        coefficients, so the values are the coefficients times a matrix that holds each point's weights and
        monomials at the rows of its codes.

        Why: at the training grid, picking [N, 4 * P] coefficients and scattering their gradient back cost more than
        the rest of the painter; a product and its transpose cost less than the conv painter's last layer.

        The last reading of one slice is kept for the same points tensor, unchanged since (a loop draws on one grid
        every step, and ``PlaneFunction.render`` hands the same centres each time). Known by identity, not by
        value: comparing values would cost a host sync a step on a GPU. Keeping the tensor keeps its memory from
        being reused by other points, and an in-place change moves its version."""
        key = (coords.data_ptr(), coords.shape, coords.stride(), coords._version, h, w, dtype, coords.device)
        if self._last is not None and self._last[0] == key:
            return self._last[2]
        index, rel, weights = around(coords[None], h, w, self.ensemble)
        m, hw, points = len(self.powers), h * w, len(coords)
        k = index.shape[1] // points  # codes a point reads: its pairs lie one block of points after another
        share = torch.ones_like(rel[0, :, 0]) if weights is None else weights[0].reshape(-1)
        entries = (self.terms(rel[0]) * share[:, None]).T.to(dtype).view(m, k, points)  # what each pair adds
        rows = (torch.arange(m, device=index.device)[:, None] * hw + index).view(m, k, points)  # coefficients' rows
        step, matrices = max(1, 2**22 // (m * hw)), []
        for start in range(0, points, step):
            part = slice(start, min(points, start + step))
            cols = torch.arange(part.stop - start, device=index.device).expand(m, k, -1)
            matrix = entries.new_zeros(m * hw, part.stop - start)
            at = (rows[..., part].reshape(-1), cols.reshape(-1))
            matrices.append(matrix.index_put_(at, entries[..., part].reshape(-1), accumulate=True))
        if len(matrices) == 1 and not coords.requires_grad:
            self._last = (key, coords, matrices)
        return matrices


def around(coords: torch.Tensor, h: int, w: int, ensemble: bool):
    """The codes a point reads, its offsets from them and their weights: ``(index [1 or N, K * P], offsets
    [1 or N, K * P, 2], weights [1 or N, K, P] or None)``, K = 4 codes around each point (the ensemble) or 1."""
    # The point in cell units: code (i, j) sits at (j, i), the extent [-1, 1] spans -0.5 .. w - 0.5.
    u = (coords[..., 0] + 1) * (w / 2) - 0.5
    v = (coords[..., 1] + 1) * (h / 2) - 0.5
    if ensemble:  # the four codes around each point, one after another along the points
        cu = torch.cat([u.floor() + dx for dy in (0, 1) for dx in (0, 1)], 1).clamp(0, w - 1)
        cv = torch.cat([v.floor() + dy for dy in (0, 1) for dx in (0, 1)], 1).clamp(0, h - 1)
        u, v = u.repeat(1, 4), v.repeat(1, 4)
    else:  # the nearest code alone: what the ensemble is for (kept to show the seams it removes)
        cu, cv = u.round().clamp(0, w - 1), v.round().clamp(0, h - 1)
    index = (cv * w + cu).long()
    rel = torch.stack([u - cu, v - cv], -1)
    if not ensemble:
        return index, rel, None
    # Bilinear weights: the area opposite each code, as LIIF weights them (equal where the border clamps codes).
    weights = ((1 - (u - cu).abs()).clamp(min=0) * (1 - (v - cv).abs()).clamp(min=0)).unflatten(1, (4, -1))
    return index, rel, weights / weights.sum(1, keepdim=True).clamp(min=1e-8)


def pick(cells: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The cells [N, h * w, F] at ``index`` [1 or N, Q]: [N, Q, F]."""
    if len(index) == 1:  # the same points for every function (a drawing): computed once for all of them
        return cells.index_select(1, index[0])  # its gradient is an index_add, 2-3x faster than indexing's
    return cells.gather(1, index[..., None].expand(-1, -1, cells.shape[-1]))


def blend(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The four codes' values [N, 4 * P, C] blended by their weights [1 or N, 4, P]: [N, P, C]."""
    return (values.unflatten(1, (4, -1)) * weights[..., None]).sum(1)


@register
class LocalImplicit(DrawnOnAGrid, Network):
    """A vector (noise, and a label if conditioned) -> a function of the plane: a conv body (the ``conv`` family's
    writing direction, stopped before its pixel layer) writes a ``cells x cells`` grid of codes, and the value at any
    point is read from the four codes around it: by a small point network, or (``polynomial: D``) from the polynomial
    of degree D each code writes around its centre. ``forward`` draws on the grid the network holds (``grid``, set
    by whoever reads its images); ``function`` gives the function, ``render`` draws any size.

    >>> net = LocalImplicit(source="noise[8]", target="function[2->1]", width=8, cells=4, grid=[8, 8])
    >>> net.sample(2).shape, net.render(torch.randn(2, 8), size=32).shape
    (torch.Size([2, 1, 8, 8]), torch.Size([2, 1, 32, 32]))
    """

    family = "local_implicit"

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 32,  # the conv body's width (channels of the codes; doubled per halving towards its start)
        cells: int = 14,  # codes a side: the conv body writes a cells x cells map
        hidden: int | None = None,  # features per point in the point network (None: 16)
        depth: int = 1,  # layers of the point network before its values
        frequencies: int = 0,  # octaves of the offset from a code (sines and cosines) beside the offset itself
        ensemble: bool = True,  # blend the four nearest codes (continuous); false: the nearest only
        polynomial: int | None = None,  # each code writes a polynomial of this degree instead of the point network
        grid: list[int] | None = None,  # [H, W] that forward draws on; set by the reader of its images
    ):
        options = dict(width=width, cells=cells, hidden=hidden, depth=depth, frequencies=frequencies)
        options |= {"ensemble": ensemble, "polynomial": polynomial}
        super().__init__(source=source, target=target, condition=condition, options=options)
        self._check(width, cells, hidden, depth, frequencies, polynomial)
        hidden = 16 if hidden is None else hidden
        self.function_space = self.target
        # The conv family writes a 2 * cells picture from a cells x cells map: its body is the code writer.
        conv = ConvNet(
            source=str(self.source),
            target=f"image[1,{2 * cells},{2 * cells}]",
            condition=None if self.condition is None else str(self.condition),
            width=width,
        )
        self.body, self.concat_label = conv.body, conv.concat_label
        codes = conv.head["out"].in_channels
        if polynomial is None:
            self.head = LocalDecoder(codes, self.target.channels, hidden, depth, frequencies, ensemble)
        else:
            self.head = PolynomialDecoder(codes, self.target.channels, polynomial, ensemble)
        self.take_grid(grid)

    def _check(self, width, cells, hidden, depth, frequencies, polynomial) -> None:
        if not isinstance(self.target, Function):
            raise SpaceError(f"local_implicit: writes function[2->C] (drawn on any grid), got target {self.target}")
        if not self.source.is_vector:
            raise SpaceError(f"local_implicit: reads a vector such as noise[64], got {self.source}")
        points = 16 if hidden is None else hidden
        for name, value, low in [("width", width, 1), ("cells", cells, 4), ("hidden", points, 1)]:
            if value < low:
                raise ValueError(f"local_implicit: {name} must be at least {low}, got {value}")
        if depth < 1 or not 0 <= frequencies <= 8:
            raise ValueError(
                f"local_implicit: depth must be at least 1 and frequencies 0 to 8 octaves, got depth={depth}, "
                f"frequencies={frequencies}"
            )
        if polynomial is not None and (type(polynomial) is not int or not 0 <= polynomial <= 3):
            raise ValueError(
                f"local_implicit: polynomial is a degree, 0 to 3 (or null: the point network), got {polynomial!r}"
            )
        if polynomial is not None and (hidden is not None or depth != 1 or frequencies):
            raise ValueError(
                f"local_implicit: hidden, depth and frequencies shape the point network, which polynomial={polynomial} "
                f"replaces; leave them out (got hidden={hidden}, depth={depth}, frequencies={frequencies})"
            )

    def _features(self, x, y):
        if self.concat_label:
            x = torch.cat([x, self.condition.encode(y)], dim=1)
        return self.body(x.reshape(x.shape[0], -1, 1, 1), y)

    def function(self, x: torch.Tensor, y: torch.Tensor | None = None) -> PlaneFunction:
        """The functions this network writes for the vectors ``x`` (and labels ``y``)."""
        codes = self._features(self._inputs(x, y), y)
        values = lambda coords: torch.tanh(self.head(codes, coords))  # noqa: E731
        return PlaneFunction(self.function_space, len(codes), values, device=codes.device)

    def render(self, x: torch.Tensor, y: torch.Tensor | None = None, *, size: int) -> torch.Tensor:
        """The functions for ``x`` drawn at ``size x size`` pixels, whatever grid the network holds."""
        return self.function(x, y).render(size, size)

    def forward(self, x, y=None, *, strings=None):
        if strings is not None:
            raise SpaceError(f"strings= is for networks that write text[L]; this one writes {self.function_space}")
        if self.grid is None:
            raise SpaceError(
                f"local_implicit: writes {self.function_space}; give it a grid to draw on (grid: [H, W], or "
                "draw_on(H, W)), or call render(x, size=S)"
            )
        return self.function(x, y).render(*self.grid)
