"""Scores of next-character networks: held-out bits per character and accuracy, beside general-purpose
compressors given the same training text."""

from __future__ import annotations

import torch

from networks.spaces import PAD

from ..data.examples import to_device
from ..data.text import Corpus
from ..eval_mode import evaluating


@torch.no_grad()
def score(net, corpus: Corpus, *, batch: int = 256) -> dict[str, float]:
    """Bits per character and next-character accuracy of a next-character network on ``corpus``."""
    import math

    device = next(net.parameters()).device
    nll = correct = 0.0
    order = torch.argsort(corpus.lengths)  # similar lengths together: less padding
    with evaluating(net):
        for i in range(0, len(order), batch):
            ids = order[i : i + batch]
            s = corpus.tokens[to_device(ids, corpus.tokens.device), : int(corpus.lengths[ids].max())].to(device)
            logits = net(s, every_prefix=True)[:, :-1].float()
            real = s != PAD
            nll += float(torch.nn.functional.cross_entropy(logits[real], s[real], reduction="sum"))
            correct += float((logits[real].argmax(-1) == s[real]).sum())
    n = corpus.characters
    return {"bits_per_character": nll / n / math.log(2), "accuracy": correct / n, "characters": n}


def compressor_bits(train: str, held_out: str) -> dict[str, float]:
    """Bits per character of general-purpose compressors on ``held_out``, alone and given ``train`` first.

    Given the training text, the cost is size(train + held_out) - size(train): what the held-out
    text adds once the compressor has seen what the model has seen.
    """
    import bz2
    import lzma
    import zlib

    tools = {
        "lzma": lambda b: len(lzma.compress(b, preset=9 | lzma.PRESET_EXTREME)),
        "bz2": lambda b: len(bz2.compress(b, 9)),
        "zlib": lambda b: len(zlib.compress(b, 9)),
    }
    a, b = train.encode(), held_out.encode()
    n = max(1, len(held_out))
    out = {}
    for name, size in tools.items():
        out[f"{name}_bits_per_character"] = 8 * size(b) / n
        out[f"{name}_given_train_bits_per_character"] = 8 * (size(a + b) - size(a)) / n
    return out
