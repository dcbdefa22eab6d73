"""ResNet: SNGAN/BigGAN-style residual maps (Miyato et al. 2018, arXiv 1802.05957; Brock et al. 2019).

One class, two directions chosen by the spaces:

- vector -> image: a linear layer makes an ``h0 x w0`` map, residual "up" blocks
  double its size (norm, act, upsample, conv3x3, norm, act, conv3x3; the shortcut
  upsamples and mixes channels with a 1x1 convolution), and the head is norm, act,
  conv3x3 down to the image channels;
- image -> vector or distribution: residual "down" blocks halve the size (the first
  one "optimized" as in SNGAN: conv, act, conv, average pool), then act, a global
  *sum* pool and a linear head. Labels enter by projection on the pooled features.

Sizes follow ``networks.conv.halvings``: 32 -> 4, 28 -> 7, 48 -> 6, 8 -> 4; an odd size
gets no resampling blocks at all. Channels are ``width`` at the full-resolution end and
double per halving up to ``max_width``. At 32x32, ``width=256`` has the layout of SNGAN's
CIFAR network that draws images; ``width=128, max_width=128`` that of the one that reads
them, except that it halves down to 4x4 where SNGAN adds two blocks at 8x8.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Network
from .conv import halvings
from .layers import (
    ACTIVATIONS,
    NORMS,
    ConditionalNorm,
    Projection,
    Sequential,
    choose,
    make_activation,
    maybe_spectral,
    norm_layer,
)
from .registry import register


def _activation(name: str) -> nn.Module:
    # Never in place here: a block's first activation reads the tensor its shortcut also reads.
    act = make_activation(name)
    if hasattr(act, "inplace"):
        act.inplace = False
    return act


class SumPool(nn.Module):
    """Global sum over height and width: [N, C, H, W] -> [N, C] (SNGAN sums rather than averages)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(2, 3))


