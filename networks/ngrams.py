"""Ngrams: a string read as a bag of hashed character n-grams and words (DSSM, Huang et al. 2013; fastText).

A search engine matches on words, and a corpus of a few hundred passages is too small for a network to learn
from characters what a word is (a transformer reading characters overfits before it gets there). A bag of
n-grams starts where BM25 starts: two strings that share words, or pieces of words, share rows of one table,
so even untrained (random rows) it approximates the cosine of their n-gram counts, and training only has to
learn which n-grams matter (a scalar a bucket, like an inverse document frequency) and which co-occur.
Letter n-grams inside words (with the word's boundaries marked, DSSM's "#good#") let "files" meet "file".
Every feature is hashed into one table of ``buckets`` rows, as fastText hashes its n-grams: no vocabulary
to build, save or miss, so a query can hold any string.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Network
from .layers import ACTIVATIONS, choose, make_activation
from .registry import register
from .text import check_reads_text

PRIME = 2**31 - 1  # hashes live below it, so that a product of two fits in int64
COUNTS = ("raw", "log", "once")  # what an n-gram seen c times in one string weighs: c, 1 + log c, or 1
ROWS = ("learned", "fixed")  # fixed: a wide random projection that keeps exact matches, only the weights learned
POOLS = ("mean", "sqrt", "sum")  # the bag divided by the weight of its n-grams, its square root, or nothing
LONGEST = 5  # the longest letter n-gram: its code, (k + 1) ** 5 at most, fits int64 for any alphabet here


def _salt(kind: int) -> tuple[int, int]:
    """A multiplier and an offset per kind of feature, so that a word and a letter n-gram rarely share a bucket."""
    return 1_000_003 + 7_919 * kind, 97 * kind + 13


@register
class Ngrams(Network):
    """A bag of hashed n-grams of ``text[L]``, ``width`` numbers each, then ``depth`` layers, then the target.

    >>> net = Ngrams(source="text[32]", target="sphere[8]", width=16, buckets=1024)
    >>> net(net.source.tokens(["The cat sat.", "A dog"])).shape
    torch.Size([2, 8])
    """

    family = "ngrams"
    reads_text = True

    def __init__(
        self,
        *,
        source,
        target,
        condition=None,
        width: int = 64,  # numbers a bucket holds: the bag's size
        buckets: int = 2**17,  # rows of the hashed table; collisions fall as it grows, memory rises
        chars: list[int] | None = None,  # lengths of the letter n-grams read inside each word; [] none, null [3]
        words: int = 1,  # word n-grams up to this length: 0 none, 1 words, 2 words and neighbouring pairs
        lowercase: bool = True,  # "File" and "file" one word, as BM25's tokeniser has it
        counts: str = "log",  # see COUNTS: how often an n-gram occurs in one string, sublinearly by default
        pool: str = "mean",  # see POOLS
        # a learned scalar a bucket multiplying its row: room for an IDF; "idf" starts each at the inverse document
        # frequency of the texts the network is first shown (``start_from_corpus``), True at 1
        weights: bool | str = True,
        rows: str = "learned",  # see ROWS: the table trained, or fixed random rows (only what follows them learns)
        depth: int = 0,  # hidden layers of ``width`` after the bag; 0 = the bag straight into the head
        activation: str = "relu",  # see networks.layers.ACTIVATIONS
    ):
        chars = [3] if chars is None else list(chars)
        options = dict(width=width, buckets=buckets, chars=chars, words=words, lowercase=lowercase, counts=counts)
        options.update(pool=pool, weights=weights, rows=rows, depth=depth, activation=activation)
        super().__init__(source=source, target=target, condition=condition, options=options)
        self._check(width, buckets, chars, words, counts, pool, depth, activation, rows)
        if weights not in (True, False, "idf"):
            raise ValueError(f"ngrams: weights must be true, false or idf, got {weights!r}")
        self.chars, self.words, self.counts, self.pool, self.n_buckets = chars, words, counts, pool, buckets
        self.register_buffer("symbols", self._symbol_table(lowercase), persistent=False)
        self.register_buffer("powers", _powers(self.source.length + 1), persistent=False)
        if rows == "learned":
            self.bag = nn.EmbeddingBag(buckets, width, mode="sum")
            nn.init.normal_(self.bag.weight, std=1.0)  # a random projection of the counts: cosines survive it
        else:  # the same rows in every process and every run, rebuilt rather than saved: a checkpoint stays small
            with torch.random.fork_rng(devices=[]):  # a seed of their own, the caller's random state left as it was
                torch.manual_seed(buckets * 7_919 + width)
                table = torch.randn(buckets, width)
            self.register_buffer("rows", table, persistent=False)
        self.weight = nn.Parameter(torch.ones(buckets)) if weights else None
        self.weights_from_corpus = weights == "idf"
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(width, width), make_activation(activation)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, self.target.size)
        if not depth and width == self.target.size:
            # the untrained network is then the bag itself, a lexical matcher near BM25, and training starts there
            with torch.no_grad():
                self.head.weight.copy_(torch.eye(width))
                self.head.bias.zero_()

    def _check(self, width, buckets, chars, words, counts, pool, depth, activation, rows) -> None:
        """Refuse what would build a network that silently reads nothing, or cannot be built at all."""
        check_reads_text("ngrams", self.source, self.target, self.condition)
        for key, value, low in (("width", width, 1), ("buckets", buckets, 1), ("words", words, 0), ("depth", depth, 0)):
            if value < low:
                raise ValueError(f"ngrams: {key} must be >= {low}, got {value}")
        if words > 2:
            raise ValueError(f"ngrams: words must be 0, 1 or 2, got {words}")
        if any(not isinstance(n, int) or not 1 <= n <= LONGEST for n in chars) or len(set(chars)) < len(chars):
            raise ValueError(f"ngrams: chars must hold distinct lengths from 1 to {LONGEST}, got {chars}")
        if not chars and not words:
            raise ValueError("ngrams: chars is empty and words is 0: nothing would be read")
        if counts not in COUNTS:
            raise ValueError(f"ngrams: counts must be one of {', '.join(COUNTS)}, got {counts!r}")
        if pool not in POOLS:
            raise ValueError(f"ngrams: pool must be one of {', '.join(POOLS)}, got {pool!r}")
        if rows not in ROWS:
            raise ValueError(f"ngrams: rows must be one of {', '.join(ROWS)}, got {rows!r}")
        choose(activation, ACTIVATIONS, "activation")

    def _symbol_table(self, lowercase: bool) -> torch.Tensor:
        """Token -> symbol: 0 for what separates words (space, period, punctuation), 1.. for letters and digits;
        with ``lowercase`` a capital reads as its small letter where the alphabet has it."""
        letters = self.source.characters
        index = {c: i for i, c in enumerate(letters)}
        table = [0 if not c.isalnum() else 1 + index.get(c.lower() if lowercase else c, index[c]) for c in letters]
        return torch.tensor(table, dtype=torch.long)

    def _features(self, x, y):
        bucket, count, row = self._bag(x)
        offsets = torch.searchsorted(row, torch.arange(len(x), device=x.device))
        weight = count * self.weight[bucket] if self.weight is not None else count
        table = self.bag.weight if hasattr(self, "bag") else self.rows
        h = nn.functional.embedding_bag(bucket, table, offsets, mode="sum", per_sample_weights=weight)
        return self.body(h / self._norm(row, count, len(x)))

    def _norm(self, row, count, n):
        """What the bag is divided by: the weight of its n-grams' counts (before the learned scalars), so that a long
        string and a short one on the same subject land near each other before the target's own scaling."""
        if self.pool == "sum":
            return torch.ones(n, 1, device=row.device)
        mass = torch.zeros(n, device=row.device).index_add(0, row, count).clamp_min(1.0)
        return (mass if self.pool == "mean" else mass.sqrt())[:, None]

    def _bag(self, x: torch.Tensor):
        """The distinct buckets of each string ([M], rows sorted), the weight of each, and the string it is in."""
        s = torch.where(x >= 0, self.symbols[x.clamp_min(0)], 0)
        found = [self._letters(s, n) for n in self.chars]
        if self.words:
            found += self._word_grams(s)
        codes = torch.cat([c for c, _ in found], 1)
        keep = torch.cat([k for _, k in found], 1)
        rows = torch.arange(len(x), device=x.device)[:, None].expand_as(codes)
        key, count = torch.unique(rows[keep] * self.n_buckets + codes[keep] % self.n_buckets, return_counts=True)
        count = count.float()
        weight = {"raw": count, "log": 1 + count.log(), "once": torch.ones_like(count)}[self.counts]
        return key % self.n_buckets, weight, key // self.n_buckets

    def _letters(self, s: torch.Tensor, n: int):
        """Letter n-grams of each word with its boundaries marked: for "cat", #ca, cat, at# (n = 3).

        A window counts when every symbol inside its ends is a letter (it lies within one word) and it is not all
        boundary; the ends may be a boundary, which is how a word's first and last letters are told apart."""
        padded = nn.functional.pad(s, (1, 1))
        windows = padded.unfold(1, n, 1)  # [N, T + 3 - n, n]
        code = (windows * (self.symbols.max() + 1) ** torch.arange(n, device=s.device)).sum(-1)
        inside = (windows[..., 1:-1] > 0).all(-1) if n > 2 else torch.ones_like(code, dtype=torch.bool)
        keep = inside & (windows > 0).any(-1)
        return _hashed(code, n), keep

    def _word_grams(self, s: torch.Tensor):
        """Each word's hash (a polynomial in its letters), and with ``words: 2`` each pair of neighbouring words'."""
        letter = s > 0
        begins = letter & ~nn.functional.pad(letter, (1, 0))[:, :-1]
        word = begins.long().cumsum(1) - 1  # the word each letter is in
        place = torch.arange(s.shape[1], device=s.device).expand_as(s)
        start = torch.where(begins, place, 0).cummax(1).values
        term = torch.where(letter, s * self.powers[place - start] % PRIME, 0)
        slot = torch.where(letter, word, s.shape[1])  # letters of no word are summed into a column dropped below
        h = torch.zeros(s.shape[0], s.shape[1] + 1, dtype=torch.long, device=s.device).scatter_add(1, slot, term)
        h = h[:, :-1] % PRIME
        exists = torch.arange(s.shape[1], device=s.device)[None, :] < begins.sum(1, keepdim=True)
        found = [(_hashed(h, 8), exists)]
        if self.words == 2:
            pair = (h[:, :-1] * 1_000_033 + h[:, 1:]) % PRIME
            found.append((_hashed(pair, 9), exists[:, 1:]))
        return found

    @torch.no_grad()
    def start_from_corpus(self, texts: torch.Tensor, batch: int = 256) -> None:
        """With ``weights: idf``, each bucket's weight becomes its smoothed inverse document frequency over ``texts``
        [P, L] (the training passages): 1 + log((1 + P) / (1 + df)), scikit-learn's TF-IDF weighting.

        Why: a bucket in every passage says nothing about which passage matches, one in a few says much. BM25 and
        TF-IDF know it from the corpus; the inverse cloze task on a few hundred passages does not teach it (the
        learned weights start at 1 and overfit: docs/benchmarks/embeddings.md). Counted here once, before training,
        the network starts as a TF-IDF matcher of n-grams, and training moves the weights from there. A run that
        resumes, or starts from another run's weights (``init``), keeps the weights it loads."""
        if not self.weights_from_corpus:
            return
        df = torch.zeros(self.n_buckets, device=self.weight.device)
        for chunk in texts.split(batch):
            bucket, _, _ = self._bag(chunk.to(self.weight.device))
            # _bag's buckets are distinct within a text, so this counts documents, not occurrences
            df.index_add_(0, bucket, torch.ones_like(bucket, dtype=df.dtype))
        self.weight.copy_(1 + torch.log((1 + len(texts)) / (1 + df)))

    def _head(self, h, y):
        return self.head(h)


def _hashed(code: torch.Tensor, kind: int) -> torch.Tensor:
    a, b = _salt(kind)
    return (code % PRIME * a + b) % PRIME


def _powers(n: int) -> torch.Tensor:
    """31 ** i mod PRIME for i < n: a letter's weight by its place in its word."""
    out, p = [], 1
    for _ in range(n):
        out.append(p)
        p = p * 31 % PRIME
    return torch.tensor(out, dtype=torch.long)
