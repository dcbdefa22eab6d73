"""Families by name, so configs build networks from data and never from import paths."""

from __future__ import annotations

import inspect
import math
import types
import typing

from .base import Network
from .messages import shorten

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
        raise ValueError(f"a network spec must be a mapping with a 'family' key, got {shorten(spec)}")
    spec = dict(spec)
    name = spec.pop("family", None)
    if name not in FAMILIES:
        raise ValueError(f"unknown network family {shorten(name)}; accepted: {', '.join(sorted(FAMILIES))}")
    cls = FAMILIES[name]
    accepted = accepted_keywords(cls)
    unknown = sorted(set(spec) - set(accepted))
    if unknown:
        raise ValueError(
            f"family {name!r} does not take {', '.join(map(shorten, unknown[:3]))}; accepted: {', '.join(accepted)}"
        )
    missing = [k for k in ("source", "target") if k not in spec]
    if missing:
        raise ValueError(f"family {name!r} needs {' and '.join(missing)} (a space such as 'noise[64]')")
    for key, value in spec.items():
        check_keyword(cls, key, value)
    return cls(**spec)


def check_keyword(cls: type[Network], key: str, value) -> None:
    """A keyword of the type its family declares (a spec comes from a config or a JSON file anyone can edit).

    >>> check_keyword(FAMILIES["mlp"], "width", "abc")
    Traceback (most recent call last):
    ValueError: width: expected an integer, got 'abc'
    """
    hint = typing.get_type_hints(cls.__init__).get(key)
    if hint is None:  # spaces: parsed and checked by the family itself
        return
    allowed = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    for tp in allowed:
        if tp is type(None) and value is None:
            return
        if tp is bool and isinstance(value, bool):
            return
        if tp is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return
        if tp is str and isinstance(value, str):
            return
        if typing.get_origin(tp) is list and isinstance(value, list):
            if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
    names[list[int]] = "a list of integers"
    raise ValueError(
        f"{key}: expected {' or '.join(names.get(tp, getattr(tp, '__name__', str(tp))) for tp in allowed)}, got "
        f"{shorten(value)}"
    )
