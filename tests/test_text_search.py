"""Text search trained with no labels: cloze pairs (a sentence, the passage it was cut from), their loss, an index of
passages searched by a string, and BM25 beside the held-out scores."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from gan.config import Data
from gan.data.cloze import Cloze, as_query, corpus_passages, joined, open_cloze, passages
from gan.data.examples import DataError
from gan.loops.contrastive import pair_loss
from gan.measure.bm25 import bm25_scores, cloze_bm25_scores
from gan.measure.retrieval import matched_scores, wilson
from networks.spaces import Text

from .conftest import ROOT

SPACE = Text(64)
TOPICS = (  # three sentences a topic, packed into one passage of at most 64 characters each
    "The cat eats fish. A cat naps all day. My cat chases mice.",
    "The dog digs holes. A dog barks loudly. My dog fetches sticks.",
    "The sea is salty. Waves hit the sea wall. Ships sail the sea.",
    "Rain falls in May. Grey rain clouds form. Rain fills the river.",
    "Fire burns the wood. Smoke rises from fire. A fire warms us.",
    "The moon is bright. Moon light is pale. The moon orbits Earth.",
    "Bread needs flour. Bakers bake bread. Fresh bread smells good.",
    "Music has a beat. Bands play music. Loud music hurts ears.",
    "Chess is a game. Kings move in chess. Chess takes patience.",
)
PROSE = "\n\n".join(TOPICS)


@pytest.fixture
def prose(tmp_path):
    path = tmp_path / "prose.txt"
    path.write_text(PROSE)
    return str(path)


def test_passages_are_neighbouring_sentences_within_the_length():
    assert [joined(p) for p in passages(PROSE, SPACE)] == list(TOPICS)
    assert [len(p) for p in passages(PROSE, Text(40))] == [2] * 9  # the third sentence starts a passage left alone


def test_a_query_is_a_sentence_of_its_passage_removed_as_configured(prose):
    train, _ = open_cloze(Data(name="text", path=prose, view="cloze", holdout=0.25), SPACE)
    for keep, removed in ((0.0, True), (1.0, False)):
        pairs = Cloze(train.passages, SPACE, keep=keep)
        tokens = pairs.sample(len(pairs), torch.Generator().manual_seed(int(keep)))
        for q, a in zip(SPACE.strings(tokens[0]), SPACE.strings(tokens[1])):
            source = next(p for p in train.passages if q in p)
            assert a == joined([s for s in source if s != q] if removed else source)
            assert (q in a) != removed


def test_the_keep_rate_is_data_keep_and_a_share(prose):
    assert open_cloze(Data(name="text", path=prose, view="cloze"), SPACE)[0].keep == 0.0  # always taken out
    assert open_cloze(Data(name="text", path=prose, view="cloze", keep=0.25), SPACE)[0].keep == 0.25
    with pytest.raises(DataError, match=r"^data.keep: expected a share of pairs in \[0, 1\], got 1.5$"):
        open_cloze(Data(name="text", path=prose, view="cloze", keep=1.5), SPACE)


def test_held_out_passages_are_never_trained_on(prose):
    cfg = Data(name="text", path=prose, view="cloze", holdout=0.25)
    train, held = open_cloze(cfg, SPACE)
    assert (len(train), len(held.texts), len(held)) == (7, 2, 6)
    assert train.passages == corpus_passages(cfg, SPACE)[:7]  # cut by position: the last passages held out
    trained = " ".join(joined(p) for p in train.passages)
    assert all(q not in trained and q not in t for q, t in zip(held.queries, held.own_texts))
    assert all(t and t not in trained and t in TOPICS[7 + i] for i, t in enumerate(held.texts))
    assert all(q in TOPICS[7 + j] for j, q in zip(held.owner, held.queries))


def test_every_sentence_of_a_held_out_passage_is_a_query_taken_out_of_it(prose):
    _, held = open_cloze(Data(name="text", path=prose, view="cloze", holdout=0.25), SPACE)
    assert held.texts == list(TOPICS[7:]) and len(held) == 6  # three sentences in each of two passages
    assert held.owner == [0, 0, 0, 1, 1, 1]
    for q, j, own in zip(held.queries, held.owner, held.own_texts):
        assert q in held.texts[j] and q not in own
        assert own == joined([s for s in passages(held.texts[j], SPACE)[0] if s != q])
    assert SPACE.strings(held.own_tokens) == held.own_texts and SPACE.strings(held.query_tokens) == held.queries


def test_bm25_ranks_each_query_against_its_own_passage_with_the_query_taken_out():
    toy = ["cat dog", "cat bird", "fish sea", "sun rain"]
    scores = cloze_bm25_scores(["cat", "dog"], toy, [0, 0], ["dog", "cat"])
    assert scores[0, 0] == 0 and scores[0, 1] > 0  # its own passage, "cat" taken out, no longer holds it
    assert not scores[1].any()  # "dog" is in no passage once it is taken out of its own
    ranks = matched_scores(np.array([[1.0, 3.0], [2.0, 1.0]]), match=[1, 0])
    assert (ranks["recall_at_1"], ranks["mrr"]) == (1.0, 1.0)


def test_the_recall_interval_holds_the_estimate_and_narrows_with_more_queries():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 200, 2000):
        s = rng.normal(size=(n, 10))
        match = rng.integers(0, 10, n)
        r = matched_scores(s, match=match)
        assert 0 <= r["recall_at_1_low"] <= r["recall_at_1"] <= r["recall_at_1_high"] <= 1
        widths.append(r["recall_at_1_high"] - r["recall_at_1_low"])
    assert widths[0] > widths[1] > widths[2]
    assert wilson(0, 50)[0] == 0 and wilson(0, 50)[1] > 0  # no hits: an interval, not a point
    assert wilson(50, 50)[1] == pytest.approx(1) and wilson(50, 50)[0] < 1


def test_mean_pool_is_another_unit_embedding_that_ignores_padding():
    from networks.transformer import Transformer

    torch.manual_seed(0)
    kw = dict(source="text[64]", target="sphere[16]", width=32, depth=1, heads=2)
    last, mean = Transformer(**kw), Transformer(**kw, pool="mean")
    mean.load_state_dict(last.state_dict())
    x = SPACE.tokens(["The cat eats fish.", "A much longer sentence about dogs and the sea."])
    a, b = last(x), mean(x)
    assert torch.allclose(b.norm(dim=1), torch.ones(2), atol=1e-5) and not torch.allclose(a, b, atol=1e-3)
    assert torch.allclose(mean(x[:1, : (x[0] >= 0).sum() + 1]), b[:1], atol=1e-5)  # PAD after the end is not read
    with pytest.raises(ValueError, match=r"^transformer: pool must be 'last' or 'mean', got 'max'$"):
        Transformer(**kw, pool="max")


def test_an_unknown_pool_is_refused_in_one_line_naming_the_key(capsys, tmp_path):
    from gan.cli import main

    config, bad = str(ROOT / "configs" / "text_embedder.yaml"), ["networks.reader.pool=max", f"run.output={tmp_path}"]
    assert main(["train", config, "--set", bad[0], "--set", bad[1]]) == 2
    err = capsys.readouterr().err
    assert "networks.reader: transformer: pool must be" in err and len(err.strip().splitlines()) == 1


def test_pair_loss_is_cross_entropy_over_queries_by_passages():
    q = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]), dim=1)
    p = F.normalize(torch.tensor([[0.9, 0.1], [0.5, 0.5], [-0.2, 1.0]]), dim=1)
    expected = F.cross_entropy(q @ p.T / 0.1, torch.arange(3))
    assert torch.allclose(pair_loss(q, p, torch.arange(3), 0.1), expected)
    # a passage drawn twice: both copies count, half each
    keys = torch.tensor([0, 1, 1])
    log_p = (q @ p.T / 0.1).log_softmax(-1)
    by_hand = -(log_p[0, 0] + (log_p[1, 1] + log_p[1, 2]) / 2 + (log_p[2, 1] + log_p[2, 2]) / 2) / 3
    assert torch.allclose(pair_loss(q, p, keys, 0.1), by_hand)


def test_bm25_finds_the_passage_that_shares_the_rare_words():
    toy = ["the cat sat on the mat", "the dog chased the ball", "a stock market report for the day"]
    scores = bm25_scores(["where did the cat sit", "dog and ball"], toy)
    assert scores.shape == (2, 3) and scores.argmax(1).tolist() == [0, 1]
    ranks = matched_scores(np.array([[3.0, 1.0], [2.0, 2.0]]))  # a tie is not a win
    assert {k: ranks[k] for k in ("recall_at_1", "recall_at_5", "mrr")} == {
        "recall_at_1": 0.5,
        "recall_at_5": 1.0,
        "mrr": 0.75,
    }


def test_without_rank_bm25_evaluation_refuses_in_one_line_and_training_goes_on(monkeypatch, prose):
    from gan.measure.bm25 import MissingPackage
    from gan.measure.retrieval import bm25_cloze_scores

    monkeypatch.setitem(sys.modules, "rank_bm25", None)  # import rank_bm25 now fails as if it were not installed
    _, held = open_cloze(Data(name="text", path=prose, view="cloze", holdout=0.25), SPACE)
    with pytest.raises(MissingPackage, match=r"BM25 needs rank_bm25: pip install"):
        bm25_cloze_scores(held)
    assert bm25_cloze_scores(held, required=False) == {}


def test_a_user_query_is_written_as_the_corpus_is_and_empty_ones_are_refused():
    assert as_query("Ça va? os.path!", SPACE) == "Ca va. os path."
    for bad in ("", "   ", "?!"):
        with pytest.raises(DataError, match="QUERY"):
            as_query(bad, SPACE)


STEPS = 100


def _gan(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "gan", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny embedder trained on a toy prose file, then its index of passages."""
    tmp = tmp_path_factory.mktemp("text_search")
    (tmp / "prose.txt").write_text(PROSE)
    cfg = yaml.safe_load((ROOT / "configs" / "text_embedder.yaml").read_text())
    cfg["networks"]["reader"].update(source="text[64]", width=32, depth=1, heads=2)
    cfg["data"].update(path=str(tmp / "prose.txt"), batch_size=4, holdout=0.25)
    cfg["run"].update(
        steps=STEPS, log_every=50, sample_every=STEPS, checkpoint_every=STEPS, output=str(tmp), name="toy"
    )
    config = tmp / "toy.yaml"
    config.write_text(yaml.safe_dump(cfg))
    done = _gan("train", str(config), "--set", "run.threads=1")
    assert done.returncode == 0, done.stderr
    made = _gan("embed", str(tmp / "toy"), "-o", str(tmp / "index.npz"))
    assert made.returncode == 0, made.stderr
    return tmp / "toy", tmp / "index.npz"


