"""``gan render``: image files -> the functions an encoder into function space writes for them, drawn at any size.

A run of configs/digits_function_encoder.yaml reads a 28x28 digit and writes the function of the plane that is that
digit; drawing it on 112x112 pixel centres is a 4x picture with no upsampling filter. The one picture written holds
a row an image: the renders at ``--size``, and with ``--beside`` first the image read and the function drawn on the
image's own grid (both enlarged by repeating pixels, so a reader sees what the network saw).
"""

from __future__ import annotations

import torch

from networks import Function, Image, Network

from ..runs.folder import RunError, load
from .sampling import ROLES_READING, draw_at_size, free_output_names, network_in_role, output_path

__all__ = ["encoder_of", "render_files"]


def encoder_of(run, network: str | None = None) -> tuple[str, Network]:
    """The run's network from images to function[2->C] (its classifier unless ``network`` names another)."""
    name = network or network_in_role(run, ROLES_READING)
    net = load(run, name, ema=False)
    if not isinstance(net.source, Image) or not isinstance(getattr(net, "function_space", None), Function):
        raise RunError(
            f"--network: network {name!r} of {run} maps {net.source} -> {net.target}; gan render draws what a "
            "network from image[C,H,W] to function[2->C] writes (configs/digits_function_encoder.yaml)"
        )
    return name, net


@torch.no_grad()
def render_files(
    run, files: list[str], output, *, size: int, network=None, beside=False, resize=False, overwrite=False
) -> list[dict]:
    """Render each image file's function at ``size x size`` into the one picture ``output``; a row per file with its
    reconstruction error on its own grid (RMSE in the image's range). An existing ``output`` is replaced only with
    ``overwrite``, and then whole or not at all."""
    import torchvision.utils as vutils

    from ..image_files import check_image_file, data_background, read_images
    from ..runs.folder import replacing

    name, net = encoder_of(run, network)
    draw_at_size(net, size, len(files), name)  # the same refusals, and memory check, as gan sample --size
    out = output_path(output)
    if out.suffix.lower() != ".png" or out.is_dir():
        raise RunError(f"-o: {out} is not a .png file name; gan render writes one picture")
    free_output_names(out, 1, overwrite, checked=True)
    space = net.source
    if not resize:
        for file in files:
            check_image_file(file, space, f"network {name!r} reads")
    x = read_images(files, space, resize=resize, background=data_background(run, space))
    functions = net.function(x)
    again = functions.render(space.height, space.width)
    rows = [functions.render(size)]
    if beside:
        enlarge = lambda t: torch.nn.functional.interpolate(t, size=(size, size), mode="nearest")  # noqa: E731
        rows = [enlarge(x), enlarge(again), *rows]
    pictures = torch.stack(rows, 1).flatten(0, 1)  # image by image: (read, reconstruction,) render
    out.parent.mkdir(parents=True, exist_ok=True)
    unit = ((pictures.clamp(-1, 1) + 1) / 2).float()
    with replacing(out) as file:
        vutils.save_image(unit, file, format="png", nrow=len(rows), padding=2, pad_value=0.5)
    rmse = (again - x).pow(2).flatten(1).mean(1).sqrt()
    return [{"file": f, "rmse": float(r), "png": str(out)} for f, r in zip(files, rmse)]
