"""Regression as likelihood: tables of reals, and the scores of a network that writes ``normal[D]``.

- ``diabetes``: scikit-learn's bundled diabetes data (442 patients, 10 features, a measure of
  disease progression one year later), read as ``point[10] -> normal[1]``;
- ``table``: a local CSV file of numbers (one optional header row); the first columns are what
  the networks read (``point[F]``: F columns), the rest are the targets.

The split is fixed when the data is opened (``data.seed``, ``data.holdout``). Features and targets
are then standardised with the mean and standard deviation of the *training part only*, so nothing
of the held-out part leaks into training; networks write distributions in standardised units and
``Table.to_original`` maps them back, which is how RMSE and NLL are reported in the target's units.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import distributions as D

from networks.spaces import Normal, Point, Real, Space

from .config import Data
from .data import DataError, Examples
from .roles import RoleError

Z90 = 1.6448536269514722  # the 95% quantile of N(0, 1): mean +- Z90 * scale holds 90% of a Normal


@dataclass
class Table(Examples):
    """The training part of a split table (standardised), its held-out part, and the training statistics."""

    x_mean: torch.Tensor  # [F] of the raw training features: standardised = (raw - mean) / std
    x_std: torch.Tensor
    y_mean: torch.Tensor  # [D] of the raw training targets
    y_std: torch.Tensor
    held_out: "Table | None" = None

    def split(self, holdout: float, seed: int) -> tuple["Table", "Table"]:
        """The split made when the data was opened (``data.holdout``, ``data.seed``), whatever is asked here."""
        return replace(self, held_out=None), self.held_out

    def to(self, device) -> "Table":
        return replace(self, x=self.x.to(device), y=self.y.to(device))

    def to_original(self, dist: D.Independent) -> D.Independent:
        """A Normal over standardised targets -> the same Normal in the targets' own units."""
        base = dist.base_dist
        mean, std = self.y_mean.to(base.loc.device), self.y_std.to(base.loc.device)
        return D.Independent(D.Normal(base.loc * std + mean, base.scale * std), 1)

    def original_targets(self) -> torch.Tensor:
        return self.y * self.y_std.to(self.y.device) + self.y_mean.to(self.y.device)


def open_table(cfg: Data, space: Space) -> Table:
    """Read ``cfg.name`` (diabetes or table) as features in ``space`` and targets, split and standardised."""
    if not isinstance(space, (Point, Real)):
        raise DataError(f"data.name: {cfg.name} holds rows of numbers (point[F]), but the networks read {space}")
    if cfg.name == "diabetes":
        from sklearn.datasets import load_diabetes

        bunch = load_diabetes()
        x, y, what = bunch.data, bunch.target[:, None], "scikit-learn's diabetes data"
        if space.dim != x.shape[1]:
            raise DataError(f"data.name: diabetes has {x.shape[1]} features (point[{x.shape[1]}]), but the networks read {space}")
    else:
        x, y, what = _csv(cfg, space.dim)
    return standardise(x, y, holdout=cfg.holdout, seed=cfg.seed, what=what)


def _csv(cfg: Data, features: int) -> tuple[np.ndarray, np.ndarray, str]:
    if not cfg.path:
        raise DataError("data.path: data 'table' is read from a CSV file of numbers; set data.path")
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise DataError(f"data.path: {str(path)!r} is not a file (expected a CSV file of numbers)")
    lines = path.read_text(errors="replace").splitlines()
    try:
        float(lines[0].split(",")[0])
        skip = 0
    except (ValueError, IndexError):
        skip = 1  # a header row
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise DataError(f"data.path: {path} is not a CSV file of numbers ({error})") from None
    if table.shape[1] <= features:
        raise DataError(f"data.path: {path} has {table.shape[1]} columns; the networks read {features} features, which leaves no target column")
    return table[:, :features], table[:, features:], f"{path}"


