"""``gan train``: train from a YAML config, or continue a run folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_CONFIG = "digits"  # a shipped config, found by name wherever the toolkit is installed


def add_parser(verbs) -> None:
    from ..loop_registry import LOOPS  # imports nothing: the loops themselves load when a run starts

    loops = "; ".join(f"{name} (roles: {', '.join(spec.roles)})" for name, spec in LOOPS.items())
    p = verbs.add_parser(
        "train",
        help="train from a YAML config (default: the shipped config 'digits')",
        epilog=f"loops a config's loop: may name: {loops}",
    )
    p.add_argument(
        "config",
        nargs="?",
        help="YAML config, or the name of a shipped one (ring, digits, ...); omitted: the bundled-digits GAN",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. run.steps=100"
    )
    p.add_argument("--resume", metavar="RUN", help="continue the run folder RUN from its latest complete checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import config as C
    from ..loops import get
    from ..session.stops import Stopped
    from ..words import command
    from ..yamlfile import shorten

    overwrite = args.overwrite
    if args.resume and overwrite:  # one keeps the run's steps, the other deletes them: which was meant is a guess
        raise C.ConfigError(
            f"--resume {shorten(args.resume, 120)} and --overwrite: --resume continues the run, --overwrite deletes it "
            f"and starts again; pass one of them"
        )
    if args.resume:
        run = Path(args.resume)
        if run.name in ("", ".", ".."):  # --resume . from inside the run folder: its name is that of the folder
            run = run.resolve()
        if not run.is_dir():
            raise C.ConfigError(f"--resume {run}: run folder not found (looked in {run.resolve()})")
        if not (run / "config.yaml").is_file():
            raise C.ConfigError(f"--resume {run}: no config.yaml there; is it a run folder (runs/<name>)?")
        if args.config:
            raise C.ConfigError(
                "--resume takes its config from the run folder; drop the CONFIG argument (use --set to change e.g. "
                "run.steps)"
            )
        # As JSON strings (YAML reads them as they are): a folder named "a: b" or "*x" is a name, not YAML to parse.
        where = [f"run.output={json.dumps(str(run.parent))}", f"run.name={json.dumps(run.name)}"]
        cfg = C.load(run / "config.yaml", [*where, *args.set])
    else:
        cfg = C.load(args.config or DEFAULT_CONFIG, args.set)
    try:
        path = get(cfg.loop)(cfg, resume=bool(args.resume), overwrite=overwrite)
    except Stopped as stop:  # what shells and schedulers expect of a process a signal ended: 128 + its number
        return 128 + stop.signal
    if int(os.environ.get("RANK", "0")) == 0:  # under a launcher, one line, not one per process
        print(f"done: {path}  ({command('tensorboard', '--logdir', path / 'logs')})")
    return 0
