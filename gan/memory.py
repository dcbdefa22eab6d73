"""Requests too large for the machine: refused before they are made, recognised when they fail.

A CPU allocation larger than the memory left may succeed (Linux overcommits) and the process then
dies to the out-of-memory killer half-way, with nothing said; so a size a user asked for (``-n``,
``--samples``) is compared with the memory available first. What cannot be foreseen (a batch or
a width too large for the networks' activations) fails inside PyTorch, and ``is_out_of_memory``
tells those failures from bugs so that the command line can say it in one line.
"""

from __future__ import annotations


def available_bytes() -> int:
    import psutil  # a dependency of accelerate

    return psutil.virtual_memory().available


def check_fits(nbytes: int, what: str, advice: str) -> None:
    """Raise RunError naming ``what`` when ``nbytes`` is more than the memory available now."""
    from .runs.folder import RunError

    free = available_bytes()
    if nbytes > free:
        raise RunError(
            f"{what} needs {nbytes / 2**30:.1f} GiB of memory, more than the {free / 2**30:.1f} GiB available; {advice}"
        )


def is_out_of_memory(error: BaseException) -> bool:
    """A failed allocation on the host or a GPU (PyTorch reports the host's as a RuntimeError)."""
    import torch

    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


def describe(error: BaseException) -> str:
    """The allocator's own words, shortened to the size it asked for where it says one."""
    import re

    text = " ".join(str(error).split())
    asked = re.search(r"allocate (\d+) bytes", text)
    if asked:
        return f"out of memory (an allocation of {int(asked.group(1)) / 2**30:.1f} GiB failed)"
    asked = re.search(r"Tried to allocate ([\d.]+ [KMGT]iB)", text)
    return f"out of memory (an allocation of {asked.group(1)} failed)" if asked else "out of memory"