def standardise(x: np.ndarray, y: np.ndarray, *, holdout: float, seed: int, what: str) -> Table:
    """Refuse missing values (naming the example), split by ``seed``, scale both parts by the training part.

    >>> t = standardise(np.arange(20.0)[:, None], np.arange(20.0)[:, None], holdout=0.25, seed=0, what="a test")
    >>> len(t), len(t.held_out), round(float(t.y.mean()), 6), round(float(t.y.std(unbiased=False)), 6)
    (15, 5, 0.0, 1.0)
    """
    for name, values in (("target", y), ("feature", x)):
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{what}: example {i} has a missing or infinite {name} ({values[i].tolist()}); remove or fill it")
    n = len(x)
    held = max(1, int(round(holdout * n))) if holdout > 0 else 0
    if n - held < 2:
        raise DataError(f"{what}: {n} examples leave fewer than 2 to train on with data.holdout {holdout}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, test = order[: n - held], order[n - held :]
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    x_mean, x_std = _moments(x[train])
    y_mean, y_std = _moments(y[train])
    part = lambda idx, **more: Table((x[idx] - x_mean) / x_std, (y[idx] - y_mean) / y_std, None, x_mean, x_std, y_mean, y_std, **more)  # noqa: E731
    return part(train, held_out=part(test))


def _moments(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    std = v.std(0, unbiased=False)
    return v.mean(0), torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays as it is


def check_targets(name: str, target: Space, examples: Examples, data: str) -> None:
    """A network that writes normal[D] needs D real targets per example, and real targets need normal[D]."""
    reals = examples.y.is_floating_point()
    if not reals:
        raise RoleError(f"role 'classifier': network {name!r} writes {target}, a distribution over reals, but {data} has class labels; "
                        f"write categorical[{examples.classes}] or train on real targets (data.name: diabetes or table)")
    dims = examples.y.shape[1]
    if not isinstance(target, Normal) or target.dim != dims:
        raise RoleError(f"role 'classifier': network {name!r} writes {target}, but {data} has {dims} real target(s) per example: write normal[{dims}]")


@torch.no_grad()
def scores(net, table: Table, *, batch: int = 1024) -> dict[str, float]:
    """Held-out NLL and RMSE in the targets' own units, and how often the 90% predictive interval holds the target.

    NLL is per example, summed over target dimensions (nats); ``nll_standardised`` is the same in the units the
    network writes (it differs by the log of the target scales); RMSE compares the predictive mean to the target.
    """
    was_training = net.training
    net.eval()
    params = torch.cat([net(table.x[i : i + batch]).float() for i in range(0, len(table), batch)])
    net.train(was_training)
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
    models = {"linear_regression": LinearRegression(), "ridge": Ridge(), "ridge_cv": RidgeCV(alphas=np.logspace(-3, 3, 13))}
    result = {f"{name}_rmse": rmse(model.fit(x, y).predict(xt)) for name, model in models.items()}
    result["ridge_cv_alpha"] = float(models["ridge_cv"].alpha_)
    result["predict_the_mean_rmse"] = rmse(y.mean(0))
    return result


@torch.no_grad()
def predictive_samples(run, net, n: int, *, seed: int = 0) -> torch.Tensor:
    """n draws from ``net``'s predictive distribution for each input the run held out: [examples, n, D], targets' units.

    The same seed gives the same draws; ``gan sample`` writes them to .npz / .pt.
    """
    from . import config as C
    from .data import open_examples
    from .runs import RunError

    cfg = C.load(Path(run) / "config.yaml")
    table = open_examples(cfg.data, net.source)
    if not isinstance(table, Table):
        raise RunError(f"{run}: data.name {cfg.data.name!r} has no real targets to draw beside (expected diabetes or table)")
    held = table.held_out
    rng = torch.Generator().manual_seed(seed)
    draws = torch.stack([net.sample(x=held.x, rng=rng) for _ in range(n)], dim=1)  # [examples, n, D], standardised
    return draws * held.y_std + held.y_mean
