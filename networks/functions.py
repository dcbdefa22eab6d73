"""Functions of the plane as a space, and a family of networks that write them.

A network may write a *function* rather than a fixed grid of values: ``noise[64] -> function[2->1]`` writes, per
noise vector, a map from the plane to one grey value. What it writes can be read at any coordinates and drawn on any
grid, so the same network serves a reader of 28x28 images and draws the same picture at 112x112 afterwards, with no
upsampling filter (CIPS, Anokhin et al. 2021; INR-GAN, Skorokhodov et al. 2021).

Coordinates are the centres of pixels on the fixed extent [-1, 1] x [-1, 1] (x to the right, y downwards, as image
rows go): a grid changes how finely the function is read, never which part of the plane is read, so a sample drawn
at 28 and at 56 pixels is the same picture.

Why modulation rather than a hypernetwork: a hypernetwork that writes every weight of the coordinate network costs
(noise size x weights) parameters and its output layer is hard to keep well scaled; modulating the weights of one
shared coordinate network by a per-sample style (StyleGAN2's modulation and demodulation, as CIPS does; INR-GAN's
factorised modulation is a low-rank version of the same idea) writes a different function per sample with one
weight matrix per layer, and keeps each layer's output scale fixed whatever the style.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .base import Network
from .messages import shorten
from .registry import register
from .space_base import MAX_SIZE, Space, SpaceError
from .spaces import Categorical, Image, register_space

__all__ = ["Function", "PlaneFunction", "Fourier", "pixel_centres", "writes_functions"]

# The longest side a function is drawn at: 4096 x 4096 is 16.8 million points a picture; past it a typo is likelier
# than a wish (gan sample --size names the memory a larger picture would take).
MAX_SIDE = 4096
# Points evaluated at once (batch x points): bounds the memory of a large picture whatever its size.
CHUNK = 2**18


@dataclass(frozen=True)
class Function(Space):
    """Functions from the plane to ``channels`` values in [-1, 1]. A value at one point has shape [channels]; a
    whole function is a ``PlaneFunction``, drawn on a grid as an ``image[channels,H,W]``."""

    channels: int

    kind = "function"

    def __post_init__(self):
        if not isinstance(self.channels, int) or not 1 <= self.channels <= MAX_SIZE:
            raise SpaceError(f"function[2->{shorten(self.channels)}]: the number of values must be a positive integer")

    @property
    def shape(self):
        return (self.channels,)

    def on_grid(self, height: int, width: int) -> Image:
        """The image space a function of this space becomes when drawn on ``height x width`` pixels."""
        return Image(self.channels, height, width)

    def __str__(self):
        return f"function[2->{self.channels}]"


@register_space("function", "function[2->C]")
def _function(parts: list[str]) -> Function:
    if len(parts) != 1 or parts[0].count("->") != 1:
        raise ValueError(parts)
    inputs, values = (int(p) for p in parts[0].split("->"))
    if inputs != 2:
        raise SpaceError(f"function[{inputs}->{values}]: only functions of the plane (2 inputs) are drawn")
    return Function(values)


def pixel_centres(height: int, width: int, device=None) -> torch.Tensor:
    """The (x, y) centres of an ``height x width`` grid over [-1, 1]^2, row by row: [height * width, 2].

    >>> pixel_centres(1, 2).tolist()
    [[-0.5, 0.0], [0.5, 0.0]]
    """
    ys = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], -1).reshape(-1, 2)


class PlaneFunction:
    """A batch of ``n`` functions of the plane: what a network into ``function[2->C]`` writes. Held as a map from
    coordinates to values, so it is read where it is asked, at any density.

    >>> disc = PlaneFunction(Function(1), 1, lambda xy: (xy.norm(dim=-1, keepdim=True) < 0.5).float() * 2 - 1)
    >>> disc.render(4).shape
    torch.Size([1, 1, 4, 4])
    """

    def __init__(self, space: Function, n: int, values: Callable[[torch.Tensor], torch.Tensor]):
        self.space, self.n, self._values = space, n, values  # values: coords [1 or n, P, 2] -> [n, P, C]

    def at(self, coords: torch.Tensor) -> torch.Tensor:
        """Values at ``coords``: [P, 2] (the same points for every function) or [n, P, 2] -> [n, P, C]."""
        if coords.dim() not in (2, 3) or coords.shape[-1] != 2:
            raise SpaceError(f"coordinates of shape {tuple(coords.shape)}: expected [P, 2] or [N, P, 2] points (x, y)")
        out = self._values(coords if coords.dim() == 3 else coords[None])
        return out.expand(self.n, *out.shape[1:])

    def render(self, height: int, width: int | None = None, *, device=None) -> torch.Tensor:
        """The functions drawn on ``height x width`` pixel centres: images [n, C, H, W]; evaluated a slice of rows
        at a time, so a large picture costs its own size in memory and no more."""
        width = height if width is None else width
        check_side(height, "height")
        check_side(width, "width")
        coords = pixel_centres(height, width, device)
        step = max(1, CHUNK // max(1, self.n))
        values = torch.cat([self.at(coords[i : i + step]) for i in range(0, len(coords), step)], 1)
        return values.transpose(1, 2).reshape(self.n, self.space.channels, height, width)


def check_side(side, what: str = "size") -> None:
    if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
        raise SpaceError(f"{what}: a function is drawn on 1 to {MAX_SIDE} pixels a side, got {shorten(side)}")


def writes_functions(net: nn.Module) -> bool:
    """Whether ``net`` writes functions of the plane (and so draws on whatever grid it is given)."""
    return isinstance(getattr(net, "function_space", None), Function)


class ModulatedLinear(nn.Module):
    """A linear map of every point's features whose input scales are set per sample by a style (StyleGAN2's
    modulation); demodulation rescales each output to unit variance, so no style can blow a layer up."""

    def __init__(self, inputs: int, outputs: int, style: int, *, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs))
        self.bias = nn.Parameter(torch.zeros(outputs))
        self.affine = nn.Linear(style, inputs)
        nn.init.ones_(self.affine.bias)  # a style of zero leaves the shared weights as they are
        self.demodulate, self.gain = demodulate, 1 / math.sqrt(inputs)

    def forward(self, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w) * self.gain  # [N, in]
        weight = s[:, :, None] * self.weight.t()  # [N, in, out]: small beside the points, so one batched product
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(1, keepdim=True) + 1e-8)
        return torch.baddbmm(self.bias, h.expand(len(weight), -1, -1), weight)


class CoordinateNet(nn.Module):
    """Fourier features of (x, y), then modulated layers: a style [N, S] and points [1 or N, P, 2] -> [N, P, C]."""

    def __init__(self, channels: int, style: int, width: int, depth: int, frequencies: int, scale: float):
        super().__init__()
        # Fixed random frequencies (Tancik et al. 2020): their band decides how sharp a function can be, the same at
        # every grid. Learned ones drift past the training grid's Nyquist rate, where the reader cannot see them.
        self.register_buffer("frequencies", torch.randn(frequencies, 2) * scale)
        sizes = [2 * frequencies] + [width] * depth
        self.layers = nn.ModuleList(ModulatedLinear(a, b, style) for a, b in zip(sizes, sizes[1:]))
        self.out = ModulatedLinear(sizes[-1], channels, style, demodulate=False)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, w: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        angles = math.pi * coords @ self.frequencies.t()
        h = torch.cat([angles.sin(), angles.cos()], -1)
        for layer in self.layers:
            h = self.act(layer(h, w))
        return self.out(h, w)


@register
class Fourier(Network):
    """A vector (noise, and a label if conditioned) -> a function of the plane: a mapping network writes a style,
    which modulates a coordinate network over Fourier features of (x, y). ``forward`` draws the function on the grid
    the network holds (``grid``, set by whoever reads its images), so to every reader of images it is an
    ``image[C,H,W]`` writer; ``function`` gives the function itself and ``render`` draws it at any size.

    >>> net = Fourier(source="noise[8]", target="function[2->1]", width=16, grid=[8, 8])
    >>> net.sample(2).shape, net.render(torch.randn(2, 8), size=32).shape
    (torch.Size([2, 1, 8, 8]), torch.Size([2, 1, 32, 32]))
    """

    family = "fourier"

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 64,  # features per point in each modulated layer, and the style's size
        depth: int = 3,  # modulated layers between the Fourier features and the values
        mapping: int = 2,  # layers of the mapping network from the vector to the style
        frequencies: int = 32,  # Fourier features: a sine and a cosine of each frequency
        scale: float = 3.0,  # standard deviation of the frequencies, in half-cycles per unit of the extent
        grid: list[int] | None = None,  # [H, W] that forward draws on; set by the reader of its images
    ):
        options = dict(width=width, depth=depth, mapping=mapping, frequencies=frequencies, scale=scale)
        super().__init__(source=source, target=target, condition=condition, options=options)
        self.function_space = self.target
        if not isinstance(self.target, Function):
            raise SpaceError(f"fourier: writes function[2->C] (drawn on any grid), got target {self.target}")
        if not self.source.is_vector:
            raise SpaceError(f"fourier: reads a vector such as noise[64], got {self.source}")
        if min(width, depth + 1, mapping + 1, frequencies) < 1 or not scale > 0:
            raise ValueError(
                "fourier: width and frequencies must be >= 1, depth and mapping >= 0, scale > 0; got "
                f"width={width}, depth={depth}, mapping={mapping}, frequencies={frequencies}, scale={scale}"
            )
        labels = self.condition.k if isinstance(self.condition, Categorical) else 0
        layers: list[nn.Module] = []
        for i in range(mapping):
            layers += [nn.Linear(self.source.size + labels if i == 0 else width, width), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        style = width if mapping else self.source.size + labels
        self.head = CoordinateNet(self.target.channels, style, width, depth, frequencies, scale)
        self.grid = None
        if grid is not None:
            if not isinstance(grid, list) or len(grid) != 2:
                raise ValueError(f"grid: expected [height, width], got {shorten(grid)}")
            self.draw_on(*grid)

    def draw_on(self, height: int, width: int | None = None) -> None:
        """Make ``forward`` (and so ``sample``) draw on ``height x width`` pixels: its target becomes that image."""
        width = height if width is None else width
        check_side(height, "grid height")
        check_side(width, "grid width")
        self.grid = (height, width)
        self.target = self.function_space.on_grid(height, width)
        self._out_shape = self.target.shape
        self.spec["grid"] = [height, width]

    def _features(self, x, y):
        z = x.flatten(1)
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)  # the style reads the noise's direction
        if self.condition is not None:
            z = torch.cat([z, self.condition.encode(y)], 1)
        return self.body(z)

    def function(self, x: torch.Tensor, y: torch.Tensor | None = None) -> PlaneFunction:
        """The functions this network writes for the vectors ``x`` (and labels ``y``)."""
        w = self._features(self._inputs(x, y), y)
        return PlaneFunction(self.function_space, len(w), lambda coords: torch.tanh(self.head(w, coords)))

    def render(self, x: torch.Tensor, y: torch.Tensor | None = None, *, size: int) -> torch.Tensor:
        """The functions for ``x`` drawn at ``size x size`` pixels, whatever grid the network holds."""
        return self.function(x, y).render(size, size)

    def forward(self, x, y=None, *, strings=None):
        if strings is not None:
            raise SpaceError(f"strings= is for networks that write text[L]; this one writes {self.function_space}")
        if self.grid is None:
            raise SpaceError(
                f"fourier: writes {self.function_space}; give it a grid to draw on (grid: [H, W], or draw_on(H, W)), "
                "or call render(x, size=S)"
            )
        return self.function(x, y).render(*self.grid)

    @property
    def larger_sizes(self) -> tuple[int, ...]:
        """A size past the training grid that pictures of progress show too: what a function adds to a grid."""
        return (4 * self.grid[0],) if self.grid is not None and self.grid[0] == self.grid[1] else ()
