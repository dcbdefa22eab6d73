"""One loop a file; ``LOOPS`` maps the config's ``loop:`` to its ``train`` function."""


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
