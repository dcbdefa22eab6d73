"""Transformer: a small causal Transformer over strings (GPT-2's block, nanoGPT's sizes).

It reads a ``text[L]`` string (a prefix) and writes any vector or distribution target from
the position after its last character. Because attention is causal, one pass over a string
gives the output after *every* prefix of it (``every_prefix=True``): reading a sentence
once is the same computation as reading each of its prefixes separately, which is what
makes a next-character model as cheap to train on whole sentences as a language model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .attention import Block, KeyValues
from .base import Network
from .registry import register
from .spaces import Categorical, SpaceError, Text, TextDistribution
from .text import check_reads_text


@register
class Transformer(Network):
    """``depth`` causal blocks of ``width`` channels over a string and a start token.

    >>> net = Transformer(source="text[32]", target="categorical[64]", width=32, depth=2, heads=2)
    >>> x = net.source.tokens(["The cat sa"])
    >>> net(x).shape, net(x, every_prefix=True).shape
    (torch.Size([1, 64]), torch.Size([1, 11, 64]))
    """

    family = "transformer"
    causal = True  # output t depends on characters < t only: every prefix in one pass
    reads_text = True

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 128,  # channels of the residual stream
        depth: int = 4,  # blocks
        heads: int = 4,  # attention heads; must divide width
        dropout: float = 0.0,  # after attention weights and each MLP; 0 = off
        # what the target is written from: the position after the last character (last), or the mean of every
        # position (mean: a bag of what each prefix has read, closer to the word counts a text search matches on)
        pool: str = "last",
    ):
        super().__init__(
            source=source,
            target=target,
            condition=condition,
            options=dict(width=width, depth=depth, heads=heads, dropout=dropout, pool=pool),
        )
        if pool not in ("last", "mean"):
            raise ValueError(f"transformer: pool must be 'last' or 'mean', got {pool!r}")
        self.pool = pool
        check_reads_text("transformer", self.source, self.target, self.condition)
        if width < 1 or depth < 1 or heads < 1 or width % heads:
            raise ValueError(
                f"transformer: width, depth and heads must be >= 1 with heads dividing width, got width={width}, "
                f"depth={depth}, heads={heads}"
            )
        self.start = self.source.k  # one more token than the alphabet: the empty prefix still has a position to read
        self.body = nn.ModuleDict(
            {
                "tokens": nn.Embedding(self.source.k + 1, width),
                "positions": nn.Embedding(self.source.length + 1, width),
                "blocks": nn.ModuleList(Block(width, heads, dropout) for _ in range(depth)),
                "norm": nn.LayerNorm(width),
            }
        )
        self.head = nn.Linear(width, self.target.size)
        self.apply(_init)
        for block in self.body[
            "blocks"
        ]:  # GPT-2: residual branches scaled down with depth, so the stream's variance stays put
            for layer in (block.proj, block.mlp[2]):
                nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * depth))

    def _sequence(self, x: torch.Tensor) -> torch.Tensor:
        """[N, T] tokens (PAD after the end) -> [N, T+1, W]: row t has read the first t characters."""
        h = self._embed(x, 0, start=True)
        for block in self.body["blocks"]:
            h = block(h)
        return self.body["norm"](h)

    def _embed(self, x: torch.Tensor, offset: int, *, start: bool) -> torch.Tensor:
        """Tokens at positions ``offset``, ``offset + 1``, ...; the start token first where the string begins."""
        tokens = x.long().clamp_min(0)  # PAD reads as any token: causality keeps it out of earlier rows
        if start:
            tokens = torch.cat([torch.full((len(x), 1), self.start, dtype=torch.long, device=x.device), tokens], 1)
        return self.body["tokens"](tokens) + self.body["positions"].weight[offset : offset + tokens.shape[1]]

    def stepper(self):
        """A fresh ``step(tokens [N, T]) -> logits [N, k]`` after the last column of ``tokens``, for a sampler that
        appends one column between calls: each call reads only the columns it has not seen, the earlier ones being
        kept as keys and values in a cache that lives in this closure, never on the module, so each sampling call
        starts clean. It scores each string as if it ran to the last column (a row that has ended reads PAD as a
        character, as ``every_prefix`` does), and dropout is off: a draw is not a training step."""
        cache = KeyValues()

        def step(tokens: torch.Tensor) -> torch.Tensor:
            x = self._inputs(tokens, None)
            seen = max(cache.length - 1, 0)  # characters read; position 0 is the start token
            if cache.length and x.shape[1] <= seen:  # a sampler appends a column between calls
                raise ValueError(f"step: expected more than the {seen} columns already read, got {x.shape[1]}")
            h = self._embed(x[:, seen:], cache.length, start=not cache.length)
            for block in self.body["blocks"]:
                h = block(h, cache)
            cache.advance(h.shape[1])
            return self.head(self.body["norm"](h[:, -1]))

        return step

    def _features(self, x, y):
        h = self._sequence(x)
        lengths = (x >= 0).sum(1)  # the row after each string's last character
        if self.pool == "mean":  # rows 0..length: the start token's and every prefix's, none that read PAD
            read = torch.arange(h.shape[1], device=x.device)[None, :] <= lengths[:, None]
            return (h * read[..., None]).sum(1) / read.sum(1, keepdim=True)
        return h[torch.arange(len(x), device=x.device), lengths]

    def _head(self, h, y):
        return self.head(h)

    def features(self, x, y=None):
        return self._features(self._inputs(x, y), y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, *, every_prefix: bool = False) -> torch.Tensor:
        """The target after the whole string, or after every prefix of it (the empty one first): [N, T+1, ...]."""
        if not every_prefix:
            return super().forward(x, y)
        return self.head(self._sequence(self._inputs(x, y)))


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def iterated(net: Network) -> TextDistribution:
    """The strings a next-character model writes when it is iterated: read, draw, append, read again.

    ``net`` maps ``text[L]`` to ``categorical[K]`` with K the alphabet size; any such network is
    a model of whole strings, p(s) = prod_t net(s_<t)[s_t].

    >>> net = Transformer(source="text[8]", target="categorical[64]", width=16, depth=1, heads=2)
    >>> iterated(net).sample(2).shape[0]
    2
    """
    space = net.source
    if not isinstance(space, Text) or not isinstance(net.target, Categorical) or net.target.k != space.k:
        raise SpaceError(
            f"a network iterated over strings must map text[L] to categorical[K] with K the alphabet size; "
            f"it maps {net.source} -> {net.target}"
            + (f" ({space} has {space.k} characters)" if isinstance(space, Text) else "")
        )
    if getattr(net, "causal", False):
        every = lambda tokens: net(tokens, every_prefix=True)  # noqa: E731
    else:  # one prefix at a time: the same numbers, T+1 passes instead of one
        every = lambda tokens: torch.stack([net(_prefix(tokens, t)) for t in range(tokens.shape[1] + 1)], 1)  # noqa: E731
    return space.distribution(every, net, steps=getattr(net, "stepper", None))


def _prefix(tokens: torch.Tensor, t: int) -> torch.Tensor:
    return tokens[:, :t]
