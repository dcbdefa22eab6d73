"""Image files read the way a network's training images were: ``gan classify``'s inputs.

A picture a user hands in is not always one the network has seen the like of:

- its pixels may be in the alpha channel (a stroke drawn on a transparent canvas, every colour black),
  which a plain conversion to grey drops, leaving a black square. Where the colour says nothing (one
  colour wherever the picture is visible) the alpha channel *is* the picture: it is read as ink of the
  data's foreground on the data's background. Otherwise the picture is composited over the background
  of the training data, as a viewer composites it over its own;
- it may be dark on light where the data is light on dark (a digit written on paper; MNIST is white on
  black). That is read as it is, but said once, since a network reads an inverted digit as noise.

The data's background is measured on the run's training images when they are at hand and cheap to read
(``data_background``); without them, black, and no polarity is claimed.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from networks import Image

from .runs.folder import RunError

# Data sets held in memory and read in a second or two: their background is measured; any other
# (a folder of any size, CelebA, a stream) is not opened just to classify a few pictures.
_QUICK_TO_READ = ("digits", "sklearn_digits", "stacked_digits", "numbers", "mnist", "fashion_mnist", "cifar10")
_MEASURED = 1000  # training images whose levels decide the background
_SHARED = 0.9  # the share of them whose level lies near the common one, for the data to have a background
_NEAR = 0.25  # how near, in [0, 1]
_OPPOSITE = 0.5  # a picture whose level lies this far from the data's background is of the opposite polarity


def level(x: torch.Tensor) -> torch.Tensor:
    """The level most pixels of each picture take: the median of its grey values, [N, C, H, W] in [0, 1] -> [N]."""
    return x.mean(1).flatten(1).median(1).values


def data_background(run, space: Image) -> float | None:
    """The grey level in [0, 1] shared by the backgrounds of the run's training images (digits: 0.0, black): the most
    common grey, when most images are mostly of it.

    None when the images share none (photographs), or when the run's data is not at hand: no config in
    the folder (a network exported alone), a data set that is large, streamed, or no longer where it was.
    """
    from networks import SpaceError

    from . import config as C
    from .data import DataError, Examples, open_examples
    from .roles import RoleError

    path = Path(run) / "config.yaml"
    if not path.is_file():
        return None
    try:
        data = C.load(path).data
        if data.name not in _QUICK_TO_READ:
            return None
        examples = open_examples(data, space)
    except (
        C.ConfigError,
        DataError,
        RoleError,
        SpaceError,
        OSError,
    ):  # the data moved or no longer fits: measured nothing
        return None
    if not isinstance(examples, Examples) or len(examples) == 0:
        return None
    x = space.to_unit(
        examples.x[:: max(1, len(examples) // _MEASURED)]
    )  # spread over the set: some are sorted by class
    common = (
        float(x.mean(1).mul(255).round().flatten().mode().values) / 255
    )  # the most common grey, in 8-bit steps as files hold it
    return common if float(((level(x) - common).abs() < _NEAR).float().mean()) >= _SHARED else None


def read_images(files: list[str], space: Image, *, resize: bool, background: float | None = None) -> torch.Tensor:
    """Image files -> [N, C, H, W] in the space's range; each bad file named in its own message.

    ``background`` (the data's, ``data_background``) is what transparent parts become, black when None;
    pictures whose polarity is the opposite of it are warned of in one line.
    """
    from .data import DataError, conform

    batch = []
    for name in files:
        x = _read_unit(name, space, 0.0 if background is None else background)
        try:
            batch.append(conform(x[None], space, resize, name)[0])
        except DataError as error:
            raise RunError(str(error).replace("set data.resize: true", "pass --resize")) from None
    x = torch.stack(batch)
    if background is not None:
        warn_of_opposite_polarity(files, x, background)
    return space.from_unit(x)


def _read_unit(name: str, space: Image, background: float) -> torch.Tensor:
    """One file -> [C, H, W] in [0, 1], with C of the space's channels (grey or RGB); alpha read as the module says."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    path = Path(name)
    if (
        path.is_dir()
    ):  # a folder is not read whole: classify prints one row a file the user named (a glob names them all)
        raise RunError(
            f"{name}: is a folder; gan classify takes image files, e.g. {shlex.quote(name.rstrip('/') or '/')}/*.png"
        )
    if not path.is_file():
        raise RunError(f"{name}: no such file")
    mode = "L" if space.channels == 1 else "RGB"
    try:
        with PILImage.open(path) as im:
            x = (
                _alpha_read(im, mode, background)
                if im.has_transparency_data
                else np.asarray(im.convert(mode), dtype=np.float32) / 255.0
            )
    except (UnidentifiedImageError, OSError) as error:
        raise RunError(f"{name}: not a readable image ({error})") from None
    except PILImage.DecompressionBombError as error:  # a small file that decodes to gigabytes
        raise RunError(f"{name}: not decoded: {error}") from None
    x = torch.as_tensor(x, dtype=torch.float32)
    return x[None] if x.dim() == 2 else x.permute(2, 0, 1)


def _alpha_read(im, mode: str, background: float) -> np.ndarray:
    """A picture with transparency -> [H, W] or [H, W, 3] in [0, 1], over ``background``.

    Drawn in alpha (one colour wherever visible, alpha varying): alpha is the ink, on the data's background,
    in the opposite tone. Otherwise: composited over the background, as a viewer composites it.
    """
    from PIL import Image as PILImage

    rgba = im.convert("RGBA")
    values = np.asarray(rgba, dtype=np.float32) / 255.0
    alpha, colour = values[..., 3], values[..., :3]
    visible = alpha > 0.5
    if alpha.max() - alpha.min() > 0.5 and visible.any() and colour[visible].std(0).max() < 0.02:
        ink = 1.0 - round(background)
        grey = background + alpha * (ink - background)
        return grey if mode == "L" else np.repeat(grey[..., None], 3, axis=2)
    paper = round(background * 255)
    flat = PILImage.alpha_composite(PILImage.new("RGBA", rgba.size, (paper, paper, paper, 255)), rgba)
    return np.asarray(flat.convert(mode), dtype=np.float32) / 255.0


def warn_of_opposite_polarity(files: list[str], x: torch.Tensor, background: float) -> None:
    """One line on stderr for every picture whose level is across the middle from the data's background: read as
    they are, they are most likely read wrongly (an inverted digit is no digit to a network trained on MNIST)."""
    opposite = [name for name, value in zip(files, level(x).tolist()) if abs(value - background) > _OPPOSITE]
    if not opposite:
        return
    data, theirs = ("light on dark", "dark on light") if background < 0.5 else ("dark on light", "light on dark")
    names = ", ".join(opposite[:3]) + (", ..." if len(opposite) > 3 else "")
    print(
        f"gan: warning: {len(opposite)} of {len(files)} images ({names}) are {theirs}, "
        f"the opposite of the training data ({data}, background {background:.2f}); "
        "they are read as they are: invert them if their labels look wrong",
        file=sys.stderr,
    )


def check_image_file(name: str, space: Image, expects: str) -> None:
    """A picture of another size, or in colour for a grey reader, is refused before any work: a reading that converts
    it would answer for a picture the user never gave (a grey picture saved as RGB is grey). ``expects`` says who
    wants ``space`` and how, e.g. "the generator of runs/digits draws" or "network 'encoder' reads"."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(name) as im:
            (w, h), bands = im.size, im.getbands()
            rgb = np.asarray(im.convert("RGB")) if len(bands) >= 3 else None
    except (OSError, ValueError):  # missing or unreadable: read_images names it
        return
    grey = rgb is None or (np.ptp(rgb.astype(np.int16), axis=2) == 0).all()
    channels = 1 if grey else 3
    if (h, w) != (space.height, space.width) or channels not in (space.channels, 1):
        raise RunError(
            f"{name}: {w}x{h} with {channels} channel(s); {expects} {space}, {space.width}x{space.height} with "
            f"{space.channels} channel(s) (--resize converts it)"
        )
