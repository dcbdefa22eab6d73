"""Projection on held-out real digits: from the encoder alone, from optimisation alone, and from both.

    python -m gan train --set run.output=/tmp/h9runs                                   # the default run, once
    python -m gan train configs/digits_encoder.yaml --set run.output=/tmp/h9runs \\
        --set networks.reader.init.run=/tmp/h9runs/digits --set networks.painter.init.run=/tmp/h9runs/digits
    python scripts/benchmark_projection.py /tmp/h9runs/digits --encoder /tmp/h9runs/digits_encoder

The digits are the 20% of the bundled 28x28 digits that the digits classifier holds out (data.holdout 0.2, seed 0);
the default GAN trained on all 5,000, the encoder on none (it sees only generated pairs). Distances: mean absolute
pixel error in [0, 1]; the feature distance that projection lowers (the run's critic body, unit-length features,
squared distance in [0, 4]); and a judge-free one, the same distance in the body of the digits classifier that
``gan evaluate`` trains beside the run (no part of the search looks at it). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan.config import Data  # noqa: E402
from gan.data import open_examples  # noqa: E402
from gan.measure.evaluation import digits_classifier  # noqa: E402
from gan.runs.folder import load  # noqa: E402
from gan.verbs.project import networks_of, project  # noqa: E402


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def held_out_digits(space, n: int) -> torch.Tensor:
    """The digits classifier's held-out split (configs/digits_classifier.yaml: holdout 0.2, seed 0), first n; 8x8
    scikit-learn digits for a generator of that size (a quick check of this script on a tiny run)."""
    name = "sklearn_digits" if (space.height, space.width) == (8, 8) else "digits"
    _, held = open_examples(Data(name=name), space).split(0.2, 0)
    return held.x[:n]


def unit_features(net, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.normalize(net.features(x).float(), dim=1)


def row(name: str, found, targets, judge, critic, seconds: float, space) -> str:
    pixel = (space.to_unit(found.images) - space.to_unit(targets)).abs().flatten(1).mean(1)
    critic_d = found.feature if critic is not None else torch.full_like(pixel, float("nan"))
    judge_d = (unit_features(judge, found.images) - unit_features(judge, targets)).pow(2).sum(1)
    return (
        f"| {name} | {pixel.mean():.4f} | {critic_d.mean():.4f} | {judge_d.mean():.4f} | "
        f"{found.distance.mean():.4f} | {seconds:.1f} |"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a finished default run, e.g. /tmp/h9runs/digits")
    p.add_argument("--encoder", required=True, help="a run of configs/digits_encoder.yaml on that run")
    p.add_argument("--classifier", help="the judge-free feature network's run (default: digits_classifier beside RUN)")
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--starts", type=int, default=4, help="random starts of optimisation alone")
    args = p.parse_args(argv)
    G, D, E = networks_of(args.run, args.encoder)
    classifier = args.classifier or str(digits_classifier(Path(args.run).parent))
    judge = load(classifier, "reader", ema=False)
    targets = held_out_digits(G.target, args.images)
    modes = [
        ("encoder alone", dict(encoder=E, steps=0)),
        (
            f"optimisation alone ({args.starts} random starts, {args.steps} steps)",
            dict(steps=args.steps, starts=args.starts),
        ),
        (f"encoder + optimisation ({args.steps} steps)", dict(encoder=E, steps=args.steps, starts=1)),
    ]
    project(G, targets[:2], features=D, encoder=E, steps=1)  # first calls pay for allocation: not any row's time
    print(f"{len(targets)} held-out digits, {torch.get_num_threads()} threads, {cpu_model()}\n")
    print("| start | mean pixel error | critic-feature distance | judge-free feature distance | distance | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, kw in modes:
        start = time.perf_counter()
        found = project(G, targets, features=D, **kw)
        print(row(name, found, targets, judge, D, time.perf_counter() - start, G.target), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
