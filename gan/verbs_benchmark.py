"""``gan benchmark``: measure the toolkit. ``speed`` times the training step; ``quality`` trains and scores.

The command line only: the benchmarks live in ``gan.benchmark`` and are imported when a sub-verb
runs, so building the parser loads neither them nor torch.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(verbs) -> None:
    from .benchmark.variants import COMBINED, VARIANTS

    bench = verbs.add_parser("benchmark", help="measure speed or quality")
    kinds = bench.add_subparsers(dest="benchmark", required=True)

    p = kinds.add_parser("speed", help="time the adversarial loop against a plain PyTorch loop and the machine's matmul peak")
    p.add_argument("config", help="YAML config of an adversarial run, e.g. configs/dcgan32.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. data.batch_size=128")
    p.add_argument("--rounds", type=int, default=8, help="timed rounds, toolkit and reference alternating (default 8)")
    p.add_argument("--steps", type=int, default=20, help="training steps per round (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps of each loop first (default 5)")
    p.add_argument("--variants", nargs="+", default=["default", "quiet"], choices=[*VARIANTS, *COMBINED], metavar="VARIANT",
                   help=f"what to measure, in order: {', '.join(VARIANTS)}, best (the faster switches together), "
                        "best_fp32 (the same without mixed precision); list the last two after the switches")
    p.add_argument("--layers", action="store_true", help="also time each convolution and linear layer alone, and each op of a step where it ran and alone: how close the kernels themselves get to the peak")
    p.add_argument("--json", metavar="FILE", help="also write the full result as JSON")
    p.set_defaults(func=speed)

    p = kinds.add_parser("quality", help="train ring, grid and the bundled digits over seeds; score them beside published tables")
    p.add_argument("--only", action="append", choices=["ring", "grid", "digits"], help="run only these (repeatable)")
    p.add_argument("--toy-seeds", type=int, default=5, help="seeds for ring and grid (default 5)")
    p.add_argument("--digits-seeds", type=int, default=3, help="seeds for the digits GAN (default 3)")
    p.add_argument("--output", default="runs/benchmark", help="where the runs go; a run folder already there is never replaced: the call stops first")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override every GAN run's config, e.g. run.steps=100")
    p.add_argument("--markdown", metavar="FILE", help="update the rows measured in the '## Quality' section of FILE (e.g. BENCHMARKS.md)")
    p.set_defaults(func=quality)


def speed(args) -> int:
    from .benchmark.speed import measure, table
    from .config import ConfigError

    if args.rounds < 1 or args.steps < 1 or args.warmup < 0:
        raise ConfigError(f"--rounds and --steps must be >= 1 and --warmup >= 0; got {args.rounds}, {args.steps}, {args.warmup}")
    if args.config and not Path(args.config).is_file():
        raise ConfigError(f"config file {args.config!r} not found")
    if args.json and (Path(args.json).is_dir() or not Path(args.json).parent.is_dir()):
        raise ConfigError(f"--json {args.json}: expected a file in an existing folder")  # checked before minutes of timing
    result = measure(args.config, args.set, rounds=args.rounds, warmup=args.warmup, steps_per_round=args.steps, variants=tuple(args.variants), layers=args.layers)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0


def quality(args) -> int:
    import sys

    from .benchmark import quality as B
    from .config import ConfigError

    if args.toy_seeds < 1 or args.digits_seeds < 1:
        raise ConfigError(f"--toy-seeds and --digits-seeds must be >= 1; got {args.toy_seeds}, {args.digits_seeds}")
    B.run_and_record("gan " + " ".join(sys.argv[1:]), Path(args.markdown) if args.markdown else None, toy_seeds=args.toy_seeds,
                     digits_seeds=args.digits_seeds, output=Path(args.output), which=tuple(args.only or ("ring", "grid", "digits")), overrides=args.set)
    return 0
