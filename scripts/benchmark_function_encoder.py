"""How well an encoder into function space draws digits it never saw: held-out pixel RMSE at the image's own size,
against the mean training image (the best picture that ignores its input), and how far its 4x drawing, average-pooled
back, is from the drawing at 1x.

    gan train configs/digits_function_encoder.yaml
    python scripts/benchmark_function_encoder.py runs/digits_function_encoder
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan import config as C  # noqa: E402
from gan import data as datasets  # noqa: E402
from gan.runs.folder import load  # noqa: E402


def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    """The root-mean-square error of each picture, averaged over pictures."""
    return (a - b).pow(2).flatten(1).mean(1).sqrt().mean().item()


@torch.no_grad()
def drawn(net, x: torch.Tensor, size: int) -> torch.Tensor:
    return torch.cat([net.render(x[i : i + 100], size=size) for i in range(0, len(x), 100)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished configs/digits_function_encoder.yaml run")
    args = p.parse_args()
    cfg = C.load(args.run / "config.yaml")
    net = load(args.run, next(iter(cfg.roles.values())), ema=False).eval()
    train, held = datasets.open_examples(cfg.data, net.source).split(cfg.data.holdout, cfg.run.seed)
    side = net.source.height
    at_size, at_4x = drawn(net, held.x, side), drawn(net, held.x, 4 * side)
    mean_image = train.x.float().mean(0, keepdim=True).expand_as(held.x)
    pooled = F.avg_pool2d(at_4x, 4)
    print(f"| held-out images | {len(held)} |")
    print(f"| pixel RMSE of the {side}x{side} drawing | {rmse(at_size, held.x):.3f} |")
    print(f"| pixel RMSE of the mean training image | {rmse(mean_image, held.x):.3f} |")
    print(f"| mean abs difference, {4 * side}x{4 * side} drawing pooled by 4 vs the {side}x{side} one | ", end="")
    print(f"{(pooled - at_size).abs().mean().item():.4f} |")


if __name__ == "__main__":
    main()
