"""The adversarial loop: one network draws, another tells drawn from real, each improves against the other.

Roles come from the config (``roles: {generator: painter, discriminator: critic}``);
any network whose spaces fit may take either role.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from networks import Image, Point, parse

from .. import data as datasets
from ..augment import Augmenter
from ..config import Config, Optimizer
from ..device import channels_last
from ..ema import EMA
from ..objectives import best_rated, discriminator_loss, generator_loss, gradient_penalty, mean_probability, r1_penalty, top_k_share
from ..roles import RoleError, check_conditions, check_role, check_roles_named
from .session import Clock, Session, make_optimizer


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False):
    """Train ``cfg`` (a new run, or the latest checkpoint of its run folder); returns the run folder."""
    with Session(cfg, resume=resume, overwrite=overwrite) as session:
        loop = Adversarial(cfg, session, resume=resume)
        loop.run()
        return session.run.path


@dataclass
class DiscriminatorPhase:
    """What the discriminator phase hands on: G(z) kept for the generator phase, and its last values for the log."""

    fake: torch.Tensor | None     # G(z) of the last micro-batch, graph kept (one micro-batch an update), else None
    y_fake: torch.Tensor | None   # the labels G(z) was drawn for, when G is conditioned
    batch: int                    # examples per micro-batch: the generator phase draws as many
    loss: torch.Tensor
    out_real: torch.Tensor        # D(T(x)) and D(T(G(z))) of the last micro-batch, as logits or scores
    out_fake: torch.Tensor
    norm: torch.Tensor | None     # gradient norm of the last update


@dataclass
class GeneratorPhase:
    loss: torch.Tensor
    norm: torch.Tensor | None
    top_k_share: float            # share of the generated batch learned from (objective.top_k)


class Adversarial:
    def __init__(self, cfg: Config, session: Session, *, resume: bool):
        self.cfg, self.session = cfg, session
        acc = self.acc = session.accelerator
        check_roles_named("adversarial", cfg.roles)
        self.g_name, self.d_name = cfg.roles["generator"], cfg.roles["discriminator"]
        if self.g_name == self.d_name:
            raise RoleError(f"roles: network {self.g_name!r} cannot be both generator and discriminator; give each role its own network")
        nets = session.build_networks()
        G, D = nets[self.g_name], nets[self.d_name]
        data_space = _data_space(D, G, cfg)
        check_role("discriminator", self.d_name, D, data_space)
        check_role("generator", self.g_name, G, data_space)
        source = datasets.open_examples(cfg.data, data_space)
        self.classes = getattr(source, "classes", None)
        check_conditions(nets, cfg.roles, self.classes, cfg.data.labels)
        self.data_space = data_space
        self.augment = _augmenter(cfg, data_space, acc)  # None unless objective.augment is set
        # made before the folder: a batch larger than the data is refused here
        self.batches = datasets.batches(cfg.data, source, seed=cfg.run.seed, rank=acc.process_index, world=acc.num_processes, device=acc.device)
        session.open_folder()  # everything a user can get wrong has been checked by now

        run = cfg.run
        self.channels_last = channels_last(run, session.device, data_space)
        if self.channels_last:
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        opts = {role: cfg.optimizers.get(role, Optimizer()) for role in ("generator", "discriminator")}
        self.g_params = [p for p in G.parameters() if p.requires_grad]
        self.d_params = [p for p in D.parameters() if p.requires_grad]
        opt_g, opt_d = make_optimizer(self.g_params, opts["generator"]), make_optimizer(self.d_params, opts["discriminator"])
        fast_g, fast_d = (torch.compile(G), torch.compile(D)) if run.compile else (G, D)
        self.G_ddp, self.D_ddp, self.opt_g, self.opt_d = session.prepare(fast_g, fast_d, opt_g, opt_d)
        self.G, self.D = fast_g, fast_d          # the same weights without the DDP wrapper: for calls that must not sync
        self.G_net, self.D_net = G, D            # plain modules: for EMA, export, sampling
        self.ema = EMA(G, cfg.objective.ema, cfg.objective.ema_rampup) if cfg.objective.ema > 0 else None

        fixed = torch.Generator().manual_seed(run.seed)
        self.fixed_z = G.source.sample(run.sample_count, rng=fixed).to(acc.device)
        self.fixed_y = torch.arange(run.sample_count, device=acc.device) % self.classes if G.condition is not None else None
        self.d_updates = 0
        if resume:
            extra = {"ema": self.ema.module} if self.ema else {}
            trainer = session.restore(dict(extra, **({"augment": self.augment} if self.augment else {})))
            self.batches.position = trainer["data_position"]
            self.d_updates = trainer["d_updates"]
        elif session.writer is not None:
            _write_hparams(session.writer, cfg)

    def prior(self, n: int):
        """Inputs of the generator: noise from its source space (and labels when conditioned)."""
        G = self.G_net
        z = G.source.sample(n, device=self.acc.device)
        y = G.condition.sample(n, device=self.acc.device) if G.condition is not None else None
        return z, y

    def iteration(self, log: bool) -> dict:
        """One generator update after ``objective.d_steps`` discriminator updates; scalars when ``log``."""
        self.session.schedule(self.opt_g, self.opt_d)
        d = self.discriminator_phase()
        g = self.generator_phase(d)
        if self.ema is not None:
            self.ema.update(self.G_net, self.session.step + 1)  # a function of the step: resume stays exact
        return self.stats(d, g) if log else {}

    def seen(self, x: torch.Tensor) -> torch.Tensor:
        """What the discriminator reads: T(x) under ``objective.augment``, else x."""
        return self.augment(x) if self.augment else x

    def discriminator_phase(self) -> "DiscriminatorPhase":
        """minimise over D:  L_D(D(T(x)), D(T(G(z))))  [+ k gamma/2 E||grad_x D(x)||^2 every k-th update]  [+ lambda GP];  G fixed.

        e.g. -log D(x) - log(1 - D(G(z))). With one micro-batch an update, the last G(z) keeps its graph
        for the generator phase, as in DCGAN: one forward of G serves both updates.
        """
        obj, acc = self.cfg.objective, self.acc
        share = self.cfg.run.grad_accum == 1
        for i in range(obj.d_steps):
            last = i == obj.d_steps - 1
            r1_now = obj.r1 > 0 and self.d_updates % obj.r1_every == 0
            for _ in range(self.cfg.run.grad_accum):
                real, y_real = next(self.batches)
                if self.channels_last:
                    real = real.contiguous(memory_format=torch.channels_last)
                y_real = y_real if self.cfg.data.labels else None
                z, y_fake = self.prior(len(real))
                fake = None
                with acc.accumulate(self.G_ddp, self.D_ddp), acc.autocast():
                    if share and last:
                        fake = self.G_ddp(z, y_fake)  # kept for the generator's update
                        fake_in = fake.detach()       # D's loss must not reach G's weights
                    else:
                        with torch.no_grad():
                            fake_in = self.G(z, y_fake)
                    if r1_now:
                        real = real.detach().requires_grad_(True)
                    out_real, out_fake = self.D_ddp(self.seen(real), y_real), self.D_ddp(self.seen(fake_in), y_fake)
                    if self.augment:
                        self.augment.observe(out_real)
                    loss = discriminator_loss(obj.loss, out_real, out_fake, obj.label_smoothing)
                    if r1_now:  # lazy R1: every k-th update, weighted k times (StyleGAN2)
                        loss = loss + (obj.r1 / 2) * obj.r1_every * r1_penalty(out_real, real)
                    if obj.gradient_penalty:
                        loss = loss + obj.gradient_penalty * gradient_penalty(lambda x: self.D_ddp(self.seen(x), y_real), real, fake_in)
                    acc.backward(loss)
                norm = self.session.update("discriminator", loss, self.d_params, self.opt_d)  # the one update path every loop shares
            self.d_updates += 1
            if self.augment:
                self.augment.adjust(self.d_updates)
        return DiscriminatorPhase(fake, y_fake, len(real), loss, out_real, out_fake, norm)

    def generator_phase(self, d: "DiscriminatorPhase") -> "GeneratorPhase":
        """minimise over G:  L_G(D(T(G(z)))), e.g. -log D(G(z));  D's weights fixed (no gradients for them).

        T passes G's gradient: every transform is differentiable. With one micro-batch an update the
        discriminator phase's G(z) is reused; otherwise each micro-batch draws its own.
        """
        obj, acc = self.cfg.objective, self.acc
        fake, y_fake = d.fake, d.y_fake
        for p in self.d_params:
            p.requires_grad_(False)
        for _ in range(self.cfg.run.grad_accum):
            with acc.accumulate(self.G_ddp, self.D_ddp), acc.autocast():
                if d.fake is None:  # several micro-batches an update: each draws its own
                    z, y_fake = self.prior(d.batch)
                    fake = self.G_ddp(z, y_fake)
                out = self.D(self.seen(fake), y_fake)  # not the DDP wrapper: D is not being trained here
                share = top_k_share(self.session.step, obj.top_k, obj.top_k_decay)  # 1 unless objective.top_k < 1
                loss = generator_loss(obj.loss, best_rated(out, share))
                acc.backward(loss)
            norm = self.session.update("generator", loss, self.g_params, self.opt_g)
        for p in self.d_params:
            p.requires_grad_(True)
        return GeneratorPhase(loss, norm, share)

    def stats(self, d: "DiscriminatorPhase", g: "GeneratorPhase") -> dict:
        """The scalars of a logging step: the only place where values leave the device."""
        obj = self.cfg.objective
        stats = {
            "discriminator/loss": d.loss.item(),
            "generator/loss": g.loss.item(),
            "discriminator/on_real": mean_probability(d.out_real.detach().float(), obj.loss).item(),
            "discriminator/on_generated": mean_probability(d.out_fake.detach().float(), obj.loss).item(),
            "discriminator/grad_norm": _item(d.norm),
            "generator/grad_norm": _item(g.norm),
            "discriminator/lr": self.opt_d.param_groups[0]["lr"],
            "generator/lr": self.opt_g.param_groups[0]["lr"],
        }
        if obj.top_k < 1.0:
            stats["generator/top_k_share"] = g.top_k_share
        if self.augment:
            stats.update(self.augment.stats())
        return stats

    # -- the run ----------------------------------------------------------------------
    def run(self) -> None:
        s, run = self.session, self.cfg.run
        bar = tqdm(total=run.steps, initial=s.step, disable=not (s.is_main and run.progress), dynamic_ncols=True, desc=s.run.path.name)
        clock = Clock()
        while s.step < run.steps:
            taken = self.batches.position
            try:
                self.step(clock, bar)
            except datasets.DataError as error:  # a streamed file that cannot be read
                bar.close()
                s.stop_for_unreadable_data(error, self.checkpoint, untouched=self.batches.position == taken)
        bar.close()
        self.acc.end_training()

    def step(self, clock: Clock, bar=None) -> None:
        """One generator update and whatever falls due after it: scalars, sample grid, metrics, checkpoint.

        ``run`` calls this until ``run.steps``; the speed benchmark calls it too, so it times what training runs.
        """
        s, run = self.session, self.cfg.run
        stats = self.iteration(s.log_due())
        s.end_step(stats, self.cfg.data.batch_size * self.acc.num_processes * self.cfg.objective.d_steps * run.grad_accum, clock, bar)
        if s.due(run.sample_every):
            self.samples()
        every = self.metrics_every
        if every and s.due(every):
            self.measure()
        s.save_or_stop(self.checkpoint, bar)

    @property
    def metrics_every(self) -> int | None:
        """Steps between scores of ``metrics``: the config's, else every sample grid on a toy mixture (cheap there), else never."""
        return self.cfg.metrics.get("every") or (self.cfg.run.sample_every if datasets.is_mixture(self.cfg.data.name) else None)

    def checkpoint(self) -> None:
        s = self.session

        def export():
            s.run.export(self.g_name, self.G_net, "generator", ema=self.ema.module if self.ema else None)
            s.run.export(self.d_name, self.D_net, "discriminator")

        s.sync_buffers(self.G_net, self.D_net, *([self.ema.module] if self.ema else []))
        extra = {"ema": self.ema.state_dict()} if self.ema else {}
        if self.augment:
            extra["augment"] = self.augment.state_dict()  # every process sums its statistics in here
        trainer = {"data_position": self.batches.position, "d_updates": self.d_updates}
        s.save(extra, trainer, export)

    @torch.no_grad()
    def samples(self) -> None:
        """Grid of the fixed noise through the averaged weights: progress visible step to step."""
        s = self.session
        if not s.is_main:
            return
        net = self.ema.module if self.ema else self.G_net
        was_training = net.training
        net.eval()
        if isinstance(self.data_space, Image):
            images = self.data_space.to_unit(net(self.fixed_z, self.fixed_y).float())
            s.log_images("samples", s.run.samples / f"step_{s.step:08d}.png", images)
        else:
            points = net.sample(2500, rng=torch.Generator().manual_seed(self.cfg.run.seed)).float().cpu()
            s.log_images("samples", s.run.samples / f"step_{s.step:08d}.png", scatter(points)[None])
        net.train(was_training)

    def measure(self) -> None:
        """The config's ``metrics`` (names, samples, classifier) on the averaged generator, into TensorBoard."""
        if not self.session.is_main:
            return
        from ..evaluation import score

        m = self.cfg.metrics
        net = self.ema.module if self.ema else self.G_net
        was_training = net.training
        scores = score(net.eval(), self.cfg, metrics=m.get("names"), samples=m.get("samples"), classifier=m.get("classifier"))
        net.train(was_training)
        self.session.log({f"metrics/{k}": float(v) for k, v in scores.items() if isinstance(v, (int, float))})


