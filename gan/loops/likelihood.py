"""The likelihood loop: a network from data to labels, trained by maximum likelihood.

A classifier is a conditional generative model of labels: it is trained to make the
observed label likely, ``max E log p(y | x)``, and it can ``sample()`` labels. The same
class that judged real from generated in a GAN takes this role unchanged (or starts
from the GAN's weights: ``init: {run: runs/digits, network: critic}``).

Any distribution target trains the same way, by its negative log-likelihood
``-target.distribution(net(x)).log_prob(y)``; labels take the short road of cross-entropy on
logits (the same number). Regression is this loop with one more distribution space: a network
that writes ``normal[D]`` is trained by ``-log N(y; mean, scale)`` (configs/diabetes.yaml).
Strings read by a next-character network are scored as whole sentences (every prefix in one
pass) or as prefixes labelled with their next character: one model, two views of its data, the
same loss.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

import torch

from networks import Bernoulli, Categorical, Network, Normal

from ..eval_mode import evaluating
from ..measure.held_out import held_out_scores
from ..objectives import negative_log_likelihood
from ..runs.folder import atomic_write_text
from ..session.progress import Clock
from ..session.session import Session


@dataclass(eq=False, repr=False)
class Likelihood:
    """Steps, checkpoints and logs one network by maximum likelihood; ``setup.likelihood_loop`` builds it."""

    session: Session
    name: str  # the network's name in the config, for export
    net: Network  # the plain module: for scores, samples, export
    net_ddp: torch.nn.Module  # as accelerate prepared it (compiled when run.compile): for the updates
    opt: torch.optim.Optimizer  # as accelerate prepared it
    params: list  # the parameters it steps (a frozen body's are not among them)
    train_set: object  # the training examples
    batches: object  # drawn from them, endless, with a position a checkpoint keeps
    held_out: object  # examples scored at every sample step, on the device
    text: bool  # the network reads strings (sentences or prefixes), not examples with labels
    channels_last: bool  # batches laid out as the network's weights are

    def __post_init__(self):
        self.cfg, self.acc = self.session.cfg, self.session.accelerator
        self.scores: dict[str, float] = {}
        self.characters = Clock()

    def iteration(self, log: bool) -> dict:
        acc, stats = self.acc, {}
        self.session.schedule(self.opt)
        for _ in range(self.cfg.run.grad_accum):
            x, y = next(self.batches)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with acc.accumulate(self.net_ddp), acc.autocast():
                loss, logits = negative_log_likelihood(self.net, x, y, call=self.net_ddp)
                acc.backward(loss)
            norm = self.session.update("classifier", loss, self.params, self.opt)
        if self.text:
            self.characters.tick(self.batches.characters)
        if log:
            stats = {
                "classifier/loss": loss.item(),
                "classifier/grad_norm": float(norm),
                "classifier/lr": self.opt.param_groups[0]["lr"],
            }
            if logits is not None and isinstance(self.net.target, (Bernoulli, Categorical)):
                guess = (
                    logits.detach().argmax(-1)
                    if isinstance(self.net.target, Categorical)
                    else (logits.detach() > 0).long()
                )
                stats["classifier/accuracy"] = (guess == y).float().mean().item()
            if isinstance(self.net.target, Normal):
                stats["classifier/rmse_standardised"] = (logits.detach()[:, 0] - y).pow(2).mean().sqrt().item()
            if self.text:
                stats["classifier/bits_per_character"] = stats["classifier/loss"] / math.log(2)
                stats["speed/characters_per_second"] = self.characters.rate()
        return stats

    # -- the run: the session's rhythm (Session.train) calls these ---------------------------
    def run(self) -> None:
        self.characters = Clock()  # from the first step: not the time a resume took to load
        self.session.train(self)

    def update(self, log: bool) -> tuple[dict, int]:
        return self.iteration(log), self.cfg.data.batch_size * self.acc.num_processes * self.cfg.run.grad_accum

    def jobs(self) -> list:
        return [(self.cfg.run.sample_every, self.held_out_scores)]

    def finish(self) -> None:
        """The last held-out scores into RUN/metrics.json, and the headline one where the user is looking."""
        s = self.session
        if s.is_main:
            scores = s.run.path / "metrics.json"
            with s.writing(scores):
                atomic_write_text(
                    scores,
                    json.dumps({"step": s.step, **{f"held_out/{k}": v for k, v in self.scores.items()}}, indent=1),
                )
            headline = next((k for k in ("bits_per_character", "accuracy", "rmse", "nll") if k in self.scores), None)
            if headline:  # the number a user trains for, where they are looking
                print(
                    f"held-out {headline.replace('_', ' ')} {self.scores[headline]:.4f} on {len(self.held_out)} "
                    f"examples (step {s.step})",
                    file=sys.stderr,
                )

    def held_out_scores(self) -> None:
        if len(self.held_out) == 0:
            return
        self.scores = held_out_scores(self.net, self.held_out)
        if self.text:
            self.log_samples()
        self.session.log({f"held_out/{k}": v for k, v in self.scores.items()})

    def log_samples(self, n: int = 8) -> None:
        """Sentences drawn from a fixed seed, as text in TensorBoard: the same draws at every sample step."""
        if not self.session.is_main:
            return
        with evaluating(self.net):
            tokens = self.net.source.distribution(lambda s: self.net(s, every_prefix=True), self.net).sample(
                n, rng=torch.Generator().manual_seed(self.cfg.run.seed), device=self.acc.device
            )
        if self.session.writer is not None:  # two spaces before a newline: a line break in TensorBoard's markdown
            self.session.writer.add_text("samples", "  \n".join(self.net.source.strings(tokens)), self.session.step)

    def checkpoint(self) -> None:
        s = self.session
        s.sync_buffers(self.net)
        s.save({}, {"data_position": self.batches.position}, lambda: s.run.export(self.name, self.net, "classifier"))
