"""Pairs (G(z), z) drawn from a frozen network while a run trains: what an encoder learns from.

Inverting a generator is regression of its noise. A network that reads images and writes ``normal[Z]``
learns p(z | image) by the likelihood loop's one update path; the only new thing is where its batches
come from: ``data: {name: generated}`` draws them from the network the config puts in the role
``source`` (a trained painter, named by ``init:``). Nothing is stored: each batch is fresh and fixed by
(seed, rank, position), so a resumed run sees the batches the uninterrupted one would have seen, and the
held-out pairs come from a seed training never draws with.
"""

from __future__ import annotations

import torch

from networks import Network, Normal

from ..roles import RoleError, check_role
from .examples import Examples

ROLES = ("source",)  # the role these pairs are drawn from, besides the likelihood loop's own
HELD_OUT = 1024  # pairs scored at every sample step: enough for a root-mean-square error within a few per cent


class Pairs(Examples):
    """Held-out pairs (G(z), z), scored as a table of reals whose units are the noise's own."""

    def to(self, device) -> Pairs:
        return Pairs(self.x.to(device), self.y.to(device), None)

    def to_original(self, dist):  # the noise is written in its own units: nothing to undo
        return dist

    def original_targets(self) -> torch.Tensor:
        return self.y


class GeneratedPairs:
    """Endless batches (G(z), z) with z from the source network's noise; labels drawn uniformly where it takes them."""

    def __init__(self, net: Network, batch_size: int, *, seed: int, rank: int = 0, device="cpu"):
        self.net, self.batch_size, self.seed, self.rank, self.device = net, batch_size, seed, rank, device
        self.position = 0

    def draw(self, n: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.net.source.sample(n, rng=rng)
        y = self.net.condition.sample(n, rng=rng) if self.net.condition is not None else None
        with torch.no_grad():
            x = self.net.sample(x=z.to(self.device), y=None if y is None else y.to(self.device))
        return x.float(), z.to(self.device)

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        seed = ((self.seed * 1_000_003 + self.rank) * 1_000_033 + self.position) % 2**63
        self.position += 1
        return self.draw(self.batch_size, torch.Generator().manual_seed(seed))

    def __iter__(self):
        return self

    def held_out(self, n: int = HELD_OUT) -> Pairs:
        x, z = self.draw(n, torch.Generator().manual_seed(2**62 + self.seed))  # a seed no training batch uses
        return Pairs(x, z, None)


def open_pairs(session, nets: dict[str, Network], name: str, encoder: Network) -> tuple[GeneratedPairs, Pairs]:
    """The batches and held-out pairs for the encoder ``name``, from the frozen network in the role ``source``."""
    cfg, acc = session.cfg, session.accelerator
    if "source" not in cfg.roles:
        raise RoleError(
            "roles.source: data.name generated draws (image, noise) pairs from the network in the role 'source'; "
            "assign one, e.g. source: painter"
        )
    source_name = cfg.roles["source"]
    if source_name == name:
        raise RoleError(f"roles: network {name!r} cannot be both classifier and source; give each role its own network")
    source = nets[source_name]
    check_role("source", source_name, source, encoder.source)
    init = cfg.networks[source_name].get("init")
    if init is None:
        raise RoleError(
            f"role 'source': network {source_name!r} has no init: {{run: RUN, network: NAME}}; it would draw from "
            "untrained weights"
        )
    if encoder.target != Normal(source.source.dim):
        raise RoleError(
            f"role 'classifier' on data.name generated: network {name!r} writes {encoder.target}, but the source "
            f"{source_name!r} draws its noise from {source.source}; an encoder of it writes normal[{source.source.dim}]"
        )
    if session.resume:  # a checkpoint keeps the trained network only: the source is read from its run again
        from ..loops.build import initialise_from

        initialise_from(source_name, source, init, say=acc.print)
    source = source.requires_grad_(False).to(acc.device).eval()  # frozen: never stepped, its statistics kept
    pairs = GeneratedPairs(source, cfg.data.batch_size, seed=cfg.run.seed, rank=acc.process_index, device=acc.device)
    return pairs, pairs.held_out()
