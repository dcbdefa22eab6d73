"""Values echoed in messages, cut short: a spec is read from files anyone can edit, and a message that repeats a
100 kB value (or one built from aliases, megabytes long) hides the one thing it has to say."""

from __future__ import annotations

import reprlib


def shorten(value, limit: int = 80) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (ending in ``...``), for messages that echo a user's value.

    Built with ``reprlib``, so a huge value costs a few hundred characters of work, not a walk of all of it.

    >>> shorten("x" * 1000, 12)
    "'xxxxxxxx..."
    >>> shorten([1, 2])
    '[1, 2]'
    """
    if isinstance(value, str):  # its beginning, not reprlib's beginning...end
        text = repr(value[: limit + 1])
    else:
        short = reprlib.Repr()
        short.maxstring = short.maxother = short.maxlong = limit + 2
        short.maxlevel, short.maxlist, short.maxtuple, short.maxdict, short.maxset = 3, 8, 8, 8, 8
        text = short.repr(value)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def cut(text, limit: int = 80) -> str:
    """``str(text)`` cut to at most ``limit`` characters (ending in ``...``): a key or a value shown as typed.

    >>> cut("networks." + "n" * 100, 20)
    'networks.nnnnnnnn...'
    """
    text = str(text)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."