def _augmenter(cfg: Config, data_space, acc) -> Augmenter | None:
    """objective.augment as the loop's augmenter; cut-outs and borders take the space's lowest value (black)."""
    a = cfg.objective.augment
    if a is None:
        return None
    if not isinstance(data_space, Image):
        from ..config import ConfigError

        raise ConfigError(f"objective.augment: transforms images, but the networks read {data_space}; remove objective.augment")
    policy = [a.policy] if isinstance(a.policy, str) else a.policy
    p = a.p if a.p is not None else (0.0 if a.adaptive else 1.0)
    return Augmenter(policy, p=p, fill=data_space.low, seed=cfg.run.seed, rank=acc.process_index, device=acc.device,
                     adaptive=a.adaptive, target=a.target, interval=a.interval, speed=a.speed,
                     reduce=lambda t: acc.reduce(t, reduction="sum"))


def _data_space(D, G, cfg: Config):
    """What the data must look like: what the discriminator reads, else what the generator writes,
    else the dataset's own shape (so that a role check can still name a sensible space)."""
    for space in (D.source, G.target):
        if space.is_image or isinstance(space, Point):
            return space
    native = datasets.data_space(cfg.data)
    return parse(native) if "C,H,W" not in native else D.source


def scatter(points: torch.Tensor, size: int = 256) -> torch.Tensor:
    """2-D points as a density picture [1, size, size] in [0, 1] (dark = many points)."""
    lim = max(float(points.abs().max()), 1e-3) * 1.1
    hist, _ = torch.histogramdd(points.float(), bins=[size, size], range=[-lim, lim, -lim, lim])
    img = 1.0 - (hist.T.flip(0) > 0).float() * 0.85 - (hist.T.flip(0) / hist.max().clamp_min(1)) * 0.15
    return img.unsqueeze(0).clamp(0, 1)


def _item(x) -> float | None:
    return None if x is None else float(x)


def _write_hparams(writer, cfg: Config) -> None:
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
