"""Scoring a likelihood run on its held-out data: ``gan evaluate RUN`` where the loop is ``likelihood``.

The held-out part is the one the run itself held out (same ``data.holdout``, ``run.seed``, and for
made-up data and fixed splits ``data.seed``), so the scores are those of data the network never saw.

- labels (bernoulli, categorical[K]): accuracy, NLL, calibration error; on ``numbers`` also exact
  match on seen and never-seen numbers and per-character accuracy;
- strings (text[L], on numbers): NLL per character, and the same exact match and per-character
  accuracy of the strings read greedily (``accuracy`` is the exact match);
- reals (normal[D]): NLL and RMSE in the targets' own units, the coverage of the 90% predictive
  interval, and beside them scikit-learn's LinearRegression and Ridge on the same split.
"""

from __future__ import annotations

from pathlib import Path

from networks import Normal, Text

from . import config as C
from . import data as datasets
from .runs import RunError, load


def evaluate_likelihood(run: Path, cfg: C.Config) -> dict:
    """Held-out scores of the ``classifier`` role of a likelihood run."""
    from .loops.likelihood import evaluate

    name = cfg.roles["classifier"]
    net = load(run, name, ema=False)
    source = datasets.open_examples(cfg.data, net.source)
    if not isinstance(source, datasets.Examples) or source.y is None:
        raise RunError(f"{run}: data.name {cfg.data.name!r} gives no labelled data to score the classifier on")
    if isinstance(net.target, Text):
        if not hasattr(source, "labels_text"):
            raise RunError(f"{run}: data.name {cfg.data.name!r} labels its examples by class, not by strings, so {net.target} cannot be scored on it")
        from .data.numbers import string_labels

        source = string_labels(source, net.target)
    _, held = source.split(cfg.data.holdout, cfg.run.seed)
    if len(held) == 0:
        raise RunError(f"{run}: data.holdout is 0, so nothing was held out to score on")
    result: dict = {"classifier": name, "target": str(net.target)}
    if isinstance(net.target, Normal):
        from .regression import linear_baselines, scores

        result.update(scores(net, held))
        result.update({f"baseline/{k}": v for k, v in linear_baselines(source).items()})
        return result
    if isinstance(net.target, Text):  # per-character NLL, and the strings read greedily
        from .loops.likelihood import held_out_nll
        from .data.numbers import scores

        return {**result, "nll": held_out_nll(net, held.x, held.y), **scores(net, held)}
    result.update(evaluate(net, held.x, held.y))
    if hasattr(held, "unseen"):
        from .data.numbers import scores

        result.update(scores(net, held))
    return result
