"""One loop a file (``adversarial``, ``likelihood``, ``sample``), set up by ``setup.py``, run by ``setup.train``.

``get`` gives the ``train`` function for the loop a config's ``loop:`` names.
"""


def get(name: str):
    if name not in ("adversarial", "likelihood", "sample"):
        raise ValueError(f"unknown loop {name!r}; accepted: adversarial, likelihood, sample")
    from functools import partial

    from .setup import train

    return partial(train, loop=name)
