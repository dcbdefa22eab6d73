"""Truncation's trade of variety for quality, measured: precision, recall and Frechet distance at several psi.

    python -m gan train --set run.output=/tmp/h36runs              # the default run, once
    python scripts/benchmark_truncation.py /tmp/h36runs/digits     # psi 1.0, 0.8, 0.6; prints a markdown table
    python scripts/benchmark_truncation.py RUN --psi 1 0.9 0.7 0.5 --samples 2000

The scores are ``gan evaluate``'s own (classifier features of the digits classifier ``gan evaluate`` trains once
beside the run), on the same seed's noise at every psi, so a row differs from the next by truncation alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan import config as C  # noqa: E402
from gan.measure.evaluation import digits_classifier  # noqa: E402
from gan.measure.metric_registry import METRICS  # noqa: E402
from gan.measure.scoring import Inputs  # noqa: E402
from gan.runs.folder import load  # noqa: E402
from gan.verbs.sampling import draw  # noqa: E402

WANTED = ("precision_recall", "fid_classifier")


def scores(run: Path, psi: float, *, samples: int, seed: int, classifier: str) -> dict:
    """The run's generator scored at ``psi``: its samples are put in the scorer's cache, so the metrics read them."""
    cfg = C.load(run / "config.yaml")
    net = load(run, cfg.roles["generator"])
    inputs = Inputs(net, cfg, seed=seed, classifier=classifier, progress=False)
    inputs.n = samples

    def fake():
        with torch.no_grad():
            parts = [draw(net, min(500, samples - i), seed=seed + i, truncation=psi) for i in range(0, samples, 500)]
        return torch.cat(parts).cpu()

    inputs.cached("fake", fake)
    out = {}
    for name in WANTED:
        out.update(METRICS[name].compute(inputs))
    return {k: float(v) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a trained digits run, e.g. /tmp/h36runs/digits")
    p.add_argument("--psi", type=float, nargs="+", default=[1.0, 0.8, 0.6])
    p.add_argument("--samples", type=int, default=5000, help="samples scored at each psi (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    classifier = str(digits_classifier(args.run.parent))
    print("| psi | precision | recall | Frechet distance (classifier features) | seconds |")
    print("| --- | --- | --- | --- | --- |")
    real = None
    for psi in args.psi:
        start = time.perf_counter()
        s = scores(args.run, psi, samples=args.samples, seed=args.seed, classifier=classifier)
        took = time.perf_counter() - start
        print(f"| {psi:g} | {s['precision']:.3f} | {s['recall']:.3f} | {s['fid_classifier']:.2f} | {took:.0f} |")
        real = s
    if real is not None:
        print(
            f"| real vs real | {real['precision_real']:.3f} | {real['recall_real']:.3f} | "
            f"{real['fid_classifier_floor']:.2f} | |"
        )


if __name__ == "__main__":
    main()
