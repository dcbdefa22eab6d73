"""The adversarial loop: one network draws, another tells drawn from real, each improves against the other.

Roles come from the config (``roles: {generator: painter, discriminator: critic}``);
any network whose spaces fit may take either role. ``setup.py`` checks them and builds what this
loop trains; the loop then only steps, checkpoints and logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from networks import Image, Network, Space

from .. import data as datasets
from ..augment import Augmenter
from ..ema import EMA
from ..eval_mode import evaluating
from ..objectives import (
    PAIRED,
    best_rated,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    mean_probability,
    top_k_share,
    zero_centred_penalty,
)
from ..scatter import scatter
from ..schedules import penalty_weights, set_augment, set_optimizers
from ..session.progress import Clock
from ..session.session import Session
from .phases import DiscriminatorPhase, GeneratorPhase


@dataclass(eq=False, repr=False)
class Adversarial:
    """Steps, checkpoints and logs a generator against a discriminator; ``setup.adversarial_loop`` builds it."""

    session: Session
    g_name: str  # the networks' names in the config, for export
    d_name: str
    G_net: Network  # plain modules: for EMA, export, sampling
    D_net: Network
    G: torch.nn.Module  # the same weights compiled (run.compile) but not DDP-wrapped: for calls that must not sync
    D: torch.nn.Module
    G_ddp: torch.nn.Module  # as accelerate prepared them: for the updates
    D_ddp: torch.nn.Module
    opt_g: torch.optim.Optimizer  # as accelerate prepared them
    opt_d: torch.optim.Optimizer
    g_params: list  # the parameters each optimizer steps (a frozen body's are not among them)
    d_params: list
    batches: object  # real examples, endless, with a position a checkpoint keeps
    data_space: Space  # what the discriminator reads and the generator writes
    classes: int | None  # the data's classes, for a conditioned generator's labels
    augment: Augmenter | None  # objective.augment, else None
    ema: EMA | None  # averaged generator weights (objective.ema), else None
    channels_last: bool  # batches laid out as the networks' weights are
    d_updates: int = 0  # discriminator updates so far: lazy R1 and adaptive augmentation count them

    def __post_init__(self):
        self.cfg, self.acc = self.session.cfg, self.session.accelerator
        run, G = self.cfg.run, self.G_net
        fixed = torch.Generator().manual_seed(run.seed)  # the same noise at every sample step, and after a resume
        self.fixed_z = G.source.sample(run.sample_count, rng=fixed).to(self.acc.device)
        self.fixed_y = (
            torch.arange(run.sample_count, device=self.acc.device) % self.classes if G.condition is not None else None
        )

    def prior(self, n: int):
        """Inputs of the generator: noise from its source space (and labels when conditioned)."""
        G = self.G_net
        z = G.source.sample(n, device=self.acc.device)
        y = G.condition.sample(n, device=self.acc.device) if G.condition is not None else None
        return z, y

    def iteration(self, log: bool) -> dict:
        """One generator update after ``objective.d_steps`` discriminator updates; scalars when ``log``."""
        self.session.schedule(self.opt_g, self.opt_d)
        # a function of the step alone: a resumed run sets what an unbroken one would
        set_optimizers(self.cfg.objective, self.session.step, self.cfg.run.steps, self.opt_g, self.opt_d)
        set_augment(self.cfg.objective, self.session.step, self.cfg.run.steps, self.augment)
        d = self.discriminator_phase()
        g = self.generator_phase(d)
        if self.ema is not None:
            self.ema.update(self.G_net, self.session.step + 1)  # a function of the step: resume stays exact
        return self.stats(d, g) if log else {}

    def seen(self, x: torch.Tensor) -> torch.Tensor:
        """What the discriminator reads: T(x) under ``objective.augment``, else x."""
        return self.augment(x) if self.augment else x

    def gammas(self) -> tuple[float, float]:
        """The weights of R1 and R2 for the coming update (objective.schedule moves them)."""
        return penalty_weights(self.cfg.objective, self.session.step, self.cfg.run.steps)

    def discriminator_phase(self) -> DiscriminatorPhase:
        """minimise over D:  L_D(D(T(x)), D(T(G(z))))  [+ k gamma/2 (R1 + R2) every k-th update]  [+ lambda GP];
        G fixed.

        e.g. -log D(x) - log(1 - D(G(z))). R1 = E||grad_x D(x)||^2 on real data, R2 the same on generated
        data, whose gradient stops at G(z): the penalty never reaches G. With one micro-batch an update, the
        last G(z) keeps its graph for the generator phase, as in DCGAN: one forward of G serves both updates.
        """
        obj, acc = self.cfg.objective, self.acc
        share = self.cfg.run.grad_accum == 1
        r1, r2 = self.gammas()
        penalties = {}
        for i in range(obj.d_steps):
            last = i == obj.d_steps - 1
            due = self.d_updates % obj.r1_every == 0  # lazy: every k-th update, weighted k times (StyleGAN2)
            r1_now, r2_now = r1 > 0 and due, r2 > 0 and due
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
                        fake_in = fake.detach()  # D's loss must not reach G's weights
                    else:
                        with torch.no_grad():
                            fake_in = self.G(z, y_fake)
                    real = real.detach().requires_grad_(r1_now)
                    fake_in = fake_in.requires_grad_(r2_now)
                    out_real, out_fake = self.D_ddp(self.seen(real), y_real), self.D_ddp(self.seen(fake_in), y_fake)
                    if self.augment:
                        self.augment.observe(out_real)
                    loss = discriminator_loss(obj.loss, out_real, out_fake, obj.label_smoothing)
                    if r1_now:
                        penalties["r1"] = zero_centred_penalty(out_real, real)
                        loss = loss + (r1 / 2) * obj.r1_every * penalties["r1"]
                    if r2_now:
                        penalties["r2"] = zero_centred_penalty(out_fake, fake_in)
                        loss = loss + (r2 / 2) * obj.r1_every * penalties["r2"]
                    if obj.gradient_penalty:
                        loss = loss + obj.gradient_penalty * gradient_penalty(
                            lambda x: self.D_ddp(self.seen(x), y_real),  # noqa: B023 - called at once
                            real,
                            fake_in,
                        )
                    acc.backward(loss)
                # the one update path every loop shares
                norm = self.session.update("discriminator", loss, self.d_params, self.opt_d)
            self.d_updates += 1
            if self.augment:
                self.augment.adjust(self.d_updates)
        real = real.detach()
        return DiscriminatorPhase(fake, y_fake, len(real), loss, out_real, out_fake, norm, real, y_real, penalties)

    def generator_phase(self, d: DiscriminatorPhase) -> GeneratorPhase:
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
                on_real = None
                if obj.loss in PAIRED:  # the same real examples the discriminator's last micro-batch read
                    with torch.no_grad():
                        on_real = self.D(self.seen(d.real), d.y_real)
                loss = generator_loss(obj.loss, best_rated(out, share), on_real)
                acc.backward(loss)
            norm = self.session.update("generator", loss, self.g_params, self.opt_g)
        for p in self.d_params:
            p.requires_grad_(True)
        return GeneratorPhase(loss, norm, share)

    def stats(self, d: DiscriminatorPhase, g: GeneratorPhase) -> dict:
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
        for name, value in d.penalties.items():
            stats[f"discriminator/{name}"] = value.item()
        r1, r2 = self.gammas()
        if obj.schedule is not None and obj.schedule.gamma is not None:
            stats["discriminator/gamma"] = max(r1, r2)
        if obj.schedule is not None and obj.schedule.beta2 is not None:
            stats["discriminator/beta2"] = self.opt_d.param_groups[0]["betas"][1]
        if self.augment:
            stats.update(self.augment.stats())
        return stats

    # -- the run: the session's rhythm (Session.train) calls these ---------------------------
    def run(self) -> None:
        self.session.train(self)

    def update(self, log: bool) -> tuple[dict, int]:
        """One generator update (after ``d_steps`` discriminator updates): its stats and the examples it read."""
        stats = self.iteration(log)
        return (
            stats,
            self.cfg.data.batch_size * self.acc.num_processes * self.cfg.objective.d_steps * self.cfg.run.grad_accum,
        )

    def jobs(self) -> list:
        """What runs every so many steps besides checkpoints: sample grids and, where asked, scores."""
        return [(self.cfg.run.sample_every, self.samples), (self.metrics_every, self.measure)]

    def finish(self) -> None:
        pass

    def step(self, clock: Clock, bar=None) -> None:
        """One update and whatever falls due after it, as training runs it: the speed benchmark times this."""
        self.session.one_step(self, clock, bar)

    @property
    def metrics_every(self) -> int | None:
        """Steps between scores of ``metrics``: the config's, else every sample grid on a toy mixture (cheap there),
        else never."""
        return self.cfg.metrics.get("every") or (
            self.cfg.run.sample_every if datasets.is_mixture(self.cfg.data.name) else None
        )

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
        with evaluating(net):
            if isinstance(self.data_space, Image):
                images = self.data_space.to_unit(net(self.fixed_z, self.fixed_y).float())
                s.log_images("samples", s.run.samples / f"step_{s.step:08d}.png", images)
                for size in getattr(net, "larger_sizes", ()):  # a network that writes functions: drawn larger too
                    images = self.data_space.to_unit(net.render(self.fixed_z, self.fixed_y, size=size).float())
                    s.log_images(f"samples_{size}px", s.run.samples / f"step_{s.step:08d}_{size}px.png", images)
            else:
                points = net.sample(2500, rng=torch.Generator().manual_seed(self.cfg.run.seed)).float().cpu()
                s.log_images("samples", s.run.samples / f"step_{s.step:08d}.png", scatter(points)[None])

    def measure(self) -> None:
        """The config's ``metrics`` (names, samples, classifier) on the averaged generator, into TensorBoard."""
        if not self.session.is_main:
            return
        from ..measure.scoring import score

        m = self.cfg.metrics
        net = (
            self.ema.module if self.ema else self.G_net
        )  # score puts it in eval mode and back, whatever a metric raises
        scores = score(net, self.cfg, metrics=m.get("names"), samples=m.get("samples"), classifier=m.get("classifier"))
        self.session.log({f"metrics/{k}": float(v) for k, v in scores.items() if isinstance(v, (int, float))})


def _item(x) -> float | None:
    return None if x is None else float(x)
