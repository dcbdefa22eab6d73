"""Projection: the noise (and label) whose image is nearest to a given image: ``gan project``.

A generator maps noise to images; asking which noise drew a picture is how one edits, explains or checks a
picture with it (StyleGAN2's ``projector.py``). No network answers exactly, so the answer is searched for:
Adam moves z to lower the distance between G(z) and the picture, from an encoder's guess (a network trained
to invert G, ``configs/digits_encoder.yaml``) or from several random starts, the best kept. The distance adds
to the pixels the body features of the run's own discriminator: pixels alone rate a stroke shifted by one
pixel as far off as another digit, features rate it near. A conditioned generator is searched at every label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from networks import Image, Network, Noise, Normal

from ..runs.folder import RunError, load

FEATURE_WEIGHT = 1.0  # features beside pixels: both distances are of order 0.01..1 on digits
LEARNING_RATE = 0.03  # Adam on z, falling to 0 by the last step (a cosine); at 0.05 it overshoots: distance rises


@dataclass
class Found:
    """Per image: its best noise, label, reconstruction, distances, and the distance at every step of that start."""

    z: torch.Tensor  # [N, Z]
    labels: torch.Tensor | None  # [N]; None for an unconditioned generator
    images: torch.Tensor  # [N, C, H, W], in the generator's space
    distance: torch.Tensor  # [N]: pixel + FEATURE_WEIGHT * feature
    pixel: torch.Tensor  # [N]: mean squared error per pixel, in [0, 1] units
    feature: torch.Tensor  # [N]: squared distance between unit-length feature vectors, in [0, 4]
    history: torch.Tensor  # [steps + 1, N]: the distance of the best start before each step, and at the end


class Distance:
    """Pixels plus features; a target's features are computed once."""

    def __init__(self, space: Image, features: Network | None = None, weight: float = FEATURE_WEIGHT):
        self.space, self.net, self.weight = space, features, weight

    def features(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        if self.net is None:
            return None
        return F.normalize(self.net.features(x, y if self.net.condition is not None else None).float(), dim=1)

    def parts(self, x, target, target_features, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixel, feature) distances of each image of ``x`` to its target: [B] each."""
        pixel = (self.space.to_unit(x) - self.space.to_unit(target)).pow(2).flatten(1).mean(1)
        if target_features is None:
            return pixel, torch.zeros_like(pixel)
        return pixel, (self.features(x, y) - target_features).pow(2).sum(1)


def project(
    G: Network,
    targets: torch.Tensor,
    *,
    features: Network | None = None,
    encoder: Network | None = None,
    steps: int = 100,
    starts: int | None = None,
    seed: int = 0,
    lr: float = LEARNING_RATE,
    progress: bool = False,
) -> Found:
    """Search each target's noise: ``starts`` candidates an image (the first the encoder's guess where there is one;
    default 1 with an encoder, 4 without), times every label of a conditioned generator; ``steps`` Adam steps each."""
    n, dim = len(targets), G.source.dim
    starts = starts or (1 if encoder is not None else 4)
    labels = G.condition.k if G.condition is not None else 1
    z0 = G.source.sample(n * starts, rng=torch.Generator().manual_seed(seed)).view(n, starts, dim)
    if encoder is not None:
        with torch.no_grad():
            z0[:, 0] = encoder.distribution(targets).mean.float()
    z = z0[:, :, None].expand(n, starts, labels, dim).reshape(-1, dim).clone().requires_grad_(True)
    y = torch.arange(labels).repeat(n * starts) if G.condition is not None else None
    t = targets.repeat_interleave(starts * labels, 0)
    distance = Distance(G.target, features)
    history, (pixel, feature) = _descend(G, z, y, t, distance, steps=steps, lr=lr, progress=progress)
    best = history[-1].view(n, -1).argmin(1) + torch.arange(n) * starts * labels
    with torch.no_grad():
        images = G(z[best], None if y is None else y[best])
    return Found(
        z=z.detach()[best],
        labels=None if y is None else y[best],
        images=images,
        distance=history[-1][best],
        pixel=pixel[best],
        feature=feature[best],
        history=history[:, best],
    )


def _descend(G, z, y, t, distance: Distance, *, steps: int, lr: float, progress: bool):
    """Adam on ``z`` for ``steps`` steps; the distance of every candidate before each step and after the last."""
    with torch.no_grad():
        target_features = distance.features(t, y)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))
    history = []
    bar = _bar(steps, progress)
    for step in range(steps + 1):
        pixel, feature = distance.parts(G(z, y), t, target_features, y)
        total = pixel + distance.weight * feature
        history.append(total.detach())
        if step == steps:
            break
        opt.param_groups[0]["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        (z.grad,) = torch.autograd.grad(total.sum(), [z])  # z alone: the networks' weights take no gradient
        opt.step()
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix({"mean distance": f"{total.detach().mean():.4g}"})
    bar.close()
    return torch.stack(history), (pixel.detach(), feature.detach())


def _bar(steps: int, shown: bool):
    """The project's progress style: tqdm's bar on a terminal, plain lines in a file or a pipe."""
    import sys

    from tqdm.auto import tqdm

    from ..session.progress import PlainProgress, _redraws_in_place

    if shown and not _redraws_in_place(sys.stderr):
        return PlainProgress(total=steps, initial=0, desc="project", file=sys.stderr)
    return tqdm(total=steps, disable=not shown, dynamic_ncols=True, desc="project")


# -- gan project RUN IMAGE... -o out/ ----------------------------------------------------------------------------
def networks_of(run, encoder_run=None) -> tuple[Network, Network | None, Network | None]:
    """The run's generator (its moving average where kept), its discriminator (for features) and the encoder."""
    G = load(run, _in_role(run, "generator"))
    if not isinstance(G.source, Noise) or not isinstance(G.target, Image):
        raise RunError(f"{run}: its generator maps {G.source} -> {G.target}; projection needs noise[Z] -> image")
    d_name = _in_role(run, "discriminator", required=False)
    D = load(run, d_name, ema=False) if d_name else None
    if D is not None and D.source != G.target:
        D = None
    E = None
    if encoder_run is not None:
        e_name = _in_role(encoder_run, "classifier", flag="--encoder")
        E = load(encoder_run, e_name, ema=False, units=False)
        if E.source != G.target or E.target != Normal(G.source.dim):
            raise RunError(
                f"--encoder: network {e_name!r} of {encoder_run} maps {E.source} -> {E.target}; an encoder of the "
                f"generator of {run} ({G.source} -> {G.target}) maps {G.target} -> normal[{G.source.dim}]"
            )
    return G, D, E


