"""``gan sample``: draw samples from a trained network."""

from __future__ import annotations

from .args import seed


def add_parser(verbs) -> None:
    p = verbs.add_parser("sample", help="draw samples from a trained network")
    p.add_argument("run", help="run folder, e.g. runs/digits")
    p.add_argument("--network", required=True, help="network name in the run (see its networks/ folder)")
    p.add_argument("-n", type=int, default=64, help="number of samples")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="FILE.png (grid), FILE.npz / FILE.pt (array), FOLDER/ (one PNG each) "
        "or FILE.txt (sentences, text networks)",
    )
    p.add_argument("--seed", type=seed, default=0)
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
    from ..sampling import write_samples

    out = write_samples(
        args.run,
        args.network,
        n=args.n,
        output=args.output,
        seed=args.seed,
        labels=args.labels,
        ema=not args.no_ema,
        overwrite=args.overwrite,
        prompt=args.prompt,
        temperature=args.temperature,
    )
    print(f"wrote {out}")
    return 0
