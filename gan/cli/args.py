"""What every verb's parser shares: the one-line error and the seed type."""

from __future__ import annotations

import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    """argparse's mistakes said in the toolkit's one line ``gan: error: ...`` (argparse prints the usage first);
    ``gan VERB -h`` shows it."""

    def error(self, message: str):
        print(f"gan: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def seed(text: str) -> int:
    """An argparse type: seeds are 64-bit (torch.Generator.manual_seed)."""
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..{2**63 - 1}, got {text}")
    return value
