"""Text data: a corpus of sentences, and the two views of it that the argument says are one.

- ``sentences``: whole strings; a causal network scores every character of a batch in one pass.
- ``prefixes``: every prefix of every sentence labelled with the character that follows it,
  the dataset of a classifier with one class per character.

The bundled corpus is the English prose of the Python documentation topics that every CPython
ships in ``pydoc_data`` (no download); ``data: {name: text, path: FILE.txt}`` reads any UTF-8 file.

How text becomes strings of an alphabet (the rule is the same for every file):

1. accents are taken off letters (``é`` -> ``e``, Unicode NFKD);
2. a sentence ends at ``.``, ``!`` or ``?`` followed by white space or the end of a paragraph,
   and its end is written as a period, the end character of every alphabet;
3. inside a sentence, every run of characters outside the alphabet (a period included, as in
   ``os.path``) becomes one space, so words are never glued together or cut;
4. a sentence longer than the space's length is cut at its last space that fits; each piece
   is a string of its own;
5. strings of one character (a lone period left by the split) are left out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import torch

from networks.spaces import PAD, Text

from ..config import Data
from .examples import DataError, to_device

VIEWS = ("sentences", "prefixes")
_END = re.compile(r"(?<=[.!?])\s+")


# -- reading ---------------------------------------------------------------------------
def bundled_prose() -> str:
    """The prose paragraphs of CPython's documentation topics: code, grammar and headings left out."""
    from pydoc_data.topics import topics

    keep = []
    for key in sorted(topics):
        for paragraph in re.split(r"\n\s*\n", topics[key]):
            words = " ".join(paragraph.split())
            letters = sum(c.isalpha() or c in " ,.;'" for c in words)
            if (
                len(words.split()) >= 6
                and words.endswith(".")
                and ">>>" not in words
                and "::=" not in words
                and letters >= 0.9 * len(words)
            ):
                keep.append(words)
    return "\n\n".join(keep)


def read_file(path: str) -> str:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"data.path: {str(p)!r} is not a file; the text data reads one UTF-8 text file")
    raw = p.read_bytes()
    if not raw.strip():
        raise DataError(f"data.path: {str(p)!r} is empty; expected UTF-8 text with sentences")
    if b"\0" in raw:
        raise DataError(f"data.path: {str(p)!r} is a binary file (it holds NUL bytes); expected UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"data.path: {str(p)!r} is not UTF-8 text (byte {error.start}: {raw[error.start : error.start + 1]!r})"
        ) from None


def fold_accents(text: str) -> str:
    """Letters with accents as their plain letters ("wörld" -> "world"), as training reads its corpus: a prompt
    folded the same way meets the alphabet the network learned.

    >>> fold_accents("Café Ångström")
    'Cafe Angstrom'
    """
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def split_sentences(text: str, space: Text) -> list[str]:
    """Text -> strings of ``space`` by the rule in the module docstring.

    >>> split_sentences("Hello, wörld!  It's os.path. x", Text(32))
    ['Hello world.', 'It s os path.', 'x']
    """
    allowed = set(space.characters)
    plain = fold_accents(text)
    out = []
    for paragraph in re.split(r"\n\s*\n", plain):
        for sentence in _END.split(paragraph.strip()):
            ended = sentence[-1:] in ".!?"
            body = sentence[:-1] if ended else sentence
            body = " ".join("".join(c if c in allowed and c != space.end else " " for c in body).split())
            if body:
                out.extend(_pieces(body + (space.end if ended else ""), space.length))
    return out


def _pieces(sentence: str, length: int) -> list[str]:
    pieces = []
    while len(sentence) > length:
        cut = sentence.rfind(" ", 0, length + 1)
        cut = cut if cut > 0 else length
        pieces.append(sentence[:cut])
        sentence = sentence[cut:].lstrip()
    return pieces + ([sentence] if sentence else [])


# -- the corpus and its views ----------------------------------------------------------------
@dataclass
class Corpus:
    """Sentences as one [N, L] tensor of token indices (PAD after each end) and their lengths (host)."""

    space: Text
    tokens: torch.Tensor  # [N, L]
    lengths: torch.Tensor  # [N], on the host: batch widths and character counts never wait for the device

    def __len__(self):
        return len(self.tokens)

    @property
    def characters(self) -> int:
        return int(self.lengths.sum())

    def text(self) -> str:
        """The characters a model of these strings predicts, in order (what a compressor is given)."""
        return "".join(self.space.strings(self.tokens))

    def split(self, holdout: float) -> tuple[Corpus, Corpus]:
        """The first sentences for training, the last ``holdout`` share held out (by position, not shuffled:
        neighbouring sentences of one topic stay on one side)."""
        cut = len(self) - max(1, int(round(holdout * len(self)))) if holdout > 0 else len(self)
        return Corpus(self.space, self.tokens[:cut], self.lengths[:cut]), Corpus(
            self.space, self.tokens[cut:], self.lengths[cut:]
        )

    def to(self, device) -> Corpus:
        return Corpus(self.space, self.tokens.to(device), self.lengths)


