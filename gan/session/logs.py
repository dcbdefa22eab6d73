"""TensorBoard: the scalars, image grids and hyper-parameters a run writes, on the main process only.

The event file is opened at its first use, so a resume refused while its checkpoint loads
leaves no empty event file behind.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..config import Config
from ..runs.folder import replacing


class TensorBoard:
    """The session's logging; expects ``self._logs`` (the logs folder on the main process, else None),
    ``self._writer`` (None until first used), ``self.step`` and ``self.writing`` (checkpoints.py)."""

    @property
    def writer(self):
        """TensorBoard's writer, made at its first use: a resume refused while loading its checkpoint writes no event
        file."""
        if self._writer is None and self._logs is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self._logs))
        return self._writer

    def log(self, scalars: dict[str, float]) -> None:
        if self.writer is None:
            return
        for tag, value in scalars.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, self.step)

    def log_images(self, tag: str, grid_path: Path, images: torch.Tensor) -> None:
        """Save a PNG grid of images in [0, 1] (whole or not at all) and log the same grid to TensorBoard."""
        import torchvision.utils as vutils

        nrow = max(1, int(math.sqrt(len(images))))
        grid = vutils.make_grid(images.float().cpu(), nrow=nrow, padding=2, pad_value=1.0)
        with self.writing(grid_path), replacing(grid_path) as f:
            vutils.save_image(grid, f, format="png")
        if self.writer is not None:
            self.writer.add_image(tag, grid, self.step)


def write_hparams(writer, cfg: Config) -> None:
    """Hyper-parameters into the run's own event file, so TensorBoard's HPARAMS tab lists the run."""
    from torch.utils.tensorboard.summary import hparams

    flat = {}
    for section in ("objective", "data", "run"):
        for k, v in cfg.to_dict()[section].items():
            if isinstance(v, (int, float, str, bool)):
                flat[f"{section}.{k}"] = v
    for role, name in cfg.roles.items():
        flat[f"roles.{role}"] = name
        for k, v in cfg.networks[name].items():
            if isinstance(v, (int, float, str, bool)):
                flat[f"{role}.{k}"] = v
    for summary in hparams(flat, {"generator/loss": math.nan, "discriminator/loss": math.nan}):
        writer.file_writer.add_summary(summary)
