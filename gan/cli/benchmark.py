"""``gan benchmark``: measure the toolkit. ``speed`` times the training step; ``quality`` trains and scores.

The command line only: the benchmarks live in ``gan.benchmark`` and are imported when a sub-verb
runs, so building the parser loads neither them nor torch.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(verbs) -> None:
    from ..benchmark.variants import COMBINED, VARIANTS

    bench = verbs.add_parser("benchmark", help="measure speed or quality")
    kinds = bench.add_subparsers(dest="benchmark", required=True)
    _add_speed(kinds, [*VARIANTS, *COMBINED], ", ".join(VARIANTS))
    _add_quality(kinds)
    _add_curve(kinds)


def _add_speed(kinds, choices: list[str], switches: str) -> None:
    p = kinds.add_parser(
        "speed", help="time the adversarial loop against a plain PyTorch loop and the machine's matmul peak"
    )
    p.add_argument("config", help="YAML config of an adversarial run, e.g. configs/dcgan32.yaml")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. data.batch_size=128",
    )
    p.add_argument("--rounds", type=int, default=8, help="timed rounds, toolkit and reference alternating (default 8)")
    p.add_argument("--steps", type=int, default=20, help="training steps per round (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps of each loop first (default 5)")
    p.add_argument(
        "--variants",
        nargs="+",
        default=["default", "quiet"],
        choices=choices,
        metavar="VARIANT",
        help=f"what to measure, in order: {switches}, best (the faster switches together), "
        "best_fp32 (the same without mixed precision); list the last two after the switches",
    )
    p.add_argument(
        "--layers",
        action="store_true",
        help="also time each convolution and linear layer alone, and each op of a step where it ran and alone: "
        "how close the kernels themselves get to the peak",
    )
    p.add_argument("--json", metavar="FILE", help="also write the full result as JSON")
    p.set_defaults(func=speed)


def _add_quality(kinds) -> None:
    p = kinds.add_parser(
        "quality", help="train ring, grid and the bundled digits over seeds; score them beside published tables"
    )
    p.add_argument("--only", action="append", choices=["ring", "grid", "digits"], help="run only these (repeatable)")
    p.add_argument("--toy-seeds", type=int, default=5, help="seeds for ring and grid (default 5)")
    p.add_argument("--digits-seeds", type=int, default=3, help="seeds for the digits GAN (default 3)")
    p.add_argument(
        "--output",
        default="runs/benchmark",
        help="where the runs go; a run folder already there is never replaced: the call stops first",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override every GAN run's config, e.g. run.steps=100",
    )
    p.add_argument(
        "--markdown",
        metavar="FILE",
        help="update the rows measured in the '## Quality' section of FILE (e.g. BENCHMARKS.md)",
    )
    p.set_defaults(func=quality)


def _add_curve(kinds) -> None:
    p = kinds.add_parser(
        "curve",
        help="Frechet distance, precision and recall of a digits GAN against training seconds, over seeds; "
        "JSON and a PNG",
        description="Every call adds its runs to --json under --label and redraws --png from the whole file, "
        "so candidates measured one after another share one picture. "
        "Set run.steps high (--set run.steps=1000000) to let --seconds alone end the runs; "
        "--limit N trains on N digits only (DiffAugment's limited-data table).",
    )
    p.add_argument("config", nargs="?", default="digits", help="a digits GAN config (default: the shipped digits)")
    p.add_argument("--label", help="name of this candidate in the JSON and the picture (default: the config's name)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the config (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds, one run each (default 0)")
    p.add_argument(
        "--seconds", type=float, default=300.0, help="training seconds per run, scoring left out (default 300)"
    )
    p.add_argument("--every", type=float, default=30.0, help="seconds of training between scores (default 30)")
    p.add_argument(
        "--every-steps",
        type=int,
        help="score every N steps instead, and train to run.steps: for runs that share the CPU",
    )
    p.add_argument(
        "--pace",
        type=float,
        help="seconds a step takes alone on the machine the curve is for (from `gan benchmark speed`: "
        "batch size / toolkit ex/s); the x axis is then step x pace, not the measured seconds",
    )
    p.add_argument("--samples", type=int, default=2000, help="samples per score (default 2,000)")
    p.add_argument("--limit", type=int, help="train on this many digits only (scored against all 5,000)")
    p.add_argument("--output", default="runs/curve", help="where the runs go (default runs/curve)")
    p.add_argument("--json", help="results file, filled by successive calls (default OUTPUT/curve.json)")
    p.add_argument("--png", help="the mean curve of every label in the JSON (default OUTPUT/curve.png)")
    p.add_argument(
        "--draw-only",
        action="store_true",
        help="train nothing: redraw --png from --json (with --pace, put that pace on every label first)",
    )
    p.set_defaults(func=curve)


def speed(args) -> int:
    from ..benchmark.speed import measure, table
    from ..config import ConfigError

    if args.rounds < 1 or args.steps < 1 or args.warmup < 0:
        raise ConfigError(
            f"--rounds and --steps must be >= 1 and --warmup >= 0; got {args.rounds}, {args.steps}, {args.warmup}"
        )
    if args.config and not Path(args.config).is_file():
        raise ConfigError(f"config file {args.config!r} not found")
    if args.json and (Path(args.json).is_dir() or not Path(args.json).parent.is_dir()):
        raise ConfigError(
            f"--json {args.json}: expected a file in an existing folder"
        )  # checked before minutes of timing
    result = measure(
        args.config,
        args.set,
        rounds=args.rounds,
        warmup=args.warmup,
        steps_per_round=args.steps,
        variants=tuple(args.variants),
        layers=args.layers,
    )
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0


def reproduce_command(argv: list[str]) -> str:
    """The command as typed, ready to paste into a shell: quoted where a shell would split it, and with
    paths under the working folder made relative, so a table's "Reproduce" line reads the same on every machine."""
    import os
    import shlex

    here = Path.cwd()

    def relative(arg: str) -> str:
        path = Path(arg)
        return os.path.relpath(path, here) if path.is_absolute() and path.is_relative_to(here) else arg

    return "gan " + shlex.join(relative(arg) for arg in argv)


