"""The reference the toolkit's loop is timed against: PyTorch's DCGAN example loop, written here in plain PyTorch.

From ``pytorch/examples`` ``dcgan/main.py``: the same networks (fresh copies), the same loss, Adam as a user
would construct it, the same batch, and the data already in memory as one tensor.
"""

from __future__ import annotations

import torch

from networks import build

from ... import config as C
from ...objectives import PAIRED, discriminator_loss, generator_loss


class Reference:
    """The twenty-line loop a user would write, on fresh copies of the config's networks.

    With ``objective.r1`` or ``objective.r2`` it also writes the zero-centred penalties out by hand, every
    ``r1_every``-th update as the toolkit does, so a loop with penalties is timed against a loop doing the same.
    """

    @staticmethod
    def check(cfg: C.Config) -> None:
        """Refuse, naming the key, what the DCGAN example's loop does not do: the comparison would be unfair."""
        missing = {
            "run.grad_accum": (cfg.run.grad_accum != 1, "1"),
            "objective.gradient_penalty": (cfg.objective.gradient_penalty > 0, "0"),
        }
        for key, (present, off) in missing.items():
            if present:
                raise C.ConfigError(
                    f"{key}: the reference loop (PyTorch's DCGAN example) has none; compare with --set {key}={off}"
                )
        for role in ("generator", "discriminator"):
            name = cfg.optimizers.get(role, C.Optimizer()).name
            if name not in ("adam", "adamw"):
                raise C.ConfigError(
                    f"optimizers.{role}.name: the reference loop uses Adam as the DCGAN example does, not {name!r}; "
                    f"compare with --set optimizers.{role}.name=adam"
                )

    def __init__(self, cfg: C.Config, real: torch.Tensor, device: torch.device):
        self.check(cfg)
        self.cfg, self.device, self.real = cfg, device, real.to(device)  # [M, ...] the whole dataset in memory
        self.netG, self.netD = (
            self._fresh(cfg.networks[cfg.roles[r]]).to(device) for r in ("generator", "discriminator")
        )
        self.optG, self.optD = (
            self._adam(net, cfg.optimizers.get(r, C.Optimizer()))
            for net, r in ((self.netG, "generator"), (self.netD, "discriminator"))
        )
        self.classes = self.netG.condition.k if self.netG.condition is not None else None
        self.order, self.at = torch.randperm(len(self.real), device=device), 0
        self.d_updates = 0

    @staticmethod
    def _fresh(spec: dict):
        return build({k: v for k, v in spec.items() if k not in ("init", "freeze_body")})

    @staticmethod
    def _adam(net, opt: C.Optimizer):
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[opt.name]  # others: refused by check()
        return cls(net.parameters(), lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)

    def batch(self) -> torch.Tensor:
        n = self.cfg.data.batch_size
        if self.at + n > len(self.order):
            self.order, self.at = torch.randperm(len(self.real), device=self.device), 0
        idx = self.order[self.at : self.at + n]
        self.at += n
        return self.real[idx]

    def step(self) -> None:
        obj, n = self.cfg.objective, self.cfg.data.batch_size
        netG, netD = self.netG, self.netD
        y = torch.randint(self.classes, (n,), device=self.device) if self.classes else None
        for _ in range(obj.d_steps):
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            due = self.d_updates % obj.r1_every == 0
            real = self.batch().requires_grad_(obj.r1 > 0 and due)
            noise = torch.randn(n, self.netG.source.size, device=self.device)
            netD.zero_grad()
            fake = netG(noise, y)
            fake_d = fake.detach().requires_grad_(obj.r2 > 0 and due)
            out_real, out_fake = netD(real, y), netD(fake_d, y)
            errD = discriminator_loss(obj.loss, out_real, out_fake, obj.label_smoothing)
            for gamma, out, x in ((obj.r1, out_real, real), (obj.r2, out_fake, fake_d)):
                if gamma > 0 and due:  # gamma/2 E||grad_x D(x)||^2, lazily every k-th update, weighted k
                    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
                    errD = errD + gamma / 2 * obj.r1_every * grad.pow(2).flatten(1).sum(1).mean()
            errD.backward()
            self.optD.step()
            self.d_updates += 1
        # (2) Update G network: maximize log(D(G(z))); D's parameters still require grad, as in the example
        netG.zero_grad()
        on_real = None
        if obj.loss in PAIRED:  # the relativistic loss pairs each generated image with the last real one
            with torch.no_grad():
                on_real = netD(real.detach(), y)
        errG = generator_loss(obj.loss, netD(fake, y), on_real)
        errG.backward()
        self.optG.step()
