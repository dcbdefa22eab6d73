"""Scores of a generator: its samples measured against the real data, and nothing else.

What the adversarial loop calls during training (``metrics:``) and what ``gan evaluate`` prints
(``evaluation.py``, which adds run folders, the record of scores, and a digits classifier it
trains when none is given). Kept apart so that measuring during training never reaches the code
that trains.

The metrics themselves are registered functions (``metric_registry.py``; those shipped:
``shipped_metrics.py``); this module checks the names asked for against the data, and makes what
they read (``Inputs``: the samples, the real data, a classifier's or Inception's features) once.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from .. import config as C
from .. import data as datasets
from ..eval_mode import evaluating
from ..memory import check_fits
from ..runs.folder import RunDir, RunError, load
from ..verbs.sampling import draw
from . import shipped_metrics  # noqa: F401  (registers the metrics this toolkit ships)
from .metric_registry import METRICS, defaults, misfit


def _classifier_in(run: Path) -> str:
    for name in RunDir(run).network_names():
        path = RunDir(run).networks / f"{name}.json"
        try:
            info = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunError(f"--classifier {run}: {path} is not readable JSON ({error})") from None
        if not isinstance(info, dict):
            raise RunError(
                f'--classifier {run}: {path}: expected {{"spec": ..., "role": ...}}, got {type(info).__name__}'
            )
        if info.get("role") == "classifier":
            return name
    raise RunError(f"--classifier {run}: no network with the role 'classifier' in it")


def _features(net, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net.features(x[i : i + batch]).double() for i in range(0, len(x), batch)])


def score(
    net,
    cfg: C.Config,
    *,
    metrics: list[str] | None = None,
    samples: int | None = None,
    seed: int = 0,
    classifier: str | None = None,
    progress: bool = False,
) -> dict:
    """Metrics of a generator ``net`` trained on ``cfg.data`` (used by the training loop), as one flat dict with
    ``samples``."""
    each, n = score_each(
        net, cfg, metrics=metrics, samples=samples, seed=seed, classifier=classifier, progress=progress
    )
    return flattened(each, n)


def flattened(each: dict[str, dict], n: int) -> dict:
    """Every metric's values in one dict, with the number of samples they were computed on."""
    return {k: v for values in each.values() for k, v in values.items()} | {"samples": n}


def score_each(
    net,
    cfg: C.Config,
    *,
    metrics: list[str] | None = None,
    samples: int | None = None,
    seed: int = 0,
    classifier: str | None = None,
    progress: bool = False,
) -> tuple[dict[str, dict], int]:
    """Each metric's values (its score and the values that belong with it), and how many samples were drawn.

    Names that do not fit ``cfg.data`` are refused before anything is drawn (the config check refuses the
    same ones at load). ``progress``: say each phase on stderr (the terminal), with a bar while samples are drawn.
    """
    unknown = sorted(set(metrics or ()) - set(METRICS))
    if unknown:
        raise RunError(f"metric {unknown[0]!r} is unknown; accepted: {', '.join(METRICS)}")
    wanted = list(metrics or default_metrics(cfg))
    for name in wanted:
        why = misfit(name, cfg.data.name)
        if why:
            raise RunError(f"--metric {name}: it {why}")
    return measure(net, cfg, wanted, samples=samples, seed=seed, classifier=classifier, progress=progress)


def measure(
    net,
    cfg: C.Config,
    wanted: list[str],
    *,
    samples: int | None = None,
    seed: int = 0,
    classifier: str | None = None,
    progress: bool = False,
) -> tuple[dict[str, dict], int]:
    """The registered metrics ``wanted``, unchecked against the data: ``score_each`` checks first.

    The generator is in eval mode throughout and in its own mode after, whatever a metric raises.
    """
    inputs = Inputs(net, cfg, seed=seed, classifier=classifier, progress=progress)
    chosen = [METRICS[name] for name in wanted]
    with evaluating(net):
        inputs.n = samples or max((m.samples for m in chosen if m.samples), default=None) or len(inputs.real)
        inputs.check_memory()
        # A given --classifier is read before minutes of drawing: a wrong one stops at once.
        if any("classifier" in m.needs for m in chosen):
            _ = inputs.reader
        out = {m.name: m.compute(inputs) for m in chosen}
    return {
        name: {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in values.items()}
        for name, values in out.items()
    }, inputs.n