def quality(args) -> int:
    from ..benchmark import quality as B
    from ..config import ConfigError

    if args.toy_seeds < 1 or args.digits_seeds < 1:
        raise ConfigError(f"--toy-seeds and --digits-seeds must be >= 1; got {args.toy_seeds}, {args.digits_seeds}")
    B.run_and_record(
        reproduce_command(args.argv),
        Path(args.markdown) if args.markdown else None,
        toy_seeds=args.toy_seeds,
        digits_seeds=args.digits_seeds,
        output=Path(args.output),
        which=tuple(args.only or ("ring", "grid", "digits")),
        overrides=args.set,
    )
    return 0


def curve(args) -> int:
    from .. import config as C
    from ..benchmark import curve as B
    from ..config import ConfigError

    if args.seconds <= 0 or args.every <= 0 or args.samples < 10 or (args.limit is not None and args.limit < 1):
        raise ConfigError(
            "--seconds and --every must be > 0, --samples >= 10 and --limit >= 1; "
            f"got {args.seconds}, {args.every}, {args.samples}, {args.limit}"
        )
    if (args.every_steps is not None and args.every_steps < 1) or (args.pace is not None and args.pace <= 0):
        raise ConfigError(f"--every-steps must be >= 1 and --pace > 0; got {args.every_steps}, {args.pace}")
    output = Path(args.output)
    json_path = Path(args.json) if args.json else output / "curve.json"
    png_path = Path(args.png) if args.png else output / "curve.png"
    if args.draw_only:
        return draw_curves(json_path, png_path, args.pace)
    config = C.locate(args.config)
    for seed in args.seeds:
        result = B.train_curve(
            config,
            seconds=args.seconds,
            every=args.every,
            seed=seed,
            output=output,
            overrides=args.set,
            samples=args.samples,
            limit=args.limit,
            label=args.label,
            every_steps=args.every_steps,
            pace=args.pace,
        )
        table = B.record(result, json_path)
        if result["stopped_by"] is not None:
            break
    B.picture(table, png_path)
    print(f"wrote {json_path} and {png_path}")
    return 0 if result["stopped_by"] is None else 128 + result["stopped_by"]


def draw_curves(json_path: Path, png_path: Path, pace: float | None) -> int:
    """``--draw-only``: the picture of curves measured earlier (by runs that shared a machine, paced afterwards)."""
    import json

    from ..benchmark import curve as B
    from ..config import ConfigError

    def written_by_curve(table) -> bool:
        return (
            isinstance(table, dict)
            and bool(table)
            and all(
                isinstance(runs, list) and all(isinstance(r, dict) and isinstance(r.get("points"), list) for r in runs)
                for runs in table.values()
            )
        )

    try:
        table = json.loads(json_path.read_text())
    except (OSError, ValueError):
        table = None
    if not written_by_curve(table):
        raise ConfigError(
            f"--json {json_path}: expected the JSON a `gan benchmark curve` wrote (label -> runs with points)"
        )
    if pace is not None:
        for label in table:
            B.set_pace(table, label, pace)
        json_path.write_text(json.dumps(table, indent=1))
    B.picture(table, png_path)
    print(f"wrote {png_path}" + (f" (and the pace into {json_path})" if pace is not None else ""))
    return 0
