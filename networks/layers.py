"""Pieces the families share: activations, (conditional) normalisation, spectral norm, init.

Everything is chosen by name from small tables, so a config can say ``norm: instance``
and an unknown name fails listing the accepted ones.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from .messages import shorten

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.2, inplace=True),  # 0.2: the DCGAN slope
    "elu": lambda: nn.ELU(inplace=True),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(inplace=True),
    "tanh": lambda: nn.Tanh(),
}

NORMS = ("batch", "instance", "layer", "none")


def choose(name: str, table, what: str):
    """Look ``name`` up in ``table``; an unknown name lists what is accepted."""
    if name not in table:
        raise ValueError(f"unknown {what} {shorten(name)}; accepted: {', '.join(sorted(table))}")
    return table[name] if isinstance(table, dict) else name


def make_activation(name: str) -> nn.Module:
    return choose(name, ACTIVATIONS, "activation")()


def norm_layer(kind: str, channels: int, *, image: bool, affine: bool = True) -> nn.Module:
    """A normalisation over ``channels``; ``image`` says whether inputs are [N, C, H, W] or [N, C]."""
    choose(kind, NORMS, "norm")
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return (nn.BatchNorm2d if image else nn.BatchNorm1d)(channels, affine=affine)
    if kind == "instance":
        if not image:  # instance norm of a vector has nothing to average over
            return nn.LayerNorm(channels, elementwise_affine=affine)
        return nn.InstanceNorm2d(channels, affine=affine)
    # layer norm over (C, H, W) for images: GroupNorm with one group is exactly that.
    return nn.GroupNorm(1, channels, affine=affine) if image else nn.LayerNorm(channels, elementwise_affine=affine)


class ConditionalNorm(nn.Module):
    """Normalise without a learned affine, then scale and shift by the label (class-conditional BN).

    Used where a network produces feature maps from a vector (de Vries et al. 2017;
    Miyato & Koyama 2018): each class gets its own gain and bias.
    """

    def __init__(self, kind: str, channels: int, classes: int, *, image: bool):
        super().__init__()
        self.norm = norm_layer(kind, channels, image=image, affine=False)
        self.gain = nn.Embedding(classes, channels)
        self.bias = nn.Embedding(classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        return self.norm(x) * self.gain(y).view(shape) + self.bias(y).view(shape)


class SelfModulatedNorm(nn.Module):
    """Normalise without a learned affine, then scale and shift by the network's own input vector.

    Self-modulation (Chen et al., ICLR 2019): in a network drawing images from noise, each norm takes its
    gain and shift from that noise through a small two-layer map, so the noise steers every resolution,
    not only the first layer. The maps' last layers start at zero, so at initialisation this is the
    plain norm (gain 1, shift 0). In a network conditioned on a label, the vector is the noise and the
    label's one-hot side by side (BigGAN feeds its norms the noise beside a class embedding the same way):
    each map's first layer then holds a class embedding of its own. On the bundled digits it is worth
    about as much as the run's seed at 5e-4 and 1.7 at the floor's size at 1e-3, for 1.08-1.10x a step in
    fp32 and 1.19x in bf16, where the convolutions shrink and the modulation's passes over each map do not
    (its small maps cost next to nothing: docs/benchmarks/digits-default.md).
    """

    takes_label = True  # Sequential hands it its second argument: here the source vector, not a label
    hidden = 32  # the probe's size; the maps are small against the convolutions either way

    def __init__(self, kind: str, channels: int, inputs: int, *, image: bool):
        super().__init__()
        self.norm = norm_layer(kind, channels, image=image, affine=False)
        self.gain = nn.Sequential(nn.Linear(inputs, self.hidden), nn.ReLU(), nn.Linear(self.hidden, channels))
        self.bias = nn.Sequential(nn.Linear(inputs, self.hidden), nn.ReLU(), nn.Linear(self.hidden, channels))
        self._start_plain()

    def reset_parameters(self) -> None:
        """Hidden layers at PyTorch's default, last layers at zero: for after a network-wide initialisation."""
        self.gain[0].reset_parameters()
        self.bias[0].reset_parameters()
        self._start_plain()

    def _start_plain(self) -> None:
        for last in (self.gain[2], self.bias[2]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        return self.norm(x) * (1 + self.gain(z).view(shape)) + self.bias(z).view(shape)


class Projection(nn.Module):
    """Projection conditioning (Miyato & Koyama 2018): add <embed(y), features> to the output.

    Where a network reduces to a distribution or a score, this is how the label enters.
    With ``outputs > 1`` each output gets its own projection: one number added to every
    logit of a categorical would leave its distribution unchanged.
    """

    def __init__(self, features: int, classes: int, *, spectral: bool, outputs: int = 1):
        super().__init__()
        self.outputs = outputs
        embed = nn.Embedding(classes, features * outputs)
        # Glorot, as SNGAN's code: nn.Embedding's N(0, 1) made <embed(y), h> ~sqrt(features) times the
        # unconditional head's output, so the label drowned the image at the start of training.
        nn.init.xavier_uniform_(embed.weight)
        self.embed = maybe_spectral(embed, spectral)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # h: [N, F] -> [N, outputs]
        e = self.embed(y).view(h.shape[0], self.outputs, h.shape[1])
        return (e * h.unsqueeze(1)).sum(dim=2)


class Sequential(nn.Sequential):
    """nn.Sequential that hands the label to the layers that take one (ConditionalNorm)."""

    def forward(self, x, y=None):
        for layer in self:
            x = (
                layer(x, y)
                if isinstance(layer, (ConditionalNorm, Sequential)) or getattr(layer, "takes_label", False)
                else layer(x)
            )
        return x


class WholeMapConv2d(nn.Conv2d):
    """A convolution whose kernel covers its whole input map, computed as the matrix product it is.

    Same weights, state dict and result as ``nn.Conv2d``; oneDNN runs this shape (DCGAN's last
    reading layer) as a convolution at a small fraction of the CPU's matrix-multiply speed.
    """

    def forward(self, x):
        if tuple(x.shape[-2:]) != self.kernel_size or (self.padding, self.dilation, self.groups) != ((0, 0), (1, 1), 1):
            return super().forward(x)  # any other shape: the convolution itself
        if _channels_last(x):  # read pixel by pixel, so that x's gradient comes back channels-last too
            return nn.functional.linear(
                x.permute(0, 2, 3, 1).flatten(1), self.weight.permute(0, 2, 3, 1).flatten(1), self.bias
            )[:, :, None, None]
        return nn.functional.linear(x.flatten(1), self.weight.flatten(1), self.bias)[:, :, None, None]


class PointToMapConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution from a 1x1 input to a kernel-sized map, computed as the matrix product it is.

    Same weights, state dict and result as ``nn.ConvTranspose2d``; oneDNN runs this shape (DCGAN's
    projection of the noise) at a small fraction of the CPU's matrix-multiply speed.
    """

    def forward(self, x, output_size=None):
        plain = (self.stride, self.padding, self.output_padding, self.dilation, self.groups) == (
            (1, 1),
            (0, 0),
            (0, 0),
            (1, 1),
            1,
        )
        if x.shape[-2:] != (1, 1) or not plain or output_size is not None:
            return super().forward(x, output_size)  # any other shape: the transposed convolution itself
        weight = self.weight  # read once: under spectral norm each read is a power iteration
        if _channels_last(weight):  # as the convolution would: a channels-last map from channels-last weights
            out = (
                (x.flatten(1) @ weight.permute(0, 2, 3, 1).flatten(1))
                .view(x.shape[0], *self.kernel_size, self.out_channels)
                .permute(0, 3, 1, 2)
            )
        else:
            out = (x.flatten(1) @ weight.flatten(1)).view(x.shape[0], self.out_channels, *self.kernel_size)
        return out if self.bias is None else out + self.bias[:, None, None]


def _channels_last(t: torch.Tensor) -> bool:
    """Stored channels-last and not also channels-first (a 1x1 map is both).

    The matrix-product layers keep the convolution's layout: a channels-last network handed one
    channels-first map or gradient runs its elementwise ops on a mixed-layout path, many times slower
    than in one layout (BENCHMARKS.md).
    """
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def maybe_spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) when enabled; the layer unchanged otherwise."""
    return _spectral_norm(module) if enabled else module


def normal_init(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN initialisation: weights N(0, 0.02), norm gains N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
