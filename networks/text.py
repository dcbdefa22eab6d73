"""The text space: strings over an alphabet, and the distribution over them a next-character model makes.

``text[L]`` is a source (token indices a network reads) and a target (a distribution factored one
character at a time, ``TextDistribution``). It lives apart from the fixed-size spaces because it is
the one space with an alphabet, padding and an autoregressive sampler; ``networks.spaces`` exports it
with the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import distributions as D

from .messages import shorten
from .space_base import MAX_SIZE, RandomSource, Space, SpaceError, drawing

ALPHABETS = {
    # the 64 characters of the argument this toolkit is built on: letters, digits, space, period
    "default": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .",
    "lower": "abcdefghijklmnopqrstuvwxyz0123456789 .",
    "ascii": "".join(chr(c) for c in range(32, 127)),
    # numbers spelled digit by digit: a head over this alphabet cannot draw a letter (the period ends a string)
    "digits": "0123456789.",
}
PAD = -1  # token index after a string's end: strings of several lengths share one [N, T] tensor
CODE = 256  # numbers a network writes for a text target, read by its character decoder


@dataclass(frozen=True)
class Text(Space):
    """Strings of at most ``length`` characters over a named alphabet, held as token indices.

    A batch of strings is an int64 tensor [N, T] (T <= length) of indices into the alphabet,
    padded with ``PAD`` after each string's end. Every string ends at its first period
    (``end``) or at ``length`` characters, so a sampler knows when to stop.

    >>> space = Text(16)
    >>> space.strings(space.tokens(["The cat sat."]))
    ['The cat sat.']
    >>> space.k, str(Text(16, "lower"))
    (64, 'text[16,lower]')
    """

    length: int
    alphabet: str = "default"

    kind = "text"
    end = "."

    def __post_init__(self):
        if not isinstance(self.length, int) or not 1 <= self.length <= MAX_SIZE:
            raise SpaceError(
                f"text[{shorten(self.length)}]: the length must be a positive integer (at most {MAX_SIZE:,})"
            )
        if self.alphabet not in ALPHABETS:
            raise SpaceError(f"text: unknown alphabet {shorten(self.alphabet)}; accepted: {', '.join(ALPHABETS)}")

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
            raise SpaceError(
                f"{what} of shape {tuple(x.shape)} does not fit {self}: expected token indices of shape [N, T], T <= "
                f"{self.length}"
            )

    def tokens(self, strings: list[str], *, what: str = "text") -> torch.Tensor:
        """Strings -> [N, T] token indices padded with PAD; a character outside the alphabet is refused, named."""
        index = {c: i for i, c in enumerate(self.characters)}
        width = max((len(s) for s in strings), default=0)
        out = torch.full((len(strings), width), PAD, dtype=torch.long)
        for row, s in enumerate(strings):
            if len(s) > self.length:
                raise SpaceError(f"{what}: {len(s)} characters do not fit {self} (at most {self.length})")
            for col, c in enumerate(s):
                if c not in index:
                    raise SpaceError(
                        f"{what}: character {c!r} is not in the alphabet of {self} ({self.alphabet}: "
                        f"{self.characters!r})"
                    )
                out[row, col] = index[c]
        return out

    def strings(self, tokens: torch.Tensor) -> list[str]:
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

    def distribution(self, every_prefix, last=None, steps=None) -> TextDistribution:
        """The factored distribution p(s) = prod_t p(s_t | s_<t) of a next-character model.

        ``every_prefix(tokens [N, T]) -> logits [N, T+1, k]`` scores every prefix of a batch
        (the empty one first) in one call; ``last(tokens) -> [N, k]`` scores only the whole
        strings (cheaper when sampling; defaults to the last row of ``every_prefix``).
        ``steps() -> step``, where a model can remember what it has read, makes a fresh ``last`` for one
        sampling call that is only ever given the strings it saw before with a column appended, so each
        character costs one position instead of the whole prefix (a key/value cache).
        """
        return TextDistribution(self, every_prefix, last, steps)

    def __str__(self):
        return f"text[{self.length}]" if self.alphabet == "default" else f"text[{self.length},{self.alphabet}]"


class TextDistribution:
    """A distribution over strings, one character at a time: ``log_prob`` scores, ``sample`` writes.

    Made by ``Text.distribution`` from any next-character model; the model never learns
    whether it is scored (teacher forcing: all prefixes in one call) or iterated
    (draw a character, append it, read again).
    """

    def __init__(self, space: Text, every_prefix, last=None, steps=None):
        self.space, self.every_prefix, self.steps = space, every_prefix, steps
        self.last = last if last is not None else (lambda tokens: every_prefix(tokens)[:, -1])

    def character_nll(self, strings: torch.Tensor) -> torch.Tensor:
        """-log p(s_t | s_<t) for every character, 0 past each end: [N, T]."""
        logits = self.every_prefix(strings)[:, :-1].float()  # the last prefix is the whole string: nothing follows it
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), strings.reshape(-1), ignore_index=PAD, reduction="none"
        )
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
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), strings.reshape(-1), ignore_index=PAD
        )

    @torch.no_grad()
    def most_likely(self, top: int = 3, *, beam: int = 16, device=None) -> list[tuple[str, float]]:
        """The ``top`` likeliest whole strings and their probabilities, by beam search (``beam`` kept a step).

        For a distribution over one string (one input): strings end at the end character or the length;
        a beam as wide as the alphabet to the power of the length makes the search exhaustive.
        """
        beams, done = [((), 0.0)], []
        while beams:
            tokens = torch.tensor([b[0] for b in beams], dtype=torch.long, device=device).reshape(len(beams), -1)
            logp = self.last(tokens).float().log_softmax(-1).cpu()
            grown = sorted(
                (
                    (seq + (c,), score + float(logp[i, c]))
                    for i, (seq, score) in enumerate(beams)
                    for c in range(self.space.k)
                ),
                key=lambda b: -b[1],
            )[: max(beam, top)]
            beams = []
            for seq, score in grown:
                (done if seq[-1] == self.space.end_index or len(seq) == self.space.length else beams).append(
                    (seq, score)
                )
            floor = sorted((score for _, score in done), reverse=True)[top - 1] if len(done) >= top else -math.inf
            beams = [b for b in beams if b[1] > floor]  # a longer string is never likelier than its prefix
        best = sorted(done, key=lambda b: -b[1])[:top]
        return [(self.space.strings(torch.tensor([seq]))[0], math.exp(score)) for seq, score in best]

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        prompt: torch.Tensor | None = None,
        temperature: float = 1.0,
        rng: RandomSource | None = None,
        device=None,
    ) -> torch.Tensor:
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
        last = self.steps() if self.steps is not None else self.last  # a fresh cache per call: nothing carries over
        if len(start) and start[-1] == self.space.end_index:
            done[:] = True
        while tokens.shape[1] < self.space.length and not bool(done.all()):
            probs = D.Categorical(logits=last(tokens).float() / temperature).probs  # as Network.sample reads a label
            with drawing(rng):
                u = torch.rand(n, device=rng.device if rng is not None else device).to(probs.device)
            nxt = torch.searchsorted(probs.cumsum(-1), u.unsqueeze(-1)).squeeze(-1).clamp_max(self.space.k - 1)
            tokens = torch.cat([tokens, torch.where(done, PAD, nxt).unsqueeze(1)], 1)
            done |= nxt == self.space.end_index
        return tokens


def check_reads_text(family: str, source, target, condition) -> None:
    """What a family that reads ``text[L]`` into a vector (transformer, ngrams) refuses, in the same words: another
    source, a target it cannot write (images, strings), a condition."""
    if not isinstance(source, Text):
        raise SpaceError(f"{family}: reads text[L], got {source} -> {target}")
    if target.is_image or isinstance(target, Text):
        raise SpaceError(
            f"{family}: {source} -> {target} is not supported; supported targets: vectors, bernoulli, categorical[K]"
        )
    if condition is not None:
        raise SpaceError(f"{family}: takes no condition, got {condition}")
