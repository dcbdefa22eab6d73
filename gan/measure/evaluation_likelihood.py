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

from .. import config as C
from .. import data as datasets
from ..runs.folder import RunError, load
from .held_out import held_out_scores


def evaluate_likelihood(run: Path, cfg: C.Config) -> dict:
    """Held-out scores of the ``classifier`` role of a likelihood run."""
    name = cfg.roles["classifier"]
    net = load(run, name, ema=False)
    if cfg.data.name == "generated":  # an encoder: the held-out pairs its run scored, drawn again from its source
        return {"classifier": name, "target": str(net.target), **held_out_scores(net, _generated_pairs(cfg))}
    source = datasets.open_examples(cfg.data, net.source)
    if not isinstance(source, datasets.Examples) or source.y is None:
        raise RunError(f"{run}: data.name {cfg.data.name!r} gives no labelled data to score the classifier on")
    if isinstance(net.target, Text):
        if not hasattr(source, "labels_text"):
            raise RunError(
                f"{run}: data.name {cfg.data.name!r} labels its examples by class, not by strings, so {net.target} "
                "cannot be scored on it"
            )
        from ..data.numbers import string_labels

        source = string_labels(source, net.target)
    _, held = source.split(cfg.data.holdout, cfg.run.seed)
    if len(held) == 0:
        raise RunError(f"{run}: data.holdout is 0, so nothing was held out to score on")
    result = {"classifier": name, "target": str(net.target), **held_out_scores(net, held)}
    if isinstance(net.target, Normal):  # beside scikit-learn's linear models on the same split
        from .regression import linear_baselines

        result.update({f"baseline/{k}": v for k, v in linear_baselines(source).items()})
    return result


def _generated_pairs(cfg: C.Config):
    """The held-out (G(z), z) pairs of an encoder's run: its source network as ``init:`` names it (the run keeps
    only the encoder), with the run's seed, so they are the pairs the run scored itself on."""
    from ..data.generated import GeneratedPairs

    source_name = cfg.roles.get("source")
    init = cfg.networks.get(source_name, {}).get("init") if source_name else None
    if not init:
        raise RunError("roles.source: an encoder run names its source network by init: {run: RUN, network: NAME}")
    source = load(init["run"], init["network"], ema=bool(init.get("ema", False))).eval()
    return GeneratedPairs(source, cfg.data.batch_size, seed=cfg.run.seed).held_out()
