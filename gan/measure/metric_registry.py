"""The metrics a generator can be scored by, each registered once: its name, what it needs, which data it fits.

Modelled on stylegan2-ada-pytorch's ``metrics/metric_main.py``: a metric is one function decorated with
``@register_metric``. The config check (``metrics.names``), the CLI's ``--metric`` choices, ``gan evaluate``
and the training loop's scoring all read ``METRICS``, so a metric is accepted when a config loads if and
only if the scoring can compute it on that data; no code outside a metric branches on its name.

Which data a metric fits is decided from the data set's *name*, through ``KINDS`` below, never by importing
``gan.data``: gan.config checks ``metrics.names`` while it loads, and gan.data reads gan.config's ``Data``,
so asking gan.data would put a back-arrow (an import cycle) into the layering. This module imports nothing
of the toolkit; tests/test_metric_registry.py keeps ``KINDS`` in step with ``gan.data.NAMES``.
The metrics the toolkit ships are registered in ``shipped_metrics.py``; import that module to read them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# What each data set holds, as far as a metric cares.
KINDS: dict[str, str] = {
    **dict.fromkeys(("ring", "grid"), "mixture"),  # 2-D Gaussian mixtures: modes, high-quality share
    **dict.fromkeys(
        ("digits", "sklearn_digits", "mnist", "fashion_mnist", "cifar10", "celeba", "folder", "numbers"), "images"
    ),
    "stacked_digits": "stacked_digits",  # images of three digits, one a channel: 1,000 modes
    **dict.fromkeys(("diabetes", "table"), "table"),  # rows of numbers with real targets: no classifier can be trained
    "text": "text",  # scored by held-out bits per character (gan evaluate), not by these metrics
    "generated": "pairs",  # (G(z), z) drawn from a frozen network for an encoder: scored by held-out likelihood
}
SAID = {
    "mixture": "a toy mixture",
    "images": "images",
    "stacked_digits": "images",
    "table": "rows of numbers",
    "text": "text",
    "pairs": "pairs drawn from a network",
}


@dataclass(frozen=True)
class Metric:
    """One registered metric.

    ``compute(inputs) -> dict``: its score under its own name plus the values that belong with it (the floor
    of a distance, a standard error); that dict is what RUN/evaluation.json keeps for it. ``inputs`` is
    ``gan.measure.scoring.Inputs``: the generator's samples, the real data, a classifier's or Inception's features,
    each made once however many metrics ask. ``needs``: what it reads beyond the samples ("real",
    "classifier", "inception", "labels"); a metric that needs "classifier" makes ``gan evaluate`` train the
    digits classifier when none is given. ``fits``: the data kinds (``KINDS``) it scores. ``default``: the kinds
    on which it is scored when no metric is named. ``samples``: how many samples it draws when none are asked
    for (None: as many as the real data holds).
    """

    name: str
    compute: Callable[..., dict]
    needs: tuple[str, ...] = ()
    fits: tuple[str, ...] = ()
    default: tuple[str, ...] = ()
    samples: int | None = None


METRICS: dict[str, Metric] = {}  # in the order registered: the order the CLI and messages list them


def register_metric(name: str, *, needs=(), fits=(), default=(), samples: int | None = None):
    """Decorator: register ``fn(inputs) -> dict`` as the metric ``name``. A name registered twice is refused."""
    unknown = sorted((set(fits) | set(default)) - set(KINDS.values()))
    if unknown:
        raise ValueError(
            f"register_metric({name!r}): unknown data kind {unknown[0]!r}; kinds: "
            f"{', '.join(sorted(set(KINDS.values())))}"
        )

    def register(fn: Callable[..., dict]) -> Callable[..., dict]:
        if name in METRICS:
            raise ValueError(f"register_metric: a metric named {name!r} is already registered")
        METRICS[name] = Metric(name, fn, tuple(needs), tuple(fits), tuple(default), samples)
        return fn

    return register


def unregister_metric(name: str) -> None:
    """Forget a metric (tests register their own and must leave the registry as they found it)."""
    METRICS.pop(name, None)


def kind(data: str) -> str | None:
    """The kind of the data set ``data`` (None for a name no data set has)."""
    return KINDS.get(data)


def fitting(data: str) -> tuple[str, ...]:
    """The metrics that score the data set ``data``."""
    return tuple(name for name, metric in METRICS.items() if kind(data) in metric.fits)


def defaults(data: str) -> tuple[str, ...]:
    """The metrics scored on ``data`` when none are named."""
    return tuple(name for name, metric in METRICS.items() if kind(data) in metric.default)


def misfit(name: str, data: str) -> str | None:
    """Why ``name`` cannot score ``data`` (for a one-line error), or None when it can."""
    if name in fitting(data):
        return None
    fit = fitting(data)
    return f"does not score {data} ({SAID.get(kind(data), 'unknown data')}); " + (
        f"its metrics are {', '.join(fit)}" if fit else "no metric scores it"
    )
