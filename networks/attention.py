"""Causal self-attention pieces shared by the text families: GPT-2's pre-norm block, and a character
decoder that writes strings one character at a time from a code (the head of any family whose
target is ``text[L]``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .spaces import Text


class Block(nn.Module):
    """Pre-norm causal self-attention then an MLP, each added to the residual stream."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout)
        )

    def forward(self, h: torch.Tensor, cache: KeyValues | None = None) -> torch.Tensor:
        """``cache`` holds the keys and values of the positions before ``h``: with it, only the new positions are
        computed (sampling one character at a time), and dropout is off since nothing is being trained."""
        n, t, w = h.shape
        q, k, v = (
            self.qkv(self.norm1(h)).view(n, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        )  # [3, N, heads, T, W/heads]
        if cache is None:
            a = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )
        else:
            k, v, mask = cache.extend(self, k, v)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        h = h + self.proj(a.transpose(1, 2).reshape(n, t, w))
        mlp = self.mlp if cache is None else self.mlp[:-1]  # the last layer of the MLP is its dropout
        return h + mlp(self.norm2(h))


class KeyValues:
    """The keys and values each block has computed so far, so a sampler feeds each new character alone.

    Made fresh for each sampling call and dropped after it: the module keeps no state between calls,
    so two samplers (or a sampler and training) never see each other's positions.
    """

    def __init__(self):
        self.past: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.length = 0  # positions already read, the same for every block

    def extend(self, block: Block, k: torch.Tensor, v: torch.Tensor):
        """Keys and values of all positions so far, and the mask that keeps each new one from reading later ones."""
        if id(block) in self.past:
            old_k, old_v = self.past[id(block)]
            k, v = torch.cat([old_k, k], 2), torch.cat([old_v, v], 2)
        self.past[id(block)] = (k, v)
        new, total = k.shape[2] - self.length, k.shape[2]
        if new == 1:  # one new position reads every earlier one: no mask needed
            return k, v, None
        rows = torch.arange(self.length, total, device=k.device)[:, None]
        return k, v, rows >= torch.arange(total, device=k.device)

    def advance(self, positions: int) -> None:
        """Called once the new positions have gone through every block, so each block sees the same past."""
        self.length += positions


class CharacterDecoder(nn.Module):
    """Next-character logits after every prefix of a string, given a code per string: [N, T+1, k].

    The code takes the place of a start token, so row 0 (the empty prefix) already reads it and
    every later row reads it through attention: a causal Transformer conditioned on what the body saw.
    """

    def __init__(self, space: Text, code: int, *, width: int = 128, depth: int = 2, heads: int = 4):
        super().__init__()
        self.start = nn.Linear(code, width)
        self.tokens = nn.Embedding(space.k, width)
        self.positions = nn.Embedding(space.length + 1, width)
        self.blocks = nn.ModuleList(Block(width, heads, 0.0) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, space.k)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:  # GPT-2: residual branches scaled down with depth
            for layer in (block.proj, block.mlp[2]):
                nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * depth))

    def forward(self, code: torch.Tensor, strings: torch.Tensor) -> torch.Tensor:
        """code [N, F], strings [N, T] (PAD after each end) -> [N, T+1, k]."""
        start = self.start(code)[:, None].expand(len(strings), -1, -1)  # one code may serve many strings (a beam)
        h = torch.cat(
            [start, self.tokens(strings.long().clamp_min(0))], 1
        )  # PAD reads as any token: causality keeps it out of earlier rows
        h = h + self.positions.weight[: h.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.out(self.norm(h))
