"""``gan classify``: a network that writes a distribution over labels, read as one."""

from __future__ import annotations

import json

from .args import seed


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "classify", help="print each image's predicted label distribution (or P(real) for a discriminator)"
    )
    p.add_argument("run", help="run folder, e.g. runs/digits_classifier")
    p.add_argument(
        "--network",
        help="network name in the run; default: the run's classifier (an adversarial run: its discriminator)",
    )
    p.add_argument(
        "files",
        nargs="+",
        help="image files (PNG, JPEG, ...; a transparent one is read over the training data's background), "
        "or strings with --text",
    )
    p.add_argument(
        "--text",
        action="store_true",
        help="the inputs are strings (prefixes) for a text network: print the likeliest next characters",
    )
    p.add_argument(
        "--top",
        type=int,
        help="how many most likely labels to print (default 3; not for a network that writes bernoulli or normal[D])",
    )
    p.add_argument(
        "--sample", type=int, default=0, metavar="S", help="also draw S labels from each distribution (not with --text)"
    )
    p.add_argument("--seed", type=seed, help="seed of the --sample draws (default 0)")
    p.add_argument("--resize", action="store_true", help="resize images to the network's input size (not with --text)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..runs.folder import RunError
    from ..verbs.sampling import classify

    if args.top is not None and args.top < 1:
        raise RunError(f"--top: expected a number of labels >= 1, got {args.top}")
    if args.sample < 0:
        raise RunError(f"--sample: expected a number of draws >= 0, got {args.sample}")
    if args.text:
        return run_text(args)
    rows = classify(
        args.run, args.network, args.files, top=args.top, samples=args.sample, seed=args.seed, resize=args.resize
    )
    for row in rows:
        if args.json:
            print(json.dumps(row))
            continue
        if "p_real" in row:
            text = f"P(real)={row['p_real']:.3f}"
        elif "mean" in row:  # normal[D]: the predictive mean and scale
            text = (
                "mean "
                + " ".join(f"{v:.4g}" for v in row["mean"])
                + "  scale "
                + " ".join(f"{v:.4g}" for v in row["scale"])
            )
        else:
            text = "  ".join(f"{label}: {p:.3f}" for label, p in row["top"])
        if "samples" in row:
            text += "  samples: " + " ".join(map(str, row["samples"]))
        print(f"{row['file']}  {text}")
    return 0


def refuse_image_flags_with_text(args) -> None:
    """With --text the inputs are strings and classify prints the likeliest next characters: the flags for images and
    for draws would be ignored, so they are refused, each by name."""
    from ..runs.folder import RunError

    if args.sample:
        raise RunError(
            "--sample: with --text, classify prints the likeliest next characters and draws none; drop --sample"
        )
    if args.seed is not None:
        raise RunError("--seed: only draws (--sample S) use a seed, and with --text there are none; drop --seed")
    if args.resize:
        raise RunError("--resize: with --text, the inputs are strings, not images; drop --resize")


def run_text(args) -> int:
    from ..verbs.sampling import next_characters

    refuse_image_flags_with_text(args)
    for row in next_characters(args.run, args.network, args.files, top=args.top):
        if args.json:
            print(json.dumps(row))
        elif "p" in row:
            print(f"{row['text']!r}  p={row['p']:.3f}")
        else:
            print(f"{row['text']!r}  " + "  ".join(f"{c!r}: {p:.3f}" for c, p in row["top"]))
    return 0
