"""One loop a file (``adversarial``, ``likelihood``, ``sample``), set up by ``setup.py``, run by ``setup.train`` on a
``gan.session.Session`` (what every loop shares: checkpoints, stops, the update path, logs, progress);
loops are registered by name in ``gan/loop_registry.py``.

``get`` gives the ``train`` function for the loop a config's ``loop:`` names.
"""


def get(name: str):
    from ..loop_registry import loop

    loop(name)  # a ValueError naming the registered loops
    from functools import partial

    from .setup import train

    return partial(train, loop=name)
