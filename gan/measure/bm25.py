"""BM25 (Robertson and Zaragoza 2009, Okapi weighting): the word-matching baseline a learned text search must beat.

It scores a passage by the query's words it holds, each weighted by how rare it is in the corpus and damped by
how often it repeats and how long the passage is; nothing is learned. ``rank_bm25`` (the ``bm25`` extra)
implements it; it is imported only when a text search is scored, so the toolkit runs without it.
"""

from __future__ import annotations

import re

import numpy as np

from ..runs.folder import RunError

_WORD = re.compile(r"[a-z0-9]+")


class MissingPackage(RunError):
    """An optional package a score needs is not installed: a user error of one line saying how to install it."""


def words(text: str) -> list[str]:
    """Lower-case runs of letters and digits: what BM25 counts.

    >>> words("The os.path module, e.g. 3 times.")
    ['the', 'os', 'path', 'module', 'e', 'g', '3', 'times']
    """
    return _WORD.findall(text.lower())


def _okapi():
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        raise MissingPackage(
            "BM25 needs rank_bm25: pip install 'gan-toolkit[bm25]' (or pip install rank-bm25)"
        ) from None
    return BM25Okapi


def bm25_scores(queries: list[str], passages: list[str]) -> np.ndarray:
    """[Q, P] BM25 (Okapi, rank_bm25's defaults k1=1.5, b=0.75) of each query against each passage."""
    index = _okapi()([words(p) or [""] for p in passages])
    return np.stack([index.get_scores(words(q)) for q in queries]) if queries else np.zeros((0, len(passages)))


def cloze_bm25_scores(queries: list[str], passages: list[str], owner: list[int], own: list[str]) -> np.ndarray:
    """[Q, P] BM25 of each query against ``passages``, passage ``owner[i]`` replaced by ``own[i]`` (its text with
    query i taken out): one index a query, so that the word counts BM25 weighs by are those of the passages that
    query is ranked among, as the network's are."""
    okapi = _okapi()
    docs = [words(p) or [""] for p in passages]
    rows = []
    for query, j, text in zip(queries, owner, own):
        index = okapi(docs[:j] + [words(text) or [""]] + docs[j + 1 :])
        rows.append(index.get_scores(words(query)))
    return np.stack(rows) if rows else np.zeros((0, len(passages)))
