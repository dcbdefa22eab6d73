"""Tables of reals with real targets: ``diabetes`` and ``table``, for a network that writes ``normal[D]``.

- ``diabetes``: scikit-learn's bundled diabetes data (442 patients, 10 features, a measure of
  disease progression one year later), read as ``point[10] -> normal[1]``;
- ``table``: a local CSV file of numbers (one optional header row); the first columns are what
  the networks read (``point[F]``: F columns), the rest are the targets.

The split is fixed when the data is opened (``data.seed``, ``data.holdout``). Features and targets
are then standardised with the mean and standard deviation of the *training part only*, so nothing
of the held-out part leaks into training; networks write distributions in standardised units and
``Table.to_original`` maps them back, which is how RMSE and NLL are reported in the target's units
(``gan/measure/regression.py``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import distributions as D

from networks.spaces import Point, Real, Space

from ..config import Data
from ..words import counted
from .examples import DataError, Examples


@dataclass
class Table(Examples):
    """The training part of a split table (standardised), its held-out part, and the training statistics."""

    x_mean: torch.Tensor  # [F] of the raw training features: standardised = (raw - mean) / std
    x_std: torch.Tensor
    y_mean: torch.Tensor  # [D] of the raw training targets
    y_std: torch.Tensor
    held_out: Table | None = None
    feature_names: tuple[str, ...] | None = None  # a CSV header's, or scikit-learn's; None for a headerless CSV
    target_names: tuple[str, ...] | None = None

    def split(self, holdout: float, seed: int) -> tuple[Table, Table]:
        """The split made when the data was opened (``data.holdout``, ``data.seed``), whatever is asked here."""
        return replace(self, held_out=None), self.held_out

    def to(self, device) -> Table:
        return replace(self, x=self.x.to(device), y=self.y.to(device))

    def to_original(self, dist: D.Independent) -> D.Independent:
        """A Normal over standardised targets -> the same Normal in the targets' own units."""
        base = dist.base_dist
        mean, std = self.y_mean.to(base.loc.device), self.y_std.to(base.loc.device)
        return D.Independent(D.Normal(base.loc * std + mean, base.scale * std), 1)

    def original_targets(self) -> torch.Tensor:
        return self.y * self.y_std.to(self.y.device) + self.y_mean.to(self.y.device)

    def units(self) -> dict:
        """What a network trained on this table needs to read raw rows later (``gan/verbs/predict.py``), as JSON.

        The statistics live here and nowhere else; without them in the run, new rows could only be fed in the
        standardised units the network was trained on, which nobody outside the data code knows.
        """
        side = lambda names, mean, std: {  # noqa: E731
            "names": list(names) if names else None,
            "mean": mean.tolist(),
            "scale": std.tolist(),
        }
        return {
            "about": "the network reads (raw - mean) / scale of its features and writes a normal over "
            "(target - mean) / scale of its targets",
            "features": side(self.feature_names, self.x_mean, self.x_std),
            "targets": side(self.target_names, self.y_mean, self.y_std),
        }


def open_table(cfg: Data, space: Space) -> Table:
    """Read ``cfg.name`` (diabetes or table) as features in ``space`` and targets, split and standardised."""
    if not isinstance(space, (Point, Real)):
        raise DataError(f"data.name: {cfg.name} holds rows of numbers (point[F]), but the networks read {space}")
    if cfg.name == "diabetes":
        from sklearn.datasets import load_diabetes

        bunch = load_diabetes()
        x, y, what = bunch.data, bunch.target[:, None], "scikit-learn's diabetes data"
        names = (tuple(bunch.feature_names), ("target",))  # the target's name in load_diabetes(as_frame=True)
        if space.dim != x.shape[1]:
            raise DataError(
                f"data.name: diabetes has {x.shape[1]} features (point[{x.shape[1]}]), but the networks read {space}"
            )
    else:
        x, y, what, names = _csv(cfg, space.dim)
    return standardise(x, y, holdout=cfg.holdout, seed=cfg.seed, what=what, names=names)


def _csv(cfg: Data, features: int) -> tuple[np.ndarray, np.ndarray, str, tuple | None]:
    if not cfg.path:
        raise DataError("data.path: data 'table' is read from a CSV file of numbers; set data.path")
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise DataError(f"data.path: {str(path)!r} is not a file (expected a CSV file of numbers)")
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if not lines:  # said here: NumPy would read it as one column of nothing, with a warning of its own
        raise DataError(
            f"data.path: {path} is empty (expected a CSV file of numbers: {features} feature column(s), then the "
            "targets)"
        )
    try:
        float(lines[0].split(",")[0])
        skip = 0
    except ValueError:
        skip = 1  # a header row
    if len(lines) == skip:
        raise DataError(f"data.path: {path} holds a header row and no rows of numbers")
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise DataError(f"data.path: {path} is not a CSV file of numbers ({error})") from None
    if table.shape[1] <= features:
        raise DataError(
            f"data.path: {path} has {counted(table.shape[1], 'column')}; the networks read "
            f"{counted(features, 'feature')}, which leaves no target column"
        )
    header = [cell.strip() for cell in next(csv.reader([lines[0]]))] if skip else []
    names = (tuple(header[:features]), tuple(header[features:])) if len(header) == table.shape[1] else None
    return table[:, :features], table[:, features:], f"{path}", names


def standardise(
    x: np.ndarray, y: np.ndarray, *, holdout: float, seed: int, what: str, names: tuple | None = None
) -> Table:
    """Refuse missing values (naming the example), split by ``seed``, scale both parts by the training part.

    >>> t = standardise(np.arange(20.0)[:, None], np.arange(20.0)[:, None], holdout=0.25, seed=0, what="a test")
    >>> len(t), len(t.held_out), round(float(t.y.mean()), 6), round(float(t.y.std(unbiased=False)), 6)
    (15, 5, 0.0, 1.0)
    """
    for name, values in (("target", y), ("feature", x)):
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{what}: example {i} has a missing or infinite {name} ({values[i].tolist()}); remove or fill it"
            )
    n = len(x)
    held = max(1, int(round(holdout * n))) if holdout > 0 else 0
    if n - held < 2:
        raise DataError(f"{what}: {n} examples leave fewer than 2 to train on with data.holdout {holdout}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, test = order[: n - held], order[n - held :]
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    x_mean, x_std = _moments(x[train])
    y_mean, y_std = _moments(y[train])
    features, targets = names or (None, None)
    part = lambda idx, **more: Table(  # noqa: E731
        (x[idx] - x_mean) / x_std, (y[idx] - y_mean) / y_std, None, x_mean, x_std, y_mean, y_std, **more
    )  # noqa: E731
    more = dict(feature_names=features, target_names=targets)
    return part(train, held_out=part(test, **more), **more)


def _moments(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    std = v.std(0, unbiased=False)
    return v.mean(0), torch.where(std > 0, std, torch.ones_like(std))  # a constant column stays as it is
