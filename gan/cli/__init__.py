"""The ``gan`` command: train, sample, classify, evaluate, benchmark.

Each verb is a thin layer over a library function; a user's mistake ends in one line
``gan: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .args import OneLineParser


def _user_errors() -> tuple[type[Exception], ...]:
    from networks import SpaceError

    from ..config import ConfigError
    from ..data import DataError
    from ..roles import RoleError
    from ..runs.folder import RunError

    return (ConfigError, DataError, RoleError, RunError, SpaceError)


def build_parser() -> argparse.ArgumentParser:
    # Every verb by name: one that cannot be imported stops the command with its traceback instead of
    # vanishing from the help. The verb modules import the benchmarks and the metrics only when they run.
    from . import benchmark, classify, embed, evaluate, predict, project, render, sample, search, train

    parser = OneLineParser(prog="gan", description="Train GANs and reuse their networks under any role.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    for verb in (train, sample, classify, predict, project, render, evaluate, embed, search, benchmark):
        verb.add_parser(verbs)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # what was typed, for a benchmark's "Reproduce" line
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
        from ..memory import describe, is_out_of_memory
        from ..session.guard import Diverged

        if isinstance(error, Diverged):
            print(f"gan: error: {error}", file=sys.stderr)
            return 1
        import errno

        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT) and error.filename:
            print(
                f"gan: error: cannot write {error.filename} ({error.strerror})", file=sys.stderr
            )  # a write no verb expected to fail
            return 2
        if is_out_of_memory(error):  # a size the user chose: their mistake to fix, in one line
            print(
                f"gan: error: {describe(error)}; lower data.batch_size or the networks' width (gan train), "
                "-n (gan sample) or --samples (gan evaluate)",
                file=sys.stderr,
            )
            return 2
        raise
