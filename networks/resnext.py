"""ResNeXt: grouped inverted-bottleneck residual maps with no normalisation (Huang et al. 2024, R3GAN).

One class, two directions chosen by the spaces, each the other's mirror:

- vector -> image: a learned ``h0 x w0`` basis, modulated per channel by a linear map of the
  input (and of a label embedding, concatenated), then stages that each upsample and run
  ``blocks`` residual blocks; a 1x1 convolution writes the image channels;
- image -> vector or distribution: a 1x1 convolution reads the image channels, then stages
  that each run ``blocks`` residual blocks and downsample; a depthwise ``h0 x w0``
  convolution turns the last map into a vector and a linear head writes the output. Labels
  enter by projection: the head writes an embedding that is dotted with the label's.

``widths`` lists the channels a stage from the small end (4x4 for 32x32 images), so the
reading network's stages are the writing one's reversed. A block is 1x1 conv to
``expansion * C``, leaky ReLU, grouped 3x3 conv (groups of ``group_width`` channels), leaky
ReLU, 1x1 conv back to C, added to its input. No normalisation anywhere: fix-up
initialisation (the inner layers' gain scaled by ``L ** -1/4`` for L blocks in all; the last
1x1 convolution of each block zero) makes every block start as the identity. Resampling is
low-pass interpolation with the filter [1, 2, 1] (as the authors' code: its convolution with
[1, 1], 4 taps a side). R3GAN's CIFAR-10 networks are ``widths=[768] * 4, blocks=2,
expansion=2, group_width=16`` (ResNeXt's "cardinality" 96).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Network
from .conv import halvings
from .registry import register
from .spaces import SpaceError

# leaky ReLU with slope 0.2 keeps unit variance with this gain (He et al. 2015)
GAIN = math.sqrt(2 / (1 + 0.2**2))
MAX_WIDTH = 16384  # channels a stage: beyond this a typo, not a network


def msr(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """Weights drawn with std ``gain / sqrt(fan_in)`` (He et al.), as the authors' MSRInitializer."""
    fan_in = layer.weight[0].numel()
    with torch.no_grad():
        layer.weight.normal_(0, gain / math.sqrt(fan_in))
    return layer


def conv(cin: int, cout: int, k: int = 1, *, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    return msr(nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups, bias=False), gain)


