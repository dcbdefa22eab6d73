"""Data: bundled sets need no download; torchvision sets and folders load from files the tests make."""

from __future__ import annotations

import struct

import numpy as np
import torch
from PIL import Image

from gan.config import Data
from gan.data import Batches, Examples, batches, open_examples
from gan.cli import main
from networks import parse

from .conftest import TINY_DIGITS


def write_idx_mnist(root, n=64):
    """The four uncompressed IDX files torchvision.datasets.MNIST reads from root/MNIST/raw."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    kept = None
    for split, count in (("train", n), ("t10k", 8)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        kept = kept or (images, labels)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, count, 28, 28) + images.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, count) + labels.tobytes())
    return kept


def test_bundled_digits_are_5000_shuffled_before_splitting_and_scaled_to_the_space():
    ex = open_examples(Data(name="digits"), parse("image[1,28,28]"))
    assert ex.x.shape == (5000, 1, 28, 28) and ex.classes == 10
    assert float(ex.x.min()) == -1.0 and float(ex.x.max()) == 1.0
    assert torch.equal(torch.bincount(ex.y), torch.full((10,), 500))
    train, held = ex.split(0.2, seed=0)
    assert len(held) == 1000 and len(torch.unique(held.y)) == 10  # sorted by class: a plain cut would hold only 8s and 9s
    unit = open_examples(Data(name="digits"), parse("image[1,28,28,0:1]"))
    assert float(unit.x.min()) == 0.0 and float(unit.x.max()) == 1.0


def test_torchvision_mnist_loads_from_a_local_path(tmp_path):
    images, labels = write_idx_mnist(tmp_path)
    ex = open_examples(Data(name="mnist", path=str(tmp_path)), parse("image[1,28,28]"))
    assert ex.x.shape == (64, 1, 28, 28)
    torch.testing.assert_close(ex.x[3, 0], torch.as_tensor(images[3]).float() / 255 * 2 - 1)
    assert ex.y.tolist() == labels.tolist()


def test_an_image_folder_trains_with_resize(write_config, tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(tmp_path / "pics" / cls / f"{i}.png")
    path = write_config(TINY_DIGITS, data={"name": "folder", "path": str(tmp_path / "pics"), "resize": True})
    assert main(["train", str(path)]) == 0


def test_batch_order_depends_only_on_seed_and_position():
    ex = Examples(torch.arange(100.0)[:, None], torch.arange(100), None)
    a = Batches(ex, 10, seed=3)
    first = [next(a)[0] for _ in range(25)]  # crosses two epochs
    b = Batches(ex, 10, seed=3)
    b.position = 17
    torch.testing.assert_close(next(b)[0], first[17])
    epoch = torch.cat(first[:10]).flatten()
    assert sorted(epoch.tolist()) == list(range(100)), "each example once per epoch"


def test_two_processes_see_disjoint_halves_of_each_global_batch():
    ex = Examples(torch.arange(64.0)[:, None], None, None)
    r0, r1 = (Batches(ex, 8, seed=0, rank=r, world=2) for r in (0, 1))
    for _ in range(4):
        a, b = next(r0)[0], next(r1)[0]
        assert not set(a.flatten().tolist()) & set(b.flatten().tolist())


def test_toy_mixture_batches_are_reproducible_by_position():
    from gan.metrics import MIXTURES

    src = MIXTURES["ring"]
    a = batches(Data(name="ring", batch_size=5), src, seed=1)
    first = [next(a)[0] for _ in range(3)]
    b = batches(Data(name="ring", batch_size=5), src, seed=1)
    b.position = 2
    torch.testing.assert_close(next(b)[0], first[2])
