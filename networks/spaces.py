"""Spaces: what a network reads and what it writes.

A network is a map from a source space to a target space. Spaces, not class names,
decide what a network can be used for: a map ``noise[64] -> image[1,28,28]`` can draw
pictures, a map ``image[1,28,28] -> categorical[10]`` can draw labels. Every space
prints as a short string and parses back from it, so configs name spaces as text:

>>> parse("image[3,32,32]")
Image(channels=3, height=32, width=32, low=-1.0, high=1.0)
>>> str(Categorical(10))
'categorical[10]'

Three kinds of space:

- vector spaces (``noise``, ``point``, ``real``): ``dim`` real numbers;
- image spaces: ``channels x height x width`` values in ``[low, high]``;
- distribution spaces (``bernoulli``, ``categorical``, ``normal``): values are labels or
  reals, and a network that targets one writes the *parameters* of a
  ``torch.distributions`` object (logits; a mean and a log-scale for ``normal``);
- text spaces (``text[L]``): strings of at most L characters, held as token indices.
  As a target, text is a distribution space factored one character at a time
  (``text_space.distribution(...)``, see ``Text``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import distributions as D

from .messages import shorten
from .space_base import MAX_SIZE, RandomSource, Space, SpaceError, drawing
from .text import ALPHABETS, CODE, PAD, Text, TextDistribution

__all__ = [
    "ACCEPTED_FORMS",
    "ALPHABETS",
    "CODE",
    "PAD",
    "Bernoulli",
    "Categorical",
    "Image",
    "Noise",
    "Normal",
    "Point",
    "RandomSource",
    "Real",
    "Space",
    "SpaceError",
    "Text",
    "TextDistribution",
    "drawing",
    "output_shape",
    "parse",
    "register_space",
]

ACCEPTED_FORMS = [  # grows as spaces of other modules register (register_space)
    "noise[D]",
    "point[D]",
    "real[D]",
    "image[C,H,W]",
    "image[C,H,W,LOW:HIGH]",
    "bernoulli",
    "categorical[K]",
    "normal[D]",
    "text[L]",
    "text[L,ALPHABET]",
]
# kind -> reader of the parts between the brackets, for spaces defined outside this module
_REGISTERED: dict = {}


def register_space(kind: str, *forms: str):
    """Make ``kind[...]`` readable by ``parse``: the decorated function takes the bracket's comma-separated parts
    (strings) and returns the Space, raising ValueError or SpaceError for parts it cannot read. A new space is
    then one module: its class and this registration.

    >>> @register_space("pair", "pair[D]")
    ... def _pair(parts):
    ...     return Point(2 * int(parts[0]))
    >>> parse("pair[3]")
    Point(dim=6)
    >>> _ = _REGISTERED.pop("pair"), ACCEPTED_FORMS.remove("pair[D]")
    """

    def add(reader):
        if kind in _REGISTERED or any(form.startswith(kind + "[") or form == kind for form in ACCEPTED_FORMS):
            raise ValueError(f"space {kind!r} is registered already")
        _REGISTERED[kind] = reader
        ACCEPTED_FORMS.extend(forms)
        return reader

    return add


@dataclass(frozen=True)
class _Vector(Space):
    dim: int

    def __post_init__(self):
        if not isinstance(self.dim, int) or not 1 <= self.dim <= MAX_SIZE:
            raise SpaceError(
                f"{self.kind}[{shorten(self.dim)}]: the dimension must be a positive integer (at most {MAX_SIZE:,})"
            )

    @property
    def shape(self):
        return (self.dim,)

    @property
    def is_vector(self):
        return True

    def __str__(self):
        return f"{self.kind}[{self.dim}]"


@dataclass(frozen=True)
class Noise(_Vector):
    """Standard normal noise, the usual input of a sampler."""

    kind = "noise"

    @property
    def sampleable(self):
        return True

    def sample(self, n, *, rng=None, device=None, truncation=None):
        """``truncation`` psi in (0, 1] draws nearer the mode, trading variety for typical draws: the draws are
        scaled by psi, the "truncation trick" of StyleGAN (w_mean + psi (w - w_mean)) taken to z, whose mean is 0
        (BigGAN's form instead redraws values past a threshold). Scaling keeps the draws of psi = 1 those of no
        truncation, and the same seed moves the same draws inwards as psi falls."""
        if truncation is not None and not 0 < truncation <= 1:  # nan fails both comparisons
            raise SpaceError(f"truncation: expected psi in (0, 1] for {self}, got {truncation}")
        with drawing(rng):
            z = torch.randn(n, self.dim, device=device)
        return z if truncation is None else z * truncation


@dataclass(frozen=True)
class Point(_Vector):
    """A point of R^dim that comes from data (toy mixtures, tabular rows)."""

    kind = "point"


@dataclass(frozen=True)
class Real(_Vector):
    """Unbounded real outputs: scores (a Wasserstein score is real[1]), features, codes."""

    kind = "real"


@dataclass(frozen=True)
class Image(Space):
    """Images with values in [low, high]; the data pipeline scales to it, output layers map into it."""

    channels: int
    height: int
    width: int
    low: float = -1.0
    high: float = 1.0

    kind = "image"

    def __post_init__(self):
        for name in ("channels", "height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
                raise SpaceError(
                    f"image: {name} must be a positive integer (at most {MAX_SIZE:,}), got {shorten(value)}"
                )
        if not (
            math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high
        ):  # pixels map onto it linearly
            raise SpaceError(
                f"image: value range must be two finite numbers low < high such as -1:1, got {self.low}:{self.high}"
            )
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))

    @property
    def shape(self):
        return (self.channels, self.height, self.width)

    @property
    def is_image(self):
        return True

    def from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Map values in [0, 1] (pixels / 255) into this space's range."""
        return x * (self.high - self.low) + self.low

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Map values of this space back to [0, 1], for saving pictures."""
        return ((x - self.low) / (self.high - self.low)).clamp(0, 1)

    def __str__(self):
        dims = f"{self.channels},{self.height},{self.width}"
        if (self.low, self.high) != (-1.0, 1.0):
            dims += f",{_number(self.low)}:{_number(self.high)}"
        return f"image[{dims}]"


@dataclass(frozen=True)
class Bernoulli(Space):
    """Binary labels. A network targeting it writes one logit per example: shape [N]."""

    kind = "bernoulli"

    @property
    def shape(self):
        return ()

    @property
    def size(self):
        return 1

    @property
    def sampleable(self):
        return True

    @property
    def is_distribution(self):
        return True

    def sample(self, n, *, rng=None, device=None):
        with drawing(rng):
            return torch.randint(0, 2, (n,), device=device).float()

    def distribution(self, logits: torch.Tensor) -> D.Bernoulli:
        return D.Bernoulli(logits=logits)

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """Labels -> the numbers a network reads: [N] -> [N, 1]."""
        return y.float().reshape(-1, 1)

    def check(self, x, what="input"):
        if x.dim() != 1:
            raise SpaceError(f"{what} of shape {tuple(x.shape)} does not fit {self}: expected labels of shape [N]")

    def __str__(self):
        return "bernoulli"


@dataclass(frozen=True)
class Categorical(Space):
    """One of k labels. A network targeting it writes k logits per example: shape [N, k]."""

    k: int

    kind = "categorical"

    def __post_init__(self):
        if not isinstance(self.k, int) or not 2 <= self.k <= MAX_SIZE:
            raise SpaceError(
                f"categorical[{shorten(self.k)}]: the number of classes must be an integer >= 2 (at most {MAX_SIZE:,})"
            )

    @property
    def shape(self):
        return ()

    @property
    def size(self):
        return self.k

    @property
    def sampleable(self):
        return True

    @property
    def is_distribution(self):
        return True

    def sample(self, n, *, rng=None, device=None):
        with drawing(rng):
            return torch.randint(0, self.k, (n,), device=device)

    def distribution(self, logits: torch.Tensor) -> D.Categorical:
        return D.Categorical(logits=logits)

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """Labels -> the numbers a network reads: one-hot, [N] -> [N, k]."""
        return torch.nn.functional.one_hot(y.long(), self.k).float()

    def check(self, x, what="input"):
        if x.dim() != 1:
            raise SpaceError(f"{what} of shape {tuple(x.shape)} does not fit {self}: expected labels of shape [N]")

    def __str__(self):
        return f"categorical[{self.k}]"


@dataclass(frozen=True)
class Normal(_Vector):
    """Reals in R^dim with a predictive distribution: regression as likelihood.

    A network targeting it writes a mean and a log-scale per dimension, [N, 2, dim];
    its distribution is a Normal, independent over the dimensions.

    >>> Normal(1).distribution(torch.zeros(3, 2, 1)).log_prob(torch.zeros(3, 1)).shape
    torch.Size([3])
    """

    kind = "normal"

    # exp overflows float32 past 88 and a density narrower than e^-20 overflows when squared: clamping the
    # log-scale keeps the scale positive and every log-probability finite, however large the outputs.
    LOG_SCALE_RANGE = (-20.0, 20.0)

    @property
    def size(self):
        return 2 * self.dim  # a mean and a log-scale per dimension

    @property
    def is_distribution(self):
        return True

    def scale(self, params: torch.Tensor) -> torch.Tensor:
        """The standard deviations a network's outputs [N, 2, dim] stand for: positive for any input."""
        return params[:, 1].clamp(*self.LOG_SCALE_RANGE).exp()

    def distribution(self, params: torch.Tensor) -> D.Independent:
        """[N, 2, dim] (means, then log-scales) -> a Normal over R^dim per example."""
        return D.Independent(D.Normal(params[:, 0], self.scale(params)), 1)


def output_shape(space: Space) -> tuple[int, ...]:
    """Shape of what a network writes for one example when it targets ``space``.

    Distribution spaces take parameters: one logit for bernoulli (so [N]), k logits for
    categorical ([N, k]), a mean and a log-scale per dimension for normal ([N, 2, d]).
    """
    if isinstance(space, Bernoulli):
        return ()
    if isinstance(space, Categorical):
        return (space.k,)
    if isinstance(space, Normal):
        return (2, space.dim)
    if isinstance(space, Text):  # a code; the character decoder turns it into strings
        return (space.size,)
    return space.shape


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


_PATTERN = re.compile(r"^\s*([a-z]+)\s*(?:\[([^\]]*)\])?\s*$")


def parse(text: str | Space) -> Space:
    """Read a space from its short string; a Space passes through unchanged.

    >>> parse("noise[128]")
    Noise(dim=128)
    >>> parse("image[1,28,28,0:1]").high
    1.0
    """
    if isinstance(text, Space):
        return text
    forms = f"accepted forms: {', '.join(ACCEPTED_FORMS)}"
    if not isinstance(text, str):
        raise SpaceError(f"a space must be a string such as 'noise[64]', got {shorten(text)}; {forms}")
    bad = SpaceError(f"cannot read space {shorten(text)}; {forms}")
    match = _PATTERN.match(text.lower())
    if not match:
        raise bad
    kind, inside = match.group(1), match.group(2)
    parts = [p.strip() for p in inside.split(",")] if inside else []
    try:
        if kind in _REGISTERED:
            return _REGISTERED[kind](parts)
        if kind == "bernoulli" and not parts:
            return Bernoulli()
        if kind in ("noise", "point", "real", "normal") and len(parts) == 1:
            return {"noise": Noise, "point": Point, "real": Real, "normal": Normal}[kind](int(parts[0]))
        if kind == "categorical" and len(parts) == 1:
            return Categorical(int(parts[0]))
        if kind == "text" and len(parts) in (1, 2):
            return Text(int(parts[0]), *parts[1:])
        if kind == "image" and len(parts) in (3, 4):
            c, h, w = (int(p) for p in parts[:3])
            if len(parts) == 4:
                low, high = (float(v) for v in parts[3].split(":"))
                return Image(c, h, w, low, high)
            return Image(c, h, w)
    except SpaceError as error:
        raise SpaceError(f"cannot read space {shorten(text)}: {error}; {forms}") from None
    except ValueError:
        raise bad from None
    raise bad
