"""Predictions in the units a table was written in: what ``gan.load`` returns for a network trained on a table.

A network trained on ``diabetes`` or ``table`` reads features standardised by the training part's means and
scales, and writes a normal over standardised targets (``gan/data/tables.py``). Those statistics are the
run's, kept in ``RUN/networks/units/NAME.json`` when training starts (``Table.units``), so that new rows are
read as the training rows were and predictions come back in the targets' own units.

>>> predictor = gan.load("runs/diabetes", "predictor")   # doctest: +SKIP
>>> predictor.predict(rows)["mean"]                       # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from torch import distributions as D

from networks import Network, Normal, Point, Real

from ..data.examples import DataError

Z90 = 1.6448536269514722  # the 95% quantile of N(0, 1): mean +- Z90 * scale holds 90% of a Normal
TABLES = ("diabetes", "table")
COLUMNS = ("mean", "scale", "low90", "high90")  # what ``gan predict`` writes for each target, in this order


class Predictor:
    """A network trained on a standardised table, together with the means and scales it was trained with.

    Why a wrapper rather than the network itself: a scikit-learn user expects what a fitted model is loaded as to
    read the rows it was fitted on (a ``Pipeline`` carries its ``StandardScaler``) and to answer in the target's
    units (``TransformedTargetRegressor``). The bare network reads standardised rows, and raw rows of the right
    width would go through it without a word, so it is not what ``gan.load`` hands out: this object is not
    callable and has no ``sample(x=...)`` of a network, so no code written for networks can feed it rows in the
    wrong units. ``.network`` is the bare one (standardised units), ``gan.load(..., units=False)`` too.
    ``source``, ``target`` and ``condition`` say what the network maps between, as a network's do.
    """

    def __init__(self, network: Network, units: dict, *, name: str = "network"):
        if not isinstance(network.target, Normal):
            raise ValueError(f"network {name!r} writes {network.target}; units are kept for normal[D] only")
        self.network, self.name = network, name
        self.feature_names = _names(units["features"], network.source.dim, "feature")
        self.target_names = _names(units["targets"], network.target.dim, "target")
        self.x_mean, self.x_std = _moments(units["features"], network.source.dim, "feature")
        self.y_mean, self.y_std = _moments(units["targets"], network.target.dim, "target")
        self.targets = self.target_names or (
            ["target"] if network.target.dim == 1 else [f"target{i + 1}" for i in range(network.target.dim)]
        )

    source = property(lambda self: self.network.source)
    target = property(lambda self: self.network.target)
    condition = property(lambda self: self.network.condition)

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"a Predictor reads raw rows with .predict(rows) or .distribution(rows); .network(x) is network "
            f"{self.name!r} itself, which reads rows standardised by the run's means and scales"
        )

    def __repr__(self) -> str:
        reads = ", ".join(self.feature_names) if self.feature_names else f"{self.source.dim} numbers"
        return f"Predictor({self.name}: rows of {reads} -> {', '.join(self.targets)} in their own units)"

    def rows(self, rows) -> torch.Tensor:
        """Raw rows as the float32 tensor the training rows were made of; a pandas frame is matched by its column
        names."""
        if hasattr(rows, "columns") and hasattr(rows, "to_numpy"):
            header = [str(c) for c in rows.columns]
            rows = rows.to_numpy(dtype=np.float64)[:, column_order(header, self, "rows")]
        x = torch.as_tensor(np.asarray(rows, dtype=np.float64), dtype=torch.float32)
        x = x[None] if x.dim() == 1 else x
        if x.dim() != 2 or x.shape[1] != self.source.dim:
            raise DataError(f"rows: expected [rows, {self.source.dim}] ({self.reads()}), got {list(x.shape)}")
        bad = ~torch.isfinite(x)
        if bad.any():
            i, j = (int(k) for k in bad.nonzero()[0])
            raise DataError(f"rows: row {i + 1}, column {self.column_name(j)}: {x[i, j].item()} is not a number")
        return x

    @torch.no_grad()
    def distribution(self, rows) -> D.Independent:
        """The predictive normal of each row in the targets' own units: the network's, mapped back exactly as the
        held-out scores map it (``Table.to_original``)."""
        x = self.rows(rows)
        device = next(self.network.parameters()).device
        x = ((x - self.x_mean) / self.x_std).to(device)
        dist = self.network.target.distribution(self.network(x).float())
        base = dist.base_dist
        mean, std = self.y_mean.to(device), self.y_std.to(device)
        return D.Independent(D.Normal(base.loc * std + mean, base.scale * std), 1)

    def predict(self, rows) -> dict[str, np.ndarray]:
        """Per row and target [rows, D]: the predictive mean, its scale, and the central 90% interval (low, high)."""
        base = self.distribution(rows).base_dist
        mean, scale = base.loc.double().cpu().numpy(), base.scale.double().cpu().numpy()
        return {"mean": mean, "scale": scale, "low": mean - Z90 * scale, "high": mean + Z90 * scale}

    def sample(self, rows, n: int = 1, *, seed: int = 0) -> np.ndarray:
        """n draws from each row's predictive normal, [rows, n, D], in the targets' units; the same seed, the same
        draws."""
        base = self.distribution(rows).base_dist
        rng = torch.Generator(base.loc.device).manual_seed(seed)
        noise = torch.randn((n, *base.loc.shape), generator=rng, device=base.loc.device)
        return (base.loc + noise * base.scale).transpose(0, 1).double().cpu().numpy()

    def reads(self) -> str:
        return ", ".join(self.feature_names) if self.feature_names else f"{self.source.dim} numbers a row, by position"

    def column_name(self, j: int) -> str:
        return repr(self.feature_names[j]) if self.feature_names else str(j + 1)


def _names(side: dict, dim: int, what: str) -> list[str] | None:
    names = side.get("names")
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != dim or not all(isinstance(n, str) for n in names):
        raise ValueError(f"expected {dim} {what} names, got {names!r}")
    return names


def _moments(side: dict, dim: int, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(side["mean"], dtype=torch.float32)
    scale = torch.tensor(side["scale"], dtype=torch.float32)
    if mean.shape != (dim,) or scale.shape != (dim,) or not bool((scale > 0).all()):
        raise ValueError(f"expected {dim} {what} means and {dim} positive scales")
    return mean, scale


def units_from_config(config: Path, net: Network) -> dict | None:
    """The units of a run from before runs kept them: its config opens the same table (``data.seed`` fixes the
    split), so the training part's means and scales come out the same; None where the data is no table."""
    if not isinstance(net.target, Normal) or not isinstance(net.source, (Point, Real)) or not config.is_file():
        return None
    from .. import config as C
    from ..data.tables import open_table

    cfg = C.load(config)
    if cfg.data.name not in TABLES:
        return None
    return open_table(cfg.data, net.source).units()


