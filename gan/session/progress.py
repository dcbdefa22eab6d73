"""What a user watches while a run trains: the progress bar, its few numbers, and the examples per second.

The bar shows a glance (a loss, what the discriminator says of real data); TensorBoard keeps
everything (``tensorboard.py``). On a terminal (or in a notebook) it is tqdm's bar, redrawn in place;
written to a file or a pipe, where a redrawn bar is a line of carriage returns that grows with the run,
it is a plain line at most every ``PlainProgress.every`` seconds, and one at the end.
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

# The scalars a progress bar shows, by their name after the role, and how it words them.
_ON_THE_BAR = {"loss": "loss", "on_real": "real", "on_generated": "generated", "accuracy": "accuracy"}


def bar_labels(stats: dict[str, float]) -> dict[str, str]:
    """The few numbers of a logging step worth a glance, under short readable names.

    >>> bar_labels({"discriminator/on_real": 0.514, "generator/loss": 0.7, "generator/lr": 2e-4})
    {'D real': '0.514', 'G loss': '0.7'}
    """
    shown = {}
    for key, value in stats.items():
        role, _, name = key.partition("/")
        if name in _ON_THE_BAR:
            shown[f"{role[:1].upper()} {_ON_THE_BAR[name]}"] = f"{value:.3g}"
    return shown


def progress_bar(session) -> tqdm | PlainProgress:
    """The run's bar, from the step it starts at (a resumed run's), on the main process when run.progress asks for
    it."""
    run = session.cfg.run
    shown = session.is_main and run.progress
    if shown and not _redraws_in_place(sys.stderr):
        return PlainProgress(total=run.steps, initial=session.step, desc=session.run.path.name, file=sys.stderr)
    return tqdm(
        total=run.steps, initial=session.step, disable=not shown, dynamic_ncols=True, desc=session.run.path.name
    )


def _redraws_in_place(stream) -> bool:
    """Whether a bar can be redrawn where ``stream`` shows it: a terminal, or a notebook (tqdm.auto draws a widget
    there)."""
    from tqdm import auto

    if auto.tqdm is not auto.asyncio_tqdm:  # tqdm.auto chose the notebook's bar
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class PlainProgress:
    """The bar's numbers as plain lines, for stderr that is a file or a pipe: one on a logging step when ``every``
    seconds have passed since the last (the first logging step always), and one when the run ends or stops.

    Offers what the loops call on a tqdm bar: ``update``, ``set_postfix``, ``close``.
    """

    every = 30.0

    def __init__(self, *, total: int, initial: int, desc: str, file):
        self.total, self.n, self.desc, self.file = total, initial, desc, file
        self.started, self.written_at, self.written_n = time.perf_counter(), None, None
        self.first, self.labels, self.closed = initial, {}, False

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, labels: dict[str, str]) -> None:
        self.labels = labels
        if self.written_at is None or time.perf_counter() - self.written_at >= self.every:
            self._write()

    def close(self) -> None:
        if not self.closed and self.written_n != self.n:
            self._write()
        self.closed = True

    def _write(self) -> None:
        elapsed = time.perf_counter() - self.started
        rate = (self.n - self.first) / elapsed if elapsed > 0 else 0.0
        numbers = "".join(f", {name} {value}" for name, value in self.labels.items())
        print(
            f"{self.desc}: step {self.n}/{self.total} ({100 * self.n // max(self.total, 1)}%), {_clock(elapsed)}, "
            f"{rate:.3g} steps/s{numbers}",
            file=self.file,
            flush=True,
        )
        self.written_at, self.written_n = time.perf_counter(), self.n


def _clock(seconds: float) -> str:
    """Seconds as h:mm:ss, as tqdm writes them.

    >>> _clock(3725.4)
    '1:02:05'
    """
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Clock:
    """Examples per second between log steps, measured on the host."""

    def __init__(self):
        self.t, self.n = time.perf_counter(), 0

    def tick(self, n: int) -> None:
        self.n += n

    def rate(self) -> float:
        now = time.perf_counter()
        rate = self.n / max(now - self.t, 1e-9)
        self.t, self.n = now, 0
        return rate
