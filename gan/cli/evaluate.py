"""``gan evaluate``: score a run's generator (or its classifier on held-out data) and print the scores as JSON."""

from __future__ import annotations

import json

from .args import seed


def add_parser(verbs) -> None:
    from ..measure import shipped_metrics  # noqa: F401  (registers the shipped metrics without loading torch to offer them)
    from ..measure.metric_registry import METRICS

    p = verbs.add_parser(
        "evaluate",
        help="score a run's generator, or a likelihood run on its held-out data; "
        "prints JSON and keeps each metric's latest score in RUN/evaluation.json",
    )
    p.add_argument("run", help="run folder, e.g. runs/ring")
    p.add_argument(
        "--metric",
        action="append",
        choices=list(METRICS),
        help="a metric to compute (repeatable); default: those that fit the data",
    )
    p.add_argument(
        "--samples",
        type=int,
        help="how many samples to draw (default: 2,500 for toy data, the dataset's size for images)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--classifier",
        metavar="RUN",
        help="a likelihood run on the same data, for the classifier-feature metrics "
        "(on the bundled digits: default RUNS/digits_classifier, trained there once if missing)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..measure.evaluation import evaluate, strict
    from ..runs.folder import NotWritten, RunError

    if args.samples is not None and args.samples < 2:
        raise RunError(f"--samples: expected at least 2 samples, got {args.samples}")
    try:
        result = evaluate(
            args.run,
            metrics=args.metric,
            samples=args.samples,
            seed=args.seed,
            classifier=args.classifier,
            progress=True,
        )
    except NotWritten as error:  # scored, but the disk refused evaluation.json: the scores are not lost
        print(json.dumps(strict(error.result), indent=1, allow_nan=False))
        raise
    print(json.dumps(strict(result), indent=1, allow_nan=False))
    return 0
