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

Read the other way, an image is a point of this space: ``image[1,28,28] -> function[2->1]`` (the same family, a small
conv body writing the style) is an encoder into function space, trained by the likelihood of the image's own pixels
at random pixel centres (``PixelNormal``), and draws the digit it read at any size.
"""

from __future__ import annotations

import functools
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

__all__ = ["Function", "PlaneFunction", "PixelNormal", "Fourier", "pixel_centres", "writes_functions"]

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

    @property
    def is_distribution(self):
        """As a target, a function stands for a distribution over images: a normal around it at every pixel."""
        return True

    def distribution(self, functions: PlaneFunction) -> PixelNormal:
        """The images the ``functions`` a network wrote make likely: ``log_prob(images)`` scores their pixels."""
        return PixelNormal(functions)

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


KEPT_GRID = 256 * 256  # pixels of the largest grid ``render`` keeps its centres for: 512 kB each, 8 at most


@functools.lru_cache(maxsize=8)
def _centres(height: int, width: int, device: torch.device) -> torch.Tensor:
    """``pixel_centres`` kept per grid for ``render``: a loop draws on one grid every step, and a network may keep
    what it derives from the centres (local_implicit's reading matrix) by the tensor's identity, with no look at its
    values (on a GPU, a host sync a step). Not given out: only ``render`` reads it, and never writes to it."""
    return pixel_centres(height, width, device)


class PlaneFunction:
    """A batch of ``n`` functions of the plane: what a network into ``function[2->C]`` writes. Held as a map from
    coordinates to values, so it is read where it is asked, at any density.

    >>> disc = PlaneFunction(Function(1), 1, lambda xy: (xy.norm(dim=-1, keepdim=True) < 0.5).float() * 2 - 1)
    >>> disc.render(4).shape
    torch.Size([1, 1, 4, 4])
    """

    def __init__(
        self,
        space: Function,
        n: int,
        values: Callable[[torch.Tensor], torch.Tensor],
        *,
        log_scale: torch.Tensor | None = None,
        points: int | None = None,
        device: torch.device | str | None = None,
    ):
        self.space, self.n, self._values = space, n, values  # values: coords [1 or n, P, 2] -> [n, P, C]
        self.device = device  # where the values are computed: a drawing's pixel centres are made there
        # How far a pixel strays from the function (a log standard deviation per channel; None: 1), and how many
        # pixel centres of a target image its likelihood reads (None: all): what PixelNormal needs to score images.
        self.log_scale, self.points = log_scale, points

    def float(self) -> PlaneFunction:
        """The same functions with float32 values (under mixed precision a network computes in bf16 or fp16): the
        likelihood loop scores every network's output in float32."""
        values = self._values
        return PlaneFunction(
            self.space,
            self.n,
            lambda coords: values(coords).float(),
            log_scale=self.log_scale,
            points=self.points,
            device=self.device,
        )

    def at(self, coords: torch.Tensor) -> torch.Tensor:
        """Values at ``coords``: [P, 2] (the same points for every function) or [n, P, 2] -> [n, P, C]."""
        if coords.dim() not in (2, 3) or coords.shape[-1] != 2:
            raise SpaceError(f"coordinates of shape {tuple(coords.shape)}: expected [P, 2] or [N, P, 2] points (x, y)")
        out = self._values(coords if coords.dim() == 3 else coords[None])
        return out.expand(self.n, *out.shape[1:])

    def render(self, height: int, width: int | None = None, *, device=None) -> torch.Tensor:
        """The functions drawn on ``height x width`` pixel centres: images [n, C, H, W]; evaluated a slice of rows
        at a time, so a large picture costs its own size in memory and no more. The centres are made on ``device``,
        else where the functions are computed."""
        width = height if width is None else width
        check_side(height, "height")
        check_side(width, "width")
        device = torch.device(device or self.device or "cpu")
        small = height * width <= KEPT_GRID  # a training grid is kept; a poster-sized one is not held after the call
        coords = _centres(height, width, device) if small else pixel_centres(height, width, device)
        step = max(1, CHUNK // max(1, self.n))
        values = torch.cat([self.at(coords[i : i + step]) for i in range(0, len(coords), step)], 1)
        return values.transpose(1, 2).reshape(self.n, self.space.channels, height, width)


def check_side(side, what: str = "size") -> None:
    if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
        raise SpaceError(f"{what}: a function is drawn on 1 to {MAX_SIDE} pixels a side, got {shorten(side)}")


class PixelNormal:
    """The distribution over images that a batch of functions stands for: every pixel value is a normal around the
    function at that pixel's centre, independent given the function (CIPS and INR-GAN draw pixels independently
    given the style too). ``log_prob`` reads ``points`` pixel centres drawn at random from the target's own grid
    (or the given ``at``), so targets are exact pixel values and a step costs those points, not the whole grid.

    The result is the log-likelihood of the points read, times (pixels / points): an unbiased estimate of the whole
    image's, exact when every pixel is read, so runs reading different numbers of points report the same quantity.
    """

    def __init__(self, functions: PlaneFunction):
        self.functions = functions
        self.space = functions.space

    def log_prob(self, images: torch.Tensor, at: torch.Tensor | None = None) -> torch.Tensor:
        """log p(images) per image, [N]. ``images`` [N, C, H, W]: values in [-1, 1], or 8-bit pixels (uint8,
        0..255, as ``data.targets: images`` holds them). ``at``: pixel indices [N, M] (row-major); default random."""
        n, (height, width) = self.functions.n, self._check(images)
        pixels = height * width
        if at is None:
            m = min(self.functions.points or pixels, pixels)
            at = torch.rand(n, pixels, device=images.device).argsort(1)[:, :m]  # without replacement
        values = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
        values = values.flatten(2).transpose(1, 2).gather(1, at[..., None].expand(-1, -1, self.space.channels))
        mean = self.functions.at(pixel_centres(height, width, images.device)[at])  # [N, M, C]
        log_scale = self.functions.log_scale
        scale = torch.ones(()) if log_scale is None else log_scale.float().clamp(-20, 20).exp()
        log_p = torch.distributions.Normal(mean, scale.to(mean.device)).log_prob(values)
        return log_p.sum((1, 2)) * (pixels / at.shape[1])

    def _check(self, images: torch.Tensor) -> tuple[int, int]:
        c = self.space.channels
        if images.dim() != 4 or images.shape[1] != c or len(images) != self.functions.n:
            raise SpaceError(
                f"{self.space} is scored against images [N, {c}, H, W] (data.targets: images: each image is its own "
                f"target), one per function ({self.functions.n}); got targets of shape {tuple(images.shape)}"
            )
        return images.shape[2], images.shape[3]


def writes_functions(net: nn.Module) -> bool:
    """Whether ``net`` writes functions of the plane (and so draws on whatever grid it is given)."""
    return isinstance(getattr(net, "function_space", None), Function)


class EqualLinear(nn.Module):
    """A linear layer whose weights are stored at ``1 / lr_mul`` their scale and rescaled when used (StyleGAN's
    equalised learning rate): Adam moves stored values at its own pace, so the layer learns ``lr_mul`` times as fast.
    StyleGAN2 trains its mapping network at 0.01: a style that moves slowly lets the layers it modulates keep up."""

    def __init__(self, inputs: int, outputs: int, lr_mul: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(outputs))
        self.scale, self.lr_mul = lr_mul / math.sqrt(inputs), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


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


class DrawnOnAGrid:
    """What a network that writes ``function[2->C]`` needs to meet a reader of images: a grid that ``forward`` draws
    on (set by the reader, ``draw_on``), under which its target is that image; shared by every such family."""

    def take_grid(self, grid) -> None:
        """The ``grid`` option: [H, W] to draw on from the start, or None until a reader sets one."""
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

    @property
    def larger_sizes(self) -> tuple[int, ...]:
        """A size past the training grid that pictures of progress show too: what a function adds to a grid."""
        return (4 * self.grid[0],) if self.grid is not None and self.grid[0] == self.grid[1] else ()


@register
class Fourier(DrawnOnAGrid, Network):
    """A vector (noise, and a label if conditioned) -> a function of the plane: a mapping network writes a style,
    which modulates a coordinate network over Fourier features of (x, y). ``forward`` draws the function on the grid
    the network holds (``grid``, set by whoever reads its images), so to every reader of images it is an
    ``image[C,H,W]`` writer; ``function`` gives the function itself and ``render`` draws it at any size.

    An image source (``image[C,H,W] -> function[2->C]``) makes it an encoder into function space: a small conv
    body reads the image into the style, the rest is the same network, so one family holds the idea "a style
    modulates a coordinate network" whichever space the style is read from. Its ``forward`` writes the functions
    themselves (a distribution over images, ``PixelNormal``, with a learned scale per channel), trained by the
    likelihood loop on the images' own pixels at ``points`` random pixel centres.

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
        points: int = 256,  # an image source: pixel centres of the target its likelihood reads a step
        mapping_lr: float | None = None,  # StyleGAN2's 0.01: the mapping network learns at this share of the rate
    ):
        options = dict(width=width, depth=depth, mapping=mapping, frequencies=frequencies, scale=scale)
        if mapping_lr is not None:
            options["mapping_lr"] = mapping_lr
        super().__init__(source=source, target=target, condition=condition, options=options)
        self.function_space = self.target
        if not isinstance(self.target, Function):
            raise SpaceError(f"fourier: writes function[2->C] (drawn on any grid), got target {self.target}")
        self.reads_images = self.source.is_image
        if not (self.source.is_vector or self.reads_images):
            raise SpaceError(f"fourier: reads a vector such as noise[64] or an image[C,H,W], got {self.source}")
        if self.reads_images and (grid is not None or self.condition is not None):
            raise SpaceError(
                f"fourier: {self.source} -> {self.target} writes the function of each image it reads (draw it with "
                "render(x, size=S)); it takes no grid and no condition"
            )
        if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_SIDE**2:
            raise ValueError(f"fourier: points must be a whole number from 1 to {MAX_SIDE**2}, got {shorten(points)}")
        self.points = points
        if self.reads_images:  # rebuilt with the rest of its options; a painter's spec stays as it was
            self.spec["points"] = points
        if min(width, depth + 1, mapping + 1, frequencies) < 1 or not scale > 0:
            raise ValueError(
                "fourier: width and frequencies must be >= 1, depth and mapping >= 0, scale > 0; got "
                f"width={width}, depth={depth}, mapping={mapping}, frequencies={frequencies}, scale={scale}"
            )
        labels = self.condition.k if isinstance(self.condition, Categorical) else 0
        reads = image_body(self.source, width) if self.reads_images else []
        layers: list[nn.Module] = []
        if mapping_lr is not None and not (isinstance(mapping_lr, (int, float)) and 0 < mapping_lr <= 1):
            raise ValueError(f"fourier: mapping_lr must be a number in (0, 1], got {shorten(mapping_lr)}")
        for i in range(mapping):
            first = width if self.reads_images else self.source.size + labels
            linear = nn.Linear if mapping_lr is None else (lambda a, b: EqualLinear(a, b, mapping_lr))  # noqa: E731
            layers += [linear(first if i == 0 else width, width), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*reads, *layers)
        style = width if mapping or self.reads_images else self.source.size + labels
        self.head = CoordinateNet(self.target.channels, style, width, depth, frequencies, scale)
        if self.reads_images:  # how far the image's pixels stray from its function: learned, one per channel
            self.log_scale = nn.Parameter(torch.zeros(self.target.channels))
        self.take_grid(grid)

    def _features(self, x, y):
        if self.reads_images:
            return self.body(x)
        z = x.flatten(1)
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)  # the style reads the noise's direction
        if self.condition is not None:
            z = torch.cat([z, self.condition.encode(y)], 1)
        return self.body(z)

    def function(self, x: torch.Tensor, y: torch.Tensor | None = None) -> PlaneFunction:
        """The functions this network writes for the vectors ``x`` (and labels ``y``)."""
        w = self._features(self._inputs(x, y), y)
        values = lambda coords: torch.tanh(self.head(w, coords))  # noqa: E731
        if not self.reads_images:
            return PlaneFunction(self.function_space, len(w), values, device=w.device)
        return PlaneFunction(
            self.function_space, len(w), values, log_scale=self.log_scale, points=self.points, device=w.device
        )

    def render(self, x: torch.Tensor, y: torch.Tensor | None = None, *, size: int) -> torch.Tensor:
        """The functions for ``x`` drawn at ``size x size`` pixels, whatever grid the network holds."""
        return self.function(x, y).render(size, size)

    def forward(self, x, y=None, *, strings=None):
        if strings is not None:
            raise SpaceError(f"strings= is for networks that write text[L]; this one writes {self.function_space}")
        if self.reads_images:  # an encoder writes the functions: its loss scores them against images
            return self.function(x, y)
        if self.grid is None:
            raise SpaceError(
                f"fourier: writes {self.function_space}; give it a grid to draw on (grid: [H, W], or draw_on(H, W)), "
                "or call render(x, size=S)"
            )
        return self.function(x, y).render(*self.grid)

    def sample(self, n=None, *, x=None, y=None, rng=None):
        if self.reads_images:
            raise SpaceError(
                f"fourier: {self.source} -> {self.function_space} writes functions, not draws; render them with "
                "render(x, size=S) (gan render RUN IMAGE... --size S)"
            )
        return super().sample(n, x=x, y=y, rng=rng)


def image_body(space: Image, width: int) -> list[nn.Module]:
    """A small conv reader of ``space`` into a ``width`` vector: 3x3 convolutions of stride 2 until a side is at most
    4 pixels (at most four), then one linear layer. The style of one image needs its layout, not a deep stack."""
    layers: list[nn.Module] = []
    channels, height, width_px = space.channels, space.height, space.width
    for _ in range(4):
        if max(height, width_px) <= 4:
            break
        layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
        channels, height, width_px = width, (height + 1) // 2, (width_px + 1) // 2
    return [*layers, nn.Flatten(), nn.Linear(channels * height * width_px, width), nn.LeakyReLU(0.2)]
