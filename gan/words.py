"""How counts read in what the toolkit prints: "1 round", "2 rounds", never "1 rounds"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun that agrees with it.

    >>> counted(1, "round"), counted(2, "round"), counted(0, "warm-up step"), counted(3, "process", "processes")
    ('1 round', '2 rounds', '0 warm-up steps', '3 processes')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def command(*words) -> str:
    """A command line to paste into a shell, each word quoted where it needs it (a run named "a b" stays one word).

    >>> command("gan", "train", "--resume", "runs/a b")
    "gan train --resume 'runs/a b'"
    """
    import shlex

    return " ".join(shlex.quote(str(word)) for word in words)
