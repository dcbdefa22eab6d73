"""The sampling "loop": no training, one role. A trained network draws, as a reproducible run.

``roles: {sampler: painter}`` with ``networks.painter.init: {run: runs/digits, network: painter}``
writes ``samples.npz`` and a grid into a run folder, logged to TensorBoard like any run. A network
that reads a string and writes its next character samples sentences (``samples.txt``).
``setup.sample_loop`` checks the role and builds the network; this only draws.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from networks import Image, Network

from ..roles import writes_next_character
from ..runs.folder import atomic_write_bytes
from ..session.session import Session


@dataclass(eq=False, repr=False)
class Sample:
    session: Session
    name: str  # the network's name in the config, for export
    net: Network  # on the device, in eval mode

    def run(self) -> None:
        """Draw run.sample_count samples (sentences, for a next-character network) into the run folder."""
        session, net, cfg = self.session, self.net, self.session.cfg
        done = session.run.path / "samples.npz"
        n = cfg.run.sample_count
        if writes_next_character(net):  # a prefix reader iterated: draw the next character, append it, read again
            from ..verbs.sampling import sentences

            lines = sentences(net, n, seed=cfg.run.seed)
            if session.is_main:
                if session.writer is not None:
                    session.writer.add_text("samples", "  \n".join(lines), 0)
                with session.writing(done.with_suffix(".txt")):
                    session.run.export(self.name, net, "sampler")
                    atomic_write_bytes(
                        done.with_suffix(".txt"), "".join(line + "\n" for line in lines).encode()
                    )  # last, as below
            return
        y = torch.arange(n, device=session.device) % net.condition.k if net.condition is not None else None
        x = net.sample(n, y=y, rng=torch.Generator().manual_seed(cfg.run.seed)).float().cpu()
        if session.is_main:
            if isinstance(net.target, Image):
                session.log_images("samples", session.run.samples / "samples.png", net.target.to_unit(x))
            buffer = io.BytesIO()
            np.savez(buffer, samples=x.numpy())
            with session.writing(done):
                session.run.export(self.name, net, "sampler")
                atomic_write_bytes(done, buffer.getvalue())  # last: its presence says the run is complete
