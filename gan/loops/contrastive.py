"""The contrastive loop: a distance function trained as a classifier of matches.

In a batch of N examples, each one's embedding must pick out its matches among the others: a
categorical distribution over the batch, whose cross-entropy is InfoNCE (``objectives.contrastive_loss``).
The matches are the other augmented view of the same example (SimCLR: ``objective.augment`` draws two
views) or, with ``data.labels: true``, every example of the same class (supervised contrastive). The
network in the role ``embedder`` writes ``sphere[D]``; nothing about it is special to this loop.

A loop of its own rather than the likelihood loop with the batch as the label set: the likelihood loop
scores ``net.distribution(x)``, a distribution each example carries alone, while this one exists only
between the examples of a batch (across every process's batch), so the network's target is not a
distribution space. Both step through ``session.update``: one update path, one guard, one set of logs.

Under several processes every process gathers every embedding (its own keep their gradients), computes
the loss of the whole global batch, and steps with that loss times the number of processes: DDP's mean
of the gradients is then exactly the gradient of one process on the same global batch.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

import torch
from torch import nn

from networks import Network

from .. import data as datasets
from ..config import ConfigError
from ..measure.retrieval import embed, retrieval_scores
from ..objectives import contrastive_loss
from ..roles import RoleError
from ..runs.folder import atomic_write_text
from ..session.session import Session
from .inputs import augmenter

LEARNED_START, LEARNED_FLOOR = 0.07, 0.01  # CLIP's starting temperature, and its cap of 100 on 1 / temperature


class Scaled(nn.Module):
    """The embedder and its temperature as one module, so that DDP averages a learned temperature's gradient and a
    checkpoint keeps it with the weights."""

    def __init__(self, net: Network, temperature):
        super().__init__()
        self.net = net
        start = torch.tensor(math.log(LEARNED_START if temperature == "learned" else float(temperature)))
        if temperature == "learned":
            self.log_temperature = nn.Parameter(start)
        else:
            self.register_buffer("log_temperature", start)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x), self.log_temperature.exp().clamp_min(LEARNED_FLOOR)


def gathered(z: torch.Tensor, acc, *, grad: bool = True) -> torch.Tensor:
    """Every process's rows, in process order; this process's own rows keep their gradient (the others' cannot)."""
    if acc.num_processes == 1:
        return z
    import torch.distributed as dist

    parts = [torch.empty_like(z) for _ in range(acc.num_processes)]
    dist.all_gather(parts, z.detach().contiguous())
    if grad:
        parts[acc.process_index] = z
    return torch.cat(parts)


def global_loss(z: torch.Tensor, keys: torch.Tensor, temperature, acc, views: int) -> torch.Tensor:
    """The loss of the global batch from this process's ``z`` ([views * n, D], view-major) and ``keys`` ([n]).

    Rows are laid out as one process would lay out the global batch: every process's first view, then
    every process's second view, so the value is the same with one process or many.
    """
    n = len(keys)
    rows = torch.cat([gathered(v, acc) for v in z.split(n)])
    all_keys = gathered(keys, acc, grad=False)
    return contrastive_loss(rows, all_keys.repeat(views), temperature)


@dataclass(eq=False, repr=False)
class Contrastive:
    """Steps, checkpoints and logs one embedder; ``contrastive_loop`` builds it."""

    session: Session
    name: str
    net: Network
    model: nn.Module  # Scaled(net), as accelerate prepared it
    opt: torch.optim.Optimizer
    params: list
    train_set: object
    batches: object
    held_out: object
    augment: object  # two views of each example, or None (labels give the positives)

    def __post_init__(self):
        self.cfg, self.acc = self.session.cfg, self.session.accelerator
        self.labels = self.cfg.data.labels
        self.scores: dict[str, float] = {}

    def update(self, log: bool) -> tuple[dict, int]:
        acc = self.acc
        self.session.schedule(self.opt)
        for _ in range(self.cfg.run.grad_accum):
            x, y = next(self.batches)
            n = len(x)
            # the key a match shares: its class, or (SimCLR) the example's place in the global batch
            keys = y if self.labels else torch.arange(n, device=x.device) + acc.process_index * n
            views = torch.cat([self.augment(x), self.augment(x)]) if self.augment else x
            with acc.accumulate(self.model), acc.autocast():
                z, temperature = self.model(views)
                loss = global_loss(z, keys, temperature, acc, 2 if self.augment else 1)
                acc.backward(loss * acc.num_processes)  # DDP averages: undo it, the loss is already global
            norm = self.session.update("embedder", loss, self.params, self.opt)
        if not log:
            return {}, self.cfg.data.batch_size * acc.num_processes * self.cfg.run.grad_accum
        stats = {
            "embedder/loss": loss.item(),
            "embedder/temperature": float(temperature),
            "embedder/grad_norm": float(norm),
            "embedder/lr": self.opt.param_groups[0]["lr"],
        }
        return stats, self.cfg.data.batch_size * acc.num_processes * self.cfg.run.grad_accum

    def run(self) -> None:
        self.session.train(self)

    def jobs(self) -> list:
        return [(self.cfg.run.sample_every, self.held_out_scores)]

    def held_out_scores(self) -> None:
        """Held-out queries against the training references: precision@1, R-precision, MAP@R."""
        if not self.session.is_main or len(self.held_out) == 0 or self.train_set.y is None:
            return
        queries, refs = embed(self.net, self.held_out.x), embed(self.net, self.train_set.x)
        self.scores = retrieval_scores(queries, self.held_out.y, refs, self.train_set.y)
        self.session.log({f"held_out/{k}": v for k, v in self.scores.items()})

    def checkpoint(self) -> None:
        s = self.session
        s.sync_buffers(self.net)
        extra = {}
        if self.augment:  # r_t is only measured against a discriminator: NaN here, which a resume would refuse
            extra["augment"] = {k: v.nan_to_num() for k, v in self.augment.state_dict().items()}
        s.save(extra, {"data_position": self.batches.position}, lambda: s.run.export(self.name, self.net, "embedder"))

    def finish(self) -> None:
        """The last held-out scores into RUN/metrics.json and TensorBoard's projector; the headline on stderr."""
        s = self.session
        if not s.is_main:
            return
        scores = s.run.path / "metrics.json"
        with s.writing(scores):
            body = {"step": s.step, **{f"held_out/{k}": v for k, v in self.scores.items()}}
            atomic_write_text(scores, json.dumps(body, indent=1))
        self.project()
        if self.scores:
            print(
                f"held-out precision@1 {self.scores['precision_at_1']:.4f}, MAP@R {self.scores['map_at_r']:.4f} "
                f"on {len(self.held_out)} queries (step {s.step})",
                file=sys.stderr,
            )

    def project(self, n: int = 500) -> None:
        """A sample of held-out embeddings, with labels and thumbnails, for TensorBoard's projector."""
        held, writer = self.held_out, self.session.writer
        if writer is None or len(held) == 0:
            return
        x = held.x[:n]
        z = embed(self.net, x)
        thumbnails = self.net.source.to_unit(x).cpu() if self.net.source.is_image else None
        labels = held.y[:n].tolist() if held.y is not None else None
        writer.add_embedding(z, metadata=labels, label_img=thumbnails, global_step=self.session.step, tag="embedder")


def contrastive_data(cfg, name: str, net, acc) -> tuple:
    """(training examples, held-out examples, the augmenter or None) for the embedder ``name``, checked for
    positives: two augmented views of each example, or labels that examples share."""
    if net.condition is not None:
        raise RoleError(f"role 'embedder': network {name!r} is conditioned on {net.condition}; an embedder reads data")
    train_set, held_out = _examples(cfg, name, net)
    augment = augmenter(cfg, net.source, acc)
    if augment is None and not cfg.data.labels:
        raise ConfigError(
            "objective.augment: the contrastive loop needs positives: two augmented views of each example "
            "(set objective.augment, e.g. {policy: [translation, cutout]}) or shared labels (data.labels: true)"
        )
    return train_set, held_out.to(acc.device), augment


def _examples(cfg, name: str, net):
    """(training examples, held-out examples) in memory; labels where the positives or the scores need them."""
    source = datasets.open_examples(cfg.data, net.source)
    if not isinstance(source, datasets.Examples):
        raise RoleError(f"role 'embedder' needs examples held in memory; data.name {cfg.data.name!r} streams them")
    if cfg.data.labels and source.y is None:
        raise RoleError(f"data.labels: true, but data.name {cfg.data.name!r} has no labels to take positives from")
    return source.split(cfg.data.holdout, cfg.run.seed)