def _in_role(run, role: str, *, required: bool = True, flag: str = "RUN") -> str | None:
    from .. import config as C

    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise RunError(f"{flag}: {run} is not a run folder (no config.yaml)")
    roles = C.load(path).roles
    if role not in roles and required:
        given = ", ".join(f"{r}: {n}" for r, n in roles.items())
        what = "generator to project into" if role == "generator" else f"network in the role {role}"
        raise RunError(f"{flag}: run {run} has no {what} (its roles: {given}); give a run of gan train")
    return roles.get(role)


def project_files(
    run, files: list[str], output, *, encoder=None, steps=100, starts=None, seed=0, resize=False, overwrite=False
) -> list[dict]:
    """Project each image file; write OUTPUT/STEM.png (the target beside its reconstruction) and OUTPUT/STEM.npz."""
    from ..image_files import check_image_file, data_background, read_images

    if steps < 0:
        raise RunError(f"--steps: expected a number of steps >= 0, got {steps}")
    if starts is not None and starts < 1:
        raise RunError(f"--starts: expected a number of starts >= 1, got {starts}")
    G, D, E = networks_of(run, encoder)
    out = Path(output)
    names = _output_names(files, out, overwrite)
    if not resize:
        for name in files:
            check_image_file(name, G.target, f"the generator of {run} draws")
    targets = read_images(files, G.target, resize=resize, background=data_background(run, G.target))
    found = project(G, targets, features=D, encoder=E, steps=steps, starts=starts, seed=seed, progress=True)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, stem) in enumerate(zip(files, names)):
        _write_pair(out / f"{stem}.png", G.target, targets[i], found.images[i])
        extra = {} if found.labels is None else {"label": found.labels[i].numpy()}
        np.savez(
            out / f"{stem}.npz",
            z=found.z[i].numpy(),
            distance=found.distance[i].numpy(),
            pixel=found.pixel[i].numpy(),
            feature=found.feature[i].numpy(),
            history=found.history[:, i].numpy(),
            **extra,
        )
        row = {"file": name, "png": str(out / f"{stem}.png"), "npz": str(out / f"{stem}.npz")}
        row.update({k: float(getattr(found, k)[i]) for k in ("distance", "pixel", "feature")})
        rows.append(row | ({"label": int(found.labels[i])} if found.labels is not None else {}))
    return rows


def _output_names(files: list[str], out: Path, overwrite: bool) -> list[str]:
    """One stem an input; two inputs of one stem, or a file already there (without --overwrite), refused."""
    stems: dict[str, str] = {}
    for name in files:
        stem = Path(name).stem
        if stem in stems:
            raise RunError(f"{name}: writes {out / stem}.png, as {stems[stem]} does; rename one of them")
        stems[stem] = name
        for suffix in (".png", ".npz"):
            if (out / f"{stem}{suffix}").exists() and not overwrite:
                raise RunError(f"-o: {out / stem}{suffix} exists; pass --overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise RunError(f"-o: {out} is a file; projection writes a folder of PNG and .npz files")
    return list(stems)


def _write_pair(path: Path, space: Image, target: torch.Tensor, found: torch.Tensor) -> None:
    """The target, a grey line, the reconstruction: side by side, at the data's size."""
    import torchvision.utils as vutils

    pair = torch.stack([space.to_unit(target.float()), space.to_unit(found.float())])
    vutils.save_image(pair, str(path), nrow=2, padding=1, pad_value=0.5)
