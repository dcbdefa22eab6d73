"""One loop a file; ``get`` gives the ``train`` function that the config's ``loop:`` names.

Each loop is imported only when asked for, so a run loads the one it trains.
"""


def get(name: str):
    if name == "adversarial":
        from .adversarial import train
    elif name == "likelihood":
        from .likelihood import train
    elif name == "sample":
        from .sample import train
    else:
        raise ValueError(f"unknown loop {name!r}; accepted: adversarial, likelihood, sample")
    return train
