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
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol

import torch
from torch import distributions as D

ACCEPTED_FORMS = (
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
)


class RandomSource(Protocol):
    """A seeded random-number state, such as ``torch.manual_seed``-able RNG objects made with
    ``torch.random`` (anything with ``device``, ``get_state`` and ``set_state``)."""

    device: torch.device

    def get_state(self) -> torch.Tensor: ...

    def set_state(self, state: torch.Tensor): ...


@contextmanager
def drawing(rng: "RandomSource | None") -> Iterator[None]:
    """Make torch's default random functions draw from ``rng`` (and advance it); no-op for None.

    Draws equal those of passing the RNG object to torch.randn & co., so seeded samples
    are reproducible; the process-wide random state is left as it was.
    """
    if rng is None:
        yield
        return
    cuda = rng.device.type == "cuda"
    with torch.random.fork_rng(devices=[rng.device] if cuda else []):
        set_state, get_state = (torch.cuda.set_rng_state, torch.cuda.get_rng_state) if cuda else (torch.set_rng_state, torch.get_rng_state)
        set_state(rng.get_state(), *([rng.device] if cuda else []))
        yield
        rng.set_state(get_state(*([rng.device] if cuda else [])))


class SpaceError(ValueError):
    """A space string or a pairing of spaces that cannot be used."""


