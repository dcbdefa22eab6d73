"""Which ``data.*`` keys each data set reads, so that gan.config can refuse one it would ignore.

``gan train diabetes --set data.path=/etc/passwd`` trained on the bundled data as if the path were read; a key
the chosen data set does not read, set to anything but its default, is now refused naming both.

One table rather than a line in each data set's module: those modules read ``gan.config.Data``, and gan.config
reads this table while it validates, so a declaration there would be an import cycle. This module imports
nothing of the toolkit; tests/test_config_inputs.py keeps its names in step with ``gan.data.NAMES``.
"""

from __future__ import annotations

# Read for every data set: which one it is, and how its batches are drawn (gan.data.batches).
COMMON = ("name", "batch_size", "holdout", "labels", "workers", "on_device")

# The keys each data set reads besides COMMON.
READS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("digits", "stacked_digits", "sklearn_digits"), ("resize", "targets", "mirror")
    ),  # images.py: bundled
    **dict.fromkeys(
        ("mnist", "fashion_mnist", "cifar10", "celeba", "folder"), ("path", "resize", "mirror")
    ),  # images.py: a local folder
    **dict.fromkeys(("ring", "grid"), ()),  # mixtures.py: points drawn fresh
    "numbers": ("seed", "unseen", "size"),  # numbers.py: composed once, fixed by data.seed
    "diabetes": ("seed",),  # tables.py: a split fixed by data.seed
    "table": ("path", "seed"),  # tables.py: a CSV file
    "text": ("path", "view", "keep"),  # text.py: the bundled prose, or a file; cloze.py: the keep rate
    "generated": (),  # generated.py: pairs drawn from the network in the role 'source'
}
