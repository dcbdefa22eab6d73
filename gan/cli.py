"""The ``gan`` command: train, sample, classify, evaluate, benchmark.

Each verb is a thin layer over a library function; a user's mistake ends in one line
``gan: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_CONFIG = "digits"  # a shipped config, found by name wherever the toolkit is installed


def _user_errors() -> tuple[type[Exception], ...]:
    from networks import SpaceError

    from .config import ConfigError
    from .data import DataError
    from .roles import RoleError
    from .runs import RunError

    return (ConfigError, DataError, RoleError, RunError, SpaceError)


def cmd_train(args) -> int:
    from . import config as C
    from .loops import get
    from .loops.session import Stopped

    overwrite = args.overwrite
    if args.resume:
        run = Path(args.resume)
        if run.name in ("", ".", ".."):  # --resume . from inside the run folder: its name is that of the folder
            run = run.resolve()
        if not run.is_dir():
            raise C.ConfigError(f"--resume {run}: run folder not found (looked in {run.resolve()})")
        if not (run / "config.yaml").is_file():
            raise C.ConfigError(f"--resume {run}: no config.yaml there; is it a run folder (runs/<name>)?")
        if args.config:
            raise C.ConfigError("--resume takes its config from the run folder; drop the CONFIG argument (use --set to change e.g. run.steps)")
        cfg = C.load(run / "config.yaml", [f"run.output={run.parent}", f"run.name={run.name}", *args.set])
    else:
        cfg = C.load(args.config or DEFAULT_CONFIG, args.set)
    try:
        path = get(cfg.loop)(cfg, resume=bool(args.resume), overwrite=overwrite)
    except Stopped as stop:  # what shells and schedulers expect of a process a signal ended: 128 + its number
        return 128 + stop.signal
    if int(os.environ.get("RANK", "0")) == 0:  # under a launcher, one line, not one per process
        print(f"done: {path}  (tensorboard --logdir {path / 'logs'})")
    return 0


def cmd_sample(args) -> int:
    from .sampling import write_samples

    out = write_samples(args.run, args.network, n=args.n, output=args.output, seed=args.seed, labels=args.labels, ema=not args.no_ema,
                        overwrite=args.overwrite, prompt=args.prompt, temperature=args.temperature)
    print(f"wrote {out}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse's mistakes said in the toolkit's one line ``gan: error: ...`` (argparse prints the usage first); ``gan VERB -h`` shows it."""

    def error(self, message: str):
        print(f"gan: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def seed(text: str) -> int:
    """An argparse type: seeds are 64-bit (torch.Generator.manual_seed)."""
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..{2**63 - 1}, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="gan", description="Train GANs and reuse their networks under any role.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("train", help="train from a YAML config (default: the shipped config 'digits')")
    p.add_argument("config", nargs="?", help="YAML config, or the name of a shipped one (ring, digits, ...); omitted: the bundled-digits GAN")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. run.steps=100")
    p.add_argument("--resume", metavar="RUN", help="continue the run folder RUN from its latest complete checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("sample", help="draw samples from a trained network")
    p.add_argument("run", help="run folder, e.g. runs/digits")
    p.add_argument("--network", required=True, help="network name in the run (see its networks/ folder)")
    p.add_argument("-n", type=int, default=64, help="number of samples")
    p.add_argument("-o", "--output", required=True, help="FILE.png (grid), FILE.npz / FILE.pt (array), FOLDER/ (one PNG each) or FILE.txt (sentences, text networks)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--labels", help="for conditioned networks: comma-separated labels, cycled to n")
    p.add_argument("--no-ema", action="store_true", help="use the last weights instead of their moving average")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file (or the PNGs of the same names in FOLDER/)")
    p.add_argument("--prompt", help="text networks: the start every sentence continues, e.g. 'The '")
    p.add_argument("--temperature", type=float, default=1.0, help="text networks: divide the next character's logits by T (< 1: safer, > 1: wilder)")
    p.set_defaults(func=cmd_sample)

    for name, helptext in (("classify", "label images with a trained network"), ("evaluate", "score a run"), ("benchmark", "measure quality or speed")):
        try:
            module = __import__(f"gan.verbs_{name}", fromlist=["add_parser"])
        except ImportError:
            continue
        module.add_parser(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # -h, or a mistake argparse found (said in one line by OneLineParser)
        return int(done.code or 0)
    try:
        return args.func(args)
    except _user_errors() as error:
        print("gan: error: " + " ".join(str(error).split()), file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("gan: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        from .loops.session import Diverged
        from .memory import describe, is_out_of_memory

        if isinstance(error, Diverged):
            print(f"gan: error: {error}", file=sys.stderr)
            return 1
        if is_out_of_memory(error):  # a size the user chose: their mistake to fix, in one line
            print(f"gan: error: {describe(error)}; lower data.batch_size or the networks' width (gan train), -n (gan sample) "
                  f"or --samples (gan evaluate)", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
