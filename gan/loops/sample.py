"""The sampling "loop": no training, one role. A trained network draws, as a reproducible run.

``roles: {sampler: painter}`` with ``networks.painter.init: {run: runs/digits, network: painter}``
writes ``samples.npz`` and a grid into a run folder, logged to TensorBoard like any run. A network
that reads a string and writes its next character samples sentences (``samples.txt``).
"""

from __future__ import annotations

import io

import numpy as np
import torch

from networks import Image

from ..config import Config
from ..roles import RoleError, check_role, check_roles_named, writes_next_character
from ..runs import atomic_write_bytes
from .session import Session


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False):
    """Draw once into a new run folder. ``--resume`` of a sample run draws only what a crash left undrawn."""
    with Session(cfg, resume=resume, overwrite=overwrite) as session:
        done = session.run.path / "samples.npz"
        if resume and (done.is_file() or done.with_suffix(".txt").is_file()):  # a requeued job succeeds; nothing is deleted or redrawn
            session.accelerator.print(
                f"nothing to resume: a run of the sample loop draws once and {done} is there; "
                f"to draw again: gan train {session.run.config} --overwrite"
            )
            return session.run.path
        check_roles_named("sample", cfg.roles)
        name = cfg.roles["sampler"]
        net = session.build_networks()[name]
        check_role("sampler", name, net, net.target)
        if "init" not in cfg.networks[name]:
            raise RoleError(f"role 'sampler': network {name!r} has no init: {{run: RUN, network: NAME}}; it would draw from untrained weights")
        session.open_folder()
        net = net.to(session.device).eval()
        n = cfg.run.sample_count
        if writes_next_character(net):  # a prefix reader iterated: draw the next character, append it, read again
            from ..sampling import sentences

            lines = sentences(net, n, seed=cfg.run.seed)
            if session.is_main:
                if session.writer is not None:
                    session.writer.add_text("samples", "  \n".join(lines), 0)
                session.run.export(name, net, "sampler")
                atomic_write_bytes(done.with_suffix(".txt"), "".join(line + "\n" for line in lines).encode())  # last, as below
            return session.run.path
        y = torch.arange(n, device=session.device) % net.condition.k if net.condition is not None else None
        x = net.sample(n, y=y, rng=torch.Generator().manual_seed(cfg.run.seed)).float().cpu()
        if session.is_main:
            if isinstance(net.target, Image):
                session.log_images("samples", session.run.samples / "samples.png", net.target.to_unit(x))
            session.run.export(name, net, "sampler")
            buffer = io.BytesIO()
            np.savez(buffer, samples=x.numpy())
            atomic_write_bytes(done, buffer.getvalue())  # last: its presence says the run is complete
        return session.run.path
