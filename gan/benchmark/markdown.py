"""Replace one ``## section`` of a Markdown file (BENCHMARKS.md), leaving every other section as written."""

from __future__ import annotations

import re
from pathlib import Path


def _section_span(text: str, heading: str) -> tuple[int, int]:
    """Where the ``## heading`` section of a markdown text starts and ends; (-1, -1) if it has none."""
    found = re.search(
        rf"^## {re.escape(heading)}[ \t]*$", text, re.MULTILINE
    )  # the whole heading line, not "### Speed"
    if found is None:
        return -1, -1
    end = text.find("\n## ", found.start() + 1)
    return found.start(), (end + 1 if end >= 0 else len(text))


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) the ``## heading`` section of a markdown file, leaving the others alone."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    start, end = _section_span(text, heading)
    block = f"## {heading}\n\n{body.strip()}\n\n"
    text = text.rstrip() + "\n\n" + block if start < 0 else text[:start] + block + text[end:]
    path.write_text(text)


def read_section(path: Path, heading: str) -> str:
    """The ``## heading`` section of a markdown file; empty if there is none."""
    text = path.read_text() if path.is_file() else ""
    start, end = _section_span(text, heading)
    return text[start:end] if start >= 0 else ""
