"""Numbers: images of 3-digit numbers labelled as classes and as strings, some numbers never seen in training."""

from __future__ import annotations

import json

import pytest
import torch

from gan.cli import main
from gan.config import Data
from gan.data import DataError, open_examples
from gan.data.numbers import RULES, _bundled_digits, spell
from gan.measure.numbers import string_scores
from networks import parse

SPACE = parse("image[1,28,84]")

TINY_NUMBERS = {
    "networks": {"reader": {"family": "conv", "source": "image[1,28,84]", "target": "categorical[1000]", "width": 4}},
    "roles": {"classifier": "reader"},
    "loop": "likelihood",
    "data": {
        "name": "numbers",
        "batch_size": 16,
        "holdout": 0.2,
        "size": 200,
        "unseen": {"rule": "middle_equals_last"},
    },
    "run": {"steps": 4, "log_every": 2, "sample_every": 4, "checkpoint_every": 4, "progress": False},
}


def numbers(**data):
    return open_examples(Data(name="numbers", **{"size": 600, "holdout": 0.2, **data}), SPACE)


def crops(x: torch.Tensor) -> list[bytes]:
    """The three 28x28 digit images of each composed image, as bytes to compare exactly."""
    return [x[i, :, :, 28 * p : 28 * (p + 1)].numpy().tobytes() for i in range(len(x)) for p in range(3)]


def test_the_numbers_data_is_deterministic_by_seed():
    a, b, c = (
        numbers(seed=3, unseen={"share": 0.2}),
        numbers(seed=3, unseen={"share": 0.2}),
        numbers(seed=4, unseen={"share": 0.2}),
    )
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and a.labels_text == b.labels_text
    assert torch.equal(a.held_out.x, b.held_out.x) and a.unseen_numbers == b.unseen_numbers
    assert not torch.equal(a.y, c.y) and a.unseen_numbers != c.unseen_numbers


@pytest.mark.parametrize(
    "unseen", [{"rule": "middle_equals_last"}, {"rule": "first_equals_last"}, {"share": 0.2}], ids=str
)
def test_no_never_seen_number_is_in_the_training_split_and_the_test_split_has_both(unseen):
    data = numbers(unseen=unseen, size=2000)
    never = set(data.unseen_numbers)
    assert len(never) in (100, 200)
    if "rule" in unseen:
        assert never == {n for n in range(1000) if RULES[unseen["rule"]](n)}
    assert not never & set(data.y.tolist())  # the whole training split
    assert not data.unseen.any()
    test = data.held_out
    assert len(test) == 400 and int(test.unseen.sum()) == 200  # half seen, half never seen
    assert test.unseen.tolist() == [n in never for n in test.y.tolist()]


def test_labels_spell_the_numbers_and_each_third_of_an_image_is_a_bundled_image_of_that_digit():
    data = numbers()
    assert data.x.shape[1:] == (1, 28, 84) and data.classes == 1000
    assert data.labels_text == spell(data.y.tolist()) and spell([42, 7]) == ["042", "007"]
    pixels, digits, _ = _bundled_digits()
    which = {p.numpy().tobytes(): int(d) for p, d in zip(SPACE.from_unit(pixels), digits)}
    for i in range(20):
        for place, char in enumerate(data.labels_text[i]):
            assert which[data.x[i, :, :, 28 * place : 28 * (place + 1)].numpy().tobytes()] == int(char)


def test_test_images_are_written_with_digit_images_no_training_image_uses():
    data = numbers(size=1000)
    assert not set(crops(data.x)) & set(crops(data.held_out.x))


def test_the_split_is_the_composed_one_whatever_share_the_loop_asks():
    data = numbers()
    train, held = data.split(0.5, seed=9)
    assert torch.equal(train.y, data.y) and held is data.held_out and train.held_out is None


def test_string_scores_count_exact_matches_per_kind_and_characters():
    held = numbers(size=40).held_out  # 8 examples: 4 seen, 4 never seen
    truth = held.labels_text
    guess = [t if i % 2 == 0 else t[:2] + str((int(t[2]) + 1) % 10) for i, t in enumerate(truth)]
    s = string_scores(guess, held)
    assert s["exact"] == 0.5 and s["per_character"] == pytest.approx(5 / 6)
    assert s["examples_seen"] + s["examples_unseen"] == 8


@pytest.mark.parametrize(
    "unseen, words",
    [
        ({"rule": "odd"}, "data.unseen.rule: unknown rule 'odd'"),
        ({"share": 1.5}, "data.unseen.share"),
        ({"ratio": 0.2}, "data.unseen: expected"),
    ],
    ids=["rule", "share", "key"],
)
def test_a_bad_unseen_option_is_refused_in_one_line_and_nothing_is_written(
    unseen, words, write_config, tmp_path, capsys
):
    path = write_config(TINY_NUMBERS, data={"unseen": unseen})
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("gan: error: " + words)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(DataError):
        numbers(unseen=unseen)


def test_a_one_hot_reader_trains_and_evaluate_reports_seen_and_never_seen_accuracy(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_NUMBERS, name="numbers"))]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "runs" / "numbers")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["target"] == "categorical[1000]"
    assert result["examples_seen"] == result["examples_unseen"] == 20
    assert {"exact_seen", "exact_unseen", "per_character_seen", "per_character_unseen", "accuracy"} <= set(result)