class UpBlock(nn.Module):
    """norm, act, (upsample), conv3x3, norm, act, conv3x3 + shortcut; norms take the label when given classes."""

    takes_label = True

    def __init__(
        self,
        cin: int,
        cout: int,
        *,
        up: bool,
        norm: str,
        activation: str,
        classes: int | None,
        spectral: bool,
        bias: bool,
    ):
        super().__init__()
        self.up = up

        def normed(c):
            if classes is not None and norm != "none":
                return ConditionalNorm(norm, c, classes, image=True)
            return norm_layer(norm, c, image=True)

        self.norm1, self.norm2 = normed(cin), normed(cout)
        self.act1, self.act2 = _activation(activation), _activation(activation)
        self.conv1 = maybe_spectral(nn.Conv2d(cin, cout, 3, 1, 1, bias=bias), spectral)
        self.conv2 = maybe_spectral(nn.Conv2d(cout, cout, 3, 1, 1, bias=bias), spectral)
        learnable = up or cin != cout
        self.shortcut = maybe_spectral(nn.Conv2d(cin, cout, 1, 1, 0), spectral) if learnable else nn.Identity()

    def _norm(self, layer, x, y):
        return layer(x, y) if isinstance(layer, ConditionalNorm) else layer(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.act1(self._norm(self.norm1, x, y))
        if self.up:
            h, x = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(self.act2(self._norm(self.norm2, h, y)))
        return h + self.shortcut(x)


class DownBlock(nn.Module):
    """(act), conv3x3, act, conv3x3, (avgpool) + shortcut. ``first``: no leading act (SNGAN's optimized block)."""

    def __init__(
        self, cin: int, cout: int, *, down: bool, first: bool, norm: str, activation: str, spectral: bool, bias: bool
    ):
        super().__init__()
        self.down, self.first = down, first
        # The first block reads pixels: an activation (ReLU) in front would cut off negative values.
        self.pre = nn.Identity() if first else nn.Sequential(norm_layer(norm, cin, image=True), _activation(activation))
        self.conv1 = maybe_spectral(nn.Conv2d(cin, cout, 3, 1, 1, bias=bias), spectral)
        self.mid = nn.Sequential(norm_layer(norm, cout, image=True), _activation(activation))
        self.conv2 = maybe_spectral(nn.Conv2d(cout, cout, 3, 1, 1, bias=bias), spectral)
        learnable = down or cin != cout
        self.shortcut = maybe_spectral(nn.Conv2d(cin, cout, 1, 1, 0), spectral) if learnable else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.mid(self.conv1(self.pre(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.first:  # pool first: the 1x1 convolution then runs on a quarter of the pixels
            s = self.shortcut(F.avg_pool2d(x, 2) if self.down else x)
        else:
            s = self.shortcut(x)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


@register
class ResNet(Network):
    """SNGAN/BigGAN-style residual network between a vector-like space and an image space.

    >>> ResNet(source="noise[16]", target="image[1,28,28]", width=4).sample(2).shape
    torch.Size([2, 1, 28, 28])
    >>> reader = ResNet(source="image[3,32,32]", target="bernoulli", width=4, spectral_norm=True)
    >>> reader(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2])
    """

    family = "resnet"

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 64,  # channels at the full-resolution end; doubled per halving
        max_width: int = 256,  # cap on channels (SNGAN's CIFAR width); raise for BigGAN-style growth
        depth: int = 1,  # residual blocks per resolution; the first of each resamples
        # batch | instance | layer | none; None = batch when drawing images, none when reading them
        norm: str | None = None,
        activation: str = "relu",  # see networks.layers.ACTIVATIONS
        spectral_norm: bool = False,  # spectral normalisation on every convolution and linear layer
    ):
        super().__init__(
            source=source,
            target=target,
            condition=condition,
            options=dict(
                width=width,
                max_width=max_width,
                depth=depth,
                norm=norm,
                activation=activation,
                spectral_norm=spectral_norm,
            ),
        )
        choose(norm or "none", NORMS, "norm")  # refuse a bad name now, even if no layer would use it
        choose(activation, ACTIVATIONS, "activation")
        src, tgt = self.source, self.target
        self._need_one_image_side()
        if width < 1 or max_width < 1 or depth < 1:
            got = f"width={width}, max_width={max_width}, depth={depth}"
            raise ValueError(f"resnet: width, max_width and depth must be >= 1, got {got}")
        self.draws = tgt.is_image  # vector -> image
        image = tgt if self.draws else src
        k, self.h0, self.w0 = halvings(image.height, image.width)
        norm = norm or ("batch" if self.draws else "none")
        bias = norm == "none"  # a norm right after a convolution removes its bias anyway
        classes = self.condition.k if self.condition is not None else None
        # channels[i]: width after the i-th resolution step counted from the small end.
        steps = max(k, 1)  # an odd size still gets `depth` blocks, at one resolution
        channels = [min(width * 2 ** max(k - 1 - i, 0), max_width) for i in range(steps)]

        blocks = dict(norm=norm, activation=activation, spectral=spectral_norm, bias=bias)
        if self.draws:
            # Labels enter through conditional norms; with no norm to condition, as a one-hot input.
            self.concat_label = classes is not None and norm == "none"
            inputs = src.size + (classes if self.concat_label else 0)
            self.body, self.head = self._build_writer(
                channels, k, depth, inputs, image.channels, classes=classes, **blocks
            )
        else:
            self.concat_label = False
            self.body, self.head = self._build_reader(
                channels, k, depth, image.channels, tgt.size, classes=classes, **blocks
            )
        _init(self)
        if self.draws:  # tanh, not ReLU, follows the last convolution
            nn.init.xavier_uniform_(_weight(self.head["out"][-1]), 1.0)

    # Each direction is built by its own method, in the order the single constructor created its
    # layers: that order fixes the parameter names (checkpoints load) and the order of random
    # draws (one seed, one set of initial weights).

    def _build_writer(self, channels, k, depth, inputs, out_channels, *, classes, norm, activation, spectral, bias):
        """vector -> image: a linear layer makes the ``h0 x w0`` map, "up" blocks double it ``k`` times.

        Returns ``(body, head)``; labels (``classes``) enter the blocks' norms, and the head's norm
        is unconditional, as in BigGAN and SNGAN.
        """
        block = dict(norm=norm, activation=activation, spectral=spectral, bias=bias)
        c0 = channels[0]
        layers: list[nn.Module] = [
            maybe_spectral(nn.Linear(inputs, c0 * self.h0 * self.w0), spectral),
            nn.Unflatten(1, (c0, self.h0, self.w0)),
        ]
        cin = c0
        for cout in channels:
            for j in range(depth):
                up = k > 0 and j == 0  # size x2
                layers += [UpBlock(cin, cout, up=up, classes=classes, **block)]
                cin = cout
        body = Sequential(*layers)
        last_norm = norm_layer(norm, cin, image=True)  # unconditional, as in BigGAN and SNGAN
        out = nn.Sequential(
            last_norm, _activation(activation), maybe_spectral(nn.Conv2d(cin, out_channels, 3, 1, 1), spectral)
        )
        return body, nn.ModuleDict({"out": out})

    def _build_reader(self, channels, k, depth, in_channels, outputs, *, classes, norm, activation, spectral, bias):
        """image -> vector or distribution: "down" blocks halve the image ``k`` times, then a sum pool.

        Returns ``(body, head)``; the head is linear, and labels (``classes``) enter by projection
        on the pooled features, not through norms.
        """
        block = dict(norm=norm, activation=activation, spectral=spectral, bias=bias)
        cin, layers = in_channels, []
        for i, cout in enumerate(reversed(channels)):
            for j in range(depth):
                down = k > 0 and j == 0  # size / 2
                layers += [DownBlock(cin, cout, down=down, first=i == 0 and j == 0, **block)]
                cin = cout
        layers += [_activation(activation), SumPool()]  # [N, C, h0, w0] -> [N, C]
        body = Sequential(*layers)
        head = nn.ModuleDict({"out": maybe_spectral(nn.Linear(cin, outputs), spectral)})
        if classes is not None:
            head["projection"] = Projection(cin, classes, spectral=spectral, outputs=outputs)
        return body, head

    def _features(self, x, y):
        if self.concat_label:
            x = torch.cat([x, self.condition.encode(y)], dim=1)
        return self.body(x.flatten(1) if self.draws else x, y)

    def _head(self, h, y):
        out = self.head["out"](h)  # drawing: [N, C, H, W]; reading: [N, out]
        if "projection" in self.head:
            out = out + self.head["projection"](h, y)
        return out


def _weight(m: nn.Module) -> torch.Tensor:
    return m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight


def _init(module: nn.Module) -> None:
    """Xavier-uniform weights as in the SNGAN reference code: gain sqrt(2) in 3x3 convolutions
    (a ReLU follows them), 1 in shortcuts and linear layers; biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            gain = math.sqrt(2) if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) else 1.0
            nn.init.xavier_uniform_(_weight(m), gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
