"""Drawing from trained networks, and reading images for them: ``gan sample`` and ``gan classify``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from networks import Bernoulli, Image, Network

from .memory import check_fits
from .runs import RunError, load


def parse_labels(text: str | None, n: int, net: Network) -> torch.Tensor | None:
    """'3,7' -> tensor [3, 7, 3, 7, ...] of length n; None for unconditioned networks."""
    if net.condition is None:
        if text:
            raise RunError(f"--labels: this network takes no condition (it maps {net.source} -> {net.target})")
        return None
    if not text:
        return torch.arange(n) % net.condition.k
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise RunError(f"--labels: expected comma-separated integers such as 3,7, got {text!r}") from None
    if any(not 0 <= v < net.condition.k for v in values):
        raise RunError(f"--labels: labels must lie in 0..{net.condition.k - 1} for {net.condition}, got {text!r}")
    return torch.tensor(values)[torch.arange(n) % len(values)]


def draw(net: Network, n: int, *, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """n samples from a network whose source is sampleable; the same seed gives the same samples."""
    if not net.source.sampleable:
        raise RunError(f"this network reads {net.source}, which cannot be sampled; use gan classify to feed it inputs")
    return net.sample(n, y=labels, rng=torch.Generator().manual_seed(seed))


def write_samples(run, network: str, *, n: int, output, seed: int = 0, labels: str | None = None, ema: bool = True) -> Path:
    """Write n samples as a PNG grid (.png), an array (.npz / .pt) or a folder of PNGs (no suffix)."""
    import torchvision.utils as vutils

    if n < 1:
        raise RunError(f"-n: expected a number of samples >= 1, got {n}")
    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in (".npz", ".pt", ".png", ""):
        raise RunError(f"-o {out}: expected FILE.png, FILE.npz, FILE.pt or a FOLDER (no suffix)")
    net = load(run, network, ema=ema)
    if suffix in (".png", "") and not isinstance(net.target, Image):
        raise RunError(f"-o {out}: {net.target} samples are not images; write them as FILE.npz or FILE.pt")
    check_fits(3 * n * 4 * math.prod(net.target.shape), f"-n {n}", "draw fewer samples, in several calls with other --seed values")  # samples, their pixels, the file's copy
    x = draw(net, n, seed=seed, labels=parse_labels(labels, n, net)).float()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".npz":
            with open(out, "wb") as f:  # by name, np.savez would write X.NPZ.npz for X.NPZ
                np.savez(f, samples=x.numpy())
        elif suffix == ".pt":
            torch.save(x, out)
        elif suffix == ".png":
            vutils.save_image(net.target.to_unit(x), str(out), nrow=max(1, int(n**0.5)), padding=2, pad_value=1.0)
        else:
            out.mkdir(exist_ok=True)
            for i, picture in enumerate(net.target.to_unit(x)):
                vutils.save_image(picture, str(out / f"{i:05d}.png"))
    except OSError as error:  # a file in the way, no permission, a full disk
        raise RunError(f"-o {out}: cannot write there ({error.strerror or error}: {error.filename})") from None
    return out


def read_images(files: list[str], space: Image, *, resize: bool) -> torch.Tensor:
    """Image files -> [N, C, H, W] in the space's range; each bad file named in its own message."""
    from PIL import Image as PILImage, UnidentifiedImageError

    from .data import DataError, conform

    batch = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise RunError(f"{name}: no such file")
        try:
            with PILImage.open(path) as im:
                im = im.convert("L" if space.channels == 1 else "RGB")
                x = torch.as_tensor(np.array(im), dtype=torch.float32) / 255.0
        except (UnidentifiedImageError, OSError) as error:
            raise RunError(f"{name}: not a readable image ({error})") from None
        except PILImage.DecompressionBombError as error:  # a small file that decodes to gigabytes
            raise RunError(f"{name}: not decoded: {error}") from None
        x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
        try:
            batch.append(conform(x[None], space, resize, name)[0])
        except DataError as error:
            raise RunError(str(error).replace("set data.resize: true", "pass --resize")) from None
    return space.from_unit(torch.stack(batch))


def classify(run, network: str, files: list[str], *, top: int = 3, samples: int = 0, seed: int = 0, resize: bool = False) -> list[dict]:
    """Per image: the network's distribution over labels (top-k) and, if asked, labels drawn from it."""
    net = load(run, network, ema=False)
    if not net.target.is_distribution:
        raise RunError(f"network {network!r} writes {net.target}, not a distribution over labels")
    if not isinstance(net.source, Image):
        raise RunError(f"network {network!r} reads {net.source}, not images")
    x = read_images(files, net.source, resize=resize)
    with torch.no_grad():
        dist = net.distribution(x)
        rng = torch.Generator().manual_seed(seed)
        drawn = [net.sample(x=x, rng=rng) for _ in range(samples)]
    rows = []
    for i, name in enumerate(files):
        row: dict = {"file": name}
        if isinstance(net.target, Bernoulli):
            row["p_real"] = float(dist.probs[i])  # a discriminator: P(this image is real data)
        else:
            p, k = dist.probs[i].topk(min(top, net.target.k))
            row["top"] = [(int(a), float(b)) for a, b in zip(k, p)]
        if samples:
            row["samples"] = [int(d[i]) for d in drawn]
        rows.append(row)
    return rows