class BiasedLeakyReLU(nn.Module):
    """A per-channel bias, then leaky ReLU 0.2: the layers before carry no bias of their own."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.to(x.dtype).view(1, -1, *([1] * (x.dim() - 2))), 0.2)


class Block(nn.Module):
    """x + conv1x1(act(grouped conv3x3(act(conv1x1(x))))): the residual branch is zero at the start."""

    def __init__(self, channels: int, *, expansion: int, group_width: int, total_blocks: int):
        super().__init__()
        wide = channels * expansion
        gain = GAIN * total_blocks ** (-1 / 4)  # fix-up: L^(-1/(2m-2)) with m = 3 layers a branch
        self.expand = conv(channels, wide, gain=gain)
        self.act1 = BiasedLeakyReLU(wide)
        self.mix = conv(wide, wide, 3, groups=wide // group_width, gain=gain)
        self.act2 = BiasedLeakyReLU(wide)
        self.project = conv(wide, channels, gain=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.act2(self.mix(self.act1(self.expand(x)))))


def lowpass(taps: tuple[int, ...] = (1, 2, 1)) -> torch.Tensor:
    """The 2-D resampling kernel: ``taps`` convolved with [1, 1] (interpolation), outer product, sum 1."""
    k = torch.tensor(taps, dtype=torch.float64)
    k = torch.nn.functional.conv1d(k.view(1, 1, -1), torch.ones(1, 1, 2, dtype=torch.float64), padding=1).flatten()
    k2 = torch.outer(k, k)
    return (k2 / k2.sum()).float()


class Resample(nn.Module):
    """x2 up (channels mixed first) or /2 down (channels mixed after) by low-pass interpolation, per channel."""

    def __init__(self, cin: int, cout: int, *, up: bool):
        super().__init__()
        self.up = up
        self.mix = conv(cin, cout) if cin != cout else None
        self.register_buffer("kernel", lowpass().view(1, 1, 4, 4), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up and self.mix is not None:
            x = self.mix(x)
        c = x.shape[1]
        k = self.kernel.to(x.dtype).expand(c, 1, 4, 4)
        if self.up:  # zeros between the pixels, then the filter (x4: a quarter of the pixels carry the signal)
            x = F.conv_transpose2d(x, 4 * k, stride=2, padding=1, groups=c)
        else:
            x = F.conv2d(x, k, stride=2, padding=1, groups=c)
        if not self.up and self.mix is not None:
            x = self.mix(x)
        return x


class Basis(nn.Module):
    """vector -> map: a learned ``h x w`` basis per channel, scaled by a linear map of the input."""

    def __init__(self, inputs: int, channels: int, h: int, w: int):
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, h, w))
        self.linear = msr(nn.Linear(inputs, channels, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basis.unsqueeze(0) * self.linear(x)[:, :, None, None]


@register
class ResNeXt(Network):
    """Grouped inverted-bottleneck residual network without normalisation; either direction.

    >>> ResNeXt(source="noise[16]", target="image[1,28,28]", widths=[32, 32, 32]).sample(2).shape
    torch.Size([2, 1, 28, 28])
    >>> reader = ResNeXt(source="image[3,32,32]", target="bernoulli", width=32)
    >>> reader(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2])
    """

    family = "resnext"

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 64,  # channels at every stage, unless widths is given
        widths: list[int] | None = None,  # channels a stage from the smallest map up (reversed when reading)
        blocks: int = 2,  # residual blocks a stage
        expansion: int = 2,  # the bottleneck's inner channels over its outer ones
        group_width: int = 16,  # channels a group of the 3x3 convolution (R3GAN: 1536 / 96 groups)
    ):
        super().__init__(
            source=source,
            target=target,
            condition=condition,
            options=dict(width=width, widths=widths, blocks=blocks, expansion=expansion, group_width=group_width),
        )
        self._need_one_image_side()
        self.draws = self.target.is_image
        image = self.target if self.draws else self.source
        widths = self._widths(image, width, widths)
        _check(widths, blocks, expansion, group_width)
        self.h0 = image.height >> (len(widths) - 1)
        self.w0 = image.width >> (len(widths) - 1)
        classes = self.condition.k if self.condition is not None else None
        shape = dict(expansion=expansion, group_width=group_width, total_blocks=blocks * len(widths))
        if self.draws:
            self.body, self.head = self._build_writer(widths, blocks, image.channels, classes, shape)
        else:
            self.body, self.head = self._build_reader(widths[::-1], blocks, image.channels, classes, shape)
        self.widths = widths if self.draws else widths[::-1]

    @staticmethod
    def _widths(image, width: int, widths: list[int] | None) -> list[int]:
        """The stages' channels, from the small end; their number fixes the basis size."""
        if widths is None:
            if width < 1 or width > MAX_WIDTH:
                raise ValueError(f"resnext: width: expected an integer in [1, {MAX_WIDTH}], got {width}")
            k, _, _ = halvings(image.height, image.width)
            return [width] * (k + 1)
        if not widths:
            raise ValueError("resnext: widths: expected at least one stage, got []")
        if not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WIDTH for w in widths):
            raise ValueError(f"resnext: widths: expected integers in [1, {MAX_WIDTH}], got {widths}")
        side = 1 << (len(widths) - 1)
        if image.height % side or image.width % side:
            raise SpaceError(
                f"resnext: widths: {len(widths)} stages halve {image.height}x{image.width} {len(widths) - 1} times, "
                f"which does not divide it; give {_stages_that_fit(image)} stages"
            )
        return list(widths)

    def _build_writer(self, widths, blocks, channels, classes, shape):
        """vector -> image; returns ``(body, head)``: the head is the 1x1 convolution to the image channels."""
        inputs = self.source.size + (self.source.size if classes else 0)
        body = nn.ModuleDict()
        if classes:  # a label embedding as wide as the noise, concatenated to it (R3GAN)
            body["embed"] = nn.Embedding(classes, self.source.size)
            nn.init.normal_(body["embed"].weight, 0, 1 / math.sqrt(classes))
        stages = []
        for i, c in enumerate(widths):
            first = Basis(inputs, c, self.h0, self.w0) if i == 0 else Resample(widths[i - 1], c, up=True)
            stages.append(nn.Sequential(first, *[Block(c, **shape) for _ in range(blocks)]))
        body["stages"] = nn.Sequential(*stages)
        return body, nn.ModuleDict({"out": conv(widths[-1], channels)})

    def _build_reader(self, widths, blocks, channels, classes, shape):
        """image -> vector; returns ``(body, head)``: the body ends in the depthwise ``h0 x w0`` convolution."""
        body = nn.ModuleDict({"extract": conv(channels, widths[0])})
        stages = []
        for i, c in enumerate(widths):
            last = i == len(widths) - 1
            end = (
                msr(nn.Conv2d(c, c, (self.h0, self.w0), groups=c, bias=False))
                if last
                else Resample(c, widths[i + 1], up=False)
            )
            stages.append(nn.Sequential(*[Block(c, **shape) for _ in range(blocks)], end))
        body["stages"] = nn.Sequential(*stages)
        c, outputs = widths[-1], self.target.size
        if classes:  # projection: the head writes an embedding per output, dotted with the label's
            head = nn.ModuleDict({"out": msr(nn.Linear(c, c * outputs, bias=False))})
            head["embed"] = nn.Embedding(classes, c * outputs)
            nn.init.normal_(head["embed"].weight, 0, 1 / math.sqrt(c) / math.sqrt(classes))
        else:
            head = nn.ModuleDict({"out": msr(nn.Linear(c, outputs, bias=False))})
        return body, head

    def _features(self, x, y):
        if self.draws:
            x = x.flatten(1)
            if "embed" in self.body:
                x = torch.cat([x, self.body["embed"](y)], dim=1)
            return self.body["stages"](x)
        return self.body["stages"](self.body["extract"](x)).flatten(1)

    def _head(self, h, y):
        out = self.head["out"](h)
        if "embed" in self.head:
            e = self.head["embed"](y)
            out = (out.view(len(h), -1, h.shape[1]) * e.view(len(h), -1, h.shape[1])).sum(2)
        return out


def _stages_that_fit(image) -> str:
    k, _, _ = halvings(image.height, image.width)
    return f"{k + 1} (a {image.height >> k}x{image.width >> k} basis)"


def _check(widths: list[int], blocks: int, expansion: int, group_width: int) -> None:
    """One line naming the key, before any layer is built."""
    if not 1 <= blocks <= 64:
        raise ValueError(f"resnext: blocks: expected an integer in [1, 64], got {blocks}")
    if not 1 <= expansion <= 16:
        raise ValueError(f"resnext: expansion: expected an integer in [1, 16], got {expansion}")
    if group_width < 1:
        raise ValueError(f"resnext: group_width: expected an integer >= 1, got {group_width}")
    bad = [w for w in widths if (w * expansion) % group_width]
    if bad:
        raise ValueError(
            f"resnext: group_width: {group_width} does not divide the inner width {bad[0]} x {expansion} = "
            f"{bad[0] * expansion} (expansion x a stage's width); choose a divisor of every stage's inner width"
        )
