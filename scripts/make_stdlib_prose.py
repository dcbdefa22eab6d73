"""Write a corpus no text setting was chosen on: English paragraphs of standard-library docstrings, one a line.

The bundled prose is where the text embedders' settings were chosen, so a margin over BM25 measured there is
flattered by the choice. This corpus is the untouched test: the docstrings of 85 modules and of the classes
and functions they define, split at blank lines, each paragraph on one line, kept when it is long enough
to be prose (over 80 characters) and holds no interpreter session (">>>"), the first 1,200 distinct ones. The text
follows the interpreter's own docstrings, so another Python version writes a slightly different file.

    python scripts/make_stdlib_prose.py /tmp/stdlib_prose.txt
    gan train configs/text_embedder.yaml --set data.path=/tmp/stdlib_prose.txt

``--modules`` writes the same kind of text from other modules: a validation corpus, so that a setting can be
chosen on docstrings without looking at the test's.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import warnings
from pathlib import Path

MODULES = (
    "collections itertools functools os pathlib json csv re string textwrap datetime calendar heapq random "
    "statistics fractions decimal argparse logging subprocess threading socket urllib.request zipfile tarfile "
    "shutil tempfile glob fnmatch pickle copy pprint enum dataclasses typing abc contextlib unittest doctest difflib "
    "inspect ast dis tokenize io struct codecs locale gettext sqlite3 hashlib hmac secrets base64 zlib gzip bz2 lzma "
    "configparser smtplib ftplib imaplib poplib uuid ipaddress selectors sched timeit trace tracemalloc warnings "
    "weakref types operator numbers math bisect queue shlex cmd html.parser http.client email.message mimetypes getopt"
).split()
PARAGRAPHS = 1200
SHORTEST = 81  # characters: a shorter paragraph is mostly a signature or a one-line summary


def documented(module) -> list:
    """The module, then the classes and functions it defines, by name (a class's methods are left out: one class's
    dozens of one-line method docstrings would crowd out the modules after it)."""
    found = [module]
    for _, obj in inspect.getmembers(module, lambda o: inspect.isclass(o) or inspect.isroutine(o)):
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        found.append(obj)
    return found


def paragraphs(obj) -> list[str]:
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return []
    parts = (" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))
    return [p for p in parts if len(p) >= SHORTEST and ">>>" not in p and p.isascii()]


def corpus(limit: int = PARAGRAPHS, modules: tuple[str, ...] | list[str] = MODULES) -> list[str]:
    seen: dict[str, None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a deprecated module still has docstrings worth reading
        for name in modules:
            for obj in documented(importlib.import_module(name)):
                for p in paragraphs(obj):
                    seen.setdefault(p, None)
                    if len(seen) == limit:
                        return list(seen)
    return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="the text file to write (one paragraph a line)")
    parser.add_argument("--paragraphs", type=int, default=PARAGRAPHS, help="how many to keep (default 1200)")
    parser.add_argument(
        "--modules",
        nargs="+",
        default=MODULES,
        help="other modules than the 85 (a validation text to choose settings on, kept apart from the test)",
    )
    args = parser.parse_args()
    found = corpus(args.paragraphs, args.modules)
    Path(args.output).write_text("\n".join(found))
    print(f"{args.output}: {len(found)} paragraphs, {sum(map(len, found)) + len(found) - 1:,} characters")


if __name__ == "__main__":
    main()
