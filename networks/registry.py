"""Families by name, so configs build networks from data and never from import paths."""

from __future__ import annotations

import inspect

from .base import Network

FAMILIES: dict[str, type[Network]] = {}


def register(cls: type[Network]) -> type[Network]:
    """Make a family buildable by its ``family`` name (usable as a class decorator)."""
    FAMILIES[cls.family] = cls
    return cls


def accepted_keywords(cls: type[Network]) -> list[str]:
    return [name for name, p in inspect.signature(cls.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY]


def build(spec: dict) -> Network:
    """Build a network from ``{"family": NAME, **keywords}``.

    >>> build({"family": "mlp", "source": "noise[2]", "target": "point[2]"}).target
    Point(dim=2)
    """
    if not isinstance(spec, dict):
        raise ValueError(f"a network spec must be a mapping with a 'family' key, got {spec!r}")
    spec = dict(spec)
    name = spec.pop("family", None)
    if name not in FAMILIES:
        raise ValueError(f"unknown network family {name!r}; accepted: {', '.join(sorted(FAMILIES))}")
    cls = FAMILIES[name]
    accepted = accepted_keywords(cls)
    unknown = sorted(set(spec) - set(accepted))
    if unknown:
        raise ValueError(f"family {name!r} does not take {', '.join(map(repr, unknown))}; accepted: {', '.join(accepted)}")
    missing = [k for k in ("source", "target") if k not in spec]
    if missing:
        raise ValueError(f"family {name!r} needs {' and '.join(missing)} (a space such as 'noise[64]')")
    return cls(**spec)
