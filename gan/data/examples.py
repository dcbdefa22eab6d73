"""Examples held as tensors, and the batches a loop draws from them in an order fixed by (seed, position).

Data that fits in memory is one tensor, kept on the training device and batched by index (no
DataLoader, no per-step copies); large image sets stream through a DataLoader. Either way the order
of examples is a function of (seed, position), so a resumed run sees the batches the uninterrupted
run would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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

    def split(self, holdout: float, seed: int) -> tuple[Examples, Examples]:
        """Shuffle (bundled MNIST is sorted by class) and cut off a held-out share."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        cut = len(self) - max(1, int(round(holdout * len(self)))) if holdout > 0 else len(self)
        pick = lambda idx: Examples(self.x[idx], None if self.y is None else self.y[idx], self.classes)  # noqa: E731
        return pick(order[:cut]), pick(order[cut:])

    def to(self, device) -> Examples:
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
            raise DataError(
                f"data.batch_size: {batch_size} x {world} process(es) is more than the {len(examples)} examples"
            )
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

    def __init__(
        self, dataset, batch_size: int, *, seed: int, rank: int, world: int, workers: int, convert, device="cpu"
    ):
        self.dataset, self.batch_size, self.seed, self.rank, self.world = dataset, batch_size, seed, rank, world
        self.workers, self.convert, self.device = workers, convert, torch.device(device)
        self.per_epoch = len(dataset) // (batch_size * world)
        if self.per_epoch == 0:
            raise DataError(
                f"data.batch_size: {batch_size} x {world} process(es) is more than the {len(dataset)} examples"
            )
        self.position = 0
        self._iter = None

    def _start(self):
        epoch, index = divmod(self.position, self.per_epoch)
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        usable = order[: self.per_epoch * self.batch_size * self.world].view(
            self.per_epoch, self.world, self.batch_size
        )
        mine = usable[index:, self.rank].reshape(-1).tolist()  # skip what was already seen: indices, not images
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.dataset, mine),
            batch_size=self.batch_size,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        self._iter, self._left = iter(loader), self.per_epoch - index

    def __next__(self):
        if self._iter is None or self._left == 0:
            self._start()
        try:
            x, y = next(self._iter)
        except DataError as error:  # raised in a worker: DataLoader puts the worker's traceback into the message
            raise DataError(
                str(error).strip().splitlines()[-1].removeprefix(f"{DataError.__module__}.DataError: ")
            ) from None
        self._left -= 1
        self.position += 1
        return self.convert(to_device(x, self.device)), to_device(y, self.device)

    def __iter__(self):
        return self
