"""Sampling cost per image of a painter of functions at 28, 56, 112 and 224 pixels, against the conv painter at 28.

The networks are the painters of configs/digits_function.yaml, configs/digits_local_function.yaml (with and without
its polynomial codes) and configs/digits.yaml, untrained: what a picture costs depends on the sizes of the layers
and the grid, not on the weights. One thread, batches of 64, the median of
five timed batches after one untimed one.

    python scripts/benchmark_functions.py
    python scripts/benchmark_functions.py --score runs/digits_function runs/digits --classifier runs/digits_classifier
    python scripts/benchmark_functions.py --picture runs/digits_function docs/function-samples.png

``--score``: the classifier-feature Frechet distance of each run's painter at its 28x28 grid (5,000 samples, seed 0,
the same real digits and classifier for both), and of a painter of functions drawn at 112x112 and average-pooled
to 28x28. ``--picture``: the same 16 samples drawn at 28 pixels (shown 4x, nearest neighbour) above the same
functions drawn at 112.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from networks import build, writes_functions

ROOT = Path(__file__).resolve().parent.parent

FOURIER = {"family": "fourier", "source": "noise[64]", "target": "function[2->1]", "width": 32, "depth": 3}
CONV = {"family": "conv", "source": "noise[64]", "target": "image[1,28,28]", "width": 32}


def per_image(draw, batch: int = 64, rounds: int = 5) -> float:
    """Milliseconds a picture: the median of ``rounds`` timed batches."""
    z = torch.randn(batch, 64)
    with torch.no_grad():
        draw(z)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            draw(z)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / batch


def score(runs: list[str], classifier: str) -> None:
    import gan
    from gan import config as C
    from gan.measure.scoring import score as measure
    from gan.verbs.sampling import network_in_role

    print("| run | painter | drawn at | Frechet distance (classifier features) |")
    print("| --- | --- | --- | --- |")
    for run in runs:
        cfg = C.load(f"{run}/config.yaml")
        net = gan.load(run, network_in_role(run, ("generator",)))
        views = [("28x28", None)] + ([("112x112, pooled to 28x28", 112)] if writes_functions(net) else [])
        for said, size in views:
            if size:  # draw larger, then average 4x4 blocks: what a 28x28 reader of the large picture sees
                net.forward = lambda x, y=None, s=size, n=net: F.avg_pool2d(n.render(x, y, size=s), s // 28)
            fd = measure(net, cfg, metrics=["fid_classifier"], classifier=classifier)["fid_classifier"]
            print(f"| {run} | {net.spec['family']} | {said} | {fd:.1f} |")


def picture(run: str, out: str) -> None:
    import torchvision.utils as vutils

    import gan

    net = gan.load(run, "painter")
    z = torch.randn(8, net.source.dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        small, large = net.render(z, size=28), net.render(z, size=112)
    rows = torch.cat([F.interpolate(small, scale_factor=4, mode="nearest"), large])
    vutils.save_image((rows + 1) / 2, out, nrow=8, padding=2, pad_value=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--score", nargs="+", metavar="RUN")
    parser.add_argument("--classifier", default="runs/digits_classifier")
    parser.add_argument("--picture", nargs=2, metavar=("RUN", "PNG"))
    args = parser.parse_args()
    if args.score:
        return score(args.score, args.classifier)
    if args.picture:
        return picture(*args.picture)
    cost()


def painter(config: str) -> dict:
    """The painter's spec as a shipped config writes it."""
    return yaml.safe_load((ROOT / "configs" / config).read_text())["networks"]["painter"]


def cost() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    conv = build(CONV).eval()
    painters = [
        ("fourier (configs/digits_function.yaml)", build(FOURIER | {"frequencies": 16})),
        ("local_implicit (configs/digits_local_function.yaml)", build(painter("digits_local_function.yaml"))),
        (
            "local_implicit, point network (`polynomial: null`)",
            build(painter("digits_local_function.yaml") | {"polynomial": None}),
        ),
    ]
    base = per_image(conv)
    print("| painter | pixels | ms a picture | x conv at 28 |")
    print("| --- | --- | --- | --- |")
    print(f"| conv (configs/digits.yaml) | 28x28 | {base:.3f} | 1.0 |")
    for name, net in painters:
        net.eval()
        for size in (28, 56, 112, 224):
            ms = per_image(lambda z, s=size, n=net: n.render(z, size=s))
            print(f"| {name} | {size}x{size} | {ms:.3f} | {ms / base:.1f} |")


if __name__ == "__main__":
    main()
