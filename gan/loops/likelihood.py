"""The likelihood loop: a network from data to labels, trained by maximum likelihood.

A classifier is a conditional generative model of labels: it is trained to make the
observed label likely, ``max E log p(y | x)``, and it can ``sample()`` labels. The same
class that judged real from generated in a GAN takes this role unchanged (or starts
from the GAN's weights: ``init: {run: runs/digits, network: critic}``).
"""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from networks import Bernoulli, Categorical

from .. import data as datasets
from ..config import Config, Optimizer
from ..roles import RoleError, check_role, check_roles_named
from .session import Clock, Session, make_optimizer

# Classifiers learn faster with Adam's usual betas than with the GAN setting beta1 = 0.5.
DEFAULT_OPTIMIZER = Optimizer(name="adam", lr=1e-3, betas=(0.9, 0.999))


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False):
    """Train the ``classifier`` role of ``cfg``; returns the run folder."""
    with Session(cfg, resume=resume, overwrite=overwrite) as session:
        loop = Likelihood(cfg, session, resume=resume)
        loop.run()
        return session.run.path


def log_likelihood(net, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y | x) per example, from the network's own distribution: [N]."""
    return net.distribution(x).log_prob(y.float() if isinstance(net.target, Bernoulli) else y)


@torch.no_grad()
def evaluate(net, x: torch.Tensor, y: torch.Tensor, *, batch: int = 512, bins: int = 15) -> dict[str, float]:
    """Accuracy, mean negative log-likelihood and expected calibration error (Guo et al. 2017)."""
    was_training = net.training
    net.eval()
    probs = []
    for i in range(0, len(x), batch):
        logits = net(x[i : i + batch]).float()
        p = torch.sigmoid(logits) if isinstance(net.target, Bernoulli) else logits.softmax(-1)
        probs.append(torch.stack([1 - p, p], -1) if isinstance(net.target, Bernoulli) else p)
    net.train(was_training)
    p = torch.cat(probs)
    y = y.long().to(p.device)
    confidence, guess = p.max(-1)
    correct = (guess == y).float()
    nll = -p.gather(1, y[:, None]).clamp_min(1e-12).log().mean()
    edges = torch.linspace(0, 1, bins + 1, device=p.device)
    ece = torch.zeros((), device=p.device)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():  # |accuracy - confidence| in the bin, weighted by the bin's share
            ece += inside.float().mean() * (correct[inside].mean() - confidence[inside].mean()).abs()
    return {"accuracy": correct.mean().item(), "nll": nll.item(), "calibration_error": ece.item()}


class Likelihood:
    def __init__(self, cfg: Config, session: Session, *, resume: bool):
        self.cfg, self.session = cfg, session
        acc = self.acc = session.accelerator
        check_roles_named("likelihood", cfg.roles)
        self.name = cfg.roles["classifier"]
        nets = session.build_networks()
        net = nets[self.name]
        check_role("classifier", self.name, net, net.source)
        if net.condition is not None:
            raise RoleError(f"role 'classifier': network {self.name!r} is conditioned on {net.condition}; a classifier reads data only")
        source = datasets.open_examples(cfg.data, net.source)
        if not isinstance(source, datasets.Examples) or source.y is None:
            raise RoleError(f"role 'classifier' needs labelled data held in memory; data.name {cfg.data.name!r} gives none")
        wanted = Categorical(source.classes) if source.classes != 2 else None
        if isinstance(net.target, Categorical) and net.target != wanted:
            raise RoleError(f"role 'classifier': network {self.name!r} writes {net.target}, but {cfg.data.name} has {source.classes} classes (categorical[{source.classes}])")
        if isinstance(net.target, Bernoulli) and source.classes != 2:
            raise RoleError(f"role 'classifier': network {self.name!r} writes bernoulli, but {cfg.data.name} has {source.classes} classes")
        self.train_set, self.held_out = source.split(cfg.data.holdout, cfg.run.seed)
        # made before the folder: a batch larger than the data is refused here
        self.batches = datasets.batches(cfg.data, self.train_set, seed=cfg.run.seed, rank=acc.process_index, world=acc.num_processes, device=acc.device)
        session.open_folder()

        self.frozen = not all(p.requires_grad for p in net.body.parameters())
        params = [p for p in net.parameters() if p.requires_grad]
        opt = make_optimizer(params, cfg.optimizers.get("classifier", DEFAULT_OPTIMIZER))
        fast = torch.compile(net) if cfg.run.compile else net
        self.net_ddp, self.opt = session.prepare(fast, opt)
        self.net, self.params = net, params
        if self.frozen:  # a probe reads fixed features: keep the body's batch statistics as they were
            net.body.eval()
        self.held_out = self.held_out.to(acc.device)
        if resume:
            trainer = session.restore({})
            self.batches.position = trainer["data_position"]
        self.scores: dict[str, float] = {}

    def iteration(self, log: bool) -> dict:
        acc, stats = self.acc, {}
        self.session.schedule(self.opt)
        for _ in range(self.cfg.run.grad_accum):
            x, y = next(self.batches)
            with acc.accumulate(self.net_ddp), acc.autocast():
                logits = self.net_ddp(x).float()
                # maximise log p(y | x): cross-entropy is exactly -log of the categorical's probability
                if isinstance(self.net.target, Bernoulli):
                    loss = F.binary_cross_entropy_with_logits(logits, y.float())
                else:
                    loss = F.cross_entropy(logits, y)
                acc.backward(loss)
            if acc.sync_gradients:
                clip = self.cfg.objective.clip_grad_norm
                norm = acc.clip_grad_norm_(self.params, clip) if clip else torch.nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None])
                self.session.guarded_step("classifier", self.opt.optimizer if self.opt.scaler is None else self.opt, loss, norm)
            self.opt.zero_grad(set_to_none=True)
        if log:
            guess = logits.detach().argmax(-1) if isinstance(self.net.target, Categorical) else (logits.detach() > 0).long()
            stats = {"classifier/loss": loss.item(), "classifier/accuracy": (guess == y).float().mean().item(),
                     "classifier/grad_norm": float(norm), "classifier/lr": self.opt.param_groups[0]["lr"]}
        return stats

    def run(self) -> None:
        s, run = self.session, self.cfg.run
        bar = tqdm(total=run.steps, initial=s.step, disable=not (s.is_main and run.progress), dynamic_ncols=True, desc=s.run.path.name)
        clock = Clock()
        while s.step < run.steps:
            stats = self.iteration(s.log_due())
            s.end_step(stats, self.cfg.data.batch_size * self.acc.num_processes * run.grad_accum, clock, bar)
            if s.due(run.sample_every):
                self.held_out_scores()
            s.save_or_stop(self.checkpoint, bar)
        bar.close()
        if s.is_main:
            (s.run.path / "metrics.json").write_text(json.dumps({"step": s.step, **{f"held_out/{k}": v for k, v in self.scores.items()}}, indent=1))
        self.acc.end_training()

    def held_out_scores(self) -> None:
        if len(self.held_out) == 0:
            return
        self.scores = evaluate(self.net, self.held_out.x, self.held_out.y)
        self.session.log({f"held_out/{k}": v for k, v in self.scores.items()})

    def checkpoint(self) -> None:
        s = self.session
        s.sync_buffers(self.net)
        s.save({}, {"data_position": self.batches.position}, lambda: s.run.export(self.name, self.net, "classifier"))
