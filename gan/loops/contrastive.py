"""The contrastive loop: a distance function trained as a classifier of matches.

In a batch of N examples, each one's embedding must pick out its matches among the others: a
categorical distribution over the batch, whose cross-entropy is InfoNCE (``objectives.contrastive_loss``).
The matches are the other augmented view of the same example (SimCLR: ``objective.augment`` draws two
views) or, with ``data.labels: true``, every example of the same class (supervised contrastive),
or, for text (``data.view: cloze``), given pairs: a sentence is the query and the passage it was cut from its
match among the batch's passages (the inverse cloze task, ``data/cloze.py``). Both sides of a pair are read
by the same network, in one pass. The network in the role ``embedder`` writes ``sphere[D]``; nothing about it
is special to this loop.

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
from ..data.cloze import joined, open_cloze
from ..measure.retrieval import bm25_cloze_scores, cloze_scores, embed, retrieval_scores
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


def global_loss(z: torch.Tensor, keys: torch.Tensor, temperature, acc, views: int, pairs: bool = False):
    """The loss of the global batch from this process's ``z`` ([views * n, D], view-major) and ``keys`` ([n]).

    Rows are laid out as one process would lay out the global batch: every process's first view, then
    every process's second view, so the value is the same with one process or many. With ``pairs`` the first
    view is the queries and the second their passages, and only passages are candidates (``pair_loss``).
    """
    n = len(keys)
    rows = torch.cat([gathered(v, acc) for v in z.split(n)])
    all_keys = gathered(keys, acc, grad=False)
    if pairs:
        queries, passages = rows.chunk(2)
        return pair_loss(queries, passages, all_keys, temperature)
    return contrastive_loss(rows, all_keys.repeat(views), temperature)


def pair_loss(queries: torch.Tensor, candidates: torch.Tensor, keys: torch.Tensor, temperature) -> torch.Tensor:
    """Given pairs: each query's categorical over the batch's candidates (logits: cosine / temperature), its target
    every candidate of its key (one: its own pair, unless a passage came twice), each weighted 1/|P(i)|. With one
    positive per query this is exactly cross-entropy over the query x candidate similarity matrix, the inverse cloze
    task's loss; a query is never compared with the other queries, which are not what it will be asked to find."""
    log_p = (queries.float() @ candidates.float().T / temperature).log_softmax(-1)
    positive = keys[:, None] == keys[None, :]
    return (-log_p.masked_fill(~positive, 0.0).sum(1) / positive.sum(1)).mean()


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
        self.pairs = self.net.source.kind == "text"  # cloze pairs: (queries, passages) [2, n, T] a batch
        self.scores: dict[str, float] = {}
        self.baseline: dict | None = None  # BM25 on the held-out pairs: it learns nothing, so it is scored once

    def update(self, log: bool) -> tuple[dict, int]:
        acc = self.acc
        self.session.schedule(self.opt)
        for _ in range(self.cfg.run.grad_accum):
            x, y = next(self.batches)
            n = x.shape[1] if self.pairs else len(x)
            # the key a match shares: its class, or (SimCLR, pairs) the example's place in the global batch
            keys = y if self.labels else torch.arange(n, device=x.device) + acc.process_index * n
            if self.pairs:  # queries, then their passages: one network reads both, in one pass
                views = x.flatten(0, 1)
            else:
                views = torch.cat([self.augment(x), self.augment(x)]) if self.augment else x
            with acc.accumulate(self.model), acc.autocast():
                z, temperature = self.model(views)
                loss = global_loss(z, keys, temperature, acc, 2 if self.augment or self.pairs else 1, self.pairs)
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
        """Held-out queries against the training references: precision@1, R-precision, MAP@R; for cloze pairs, the
        held-out queries against the held-out passages (recall@1, recall@5, MRR), BM25's beside them."""
        if not self.session.is_main or len(self.held_out) == 0:
            return
        if self.pairs:
            if self.baseline is None:
                self.baseline = bm25_cloze_scores(self.held_out, required=False)
            self.scores = {**cloze_scores(self.net, self.held_out), **self.baseline}
        elif self.train_set.y is not None:
            queries, refs = embed(self.net, self.held_out.x), embed(self.net, self.train_set.x)
            self.scores = retrieval_scores(queries, self.held_out.y, refs, self.train_set.y)
        else:
            return
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
            print(f"held-out {self.headline()} on {len(self.held_out)} queries (step {s.step})", file=sys.stderr)

    def headline(self) -> str:
        k = self.scores
        if self.pairs:

            def r1(p):
                return f"{k[p + 'recall_at_1']:.4f} [{k[p + 'recall_at_1_low']:.4f}, {k[p + 'recall_at_1_high']:.4f}]"

            bm25 = f" (BM25 {r1('bm25_')}, MRR {k['bm25_mrr']:.4f})" if "bm25_recall_at_1" in k else ""
            return f"recall@1 {r1('')}, MRR {k['mrr']:.4f}{bm25}"
        return f"precision@1 {k['precision_at_1']:.4f}, MAP@R {k['map_at_r']:.4f}"

    def project(self, n: int = 500) -> None:
        """A sample of held-out embeddings, with labels and thumbnails, for TensorBoard's projector."""
        held, writer = self.held_out, self.session.writer
        if writer is None or len(held) == 0:
            return
        x = held.x[:n]
        z = embed(self.net, x)
        thumbnails = self.net.source.to_unit(x).cpu() if self.net.source.is_image else None
        texts = getattr(held, "texts", None)  # cloze pairs: the passage, as far as the projector's list shows it
        labels = held.y[:n].tolist() if held.y is not None else texts and [t[:100] for t in texts[:n]]
        writer.add_embedding(z, metadata=labels, label_img=thumbnails, global_step=self.session.step, tag="embedder")


def contrastive_data(cfg, name: str, net, acc) -> tuple:
    """(training examples, held-out examples, the augmenter or None) for the embedder ``name``, checked for
    positives: two augmented views of each example, or labels that examples share."""
    if net.condition is not None:
        raise RoleError(f"role 'embedder': network {name!r} is conditioned on {net.condition}; an embedder reads data")
    if net.source.kind == "text":  # given pairs: a sentence and its passage
        if cfg.data.labels:
            raise ConfigError("data.labels: cloze pairs are their own positives and text has no labels; set it false")
        train_set, held_out = open_cloze(cfg.data, net.source)
        augmenter(cfg, net.source, acc)  # refuses objective.augment: it transforms images
        if hasattr(net, "start_from_corpus") and "init" not in cfg.networks[name]:  # corpus statistics (ngrams: idf)
            net.start_from_corpus(net.source.tokens([joined(p) for p in train_set.passages]))
        return train_set, held_out.to(acc.device), None
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
