"""Maps between spaces. Nothing here knows what a training loop will use a network for.

>>> net = build({"family": "conv", "source": "noise[64]", "target": "image[1,28,28]", "width": 8})
>>> net.sample(2).shape
torch.Size([2, 1, 28, 28])
"""

from .base import Network
from .conv import ConvNet
from .functions import Fourier, Function, PlaneFunction, writes_functions
from .local_implicit import LocalImplicit
from .mlp import MLP
from .ngrams import Ngrams
from .registry import FAMILIES, build, register
from .resnet import ResNet
from .resnext import ResNeXt
from .spaces import (
    Bernoulli,
    Categorical,
    Image,
    Noise,
    Normal,
    Point,
    Real,
    Space,
    SpaceError,
    Text,
    TextDistribution,
    parse,
)
from .sphere import Sphere
from .transformer import Transformer, iterated

__all__ = [
    "Network",
    "MLP",
    "ConvNet",
    "Fourier",
    "LocalImplicit",
    "Function",
    "PlaneFunction",
    "writes_functions",
    "ResNet",
    "ResNeXt",
    "Transformer",
    "Ngrams",
    "iterated",
    "FAMILIES",
    "build",
    "register",
    "Space",
    "SpaceError",
    "Noise",
    "Point",
    "Real",
    "Image",
    "Bernoulli",
    "Categorical",
    "Normal",
    "Sphere",
    "Text",
    "TextDistribution",
    "parse",
]
