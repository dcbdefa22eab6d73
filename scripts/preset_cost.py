"""What a GPU preset's whole run costs in arithmetic, counted on this CPU: the GPU-hours its header quotes.

    python scripts/preset_cost.py configs/cifar10.yaml
    python scripts/preset_cost.py configs/ffhq64.yaml --batch 2

It builds the config's own loop at full width on a few random pictures of its shape, counts the floating-point
operations of one training step (both networks forward and backward, R1 and R2's double backward: every matrix
product and convolution the loop runs, by torch's FlopCounterMode formulas) at --batch images a step, scales them to
the config's batch and run.steps, and divides by a GPU's rate. Grouped 3x3 convolutions seldom run near a GPU's
peak, so the hours are given at several shares of it: an estimate, until a measured images/s replaces it
(scripts/check_device.py). The networks have no batch statistics, so a step's operations grow with its batch
exactly; the count runs in fp32 (bf16 does the same operations).
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gan import config as C  # noqa: E402
from gan.benchmark.speed.kernels import count_flops  # noqa: E402
from gan.loops.setup import adversarial_loop  # noqa: E402
from gan.runs.folder import RunError  # noqa: E402
from gan.session.session import Session  # noqa: E402
from networks.spaces import parse  # noqa: E402

H100_BF16_DENSE = 989.4e12  # FLOP/s, H100 SXM, dense bf16 tensor cores (NVIDIA's datasheet; 1,979 is with sparsity)


def random_folder(root: Path, shape: tuple[int, int, int], classes: int, per_class: int) -> Path:
    """Pictures of the config's shape, a subfolder a class: what the loop reads in place of the real data."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (shape[1], shape[2], shape[0]), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if shape[0] == 1 else pixels).save(root / f"class{c}" / f"{i}.png")
    return root


def flops_per_image(config: Path, overrides: list[str], batch: int) -> tuple[float, C.Config]:
    """Operations of one training step divided by the images it reads, and the config as written."""
    cfg = C.load(C.locate(config), overrides)
    if cfg.loop != "adversarial":
        raise C.ConfigError(f"{config}: loop {cfg.loop!r}; this counts an adversarial loop's step (a GPU preset's)")
    image = parse(cfg.networks[cfg.roles["discriminator"]]["source"])
    if not image.is_image:
        raise C.ConfigError(f"{config}: the discriminator reads {image}, not images: there is no picture to make")
    shape = (image.channels, image.height, image.width)
    condition = cfg.networks[cfg.roles["generator"]].get("condition")
    classes = parse(condition).k if condition and cfg.data.labels else 1  # a subfolder a class, as the preset has
    with tempfile.TemporaryDirectory() as tmp:
        folder = random_folder(Path(tmp) / "images", shape, classes, max(2, batch // classes + 1))
        counting = C.load(
            C.locate(config),
            [
                *overrides,
                "data.name=folder",
                f"data.path={folder}",
                f"data.batch_size={batch}",
                "data.workers=0",
                "run.mixed_precision=no",
                f"run.output={tmp}/runs",
                "run.progress=false",
            ],
        )
        with Session(counting) as session:
            loop = adversarial_loop(session)
            loop.iteration(False)  # the first step builds what later steps reuse: count a later one
            total = count_flops(lambda: loop.iteration(False))
    return total / (batch * counting.objective.d_steps), cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--batch", type=int, default=2, help="images a step while counting (default 2)")
    parser.add_argument("--peak", type=float, default=H100_BF16_DENSE, help="the GPU's FLOP/s (default: H100 bf16)")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.25, 0.5], help="shares of the peak")
    args = parser.parse_args()
    try:
        per_image, cfg = flops_per_image(Path(args.config), args.set, args.batch)
    except (C.ConfigError, RunError) as error:  # a user's config, key or value: one line, no traceback
        sys.exit(f"preset_cost: {error}")
    images = cfg.run.steps * cfg.data.batch_size * cfg.run.grad_accum * cfg.objective.d_steps
    total = per_image * images
    print(f"{args.config}: {per_image / 1e9:.2f} GFLOP an image a step (counted at batch {args.batch})")
    print(f"{cfg.run.steps:,} steps of {cfg.data.batch_size:,} images: {images / 1e6:.1f}M images, ", end="")
    print(f"{total / 1e18:.2f} EFLOP")
    for share in args.shares:
        hours = total / (args.peak * share) / 3600
        shown = f"{hours:,.0f}" if hours >= 10 else f"{hours:.2g}"
        print(f"  at {share:.0%} of {args.peak / 1e12:,.0f} TFLOP/s: {shown} GPU-hours")


if __name__ == "__main__":
    main()
