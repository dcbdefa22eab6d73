"""Spaces: short strings that parse back, shapes, priors to sample, distributions over labels."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D

from networks import Bernoulli, Categorical, Image, Noise, Point, Real, SpaceError, parse
from networks.spaces import ACCEPTED_FORMS, output_shape

EVERY_KIND = [
    ("noise[128]", Noise(128)),
    ("point[2]", Point(2)),
    ("real[1]", Real(1)),
    ("image[3,32,32]", Image(3, 32, 32)),
    ("image[1,28,28,0:1]", Image(1, 28, 28, 0.0, 1.0)),
    ("image[1,8,8,-0.5:0.5]", Image(1, 8, 8, -0.5, 0.5)),
    ("bernoulli", Bernoulli()),
    ("categorical[10]", Categorical(10)),
]


@pytest.mark.parametrize("text, space", EVERY_KIND, ids=[t for t, _ in EVERY_KIND])
def test_every_kind_parses_to_its_space_and_prints_back(text, space):
    assert parse(text) == space
    assert str(space) == text
    assert parse(str(space)) == space


def test_parse_tolerates_spaces_and_capitals_and_passes_spaces_through():
    assert parse(" Image[ 3, 32 ,32 ] ") == Image(3, 32, 32)
    noise = Noise(4)
    assert parse(noise) is noise


def test_spaces_compare_and_hash_by_value():
    assert Noise(3) == Noise(3) and Noise(3) != Point(3)
    assert len({Image(1, 8, 8), Image(1, 8, 8), Image(1, 8, 8, 0, 1)}) == 2


@pytest.mark.parametrize(
    "text",
    [
        "imag[3]",
        "noise[-1]",
        "noise[0]",
        "noise[1.5]",
        "categorical[1]",
        "image[3,32]",
        "image[0,8,8]",
        "image[1,8,8,1:0]",
        "image[1,8,8,a:b]",
        "bernoulli[2]",
        "",
        "noise[",
        42,
        None,
    ],
)
def test_bad_space_names_the_input_and_lists_the_accepted_forms(text):
    with pytest.raises(SpaceError) as caught:
        parse(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "accepted forms: " + ", ".join(ACCEPTED_FORMS) in message


def test_an_impossible_space_also_says_what_is_wrong():
    with pytest.raises(SpaceError, match="channels must be a positive integer"):
        parse("image[0,8,8]")
    with pytest.raises(SpaceError, match="number of classes must be an integer >= 2"):
        parse("categorical[1]")


@pytest.mark.parametrize(
    "text, shape, size, out",
    [
        ("noise[128]", (128,), 128, (128,)),
        ("point[2]", (2,), 2, (2,)),
        ("real[1]", (1,), 1, (1,)),
        ("image[3,32,48]", (3, 32, 48), 3 * 32 * 48, (3, 32, 48)),
        ("bernoulli", (), 1, ()),  # one logit per example: [N]
        ("categorical[10]", (), 10, (10,)),  # labels are [N], logits [N, 10]
    ],
)
def test_shape_is_one_value_size_is_what_a_network_reads_or_writes(text, shape, size, out):
    space = parse(text)
    assert space.shape == shape
    assert space.size == size
    assert output_shape(space) == out


@pytest.mark.parametrize(
    "text, shape, dtype",
    [("noise[5]", (7, 5), torch.float32), ("bernoulli", (7,), torch.float32), ("categorical[3]", (7,), torch.int64)],
)
def test_sampleable_spaces_draw_batches_of_their_shape(text, shape, dtype):
    space = parse(text)
    assert space.sampleable
    x = space.sample(7)
    assert x.shape == shape and x.dtype == dtype
    space.check(x)  # what a space draws belongs to it


def test_label_spaces_draw_every_label_and_nothing_else():
    labels = Categorical(3).sample(3000, rng=torch.Generator().manual_seed(0))
    assert set(labels.tolist()) == {0, 1, 2}
    assert set(Bernoulli().sample(1000).tolist()) == {0.0, 1.0}


def test_seeded_space_samples_are_reproducible():
    a = Noise(4).sample(3, rng=torch.Generator().manual_seed(1))
    b = Noise(4).sample(3, rng=torch.Generator().manual_seed(1))
    c = Noise(4).sample(3, rng=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("text", ["point[2]", "real[1]", "image[1,8,8]"])
def test_spaces_without_a_prior_refuse_to_sample(text):
    space = parse(text)
    assert not space.sampleable
    with pytest.raises(SpaceError, match="no prior"):
        space.sample(2)


def test_bernoulli_distribution_reads_logits():
    logits = torch.tensor([-2.0, 0.0, 3.0])
    dist = Bernoulli().distribution(logits)
    assert isinstance(dist, D.Bernoulli)
    torch.testing.assert_close(dist.logits, logits)
    torch.testing.assert_close(dist.probs, torch.sigmoid(logits))


def test_categorical_distribution_reads_logits():
    logits = torch.randn(4, 5)
    dist = Categorical(5).distribution(logits)
    assert isinstance(dist, D.Categorical)
    torch.testing.assert_close(dist.probs, torch.softmax(logits, -1))
    y = torch.tensor([0, 1, 4, 2])
    torch.testing.assert_close(dist.log_prob(y), torch.log_softmax(logits, -1)[torch.arange(4), y])


def test_vector_and_image_spaces_are_not_distributions():
    for space in (Noise(2), Point(2), Real(1), Image(1, 8, 8)):
        assert not space.is_distribution and not hasattr(space, "distribution")


def test_label_spaces_encode_what_a_network_reads():
    torch.testing.assert_close(
        Categorical(3).encode(torch.tensor([2, 0])), torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    )
    torch.testing.assert_close(Bernoulli().encode(torch.tensor([1.0, 0.0])), torch.tensor([[1.0], [0.0]]))


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (0.0, 1.0), (-0.5, 2.0)])
def test_image_from_unit_and_to_unit_map_between_pixels_and_the_range(low, high):
    image = Image(1, 2, 2, low, high)
    unit = torch.tensor([0.0, 0.25, 1.0])
    values = image.from_unit(unit)
    torch.testing.assert_close(values, torch.tensor([low, low + 0.25 * (high - low), high]))
    torch.testing.assert_close(image.to_unit(values), unit)


def test_image_to_unit_clamps_values_outside_the_range():
    torch.testing.assert_close(Image(1, 1, 1).to_unit(torch.tensor([-3.0, 3.0])), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize(
    "text, bad, expected",
    [
        ("image[1,28,28]", torch.zeros(2, 3, 28, 28), "expected [N, 1, 28, 28]"),
        ("noise[8]", torch.zeros(2, 4), "expected [N, 8]"),
        ("categorical[10]", torch.zeros(2, 10), "expected labels of shape [N]"),
        ("bernoulli", torch.zeros(2, 1), "expected labels of shape [N]"),
    ],
)
def test_check_refuses_a_batch_of_another_space_naming_it(text, bad, expected):
    with pytest.raises(SpaceError) as caught:
        parse(text).check(bad)
    assert text in str(caught.value) and expected in str(caught.value)


def test_a_seeded_draw_advances_its_own_state_and_leaves_the_process_state_alone():
    before = torch.get_rng_state()
    rng = torch.Generator().manual_seed(4)
    a, b = Noise(3).sample(2, rng=rng), Noise(3).sample(2, rng=rng)
    assert not torch.equal(a, b), "the random source advances between draws"
    torch.testing.assert_close(torch.cat([a, b]), torch.randn(4, 3, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(torch.get_rng_state(), before)
