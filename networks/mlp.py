"""MLP: fully connected maps between any two spaces (images are flattened in and reshaped out).

Enough for 2-D toy mixtures, small heads and the MLP GAN of Goodfellow et al. (2014).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Network
from .layers import ACTIVATIONS, NORMS, Projection, choose, make_activation, maybe_spectral, norm_layer
from .registry import register


@register
class MLP(Network):
    """``depth`` hidden layers of ``width`` units between ``source`` and ``target``.

    >>> MLP(source="noise[2]", target="point[2]", width=64, depth=3)(torch.randn(8, 2)).shape
    torch.Size([8, 2])
    """

    family = "mlp"

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 128,  # units per hidden layer
        depth: int = 3,  # hidden layers; 0 = a linear map
        activation: str = "relu",  # see networks.layers.ACTIVATIONS
        norm: str = "none",  # batch | instance | layer | none, after each hidden linear
        spectral_norm: bool = False,  # spectral normalisation on every linear layer
        dropout: float = 0.0,  # dropout after each hidden layer; 0 = off
    ):
        super().__init__(
            source=source,
            target=target,
            condition=condition,
            options=dict(
                width=width, depth=depth, activation=activation, norm=norm, spectral_norm=spectral_norm, dropout=dropout
            ),
        )
        choose(norm, NORMS, "norm")  # refuse a bad name now, even if no layer would use it
        choose(activation or "relu", ACTIVATIONS, "activation")
        if width < 1 or depth < 0:
            raise ValueError(f"mlp: width must be >= 1 and depth >= 0, got width={width}, depth={depth}")
        # Labels enter by projection when the output is one number (a score or a Bernoulli
        # logit), and as a one-hot input otherwise.
        self.project = self.condition is not None and self.target.size == 1
        inputs = self.source.size + (self.condition.size if self.condition is not None and not self.project else 0)
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [maybe_spectral(nn.Linear(inputs if i == 0 else width, width), spectral_norm)]
            layers += [norm_layer(norm, width, image=False), make_activation(activation)]
            if dropout:
                layers += [nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)
        features = width if depth else inputs
        self.head = nn.ModuleDict({"out": maybe_spectral(nn.Linear(features, self.target.size), spectral_norm)})
        if self.project:
            self.head["projection"] = Projection(features, self.condition.k, spectral=spectral_norm)

    def _features(self, x, y):
        x = x.flatten(1)
        if self.condition is not None and not self.project:
            x = torch.cat([x, self.condition.encode(y)], dim=1)
        return self.body(x)

    def _head(self, h, y):
        out = self.head["out"](h)
        if self.project:
            out = out + self.head["projection"](h, y)
        return out
