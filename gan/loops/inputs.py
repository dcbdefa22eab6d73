"""What a loop reads, opened and checked against the networks that read it.

Setting up a loop (``setup.py``) asks these: the space of the data, augmentation, and
labelled examples or sentences whose labels the network's target can hold.
"""

from __future__ import annotations

from networks import Bernoulli, Categorical, Image, Normal, Point, Text, parse

from .. import data as datasets
from ..augment import Augmenter
from ..config import Config
from ..roles import RoleError, writes_next_character


def augmenter(cfg: Config, data_space, acc) -> Augmenter | None:
    """objective.augment as the loop's augmenter; cut-outs and borders take the space's lowest value (black)."""
    a = cfg.objective.augment
    if a is None:
        return None
    if not isinstance(data_space, Image):
        from ..config import ConfigError

        raise ConfigError(
            f"objective.augment: transforms images, but the networks read {data_space}; remove objective.augment"
        )
    policy = [a.policy] if isinstance(a.policy, str) else a.policy
    p = a.p if a.p is not None else (0.0 if a.adaptive else 1.0)
    return Augmenter(
        policy,
        p=p,
        fill=data_space.low,
        seed=cfg.run.seed,
        rank=acc.process_index,
        device=acc.device,
        adaptive=a.adaptive,
        target=a.target,
        interval=a.interval,
        speed=a.speed,
        reduce=lambda t: acc.reduce(t, reduction="sum"),
    )


def data_space_of(D, G, cfg: Config):
    """What the data must look like: what the discriminator reads, else what the generator writes,
    else the dataset's own shape (so that a role check can still name a sensible space)."""
    for space in (D.source, G.target):
        if space.is_image or isinstance(space, Point):
            return space
    native = datasets.data_space(cfg.data)
    return parse(native) if "C,H,W" not in native else D.source


def open_text(cfg: Config, name: str, net):
    """Sentences for a next-character network, in the view the config names: (train, held out)."""
    corpus = datasets.open_examples(cfg.data, net.source)
    if not writes_next_character(net):
        raise RoleError(
            f"role 'classifier' on data.view {cfg.data.view}: network {name!r} maps {net.source} -> {net.target}, "
            "but the data labels "
            f"each prefix with its next character: categorical[{net.source.k}], the alphabet of {net.source}"
        )
    return corpus.split(cfg.data.holdout)


def open_labelled(cfg: Config, name: str, net):
    """Labelled examples in memory whose classes match the network's target: (train, held out)."""
    source = datasets.open_examples(cfg.data, net.source)
    if not isinstance(source, datasets.Examples) or source.y is None:
        raise RoleError(f"role 'classifier' needs labelled data held in memory; data.name {cfg.data.name!r} gives none")
    if isinstance(net.target, Normal) or source.y.is_floating_point():  # real targets, not labels
        from ..measure.regression import check_targets

        check_targets(name, net.target, source, cfg.data.name)
    if isinstance(net.target, Categorical) and net.target.k != source.classes:
        raise RoleError(
            f"role 'classifier': network {name!r} writes {net.target}, but {cfg.data.name} has {source.classes} "
            f"classes (categorical[{source.classes}])"
        )
    if isinstance(net.target, Bernoulli) and source.classes != 2:
        raise RoleError(
            f"role 'classifier': network {name!r} writes bernoulli, but {cfg.data.name} has {source.classes} classes"
        )
    if isinstance(net.target, Text):  # labels spelled, read one character at a time
        if not hasattr(source, "labels_text"):
            raise RoleError(
                f"role 'classifier': network {name!r} writes {net.target}, but {cfg.data.name} labels its examples "
                "by class, not by strings (numbers does)"
            )
        from ..data.numbers import string_labels

        source = string_labels(source, net.target)
    return source.split(cfg.data.holdout, cfg.run.seed)
