"""How much of a run's kernel distance (KID) is the shift of its features' mean, and how much is the rest.

    python scripts/kid_parts.py runs/digits [RUN ...] [--classifier runs/digits_classifier] [--samples 5000]

KID's kernel (x.y / d + 1)^3 holds the linear term 3 x.y / d, so a shift of the mean between the two feature sets
adds about 3 ||mu_a - mu_b||^2 / d to it, whatever the rest of the two distributions does. In the digits
classifier's 3,136 features a shift of 2 (out of a Frechet distance of 55) is a KID of 0.002: the whole of what the
default run reads (BENCHMARKS.md). This prints, for each run's averaged generator against the real data: the
Frechet distance and its mean term, KID, KID with each set moved to its own mean of zero (what is left when the mean
shift is taken away), and the pixels' mean difference (on digits: how much more or less ink the samples carry).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan import config as C  # noqa: E402
from gan.measure.metrics import frechet_distance, kernel_distance  # noqa: E402
from gan.measure.scoring import Inputs  # noqa: E402
from gan.runs.folder import RunDir, RunError, load  # noqa: E402


def kid_parts(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """KID of two feature sets, the same with each set centred, and the squared distance of their means.

    >>> g = torch.Generator().manual_seed(0)
    >>> a, b = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    >>> parts = kid_parts(a, b + 0.5)  # the same distribution, moved
    >>> parts["kid"] > 0.05 and abs(parts["kid_centred"]) < 0.01
    True
    """
    centred = kernel_distance(real - real.mean(0), fake - fake.mean(0))[0]
    return {
        "kid": kernel_distance(real, fake)[0],
        "kid_centred": centred,
        "mean_term": float((real.double().mean(0) - fake.double().mean(0)).square().sum()),
    }


def parts_of_run(run: Path, classifier: str, samples: int) -> dict[str, float]:
    """kid_parts of a run's averaged generator (seed 0) in the classifier's features, with the Frechet distance."""
    cfg = C.load(run / "config.yaml")
    if "generator" not in cfg.roles:
        raise RunError(f"{run}: no network has the role 'generator' there (roles: {', '.join(cfg.roles)})")
    inputs = Inputs(load(run, cfg.roles["generator"]), cfg, seed=0, classifier=classifier, progress=False)
    inputs.n = samples
    real, fake = inputs.classifier_features
    parts = kid_parts(real, fake)
    parts["frechet"] = frechet_distance(real, fake)
    parts["pixel_mean_shift"] = float(inputs.fake.mean() - inputs.real.x.mean())
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--classifier", default="runs/digits_classifier")
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error(f"--samples: expected an integer >= 2, got {args.samples}")
    for run in args.runs:
        if not RunDir(run).config.is_file():
            print(f"kid_parts: {run}: no config.yaml there; expected a run folder (e.g. runs/digits)", file=sys.stderr)
            return 2
    try:
        for run in args.runs:
            p = parts_of_run(run, args.classifier, args.samples)
            print(
                f"{run}: Frechet {p['frechet']:.2f} (mean term {p['mean_term']:.2f}); KID {p['kid']:.5f}, "
                f"centred {p['kid_centred']:.5f}; pixel mean {p['pixel_mean_shift']:+.4f}",
                flush=True,
            )
    except (RunError, C.ConfigError) as error:
        print(f"kid_parts: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
