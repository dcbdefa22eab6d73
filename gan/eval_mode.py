"""Networks in eval mode for a while, each given back the mode it was in, even when what ran in between raised.

Scoring, sampling and held-out scores all switch a network to eval (dropout off, norm statistics frozen)
and must switch it back: a network left in eval mode by an error trains on with frozen statistics.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def evaluating(*nets):
    """``with evaluating(net, other): ...``: each net in eval mode inside, in its own earlier mode after."""
    modes = [(net, net.training) for net in nets]
    try:
        for net in nets:
            net.eval()
        yield nets[0] if len(nets) == 1 else nets
    finally:
        for net, training in modes:
            net.train(training)