@dataclass(frozen=True)
class Space:
    """Base of all spaces. Subclasses are frozen dataclasses, so spaces compare by value."""

    kind = "space"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one value of this space (without the batch dimension)."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        """Number of numbers a network needs to read or write one value."""
        return math.prod(self.shape)

    @property
    def sampleable(self) -> bool:
        """Whether the space has a prior to draw inputs from (noise, labels)."""
        return False

    @property
    def is_distribution(self) -> bool:
        return False

    @property
    def is_vector(self) -> bool:
        return False

    @property
    def is_image(self) -> bool:
        return False

    def sample(self, n: int, *, rng: RandomSource | None = None, device=None) -> torch.Tensor:
        raise SpaceError(f"{self} has no prior to sample from; sampleable spaces: noise, categorical, bernoulli")

    def check(self, x: torch.Tensor, what: str = "input") -> None:
        """Fail with a readable message when a batch does not belong to this space."""
        if tuple(x.shape[1:]) != self.shape:
            raise SpaceError(
                f"{what} of shape {tuple(x.shape)} does not fit {self}: "
                f"expected [N, {', '.join(map(str, self.shape))}]".replace("[N, ]", "[N]")
            )


@dataclass(frozen=True)
class _Vector(Space):
    dim: int

    def __post_init__(self):
        if not isinstance(self.dim, int) or self.dim < 1:
            raise SpaceError(f"{self.kind}[{self.dim}]: the dimension must be a positive integer")

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

    def sample(self, n, *, rng=None, device=None):
        with drawing(rng):
            return torch.randn(n, self.dim, device=device)


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
            if not isinstance(value, int) or value < 1:
                raise SpaceError(f"image: {name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):  # pixels map onto it linearly
            raise SpaceError(f"image: value range must be two finite numbers low < high such as -1:1, got {self.low}:{self.high}")
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
        if not isinstance(self.k, int) or self.k < 2:
            raise SpaceError(f"categorical[{self.k}]: the number of classes must be an integer >= 2")

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


# -- text ---------------------------------------------------------------------------
ALPHABETS = {
    # the 64 characters of the argument this toolkit is built on: letters, digits, space, period
    "default": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .",
    "lower": "abcdefghijklmnopqrstuvwxyz0123456789 .",
    "ascii": "".join(chr(c) for c in range(32, 127)),
}
PAD = -1  # token index after a string's end: strings of several lengths share one [N, T] tensor
CODE = 256  # numbers a network writes for a text target, read by its character decoder


@dataclass(frozen=True)
class Text(Space):
    """Strings of at most ``length`` characters over a named alphabet, held as token indices.

    A batch of strings is an int64 tensor [N, T] (T <= length) of indices into the alphabet,
    padded with ``PAD`` after each string's end. Every string ends at its first period
    (``end``) or at ``length`` characters, so a sampler knows when to stop.

    >>> space = parse("text[16]")
    >>> space.strings(space.tokens(["The cat sat."]))
    ['The cat sat.']
    >>> space.k, str(parse("text[16,lower]"))
    (64, 'text[16,lower]')
    """

    length: int
    alphabet: str = "default"

    kind = "text"
    end = "."

    def __post_init__(self):
        if not isinstance(self.length, int) or self.length < 1:
            raise SpaceError(f"text[{self.length}]: the length must be a positive integer")
        if self.alphabet not in ALPHABETS:
            raise SpaceError(f"text: unknown alphabet {self.alphabet!r}; accepted: {', '.join(ALPHABETS)}")

    @property
    def characters(self) -> str:
        return ALPHABETS[self.alphabet]

    @property
    def k(self) -> int:
        """Alphabet size: the number of classes of a next-character distribution."""
        return len(self.characters)

    @property
    def end_index(self) -> int:
        return self.characters.index(self.end)

    @property
    def shape(self):
        return (self.length,)

    @property
    def size(self):
        """What a network writes for a string target: a code of this many numbers, which its character
        decoder reads (``networks.attention.CharacterDecoder``)."""
        return CODE

    @property
    def is_distribution(self):
        return True

    def check(self, x, what="input"):
        if x.dim() != 2 or x.shape[1] > self.length or x.dtype.is_floating_point:
            raise SpaceError(f"{what} of shape {tuple(x.shape)} does not fit {self}: expected token indices of shape [N, T], T <= {self.length}")

    def tokens(self, strings: "list[str]", *, what: str = "text") -> torch.Tensor:
        """Strings -> [N, T] token indices padded with PAD; a character outside the alphabet is refused, named."""
        index = {c: i for i, c in enumerate(self.characters)}
        width = max((len(s) for s in strings), default=0)
        out = torch.full((len(strings), width), PAD, dtype=torch.long)
        for row, s in enumerate(strings):
            if len(s) > self.length:
                raise SpaceError(f"{what}: {len(s)} characters do not fit {self} (at most {self.length})")
            for col, c in enumerate(s):
                if c not in index:
                    raise SpaceError(f"{what}: character {c!r} is not in the alphabet of {self} ({self.alphabet}: {self.characters!r})")
                out[row, col] = index[c]
        return out

    def strings(self, tokens: torch.Tensor) -> "list[str]":
        """[N, T] token indices -> strings, each cut at its first PAD."""
        rows = []
        for row in tokens.tolist():
            chars = []
            for i in row:
                if i < 0:
                    break
                chars.append(self.characters[i])
            rows.append("".join(chars))
        return rows

    def distribution(self, every_prefix, last=None) -> "TextDistribution":
        """The factored distribution p(s) = prod_t p(s_t | s_<t) of a next-character model.

        ``every_prefix(tokens [N, T]) -> logits [N, T+1, k]`` scores every prefix of a batch
        (the empty one first) in one call; ``last(tokens) -> [N, k]`` scores only the whole
        strings (cheaper when sampling; defaults to the last row of ``every_prefix``).
        """
        return TextDistribution(self, every_prefix, last)

    def __str__(self):
        return f"text[{self.length}]" if self.alphabet == "default" else f"text[{self.length},{self.alphabet}]"


class TextDistribution:
    """A distribution over strings, one character at a time: ``log_prob`` scores, ``sample`` writes.

    Made by ``Text.distribution`` from any next-character model; the model never learns
    whether it is scored (teacher forcing: all prefixes in one call) or iterated
    (draw a character, append it, read again).
    """

    def __init__(self, space: Text, every_prefix, last=None):
        self.space, self.every_prefix = space, every_prefix
        self.last = last if last is not None else (lambda tokens: every_prefix(tokens)[:, -1])

    def character_nll(self, strings: torch.Tensor) -> torch.Tensor:
        """-log p(s_t | s_<t) for every character, 0 past each end: [N, T]."""
        logits = self.every_prefix(strings)[:, :-1].float()  # the last prefix is the whole string: nothing follows it
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), strings.reshape(-1), ignore_index=PAD, reduction="none")
        return nll.view(strings.shape)

    def log_prob(self, strings: torch.Tensor) -> torch.Tensor:
        """log p(s) = sum_t log p(s_t | s_<t) per string: [N]."""
        return -self.character_nll(strings).sum(1)

    def mean_nll(self, strings: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per character (nats; / ln 2 for bits per character).

        Equal, by construction, to the mean cross-entropy of the next-character model over
        every prefix of these strings labelled with the character that follows it.
        """
        logits = self.every_prefix(strings)[:, :-1].float()
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), strings.reshape(-1), ignore_index=PAD)

    @torch.no_grad()
    def most_likely(self, top: int = 3, *, beam: int = 16, device=None) -> "list[tuple[str, float]]":
        """The ``top`` likeliest whole strings and their probabilities, by beam search (``beam`` kept a step).

        For a distribution over one string (one input): strings end at the end character or the length;
        a beam as wide as the alphabet to the power of the length makes the search exhaustive.
        """
        beams, done = [((), 0.0)], []
        while beams:
            tokens = torch.tensor([b[0] for b in beams], dtype=torch.long, device=device).reshape(len(beams), -1)
            logp = self.last(tokens).float().log_softmax(-1).cpu()
            grown = sorted(((seq + (c,), score + float(logp[i, c])) for i, (seq, score) in enumerate(beams) for c in range(self.space.k)),
                           key=lambda b: -b[1])[: max(beam, top)]
            beams = []
            for seq, score in grown:
                (done if seq[-1] == self.space.end_index or len(seq) == self.space.length else beams).append((seq, score))
            floor = sorted((score for _, score in done), reverse=True)[top - 1] if len(done) >= top else -math.inf
            beams = [b for b in beams if b[1] > floor]  # a longer string is never likelier than its prefix
        best = sorted(done, key=lambda b: -b[1])[:top]
        return [(self.space.strings(torch.tensor([seq]))[0], math.exp(score)) for seq, score in best]

    @torch.no_grad()
    def sample(self, n: int, *, prompt: torch.Tensor | None = None, temperature: float = 1.0, rng: "RandomSource | None" = None, device=None) -> torch.Tensor:
        """Draw n strings, each continuing ``prompt`` ([T0] token indices), up to the end character or the length.

        Each character is drawn by inversion from one uniform number per string, exactly as
        ``Network.sample`` draws a label: iterating a next-character model by hand, with the
        same random source, writes the same strings.
        """
        if not temperature > 0:
            raise SpaceError(f"temperature: expected a number > 0, got {temperature}")
        start = torch.empty(0, dtype=torch.long) if prompt is None else prompt.long().reshape(-1)
        if len(start) >= self.space.length:
            raise SpaceError(f"prompt: {len(start)} characters leave no room in {self.space}")
        tokens = start.to(device).expand(n, -1).clone()
        done = torch.zeros(n, dtype=torch.bool, device=device)
        if len(start) and start[-1] == self.space.end_index:
            done[:] = True
        while tokens.shape[1] < self.space.length and not bool(done.all()):
            probs = D.Categorical(logits=self.last(tokens).float() / temperature).probs  # as Network.sample reads a label
            with drawing(rng):
                u = torch.rand(n, device=rng.device if rng is not None else device).to(probs.device)
            nxt = torch.searchsorted(probs.cumsum(-1), u.unsqueeze(-1)).squeeze(-1).clamp_max(self.space.k - 1)
            tokens = torch.cat([tokens, torch.where(done, PAD, nxt).unsqueeze(1)], 1)
            done |= nxt == self.space.end_index
        return tokens


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


def parse(text: "str | Space") -> Space:
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
        raise SpaceError(f"a space must be a string such as 'noise[64]', got {text!r}; {forms}")
    bad = SpaceError(f"cannot read space {text!r}; {forms}")
    match = _PATTERN.match(text.lower())
    if not match:
        raise bad
    kind, inside = match.group(1), match.group(2)
    parts = [p.strip() for p in inside.split(",")] if inside else []
    try:
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
        raise SpaceError(f"cannot read space {text!r}: {error}; {forms}") from None
    except ValueError:
        raise bad from None
    raise bad
