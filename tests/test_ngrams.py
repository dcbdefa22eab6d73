"""The ngrams family: a string read as a bag of hashed letter n-grams and words, written as any vector space."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from gan.cli import main
from gan.loops.contrastive import pair_loss
from networks import build
from networks.ngrams import Ngrams
from networks.spaces import Text

from .conftest import ROOT

SPACE = Text(64)


def net(**options) -> Ngrams:
    torch.manual_seed(0)
    return build({"family": "ngrams", "source": "text[64]", "target": "sphere[16]", "buckets": 4096, **options})


def test_it_writes_unit_vectors_of_the_target_and_distributions_too():
    x = SPACE.tokens(["The cat sat on the mat.", "A dog", "x"])
    z = net()(x)
    assert z.shape == (3, 16) and torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)
    labels = build({"family": "ngrams", "source": "text[64]", "target": "categorical[5]", "buckets": 64})
    assert labels(x).shape == (3, 5) and labels.distribution(x).sample().shape == (3,)


def test_a_bag_ignores_word_order_and_word_pairs_do_not():
    x = SPACE.tokens(["the cat chased the dog", "the dog chased the cat"])
    for options in ({}, {"chars": [2, 3, 4]}, {"chars": [], "words": 1}):
        a, b = net(**options)(x)
        assert torch.allclose(a, b, atol=1e-6), options
    a, b = net(words=2)(x)
    assert not torch.allclose(a, b, atol=1e-3)


def test_case_is_folded_only_when_asked():
    x = SPACE.tokens(["Open The File", "open the file"])
    a, b = net()(x)
    assert torch.allclose(a, b, atol=1e-6)
    a, b = net(lowercase=False)(x)
    assert not torch.allclose(a, b, atol=1e-3)


def test_padding_after_the_end_changes_nothing():
    reader = net(words=2, chars=[1, 3, 5])
    alone = reader(SPACE.tokens(["A cat naps."]))
    beside = reader(SPACE.tokens(["A cat naps.", "A much longer sentence about dogs and the sea."]))[:1]
    padded = torch.cat([SPACE.tokens(["A cat naps."]), torch.full((1, 20), -1)], 1)
    assert torch.allclose(alone, beside, atol=1e-6) and torch.allclose(alone, reader(padded), atol=1e-6)


def test_words_that_share_letters_are_nearer_than_words_that_share_none():
    """Untrained, the rows are a random projection of the n-gram counts: a cosine of counts survives it."""
    with torch.no_grad():
        a, b, c = net(width=256, words=0)(SPACE.tokens(["files", "file", "moon"]))
    assert float(a @ b) > float(a @ c) + 0.3


def test_fixed_rows_are_the_same_in_every_process_and_stay_out_of_the_checkpoint():
    """An index written by one process is searched by another: both must read strings through the same rows."""
    x = SPACE.tokens(["how do I open a file", "a file is opened"])
    torch.manual_seed(1)
    one = build({"family": "ngrams", "source": "text[64]", "target": "sphere[32]", "width": 32, "rows": "fixed"})
    torch.manual_seed(2)
    two = build({"family": "ngrams", "source": "text[64]", "target": "sphere[32]", "width": 32, "rows": "fixed"})
    assert torch.equal(one(x), two(x))
    assert set(one.state_dict()) == {"weight", "head.weight", "head.bias"}  # the learned scalars and the head only


@pytest.mark.parametrize(
    "options, key",
    [
        ({"chars": [0]}, "chars"),
        ({"chars": [6]}, "chars"),
        ({"chars": [3, 3]}, "chars"),
        ({"buckets": 0}, "buckets"),
        ({"width": 0}, "width"),
        ({"words": -1}, "words"),
        ({"words": 3}, "words"),
        ({"depth": -1}, "depth"),
        ({"counts": "sqrt"}, "counts"),
        ({"pool": "max"}, "pool"),
        ({"rows": "frozen"}, "rows"),
        ({"weights": "tfidf"}, "weights"),
        ({"chars": [], "words": 0}, "chars"),
    ],
)
def test_bad_options_are_refused_in_one_line_naming_the_key(options, key):
    with pytest.raises(ValueError) as found:
        net(**options)
    message = str(found.value)
    assert message.startswith(f"ngrams: {key} ") and "\n" not in message


def test_only_strings_are_read_and_no_condition_is_taken():
    with pytest.raises(ValueError, match="ngrams: reads text"):
        build({"family": "ngrams", "source": "point[4]", "target": "sphere[4]"})
    with pytest.raises(ValueError, match="ngrams: takes no condition"):
        build({"family": "ngrams", "source": "text[8]", "target": "sphere[4]", "condition": "categorical[2]"})


def test_a_few_contrastive_steps_lower_the_loss():
    topics = (
        ("My cat chases mice.", "The cat eats fish. A cat naps all day."),
        ("My dog fetches sticks.", "The dog digs holes. A dog barks loudly."),
        ("Ships sail the sea.", "The sea is salty. Waves hit the sea wall."),
        ("Rain fills the river.", "Rain falls in May. Grey rain clouds form."),
        ("A fire warms us.", "Fire burns the wood. Smoke rises from fire."),
    )
    x = SPACE.tokens([q for q, _ in topics] + [p for _, p in topics])
    reader = net(depth=1)
    opt = torch.optim.AdamW(reader.parameters(), lr=0.03)

    def loss():
        q, p = reader(x).chunk(2)
        return pair_loss(q, p, torch.arange(len(topics)), 0.2)

    first = loss().item()
    for _ in range(10):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < first - 0.1


def test_idf_weights_start_at_each_buckets_inverse_document_frequency():
    import math

    texts = ["the cat sat", "the dog sat", "the cat ran", "the sun"]
    reader = net(chars=[], words=1, weights="idf")
    reader.start_from_corpus(SPACE.tokens(texts))
    bucket = lambda word: int(reader._bag(SPACE.tokens([word]))[0][0])  # noqa: E731
    idf = lambda df: 1 + math.log((1 + len(texts)) / (1 + df))  # noqa: E731
    for word, df in (("the", 4), ("cat", 2), ("sat", 2), ("sun", 1), ("zebra", 0)):
        assert reader.weight[bucket(word)].item() == pytest.approx(idf(df)), word
    ones = net(chars=[], words=1)  # weights: true starts at 1 and is left there
    ones.start_from_corpus(SPACE.tokens(texts))
    assert torch.equal(ones.weight, torch.ones_like(ones.weight))


def test_a_run_starts_from_its_training_passages_idf_and_a_resumed_run_is_not_reset_to_it(tmp_path):
    import gan

    prose = tmp_path / "prose.txt"
    prose.write_text(
        "\n\n".join(f"The {w} is here. A {w} sat down. My {w} ran off." for w in "cat dog sea sun owl".split())
    )
    cfg = yaml.safe_load((ROOT / "configs" / "text_embedder_ngrams.yaml").read_text())
    assert cfg["networks"]["reader"]["weights"] == "idf"
    cfg["networks"]["reader"].update(source="text[64]", buckets=1024)
    cfg["data"].update(path=str(prose), batch_size=2, holdout=0.4)
    cfg["run"].update(log_every=1, sample_every=1, checkpoint_every=2, output=str(tmp_path))

    def train(name: str, steps: int, lr: float) -> torch.Tensor:
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({**cfg, "run": {**cfg["run"], "name": name, "steps": steps}}))
        assert main(["train", str(config), "--set", "run.threads=1", "--set", f"optimizers.embedder.lr={lr}"]) == 0
        return gan.load(tmp_path / name, "reader").weight

    started = train("still", 2, 1e-9)  # a learning rate of 1e-9: the weights as they started
    assert started.max() > 1.5 and started.min() >= 1.0  # a bucket in every passage weighs 1, an unseen one most
    straight = train("straight", 4, 1e-2)
    assert not torch.allclose(straight, started, atol=1e-3)  # training moved them
    train("halves", 2, 1e-2)
    assert main(["train", "--resume", str(tmp_path / "halves"), "--set", "run.steps=4"]) == 0
    assert torch.equal(gan.load(tmp_path / "halves", "reader").weight, straight)  # not counted again at resume


def test_the_shipped_config_trains_and_scores_itself_beside_bm25(tmp_path):
    prose = tmp_path / "prose.txt"
    prose.write_text(
        "\n\n".join(f"The {w} is here. A {w} sat down. My {w} ran off." for w in "cat dog sea sun".split())
    )
    cfg = yaml.safe_load((ROOT / "configs" / "text_embedder_ngrams.yaml").read_text())
    cfg["networks"]["reader"].update(source="text[64]", buckets=1024)
    cfg["data"].update(path=str(prose), batch_size=2, holdout=0.5)
    cfg["run"].update(steps=4, log_every=2, sample_every=4, checkpoint_every=4, output=str(tmp_path), name="toy")
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(config), "--set", "run.threads=1"]) == 0
    scores = json.loads((tmp_path / "toy" / "metrics.json").read_text())
    # each held-out sentence shares its topic's word with its own passage only, and the network finds it first (BM25,
    # whose IDF is 0 for a word in one of two passages, ties them, and a tie is not a win)
    assert scores["held_out/recall_at_1"] == 1.0 and "held_out/bm25_recall_at_1" in scores, scores


def test_a_bad_option_in_a_config_is_refused_in_one_line(capsys, tmp_path):
    config = str(ROOT / "configs" / "text_embedder_ngrams.yaml")
    assert main(["train", config, "--set", "networks.reader.buckets=0", "--set", f"run.output={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "networks.reader: ngrams: buckets must be >= 1" in err and len(err.strip().splitlines()) == 1