def column_order(header: list[str] | None, predictor: Predictor, where: str, width: int | None = None) -> list[int]:
    """Which column of a file holds each feature the network reads: by name where both have names, else by
    position."""
    features, dim = predictor.feature_names, predictor.source.dim
    if header is None or features is None:
        width = len(header) if header is not None else (dim if width is None else width)
        if width != dim:
            hint = "; or a header row of these names, in any order" if header is None and features else ""
            raise DataError(
                f"{where}: {width} columns, but the network reads {dim} features ({predictor.reads()}){hint}"
            )
        return list(range(dim))
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise DataError(f"{where}: column {', '.join(map(repr, twice))} appears more than once in the header")
    missing = [f for f in features if f not in header]
    extra = [h for h in header if h not in features]
    if missing or extra:
        said = [f"missing {', '.join(map(repr, missing))}"] if missing else []
        targets = [h for h in extra if h in predictor.targets]
        said += [f"not read: {', '.join(map(repr, extra))}"] if extra else []
        said += [f"{', '.join(map(repr, targets))} is a target, which predict writes"] if targets else []
        raise DataError(
            f"{where}: the header does not name the features network {predictor.name!r} reads ({'; '.join(said)}); "
            f"expected, in any order: {', '.join(features)}"
        )
    return [header.index(f) for f in features]


def read_csv(path: str | Path, predictor: Predictor) -> np.ndarray:
    """Rows of a CSV file, [rows, features] in the order the network reads them. A first line without a single
    number is a header, matched by name in any order; without one, columns are taken by position."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not a file (expected a CSV file of rows: {predictor.reads()})")
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from None
    lines = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), 1) if any(c.strip() for c in row)]
    if not lines:
        raise DataError(f"{path} is empty (expected a CSV file of rows: {predictor.reads()})")
    first = [c.strip() for c in lines[0][1]]
    header = None if any(_number(c) is not None for c in first) else first
    body = lines[1:] if header is not None else lines
    if not body:
        raise DataError(f"{path} holds a header row and no rows to predict for")
    order = column_order(header, predictor, str(path), width=len(first))
    width = len(header) if header is not None else predictor.source.dim
    values = np.empty((len(body), len(order)))
    for i, (line, row) in enumerate(body):
        if len(row) != width:
            raise DataError(f"{path} line {line} (row {i + 1}): {len(row)} columns, expected {width}")
        for j, k in enumerate(order):
            value = _number(row[k].strip())
            if value is None or not math.isfinite(value):
                raise DataError(
                    f"{path} line {line} (row {i + 1}), column {predictor.column_name(j)}: {row[k].strip()!r} is "
                    "not a number"
                )
            values[i, j] = value
    return values


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def prediction_table(predictor: Predictor, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The columns ``gan predict`` writes (``<target>_mean, _scale, _low90, _high90`` per target) and their values,
    one row per input row."""
    p = predictor.predict(rows)
    parts = [p[k] for k in ("mean", "scale", "low", "high")]
    names = [f"{t}_{c}" for t in predictor.targets for c in COLUMNS]
    values = np.stack([part[:, d] for d in range(len(predictor.targets)) for part in parts], axis=1)
    return names, values
