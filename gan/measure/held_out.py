"""A network scored on data its run held out: what the likelihood loop logs at every sample step and what
``gan evaluate`` of a likelihood run prints, computed in one place so the two can never disagree.

- labels (bernoulli, categorical[K]): accuracy, NLL, expected calibration error; on ``numbers`` also exact
  match on seen and never-seen numbers and per-character accuracy;
- strings read from images (text[L] targets): NLL per character, and on ``numbers`` the same exact match;
- reals (normal[D]): NLL, RMSE, the coverage of the 90% predictive interval (``regression.py``);
- text read as text (a next-character network): held-out bits per character and next-character accuracy.
"""

from __future__ import annotations

import torch

from networks import Bernoulli, Categorical, Normal, Text

from ..eval_mode import evaluating
from ..objectives import negative_log_likelihood


def held_out_scores(net, held) -> dict[str, float]:
    """The scores of ``net`` on held-out examples (``Examples``, or a text ``Corpus`` for a next-character network)."""
    if isinstance(net.source, Text):
        from . import text as text_scores

        return text_scores.score(net, held)
    if isinstance(net.target, Normal):
        from .regression import scores

        return scores(net, held)
    if isinstance(net.target, (Bernoulli, Categorical)):
        result = evaluate(net, held.x, held.y)
    else:  # strings written from images: per-character NLL
        result = {"nll": held_out_nll(net, held.x, held.y)}
    if hasattr(held, "unseen"):  # numbers: exact match on seen and never-seen numbers, per character
        from .numbers import scores

        result.update(scores(net, held))
    return result


@torch.no_grad()
def held_out_nll(net, x: torch.Tensor, y: torch.Tensor, *, batch: int = 512) -> float:
    """The loop's loss on held-out examples, for targets other than labels (strings, reals)."""
    with evaluating(net):
        total = sum(
            negative_log_likelihood(net, x[i : i + batch], y[i : i + batch])[0].item() * len(x[i : i + batch])
            for i in range(0, len(x), batch)
        )
    return total / len(x)


@torch.no_grad()
def evaluate(net, x: torch.Tensor, y: torch.Tensor, *, batch: int = 512, bins: int = 15) -> dict[str, float]:
    """Accuracy, mean negative log-likelihood and expected calibration error (Guo et al. 2017)."""
    probs = []
    with evaluating(net):
        for i in range(0, len(x), batch):
            logits = net(x[i : i + batch]).float()
            p = torch.sigmoid(logits) if isinstance(net.target, Bernoulli) else logits.softmax(-1)
            probs.append(torch.stack([1 - p, p], -1) if isinstance(net.target, Bernoulli) else p)
    p = torch.cat(probs)
    y = y.long().to(p.device)
    confidence, guess = p.max(-1)
    correct = (guess == y).float()
    nll = -p.gather(1, y[:, None]).clamp_min(1e-12).log().mean()
    edges = torch.linspace(0, 1, bins + 1, device=p.device)
    ece = torch.zeros((), device=p.device)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():  # |accuracy - confidence| in the bin, weighted by the bin's share
            ece += inside.float().mean() * (correct[inside].mean() - confidence[inside].mean()).abs()
    return {"accuracy": correct.mean().item(), "nll": nll.item(), "calibration_error": ece.item()}
