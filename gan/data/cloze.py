"""Cloze pairs: a sentence and the passage it was cut from, positives that need no labels (``data.view: cloze``).

The inverse cloze task (Lee, Chang and Toutanova 2019, "Latent Retrieval for Weakly Supervised Open Domain
Question Answering"): a passage is a few neighbouring sentences; one of them is the query, and the passage is
its match among the other passages of the batch. The sentence is taken out of its passage (``data.keep`` is the share
of pairs that leave it in), so that matching is learned from what the words are about, not from copying. Lee et al.
leave it in a tenth of the time; here a character-level network that may copy learns to copy, and held-out queries,
always taken out, are found less often (docs/benchmarks/embeddings.md, "Text"): the default is 0.

Passages are consecutive sentences of the corpus (the rule of ``text.split_sentences``) packed, in order,
into strings of at most L characters of ``text[L]``: the space sets the passage length. A passage needs two
sentences (one to ask, one left to answer). The last ``data.holdout`` share of passages, by position, is
held out: held-out passages and their sentences are never trained on. Every sentence of every held-out passage is
a query (several a passage, so that a score rests on hundreds of queries, not one per passage), ranked against every
held-out passage, its own passage with the query taken out of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from networks.spaces import Text

from ..config import Data
from .examples import DataError
from .text import bundled_prose, read_file, split_sentences


def passages(text: str, space: Text) -> list[list[str]]:
    """Consecutive sentences packed into passages of at most ``space.length`` characters (joined by a space),
    each of two sentences or more: a lone sentence has nothing left to answer its query."""
    out, current = [], []
    for sentence in (s for s in split_sentences(text, space) if len(s) > 1):
        if current and len(joined(current + [sentence])) > space.length:
            out.append(current)
            current = []
        current.append(sentence)
    out.append(current)
    return [p for p in out if len(p) >= 2]


def joined(sentences: list[str]) -> str:
    return " ".join(sentences)


def corpus_passages(cfg: Data, space: Text) -> list[list[str]]:
    """The passages of ``data.path`` (or the bundled prose); too few to hold one out are refused."""
    where = repr(cfg.path) if cfg.path else "the bundled prose"
    found = passages(read_file(cfg.path) if cfg.path else bundled_prose(), space)
    if len(found) < 4:
        raise DataError(
            f"data.path: {where} makes {len(found)} passage(s) of two sentences or more within {space}; cloze pairs "
            "need at least 4 (a longer text, or a longer L)"
        )
    return found


class Cloze:
    """Training pairs drawn afresh each step: ``sample(n, generator)`` -> [2, n, T] tokens, the queries then their
    passages, padded to one width (one network reads both sides in one pass). A draw depends only on the
    generator, so a run resumed at a batch position draws what the uninterrupted run drew."""

    def __init__(self, found: list[list[str]], space: Text, keep: float = 0.0):
        self.passages, self.space, self.keep = found, space, keep

    def __len__(self):
        return len(self.passages)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if n > len(self.passages):
            raise DataError(f"data.batch_size: {n} pairs need as many training passages; there are {len(self)}")
        ids = torch.randperm(len(self.passages), generator=generator)[:n].tolist()
        draws = torch.rand(n, 2, generator=generator).tolist()
        queries, answers = [], []
        for i, (pick, keep) in zip(ids, draws):
            sentences = self.passages[i]
            at = int(pick * len(sentences))
            queries.append(sentences[at])
            answers.append(joined(sentences if keep < self.keep else sentences[:at] + sentences[at + 1 :]))
        tokens = self.space.tokens(queries + answers, what="cloze pairs")
        return tokens.view(2, n, -1)


@dataclass
class HeldOutCloze:
    """Every sentence of the held-out passages as a query. Query i comes from passage ``owner[i]``; its match is that
    passage with the query taken out (``own_texts[i]``, ``own_tokens[i]``), ranked against the other passages whole.
    ``x`` and ``texts`` are the passages whole (what TensorBoard's projector shows); no labels (``y``)."""

    queries: list[str]
    texts: list[str]
    query_tokens: torch.Tensor
    x: torch.Tensor
    owner: list[int]
    own_texts: list[str]
    own_tokens: torch.Tensor
    y: None = None

    def __len__(self):
        return len(self.queries)

    def to(self, device) -> HeldOutCloze:
        return HeldOutCloze(
            self.queries,
            self.texts,
            self.query_tokens.to(device),
            self.x.to(device),
            self.owner,
            self.own_texts,
            self.own_tokens.to(device),
        )


def held_out_pairs(found: list[list[str]], space: Text) -> HeldOutCloze:
    """Every sentence of ``found`` a query: one query a passage left a score of a few dozen hits, too few to tell a
    network from BM25 (docs/benchmarks/embeddings.md, "Text")."""
    queries, owner, own = [], [], []
    for j, sentences in enumerate(found):
        for at, sentence in enumerate(sentences):
            queries.append(sentence)
            owner.append(j)
            own.append(joined(sentences[:at] + sentences[at + 1 :]))
    texts = [joined(p) for p in found]
    return HeldOutCloze(
        queries,
        texts,
        space.tokens(queries, what="cloze queries"),
        space.tokens(texts),
        owner,
        own,
        space.tokens(own),
    )


def open_cloze(cfg: Data, space: Text, *, keep: float | None = None) -> tuple[Cloze, HeldOutCloze]:
    """(training pairs, held-out pairs), split by passage position: the last ``data.holdout`` share held out.
    ``keep``: ``data.keep`` unless given."""
    if cfg.view != "cloze":
        raise DataError(
            f"data.view: the contrastive loop reads text as cloze pairs (a sentence, its passage); set data.view: "
            f"cloze, not {cfg.view!r}"
        )
    keep = cfg.keep if keep is None else keep
    if not 0.0 <= keep <= 1.0:
        raise DataError(f"data.keep: expected a share of pairs in [0, 1], got {keep!r}")
    found = corpus_passages(cfg, space)
    cut = len(found) - max(1, int(round(cfg.holdout * len(found)))) if cfg.holdout > 0 else len(found)
    return Cloze(found[:cut], space, keep), held_out_pairs(found[cut:], space)


def as_query(text: str, space: Text) -> str:
    """A user's query written as the corpus is (accents off, characters outside the alphabet as spaces), so that
    ``"What's os.path?"`` meets the words the network read; a string left with nothing is refused, named.

    >>> as_query("What's os.path?", Text(64))
    'What s os path.'
    """
    written = joined(split_sentences(text, space))
    if not written.strip(" " + space.end):
        raise DataError(f"QUERY: {text!r} has no words of {space}'s alphabet to search with; give words")
    return written
