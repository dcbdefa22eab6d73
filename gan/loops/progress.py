"""What a user watches while a run trains: the progress bar, its few numbers, and the examples per second.

The bar shows a glance (a loss, what the discriminator says of real data); TensorBoard keeps
everything (``tensorboard.py``).
"""

from __future__ import annotations

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


def progress_bar(session) -> tqdm:
    """The run's bar, from the step it starts at (a resumed run's), on the main process when run.progress asks for it."""
    run = session.cfg.run
    return tqdm(total=run.steps, initial=session.step, disable=not (session.is_main and run.progress), dynamic_ncols=True, desc=session.run.path.name)


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
