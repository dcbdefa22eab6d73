"""Regression as likelihood: the scores of a network that writes ``normal[D]`` on a table of reals.

The tables themselves (``diabetes``, ``table``: split, standardised by the training part) are data:
``gan/data/tables.py``. Scores are reported in the targets' own units (``Table.to_original``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from networks.spaces import Normal, Space

from .. import config as C
from ..data import open_examples
from ..data.examples import Examples
from ..data.tables import Table
from ..eval_mode import evaluating
from ..roles import RoleError
from ..runs.folder import RunError
from ..verbs.predict import Z90, Predictor


def check_targets(name: str, target: Space, examples: Examples, data: str) -> None:
    """A network that writes normal[D] needs D real targets per example, and real targets need normal[D]."""
    reals = examples.y.is_floating_point()
    if not reals:
        raise RoleError(
            f"role 'classifier': network {name!r} writes {target}, a distribution over reals, but {data} has class "
            f"labels; write categorical[{examples.classes}] or train on real targets (data.name: diabetes or table)"
        )
    dims = examples.y.shape[1]
    if not isinstance(target, Normal) or target.dim != dims:
        raise RoleError(
            f"role 'classifier': network {name!r} writes {target}, but {data} has {dims} real target(s) per example: "
            f"write normal[{dims}]"
        )


@torch.no_grad()
def scores(net, table: Table, *, batch: int = 1024) -> dict[str, float]:
    """Held-out NLL and RMSE in the targets' own units, and how often the 90% predictive interval holds the target.

    NLL is per example, summed over target dimensions (nats); ``nll_standardised`` is the same in the units the
    network writes (it differs by the log of the target scales); RMSE compares the predictive mean to the target.
    """
    net = standardised(net)
    with evaluating(net):
        params = torch.cat([net(table.x[i : i + batch]).float() for i in range(0, len(table), batch)])
    dist = net.target.distribution(params)
    y = table.y.to(params.device)
    original, y_raw = table.to_original(dist), table.original_targets().to(params.device)
    mean, scale = original.base_dist.loc, original.base_dist.scale
    inside = ((y_raw - mean).abs() <= Z90 * scale).float()
    return {
        "nll": -original.log_prob(y_raw).mean().item(),
        "nll_standardised": -dist.log_prob(y).mean().item(),
        "rmse": (y_raw - mean).pow(2).mean().sqrt().item(),
        "coverage_90": inside.mean().item(),
        "mean_interval_90": (2 * Z90 * scale).mean().item(),
        "examples": len(table),
    }


def linear_baselines(table: Table) -> dict[str, float]:
    """Held-out RMSE (targets' own units) of scikit-learn's linear models on the same split and features.

    ``ridge`` is ``Ridge()`` as it comes (alpha 1); ``ridge_cv`` picks alpha by cross-validation on the
    training part only, so the held-out part stays unseen by every model in the comparison.
    ``predict_the_mean`` is the floor any model must beat.
    """
    from sklearn.linear_model import LinearRegression, Ridge, RidgeCV

    test = table.held_out
    x, y = table.x.numpy(), table.original_targets().numpy()
    xt, yt = test.x.numpy(), test.original_targets().numpy()
    rmse = lambda guess: float(np.sqrt(((np.reshape(guess, (-1, yt.shape[1])) - yt) ** 2).mean()))  # noqa: E731
    models = {
        "linear_regression": LinearRegression(),
        "ridge": Ridge(),
        "ridge_cv": RidgeCV(alphas=np.logspace(-3, 3, 13)),
    }
    result = {f"{name}_rmse": rmse(model.fit(x, y).predict(xt)) for name, model in models.items()}
    result["ridge_cv_alpha"] = float(models["ridge_cv"].alpha_)
    result["predict_the_mean_rmse"] = rmse(y.mean(0))
    return result


@torch.no_grad()
def predictive_samples(run, net, n: int, *, seed: int = 0) -> torch.Tensor:
    """n draws from ``net``'s predictive distribution for each input the run held out: [examples, n, D], targets' units.

    The same seed gives the same draws; ``gan sample`` writes them to .npz / .pt.
    """
    net = standardised(net)
    cfg = C.load(Path(run) / "config.yaml")
    table = open_examples(cfg.data, net.source)
    if not isinstance(table, Table):
        raise RunError(
            f"{run}: data.name {cfg.data.name!r} has no real targets to draw beside (expected diabetes or table)"
        )
    held = table.held_out
    rng = torch.Generator().manual_seed(seed)
    draws = torch.stack([net.sample(x=held.x, rng=rng) for _ in range(n)], dim=1)  # [examples, n, D], standardised
    return draws * held.y_std + held.y_mean


def standardised(net):
    """The bare network where ``gan.load`` handed a ``Predictor``: held-out tables are already standardised."""
    return net.network if isinstance(net, Predictor) else net
