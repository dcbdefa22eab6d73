"""Roles: what a loop requires of the networks a config hands it.

The requirement is on spaces, never on classes: any family can take any role its
spaces allow, and the same class can take both roles of a GAN. A failed check names
the role, the network and both spaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from networks import Bernoulli, Categorical, Network, Noise, Real, Space, Text
from networks.messages import cut, shorten

from . import loop_registry


class RoleError(ValueError):
    """A network that cannot play the role a config gives it."""


@dataclass(frozen=True)
class Role:
    name: str
    needs: str  # the requirement in words, for messages
    fits: Callable[[Network, Space], bool]  # (network, data space) -> ok?


def _reads_data(net: Network, data: Space) -> bool:
    return net.source == data


def writes_next_character(net: Network) -> bool:
    """A map from strings to a distribution over their alphabet: iterated, it writes strings."""
    return isinstance(net.source, Text) and isinstance(net.target, Categorical) and net.target.k == net.source.k


ROLES = {
    "generator": Role(
        "generator",
        "a map from a sampleable space (noise[D], categorical[K]) to the data space {data}",
        lambda net, data: net.source.sampleable and net.target == data,
    ),
    "discriminator": Role(
        "discriminator",
        "a map from the data space {data} to bernoulli (or real[1], a Wasserstein critic's score)",
        lambda net, data: _reads_data(net, data) and net.target in (Bernoulli(), Real(1)),
    ),
    "classifier": Role(
        "classifier",
        "a map from the data space {data} to a distribution space (bernoulli, categorical[K], normal[D], text[L])",
        lambda net, data: _reads_data(net, data) and net.target.is_distribution,
    ),
    "sampler": Role(
        "sampler",
        "a map from a sampleable space (noise[D], categorical[K]), or from text[L] to categorical[K] with K the "
        "alphabet size (iterated: draw the next character, append it, read again)",
        lambda net, data: net.source.sampleable or writes_next_character(net),
    ),
    "embedder": Role(  # the contrastive loop: a distance function is a classifier of matches
        "embedder",
        "a map from the data space {data} to sphere[D] (unit vectors, compared by cosine similarity)",
        lambda net, data: _reads_data(net, data) and net.target.kind == "sphere",
    ),
    "source": Role(  # frozen: draws the (data, noise) pairs an encoder learns from (gan/data/generated.py)
        "source",
        "a map from noise[Z] to the space {data} that the classifier reads",
        lambda net, data: isinstance(net.source, Noise) and net.target == data,
    ),
}


def check_roles_named(loop: str, roles: dict[str, str], also: tuple[str, ...] = ()) -> None:
    """Every role the loop needs is given, and no role it does not know; ``also``: roles its data reads besides
    (generated pairs are drawn from a network in the role ``source``)."""
    wanted = loop_registry.loop(loop).roles
    for role in wanted:
        if role not in roles:
            raise RoleError(f"roles.{role}: loop {loop!r} needs roles {' and '.join(wanted)}; {role!r} is not assigned")
    for role in roles:
        if role not in wanted and role not in also:
            raise RoleError(
                f"roles.{cut(role, 40)}: loop {loop!r} has no role {shorten(role, 40)}; its roles: {', '.join(wanted)}"
            )


def check_role(role: str, name: str, net: Network, data: Space) -> None:
    """Raise RoleError naming the role, the network and the spaces when ``net`` cannot play ``role``."""
    spec = ROLES[role]
    if not spec.fits(net, data):
        alphabet = f" ({net.source} has {net.source.k} characters)" if isinstance(net.source, Text) else ""
        raise RoleError(
            f"role {role!r} needs {spec.needs.format(data=data)}; "
            f"network {name!r} maps {net.source} -> {net.target}{alphabet}"
        )


def check_conditions(nets: dict[str, Network], roles: dict[str, str], classes: int | None, labels: bool) -> None:
    """Conditioned networks need labelled data, and the label spaces must agree with the data."""
    if labels and classes is None:
        raise RoleError("data.labels: true, but this dataset has no class labels")
    for role, name in roles.items():
        cond = nets[name].condition
        if cond is not None and not labels:
            raise RoleError(f"role {role!r}: network {name!r} is conditioned on {cond}; set data.labels: true")
        if labels and cond is None and role == "generator":
            raise RoleError(
                f"role {role!r}: data.labels is true but network {name!r} takes no condition; add condition: "
                f"categorical[{classes}]"
            )
        if labels and cond is not None and cond.k != classes:
            raise RoleError(
                f"role {role!r}: network {name!r} is conditioned on {cond}, but the data has {classes} classes"
            )
