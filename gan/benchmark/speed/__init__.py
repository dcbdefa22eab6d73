"""``gan benchmark speed``: how fast the toolkit's loop trains, against a hand-written loop and the machine's peak.

- ``benchmark``: the alternating rounds, one row per variant (the switches are ``gan.benchmark.variants``).
- ``reference``: PyTorch's DCGAN example loop, the hand-written baseline.
- ``machine``: the matrix-product peak, memory, timing.
- ``kernels``: FLOPs, each layer alone, each op of a step where it ran and alone.
- ``report``: the table and the verdict on the targets.
"""

from .benchmark import measure
from .report import table, verdict

__all__ = ["measure", "table", "verdict"]