def test_training_logs_recall_beside_bm25(trained):
    run, _ = trained
    scores = json.loads((run / "metrics.json").read_text())
    for key in ("recall_at_1", "recall_at_5", "mrr", "bm25_recall_at_1", "bm25_mrr"):
        assert 0.0 <= scores[f"held_out/{key}"] <= 1.0
    done = _gan("evaluate", str(run))
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(done.stdout[done.stdout.index("{") :])
    for key in ("recall_at_1", "recall_at_1_low", "recall_at_1_high", "recall_at_5", "mrr"):
        for name in (key, f"bm25_{key}"):
            assert evaluated[name] == pytest.approx(scores[f"held_out/{name}"])
    assert evaluated["queries"] == scores["held_out/queries"] == 6  # every sentence of the two held-out passages


def test_embed_writes_the_passages(trained):
    run, index = trained
    with np.load(index) as found:
        texts, z = found["texts"].tolist(), found["embeddings"]
    cfg = Data(name="text", path=str(run.parent / "prose.txt"), view="cloze")
    assert texts == [joined(p) for p in corpus_passages(cfg, SPACE)]
    assert z.shape == (len(texts), 64) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)


def test_search_by_a_training_sentence_ranks_its_passage_first(trained):
    run, index = trained
    with np.load(index) as found:
        texts = found["texts"].tolist()
    train, _ = open_cloze(Data(name="text", path=str(run.parent / "prose.txt"), view="cloze", holdout=0.25), SPACE)
    sentence = train.passages[0][0]
    done = _gan("search", str(run), "--index", str(index), sentence, "-k", str(len(texts)), "--json")
    assert done.returncode == 0, done.stderr
    neighbours = json.loads(done.stdout)["neighbours"]
    sims = [n["similarity"] for n in neighbours]
    assert sims == sorted(sims, reverse=True) and all(-1.0001 <= s <= 1.0001 for s in sims)
    assert neighbours[0]["text"] == joined(train.passages[0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["", "-k", "1"], "QUERY: '' has no words"),
        (["?!", "-k", "1"], "no words"),
        (["cats", "-k", "0"], "-k: expected"),
        (["x" * 200], "do not fit text[64]"),
    ],
)
def test_bad_queries_are_refused_in_one_line(trained, args, message, capsys):
    from gan.cli import main

    run, index = trained
    assert main(["search", str(run), "--index", str(index), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
