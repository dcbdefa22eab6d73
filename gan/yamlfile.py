"""YAML a user wrote (a config, a run's ``config.yaml``, a ``--set`` value), read with three refusals PyYAML lacks.

- **A key given twice in one mapping** is refused, naming the key and both lines. PyYAML keeps the last
  one without a word, so a config with ``run:`` twice lost the first section's keys to their defaults.
- **Anchors and aliases** (``&name``, ``*name``, and so merge keys ``<<: *name``) are refused outright, at the
  first one, before anything is built. Why refuse rather than cap the expanded size: PyYAML builds an aliased
  value once and shares it, so reading is cheap, but every later walk of the config (validation, ``to_dict``,
  comparing a resumed run's values, a message echoing a value) expands each reference again; 1.4 kB of aliases
  nested eight deep became 56 s, 5.7 GB and a 351 MB error line. A cap would have to predict what every one of
  those walks costs; a refusal is one rule that holds for all of them. Configs are short and written by hand,
  no shipped config uses anchors, and the toolkit writes a run's ``config.yaml`` from fresh objects, which
  PyYAML dumps without any, so nothing that worked is lost but a shorthand.
- **Nesting deeper than** ``MAX_DEPTH`` is refused: PyYAML composes by recursion, and ``[[[[...`` 20,000 deep
  ended in a RecursionError traceback.

Every refusal is a ``YamlError``: one line naming the file (or ``--set KEY``), the line and what to do.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from networks.messages import cut, shorten  # the one place values are cut short for messages; here for gan's modules

__all__ = ["MAX_DEPTH", "StrictLoader", "YamlError", "cut", "parse", "read", "shorten"]

MAX_DEPTH = 64  # levels of nested mappings and lists; a config has about four


class YamlError(ValueError):
    """YAML that cannot be read, or that is refused; the message names where and why, in one line."""


class _Refused(yaml.MarkedYAMLError):
    """A refusal made while reading; ``problem`` says what, ``problem_mark`` where."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, anchors and aliases, and nesting deeper than MAX_DEPTH."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise _Refused(problem=f"YAML anchors and aliases ({sign}{shorten(event.anchor, 30)[1:-1]}) are not accepted "
                                   f"(an alias is expanded on every later use); write the value out", problem_mark=event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(problem=f"nested more than {MAX_DEPTH} levels deep; a config needs a few", problem_mark=event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)


def _refuse_duplicates(loader: StrictLoader, node: yaml.MappingNode) -> None:
    """Raise naming the first key of ``node`` given twice, with the lines of both (merge keys ``<<`` aside)."""
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node)
        except TypeError:  # an unhashable key: SafeLoader refuses it with its own message
            continue
        if first is not key_node:
            raise _Refused(problem=f"key {shorten(key, 40)} appears twice in one mapping, at lines {first.start_mark.line + 1} "
                                   f"and {key_node.start_mark.line + 1}; keep one (YAML would silently keep the last)")


def parse(text: str, source: str):
    """The value of YAML ``text``; ``source`` (a file, ``--set KEY``) begins every message."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (StrictLoader is a SafeLoader)
    except _Refused as error:
        where = f"line {error.problem_mark.line + 1}: " if error.problem_mark else ""
        raise YamlError(f"{source}: {where}{error.problem}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise YamlError(f"{source}: malformed YAML{where}: {getattr(error, 'problem', None) or error}") from None


def read(path: "str | Path"):
    """The value of the YAML file ``path``, read as UTF-8 text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise YamlError(f"{path}: not UTF-8 text (byte {error.start}); a config is a YAML text file") from None
    except OSError as error:
        raise YamlError(f"{path}: cannot read it ({error.strerror or error})") from None
    return parse(text, str(path))
