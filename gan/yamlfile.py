"""YAML a user wrote (a config, a run's ``config.yaml``, a ``--set`` value), read with three refusals PyYAML lacks.

- **A key given twice in one mapping** is refused, naming the key and both lines. PyYAML keeps the last
  one without a word, so a config with ``run:`` twice lost the first section's keys to their defaults.
- **Aliases that expand past** ``MAX_VALUES`` values are refused, before anything is built. Anchors and aliases
  themselves are fine (``discriminator: *adam`` shares one optimizer's settings; PyYAML's own dumper writes
  them for shared objects), but PyYAML builds an aliased value once and shares it, so reading a "billion laughs"
  is cheap while every later walk of the config (validation, ``to_dict``, comparing a resumed run's values, a
  message echoing a value) expands each reference again: 1.4 kB of aliases nested eight deep became 56 s,
  5.7 GB and a 351 MB error line. The expanded size is counted on the composed node graph, each node once,
  so the count costs what the text costs; under the cap, every later walk is bounded by it too.
- **Nesting deeper than** ``MAX_DEPTH`` is refused: PyYAML composes by recursion, and ``[[[[...`` 20,000 deep
  ended in a RecursionError traceback.

Every refusal is a ``YamlError``: one line naming the file (or ``--set KEY``), the line and what to do.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from networks.messages import cut, shorten  # the one place values are cut short for messages; here for gan's modules

__all__ = ["MAX_DEPTH", "MAX_VALUES", "StrictLoader", "YamlError", "cut", "parse", "read", "shorten"]

MAX_DEPTH = 64  # levels of nested mappings and lists; a config has about four
MAX_VALUES = 10_000  # values a document stands for once its aliases are expanded; a config has a few hundred


class YamlError(ValueError):
    """YAML that cannot be read, or that is refused; the message names where and why, in one line."""


class _Refused(yaml.MarkedYAMLError):
    """A refusal made while reading; ``problem`` says what, ``problem_mark`` where."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, anchors and aliases, and nesting deeper than MAX_DEPTH."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._anchors: list = []

    def compose_node(self, parent, index):
        event = self.peek_event()
        if not isinstance(event, yaml.AliasEvent) and getattr(event, "anchor", None) is not None:
            self._anchors.append(event.start_mark)  # where a refusal of what aliases expand to points
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    problem=f"nested more than {MAX_DEPTH} levels deep; a config needs a few",
                    problem_mark=event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        if self._anchors:
            size, _ = _expanded(node, 1, {}, set(), self._anchors[0])
            if size > MAX_VALUES:
                raise _Refused(
                    problem=f"its aliases expand to {size:.3g} values, more than the {MAX_VALUES:,} a config may hold; "
                    f"write the values out, or alias less",
                    problem_mark=self._anchors[0],
                )
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)


def _expanded(node, depth: int, seen: dict, open_: set, mark) -> tuple[int, int]:
    """(values, levels) that ``node`` stands for with every alias expanded, counting each shared node once.

    Aliases can nest deeper than the text does (each level an alias of the one before), so the expanded depth is
    held to MAX_DEPTH as well; an alias inside the value it names would expand forever and is refused.
    """
    if depth > MAX_DEPTH:  # checked on the way down too: the walk itself must not recurse past it
        raise _Refused(
            problem=f"its aliases nest more than {MAX_DEPTH} levels deep; write the values out, or alias less",
            problem_mark=mark,
        )
    key = id(node)
    if key in open_:
        raise _Refused(
            problem="an alias stands inside the value it names, so it never ends; write the value out",
            problem_mark=mark,
        )
    if key not in seen:
        open_.add(key)
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        counted = [_expanded(child, depth + 1, seen, open_, mark) for child in children]
        seen[key] = (1 + sum(size for size, _ in counted), 1 + max((levels for _, levels in counted), default=0))
        open_.discard(key)
    size, levels = seen[key]
    if depth - 1 + levels > MAX_DEPTH:
        raise _Refused(
            problem=f"its aliases nest more than {MAX_DEPTH} levels deep; write the values out, or alias less",
            problem_mark=mark,
        )
    return size, levels


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
            raise _Refused(
                problem=f"key {shorten(key, 40)} appears twice in one mapping, at lines {first.start_mark.line + 1} "
                f"and {key_node.start_mark.line + 1}; keep one (YAML would silently keep the last)"
            )


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


def read(path: str | Path):
    """The value of the YAML file ``path``, read as UTF-8 text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise YamlError(f"{path}: not UTF-8 text (byte {error.start}); a config is a YAML text file") from None
    except OSError as error:
        raise YamlError(f"{path}: cannot read it ({error.strerror or error})") from None
    return parse(text, str(path))