def open_corpus(cfg: Data, space: Text) -> Corpus:
    """Read ``data.path`` (or the bundled prose) as sentences of ``space``."""
    if cfg.view == "cloze":
        raise DataError(
            "data.view: cloze pairs (a sentence, the passage it was cut from) train an embedder (loop: contrastive); "
            f"this loop reads {' or '.join(VIEWS)}"
        )
    if cfg.view not in VIEWS:
        raise DataError(f"data.view: expected one of {', '.join(VIEWS)}, got {cfg.view!r}")
    text = read_file(cfg.path) if cfg.path else bundled_prose()
    where = repr(cfg.path) if cfg.path else "the bundled prose"
    sentences = [s for s in split_sentences(text, space) if len(s) > 1]
    if len(sentences) < 2:
        raise DataError(
            f"data.path: {where} has {len(sentences)} sentence(s) longer than 1 character of {space}; a text run needs "
            "at least 2 (one to hold out)"
        )
    return Corpus(space, space.tokens(sentences, what=where), torch.tensor([len(s) for s in sentences]))


class TextBatches:
    """Endless batches of one view, in an order fixed by (seed, position): resuming at ``position`` is exact.

    ``sentences`` yields (None, strings [B, T]); ``prefixes`` yields (prefixes [B, T], next characters [B]).
    ``characters`` is how many characters the last batch asks the network to predict.

    A batch is as wide as its longest string, so each epoch's shuffled examples are taken ``GROUP``
    batches at a time, sorted by length and cut into batches, whose order is then shuffled: batches of
    similar lengths pad less (a batch of 32 random sentences of ``text[128]`` is about 60% characters,
    40% padding). Under several processes each takes its own slice of every global batch.
    """

    GROUP = 16  # batches sorted together; 1 = no grouping

    def __init__(
        self,
        corpus: Corpus,
        view: str,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world: int = 1,
        device="cpu",
        on_device: bool = True,
    ):
        self.view, self.device = view, torch.device(device)
        self.corpus = corpus.to(device) if on_device else corpus
        if (
            view == "prefixes"
        ):  # example m is (sentence, position): predict tokens[sentence, position] from what comes before
            self.sentence = torch.repeat_interleave(torch.arange(len(corpus)), corpus.lengths)
            self.column = torch.cat([torch.arange(n) for n in corpus.lengths.tolist()])
        self.widths = corpus.lengths if view == "sentences" else self.column
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self.per_epoch = len(self.widths) // (batch_size * world)  # drop the ragged last batch
        if self.per_epoch == 0:
            raise DataError(
                f"data.batch_size: {batch_size} x {world} process(es) is more than the {len(self.widths)} training "
                f"{view}"
            )
        self.position, self.characters = 0, 0
        self._epoch, self._batches = -1, None

    def _order(self, epoch: int) -> torch.Tensor:
        """[batches, world * batch_size] example ids of one epoch."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        size = self.batch_size * self.world
        ids = torch.randperm(len(self.widths), generator=g)[: self.per_epoch * size]
        groups = []
        for chunk in ids.split(size * self.GROUP):
            chunk = chunk[torch.argsort(self.widths[chunk], stable=True)]
            groups.append(chunk.view(-1, size))
        batches = torch.cat(groups)
        return batches[torch.randperm(len(batches), generator=g)]

    def __next__(self):
        epoch, index = divmod(self.position, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self._order(epoch)
        ids = self._batches[index, self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        self.position += 1
        tokens = self.corpus.tokens
        if self.view == "sentences":
            width = int(self.corpus.lengths[ids].max())
            self.characters = int(self.corpus.lengths[ids].sum())
            return None, to_device(tokens[to_device(ids, tokens.device), :width], self.device)
        rows, cols = self.sentence[ids], self.column[ids]
        width = max(1, int(cols.max()))
        rows, cols_dev = to_device(rows, tokens.device), to_device(cols, tokens.device)
        x = tokens[rows, :width].masked_fill(torch.arange(width, device=tokens.device) >= cols_dev[:, None], PAD)
        self.characters = len(ids)
        return to_device(x, self.device), to_device(tokens[rows, cols_dev], self.device)

    def __iter__(self):
        return self