class Inputs:
    """What the metrics read, each made once however many metrics ask: the samples (``fake``), the real data,
    the classifier and its features, Inception's features. ``n`` (how many samples) is set before the first draw."""

    def __init__(self, net, cfg: C.Config, *, seed: int, classifier: str | None, progress: bool):
        self.net, self.cfg, self.seed, self.given, self.progress = net, cfg, seed, classifier, progress
        self.n: int | None = None
        self._made: dict = {}

    def cached(self, key: str, make):
        """``make()`` the first time ``key`` is asked for; its value after that."""
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def refuse(self, message: str) -> None:
        """Stop the scoring with a one-line user error (metric modules raise no error type of their own)."""
        raise RunError(message)

    def say(self, message: str) -> None:
        if self.progress:
            _say(message)

    @property
    def mixture(self):
        """The toy mixture the samples are measured against."""
        if self.cfg.data.name not in datasets.MIXTURES:
            raise RunError(f"{self.cfg.data.name} is not a toy mixture; mode metrics score ring and grid")
        return datasets.MIXTURES[self.cfg.data.name]

    @property
    def real(self):
        """The real data in memory (a Mixture for toy data)."""
        return self.cached("real", self._real)

    def _real(self):
        if self.cfg.data.name in datasets.MIXTURES:
            return datasets.MIXTURES[self.cfg.data.name]
        real = datasets.open_examples(self.cfg.data, self.net.target)
        if not isinstance(real, datasets.Examples):
            raise RunError(
                f"evaluate reads the real data into memory; {self.cfg.data.name} is streamed, which is not supported "
                "yet"
            )
        return real

    @property
    def fake(self) -> torch.Tensor:
        """``n`` samples of the generator, checked finite."""
        return self.cached("fake", self._fake)

    def check_memory(self) -> None:
        """Refuse ``n`` samples that would not fit in memory, before anything is drawn."""
        n, per_sample = self.n, 4 * math.prod(self.net.target.shape)  # float32
        if self.cfg.data.name in datasets.MIXTURES:  # points, in float64, their distance to each mean
            check_fits(n * (3 * per_sample + 8 * len(self.mixture.means)), f"--samples {n}", "score with fewer samples")
        else:  # the samples, their features, Inception's copy
            check_fits(3 * n * per_sample, f"--samples {n}", "score with fewer samples")

    def _fake(self) -> torch.Tensor:
        n = self.n
        steps = _steps(range(0, n, 500), f"drawing {n} samples", self.progress)
        return _finite(torch.cat([draw(self.net, min(500, n - i), seed=self.seed + i).cpu() for i in steps]))

    @property
    def reader(self):
        """The network of the run given as ``--classifier`` (``metrics.classifier``)."""
        return self.cached("reader", self._reader)

    def _reader(self):
        if not self.given:
            raise RunError(
                "--classifier RUN: the classifier-feature metrics need a classifier trained on the same data; "
                "train one with: gan train configs/digits_classifier.yaml, then pass --classifier "
                "runs/digits_classifier"
            )
        return load(self.given, _classifier_in(Path(self.given)))

    @property
    def classifier(self):
        """The classifier, checked to read what the generator writes."""
        if self.reader.source != self.net.target:
            raise RunError(
                f"--classifier {self.given}: it reads {self.reader.source}, but the generator writes {self.net.target}"
            )
        return self.reader

    @property
    def classifier_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The classifier's features of the real and of the generated images."""

        def make():
            reader = self.classifier
            self.say("classifier features of the real and generated images")
            return _features(reader, self.real.x), _features(reader, self.fake)

        return self.cached("classifier_features", make)

    @property
    def inception_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inception-v3's features of the real and of the generated images (a RunError where it is not available)."""

        def make():
            from . import metrics as M

            to_unit = self.net.target.to_unit
            try:
                return M.inception_features(to_unit(self.real.x)), M.inception_features(to_unit(self.fake))
            except M.MetricUnavailable as error:
                raise RunError(str(error)) from None

        return self.cached("inception_features", make)


def _say(message: str) -> None:
    print(f"gan evaluate: {message}", file=sys.stderr, flush=True)


def _steps(items, what: str, progress: bool):
    """``items``, with a bar on stderr when ``progress``."""
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=what, file=sys.stderr, leave=False, dynamic_ncols=True)


def default_metrics(cfg: C.Config) -> tuple[str, ...]:
    """The metrics scored on ``cfg.data`` when none are named."""
    return defaults(cfg.data.name)


def _finite(samples: torch.Tensor) -> torch.Tensor:
    bad = int((~torch.isfinite(samples.flatten(1))).any(dim=1).sum())
    if bad:
        raise RunError(
            f"{bad} of {len(samples)} samples of the generator are NaN or inf (its weights diverged?); there is "
            "nothing to score"
        )
    return samples
