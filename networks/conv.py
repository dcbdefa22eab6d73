"""ConvNet: DCGAN-style convolutional maps (Radford et al. 2016, arXiv 1511.06434).

One class, two directions chosen by the spaces:

- vector -> image: a transposed convolution projects the vector to a small ``h0 x w0``
  map, then each stride-2 transposed convolution doubles the size and halves the
  channels;
- image -> vector or distribution: each stride-2 convolution halves the size and
  doubles the channels down to ``h0 x w0``, then a convolution as large as the map
  reads it out.

``h0`` is what remains of the image size after halving while it stays even and at
least 4: 64 -> 4, 32 -> 4, 28 -> 7, 48 -> 6, 8 -> 4. With ``width=64`` at 64x64 this
is exactly PyTorch's DCGAN example (3,576,704 and 2,765,568 parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Network
from .layers import (
    ACTIVATIONS,
    NORMS,
    ConditionalNorm,
    PointToMapConvTranspose2d,
    Projection,
    SelfModulatedNorm,
    Sequential,
    WholeMapConv2d,
    choose,
    make_activation,
    maybe_spectral,
    norm_layer,
    normal_init,
)
from .registry import register


def halvings(height: int, width: int) -> tuple[int, int, int]:
    """How many stride-2 stages fit the image, and the map size left: (k, h0, w0)."""
    k = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, k = height // 2, width // 2, k + 1
    return k, height, width


@dataclass(frozen=True)
class _Parts:
    """The layer makers both directions of a ConvNet share, with the choices fixed once per network.

    ``classes`` is set only when writing images: there labels enter through conditional norms. So is
    ``modulate``, the size of what the norms take their gain and shift from when they self-modulate: the source
    vector, and the label's one-hot beside it when the network is conditioned (then labels enter only there, and
    ``classes`` is None).
    """

    h0: int
    w0: int
    bias: bool
    spectral: bool
    norm: str
    act: str
    depth: int
    classes: int | None
    modulate: int | None = None

    def conv(self, cin, cout, kernel, stride, padding, transposed=False) -> nn.Module:
        cls = nn.ConvTranspose2d if transposed else nn.Conv2d
        if (kernel, stride, padding) == ((self.h0, self.w0), 1, 0):  # the ends between a map and a vector
            cls = PointToMapConvTranspose2d if transposed else WholeMapConv2d
        return maybe_spectral(cls(cin, cout, kernel, stride, padding, bias=self.bias), self.spectral)

    def normed(self, c: int) -> nn.Module:
        if self.modulate is not None:  # reads the noise, and the label's one-hot beside it where there is one
            return SelfModulatedNorm(self.norm, c, self.modulate, image=True)
        if self.classes is not None and self.norm != "none":
            return ConditionalNorm(self.norm, c, self.classes, image=True)
        return norm_layer(self.norm, c, image=True)

    def refine(self, c: int) -> list[nn.Module]:
        """``depth - 1`` extra stride-1 layers at one resolution."""
        layers: list[nn.Module] = []
        for _ in range(self.depth - 1):
            layers += [self.conv(c, c, 3, 1, 1), self.normed(c), make_activation(self.act)]
        return layers


@register
class ConvNet(Network):
    """DCGAN-style network between a vector-like space and an image space.

    >>> ConvNet(source="noise[100]", target="image[3,64,64]", width=64).sample(2).shape
    torch.Size([2, 3, 64, 64])
    >>> ConvNet(source="image[1,28,28]", target="categorical[10]", width=16)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    family = "conv"

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 64,  # channels at the full-resolution end; doubled per halving
        max_width: int = 1024,  # cap on channels for large images
        depth: int = 1,  # convolutions per resolution; >1 adds stride-1 3x3 layers
        norm: str = "batch",  # batch | instance | layer | none (the first reading layer has none, as in DCGAN)
        activation: str | None = None,  # None = relu when drawing images, leaky_relu when reading them
        spectral_norm: bool = False,  # spectral normalisation on every convolution
        bias: bool | None = None,  # None = no bias where a norm follows (DCGAN), bias otherwise
        self_modulation: bool = False,  # drawing only: each norm's gain and shift from the noise (and label)
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
                bias=bias,
                self_modulation=self_modulation,
            ),
        )
        src, tgt = self.source, self.target
        self.draws = tgt.is_image  # vector -> image
        self.self_modulates = self_modulation
        self._refuse_bad_options(norm, activation, width, depth)
        image = tgt if self.draws else src
        k, self.h0, self.w0 = halvings(image.height, image.width)
        act = activation or ("relu" if self.draws else "leaky_relu")
        # channels[i] is the width at resolution (h0 * 2^i): wide at the small end.
        channels = [min(width * 2 ** max(k - 1 - i, 0), max_width) for i in range(max(k, 1))]
        parts = _Parts(
            h0=self.h0,
            w0=self.w0,
            bias=(norm == "none") if bias is None else bias,
            spectral=spectral_norm,
            norm=norm,
            act=act,
            depth=depth,
            # Only the writing direction conditions its norms; a reader takes the label by projection.
            classes=self.condition.k if self.condition is not None and self.draws and not self_modulation else None,
            modulate=self._modulation_size() if self_modulation else None,
        )
        if self.draws:
            # Labels enter through conditional norms; with no norm to condition, as a one-hot input.
            self.concat_label = self.condition is not None and norm == "none"
            inputs = src.size + (self.condition.k if self.concat_label else 0)
            self.body, self.head = self._build_writer(parts, channels, k, inputs, image.channels)
        else:
            self.concat_label = False
            self.body, self.head = self._build_reader(parts, channels, k, image.channels, tgt.size)
        self._initialise()

    def _refuse_bad_options(self, norm: str, activation: str | None, width: int, depth: int) -> None:
        """Stop at construction on an option no layer could honour, naming it.

        Self-modulation needs a vector to read and norms to modulate.
        """
        choose(norm, NORMS, "norm")  # refuse a bad name now, even if no layer would use it
        choose(activation or "relu", ACTIVATIONS, "activation")
        self._need_one_image_side()
        if width < 1 or depth < 1:
            raise ValueError(f"conv: width and depth must be >= 1, got width={width}, depth={depth}")
        if not self.self_modulates:
            return
        if not self.draws:
            raise ValueError("conv: self_modulation applies to a network drawing images from a vector, not to a reader")
        if norm == "none":
            raise ValueError("conv: self_modulation modulates the norms; with norm 'none' there are none")

    def _modulation_size(self) -> int:
        """What self-modulated norms read: the source vector, and the label's one-hot beside it when conditioned."""
        return self.source.size + (self.condition.k if self.condition is not None else 0)

    def _initialise(self) -> None:
        """DCGAN's initialisation, then each self-modulated norm's maps set back so that it starts as the plain norm."""
        normal_init(self)
        for m in self.modules():
            if isinstance(m, SelfModulatedNorm):
                m.reset_parameters()

    # The two directions share the layer makers in ``_Parts`` and nothing else, so each is built
    # by its own method: reading one never means skipping the other's branches. Both create their
    # layers in the order the single constructor did, which fixes the parameter names (checkpoints
    # load) and the order of random draws (one seed, one set of initial weights).

    def _build_writer(self, parts: _Parts, channels: list[int], k: int, inputs: int, out_channels: int):
        """vector -> image: project to an ``h0 x w0`` map, then double its size ``k`` times.

        Returns ``(body, head)``: the body ends at the full-width map one doubling short of the
        image (whose labels, if any, enter by conditional norms); the head writes the pixels.
        """
        first = parts.conv(inputs, channels[0], (self.h0, self.w0), 1, 0, transposed=True)  # [N, D, 1, 1] -> h0 x w0
        layers = [first, parts.normed(channels[0]), make_activation(parts.act)]
        layers += parts.refine(channels[0])
        for cin, cout in zip(channels, channels[1:]):
            layers += [
                parts.conv(cin, cout, 4, 2, 1, transposed=True),
                parts.normed(cout),
                make_activation(parts.act),
            ]  # size x2
            layers += parts.refine(cout)
        body = Sequential(*layers)
        if k:
            last = parts.conv(channels[-1], out_channels, 4, 2, 1, transposed=True)
        else:  # an image too small or odd to halve: keep its size
            last = parts.conv(channels[-1], out_channels, 3, 1, 1)
        return body, nn.ModuleDict({"out": last})

    def _build_reader(self, parts: _Parts, channels: list[int], k: int, in_channels: int, outputs: int):
        """image -> vector or distribution: halve the image ``k`` times, then read the ``h0 x w0`` map whole.

        Returns ``(body, head)``: the body ends at the small, wide map; the head reads it with one
        convolution as large as the map, plus a projection of the label when the network has one.
        """
        cin, layers = in_channels, []
        for i, cout in enumerate(reversed(channels)):
            stride, kernel, pad = (2, 4, 1) if k else (1, 3, 1)
            layers += [parts.conv(cin, cout, kernel, stride, pad)]
            layers += [norm_layer(parts.norm, cout, image=True)] if i > 0 else []  # DCGAN: no norm on the first layer
            layers += [make_activation(parts.act)]
            layers += parts.refine(cout)
            cin = cout
        body = Sequential(*layers)
        head = nn.ModuleDict({"out": parts.conv(cin, outputs, (self.h0, self.w0), 1, 0)})
        if self.condition is not None:
            features = cin * self.h0 * self.w0
            head["projection"] = Projection(features, self.condition.k, spectral=parts.spectral, outputs=outputs)
        return body, head

    def _features(self, x, y):
        if self.draws:
            if self.concat_label:
                x = torch.cat([x, self.condition.encode(y)], dim=1)
            if self.self_modulates:  # the norms read the source vector (and the label's one-hot) where a label would go
                v = x.reshape(x.shape[0], -1)
                if self.condition is not None:
                    v = torch.cat([v, self.condition.encode(y)], dim=1)
                return self.body(x.reshape(x.shape[0], -1, 1, 1), v)
            x = x.reshape(x.shape[0], -1, 1, 1)  # [N, D] -> [N, D, 1, 1]
        return self.body(x, y)

    def _head(self, h, y):
        out = self.head["out"](h)  # drawing: [N, C, H, W]; reading: [N, out, 1, 1]
        if not self.draws:
            out = out.flatten(1)
            if "projection" in self.head:
                out = out + self.head["projection"](h.flatten(1), y)
        return out
