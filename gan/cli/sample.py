"""``gan sample``: draw samples from a trained network."""

from __future__ import annotations

from .args import seed


def add_parser(verbs) -> None:
    p = verbs.add_parser("sample", help="draw samples from a trained network")
    p.add_argument("run", help="run folder, e.g. runs/digits")
    p.add_argument(
        "--network",
        help="network name in the run (see its networks/ folder); default: the run's generator (a likelihood run: "
        "its classifier)",
    )
    p.add_argument("-n", type=int, help="number of samples (default 64)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="FILE.png (grid), FILE.npz / FILE.pt (array), FOLDER/ (one PNG each) "
        "or FILE.txt (sentences, text networks)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--truncation",
        type=float,
        metavar="PSI",
        help="noise drawn nearer its mode, psi in (0, 1] (normal noise scaled by psi): less variety, more typical",
    )
    p.add_argument(
        "--walk",
        type=int,
        metavar="K",
        help="a walk between K >= 2 random noise vectors (slerp) instead of -n samples: -o FILE.png (a row per "
        "segment), FILE.gif (animation) or FILE.npz",
    )
    p.add_argument("--frames", type=int, metavar="F", help="with --walk: steps from one end to the next (default 8)")
    p.add_argument(
        "--size",
        type=int,
        metavar="S",
        help="networks that write functions (function[2->C]): draw them on S x S pixels (default: the training grid)",
    )
    p.add_argument("--labels", help="for conditioned networks: comma-separated labels, cycled to n")
    p.add_argument(
        "--no-ema",
        action="store_true",
        help="use the last weights instead of their moving average (for a network whose run kept one)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output file (or the PNGs of the same names in FOLDER/)",
    )
    p.add_argument("--prompt", help="text networks: the start every sentence continues, e.g. 'The '")
    p.add_argument(
        "--temperature",
        type=float,
        help="text networks: divide the next character's logits by T (default 1; < 1: safer, > 1: wilder)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..runs.folder import RunError
    from ..verbs.sampling import write_samples

    if args.walk is not None:
        return run_walk(args)
    if args.frames is not None:
        raise RunError("--frames: only a walk has frames; pass --walk K too, or drop --frames")
    out = write_samples(
        args.run,
        args.network,
        n=64 if args.n is None else args.n,
        output=args.output,
        seed=args.seed,
        labels=args.labels,
        ema=not args.no_ema,
        overwrite=args.overwrite,
        prompt=args.prompt,
        temperature=args.temperature,
        truncation=args.truncation,
        size=args.size,
    )
    print(f"wrote {out}")
    return 0


def run_walk(args) -> int:
    """A walk draws its own frames: the flags of -n samples and of text networks are refused, each by name; --size
    draws a painter of functions' frames at that size, as it draws its samples."""
    from ..runs.folder import RunError
    from ..verbs.sampling import write_walk

    for flag, value in (
        ("-n", args.n),
        ("--prompt", args.prompt),
        ("--temperature", args.temperature),
    ):
        if value is not None:
            raise RunError(
                f"{flag}: a walk (--walk K) draws (K - 1) x --frames + 1 images and reads no {flag}; drop it"
            )
    out = write_walk(
        args.run,
        args.network,
        k=args.walk,
        frames=8 if args.frames is None else args.frames,
        output=args.output,
        seed=args.seed,
        labels=args.labels,
        ema=not args.no_ema,
        overwrite=args.overwrite,
        truncation=args.truncation,
        size=args.size,
    )
    print(f"wrote {out}")
    return 0
