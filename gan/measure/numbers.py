"""Scores of networks that read numbers: exact match on seen and never-seen numbers, per character.

A one-hot head (its likeliest class, spelled) and a string head (the string it reads) are scored alike.
"""

from __future__ import annotations

import torch

from networks.spaces import PAD, Categorical, Text

from ..data.numbers import DIGITS, Numbers, spell
from ..eval_mode import evaluating


def string_scores(predicted: list[str], held: Numbers) -> dict[str, float]:
    """Exact match on seen and never-seen numbers, and per-character accuracy, of predicted label strings.

    Any head can be scored this way: a categorical[1000] head's most likely class, spelled, or the
    string a text head reads off the image.
    """
    truth = held.labels_text
    exact = torch.tensor([p == t for p, t in zip(predicted, truth)], dtype=torch.float32)
    chars = torch.tensor([sum(a == b for a, b in zip(p.ljust(DIGITS), t)) / DIGITS for p, t in zip(predicted, truth)])
    unseen = held.unseen.cpu()
    result = {"exact": exact.mean().item(), "per_character": chars.mean().item()}
    for name, mask in (("seen", ~unseen), ("unseen", unseen)):
        if mask.any():
            result[f"exact_{name}"] = exact[mask].mean().item()
            result[f"per_character_{name}"] = chars[mask].mean().item()
        result[f"examples_{name}"] = int(mask.sum())
    return result


@torch.no_grad()
def scores(net, held: Numbers, *, batch: int = 500) -> dict[str, float]:
    """``string_scores`` of a network that writes ``categorical[1000]`` (its most likely number, spelled)
    or ``text[L]`` (the string it reads greedily; ``accuracy`` is then its exact match, as for the one-hot head)."""
    if not isinstance(net.target, (Categorical, Text)):
        return {}
    with evaluating(net):
        if isinstance(net.target, Text):
            end = net.target.end  # a text[4] head writes "042." where the label is "042"
            guess = [
                s.removesuffix(end)
                for i in range(0, len(held), batch)
                for s in read_greedily(net, held.x[i : i + batch])
            ]
        else:
            guess = spell(
                torch.cat([net(held.x[i : i + batch]).argmax(-1).cpu() for i in range(0, len(held), batch)]).tolist()
            )
    result = string_scores(guess, held)
    return {"accuracy": result["exact"], **result} if isinstance(net.target, Text) else result


@torch.no_grad()
def read_greedily(net, x: torch.Tensor) -> list[str]:
    """The string a ``text[L]`` network reads off each input, its likeliest character at each step.

    Greedy, so a batch costs L passes of the character decoder; the likeliest whole string can differ
    when the head hesitates between two first characters (``most_likely`` searches a beam for it).
    """
    space: Text = net.target
    code = net(x)
    tokens = torch.empty(len(x), 0, dtype=torch.long, device=code.device)
    done = torch.zeros(len(x), dtype=torch.bool, device=code.device)
    while tokens.shape[1] < space.length and not bool(done.all()):
        nxt = net.decoder(code, tokens)[:, -1].argmax(-1)
        tokens = torch.cat([tokens, torch.where(done, PAD, nxt).unsqueeze(1)], 1)
        done |= nxt == space.end_index
    return space.strings(tokens)
