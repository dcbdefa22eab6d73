"""One model read two ways: a character-level language model is a prefix classifier.

The sentences view and the prefixes view of the same strings give the same loss and the same
gradients; iterating the classifier by hand writes the same strings as the text space's sampler;
text runs train, resume, export, sample, classify and evaluate like any other run.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from gan import config as C
from gan import load
from gan.cli import main
from gan.data.text import Corpus, TextBatches, split_sentences
from gan.objectives import negative_log_likelihood
from gan.roles import RoleError, check_role
from networks import SpaceError, Text, Transformer, build, iterated, parse

TINY_TEXT = {
    "networks": {
        "reader": {
            "family": "transformer",
            "source": "text[48]",
            "target": "categorical[64]",
            "width": 16,
            "depth": 1,
            "heads": 2,
        }
    },
    "roles": {"classifier": "reader"},
    "loop": "likelihood",
    "data": {"name": "text", "view": "sentences", "batch_size": 8},
    "run": {"steps": 4, "log_every": 2, "sample_every": 2, "checkpoint_every": 2, "progress": False},
}
SENTENCES = ["The cat sat.", "A dog ran far away.", "Hi.", "Python reads files line by line."]


def tiny_net(seed=0, **options):
    torch.manual_seed(seed)
    return Transformer(
        **{"source": "text[40]", "target": "categorical[64]", "width": 16, "depth": 2, "heads": 2, **options}
    )


def corpus_of(strings, space):
    return Corpus(space, space.tokens(strings), torch.tensor([len(s) for s in strings]))


# -- the equivalence --------------------------------------------------------------------
def test_sentences_and_prefixes_views_give_the_same_loss_and_the_same_gradients():
    net = tiny_net()
    corpus = corpus_of(SENTENCES, net.source)
    _, sentences = next(TextBatches(corpus, "sentences", len(SENTENCES), seed=0))
    prefixes, next_chars = next(TextBatches(corpus, "prefixes", corpus.characters, seed=0))
    assert len(next_chars) == sum(map(len, SENTENCES))  # every prefix of every sentence, once

    grads = []
    for x, y in ((None, sentences), (prefixes, next_chars)):
        net.zero_grad()
        loss, _ = negative_log_likelihood(net, x, y)
        loss.backward()
        grads.append((loss.detach(), {k: p.grad.clone() for k, p in net.named_parameters()}))
    (loss_s, grad_s), (loss_p, grad_p) = grads
    torch.testing.assert_close(loss_s, loss_p, rtol=1e-5, atol=1e-6)
    for name in grad_s:
        torch.testing.assert_close(grad_s[name], grad_p[name], rtol=1e-4, atol=1e-6, msg=name)
    # and the prefix view is the plain classifier's loss: cross-entropy of next characters
    torch.testing.assert_close(loss_p, F.cross_entropy(net(prefixes), next_chars))


def test_log_prob_of_a_string_is_the_sum_of_its_next_character_log_probabilities():
    net = tiny_net()
    s = net.source.tokens(["Hi there."])
    by_prefix = sum(net.distribution(s[:, :t]).log_prob(s[:, t]) for t in range(s.shape[1]))
    torch.testing.assert_close(iterated(net).log_prob(s), by_prefix, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("prompt", ["", "The "])
def test_the_spaces_sampler_writes_what_iterating_the_classifier_by_hand_writes(prompt):
    net = tiny_net(seed=3)
    space = net.source
    drawn = space.strings(
        iterated(net).sample(1, prompt=space.tokens([prompt])[0], rng=torch.Generator().manual_seed(7))
    )[0]

    rng, x = torch.Generator().manual_seed(7), space.tokens([prompt])
    while x.shape[1] < space.length:
        c = net.sample(x=x, rng=rng)  # classify the prefix: one label drawn from the next-character distribution
        x = torch.cat([x, c[:, None]], 1)  # append it, read again
        if int(c) == space.end_index:
            break
    assert drawn == space.strings(x)[0]
    assert drawn.startswith(prompt) and len(drawn) > len(prompt)


def test_every_prefix_in_one_pass_equals_each_prefix_read_alone():
    net = tiny_net()
    s = net.source.tokens(["Hello world."])
    every = net(s, every_prefix=True)
    alone = torch.stack([net(s[:, :t]) for t in range(s.shape[1] + 1)], 1)
    torch.testing.assert_close(every, alone, rtol=1e-5, atol=1e-5)


# -- the space ----------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["text[12]", "text[12,lower]", "text[300,ascii]"])
def test_text_round_trips_through_its_string_form(form):
    space = parse(form)
    assert str(space) == form and parse(str(space)) == space
    assert space.strings(space.tokens(["ab 9.", ""])) == ["ab 9.", ""]


@pytest.mark.parametrize(
    "form, says",
    [
        ("text[0]", "length must be a positive integer"),
        ("text[-3]", "length must be a positive integer"),
        ("text[8,klingon]", "unknown alphabet 'klingon'"),
    ],
)
def test_a_malformed_text_space_in_a_config_is_refused_in_one_line_naming_the_key(write_config, capsys, form, says):
    cfg = copy.deepcopy(TINY_TEXT)
    cfg["networks"]["reader"]["source"] = form
    assert main(["train", str(write_config(cfg))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("gan: error: networks.reader:") and says in err


def test_the_default_alphabet_is_the_64_characters_of_the_argument():
    space = Text(8)
    assert space.k == 64 and set(space.characters) == set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ."
    )


def test_text_is_restricted_to_the_alphabet_by_the_documented_rule():
    assert split_sentences("Caf\u00e9 well-known f(x) os.path!  Next one?\n\nLast", Text(64)) == [
        "Cafe well known f x os path.",
        "Next one.",
        "Last",
    ]
    assert split_sentences("one two three four", Text(9)) == [
        "one two",
        "three",
        "four",
    ]  # cut at spaces, never mid-word


# -- roles ----------------------------------------------------------------------------------
def test_a_text_to_categorical_network_takes_the_classifier_and_sampler_roles():
    net = tiny_net()
    check_role("classifier", "reader", net, net.source)
    check_role("sampler", "reader", net, net.target)


def test_a_sampler_whose_classes_are_not_the_alphabet_is_refused_naming_both():
    net = build(
        {"family": "transformer", "source": "text[16]", "target": "categorical[10]", "width": 8, "depth": 1, "heads": 2}
    )
    with pytest.raises(RoleError) as caught:
        check_role("sampler", "reader", net, net.target)
    assert "categorical[10]" in str(caught.value) and "text[16] has 64 characters" in str(caught.value)


# -- runs ---------------------------------------------------------------------------------------
def train(write_config, name="text_run", **sections):
    path = write_config(TINY_TEXT, name=name, **sections)
    assert main(["train", str(path)]) == 0
    cfg = C.load(path)
    return cfg, cfg.run.output + "/" + cfg.run.name


def test_a_text_run_resumes_exactly_and_its_export_samples_the_same_strings(write_config, tmp_path):
    _, whole = train(write_config, "whole")
    _, half = train(write_config, "half", run={"steps": 2})
    assert main(["train", "--resume", half, "--set", "run.steps=4"]) == 0
    a, b = load(whole, "reader"), load(half, "reader")
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(v, w), k

    from gan.verbs.sampling import sentences

    assert sentences(a, 3, seed=5, prompt="The ") == sentences(b, 3, seed=5, prompt="The ")
    out = tmp_path / "out.txt"
    assert (
        main(
            [
                "sample",
                whole,
                "--network",
                "reader",
                "-n",
                "3",
                "-o",
                str(out),
                "--prompt",
                "The ",
                "--seed",
                "5",
                "--temperature",
                "1",
            ]
        )
        == 0
    )
    assert out.read_text().splitlines() == sentences(a, 3, seed=5, prompt="The ")


def test_a_text_run_logs_sampled_sentences_and_bits_per_character(write_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run = train(write_config)
    events = EventAccumulator(run + "/logs", size_guidance={"tensors": 0}).Reload()
    assert {
        "classifier/bits_per_character",
        "held_out/bits_per_character",
        "held_out/accuracy",
        "speed/characters_per_second",
    } <= set(events.Tags()["scalars"])
    texts = [t for t in events.Tags()["tensors"] if t.startswith("samples")]
    assert texts
    sample = events.Tensors(texts[0])[-1].tensor_proto.string_val[0].decode()
    assert len(sample) > 8


def test_the_prefix_view_trains_with_the_same_network_and_loop(write_config):
    _, run = train(write_config, "prefix_run", data={"view": "prefixes", "batch_size": 32})
    metrics = json.loads(open(run + "/metrics.json").read())
    assert 0 < metrics["held_out/bits_per_character"] < 7


def test_the_prefix_classifier_takes_the_sampler_role_in_a_sample_config(write_config):
    _, run = train(write_config)
    sample = {
        "networks": {"writer": dict(TINY_TEXT["networks"]["reader"], init={"run": run, "network": "reader"})},
        "roles": {"sampler": "writer"},
        "loop": "sample",
        "data": {"name": "text"},
        "run": {"sample_count": 4, "progress": False},
    }
    path = write_config(sample, name="swap")
    assert main(["train", str(path)]) == 0
    lines = C.load(path).run.output + "/swap/samples.txt"
    assert len(open(lines).read().splitlines()) == 4


def test_classify_text_prints_the_likeliest_next_characters(write_config, capsys):
    _, run = train(write_config)
    capsys.readouterr()
    assert main(["classify", run, "--network", "reader", "--text", "the cat sa", "--top", "4", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["text"] == "the cat sa" and len(row["top"]) == 4
    assert all(len(c) == 1 for c, _ in row["top"]) and abs(sum(p for _, p in row["top"])) <= 1.0 + 1e-6


def test_evaluate_a_text_run_against_the_compressors(write_config, capsys):
    _, run = train(write_config)
    capsys.readouterr()
    assert main(["evaluate", run]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "held_out_bits_per_character",
        "held_out_accuracy",
        "lzma_bits_per_character",
        "lzma_given_train_bits_per_character",
        "bz2_bits_per_character",
        "zlib_given_train_bits_per_character",
    ):
        assert result[key] > 0, key
    assert result["lzma_given_train_bits_per_character"] < result["lzma_bits_per_character"]  # the training text helps


# -- bad input ----------------------------------------------------------------------------------
def test_a_prompt_outside_the_alphabet_is_refused_naming_the_character(write_config, tmp_path, capsys):
    _, run = train(write_config)
    capsys.readouterr()
    assert (
        main(["sample", run, "--network", "reader", "-n", "2", "-o", str(tmp_path / "x.txt"), "--prompt", "caf\u20ac"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--prompt" in err and "'\u20ac'" in err  # accents fold; a euro sign cannot
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
        (b"a\n\nb\n\n.\n\nc", "sentence(s) longer than 1 character"),
        (None, "is not a file"),
    ],
)
def test_bad_text_files_stop_in_one_line_and_write_nothing(write_config, tmp_path, capsys, content, says):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    cfg = write_config(TINY_TEXT, name="bad", data={"path": str(path)})
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.path" in err and says in err, err
    assert not (tmp_path / "runs").exists()


def test_a_local_text_file_trains(write_config, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(SENTENCES * 20))
    _, run = train(write_config, "local", data={"path": str(path)}, run={"steps": 2})
    assert load(run, "reader").source == parse("text[48]")


def test_a_text_network_on_image_data_is_refused_naming_both(write_config, capsys):
    assert main(["train", str(write_config(TINY_TEXT, name="mixed", data={"name": "digits"}))]) == 2
    err = capsys.readouterr().err
    assert "data.name" in err and "text[48]" in err


def test_the_transformer_refuses_a_source_that_is_not_text():
    with pytest.raises(SpaceError, match="reads text"):
        Transformer(source="noise[8]", target="categorical[4]")


def test_the_shipped_language_model_and_prefix_classifier_are_one_network_and_one_loop():
    from .conftest import ROOT

    model, prefixes, sampler = (C.load(ROOT / "configs" / f"text_{n}.yaml") for n in ("model", "classifier", "sampler"))
    assert (
        model.networks == prefixes.networks
        and model.roles == prefixes.roles
        and model.loop == prefixes.loop == "likelihood"
    )
    assert (model.data.view, prefixes.data.view) == ("sentences", "prefixes")
    spec = dict(sampler.networks["reader"])
    assert spec.pop("init") == {"run": "runs/text_classifier", "network": "reader"} and spec == model.networks["reader"]
    assert sampler.roles == {"sampler": "reader"}


# -- text as a target: an image network that writes strings ---------------------------------------
@pytest.mark.parametrize("family", ["conv", "resnet"])
def test_a_string_heads_log_prob_is_the_sum_of_its_step_by_step_character_log_probabilities(family):
    torch.manual_seed(0)
    net = build({"family": family, "source": "image[1,8,8]", "target": "text[3,lower]", "width": 8})
    x, s = torch.randn(2, 1, 8, 8), net.target.tokens(["042", "917"])
    step_by_step = sum(
        net(x, strings=s[:, :t])[:, -1].log_softmax(-1).gather(1, s[:, t : t + 1]).squeeze(1) for t in range(3)
    )
    torch.testing.assert_close(net.distribution(x).log_prob(s), step_by_step, rtol=1e-5, atol=1e-5)


def test_a_string_head_samples_reproducibly_and_its_export_samples_the_same_strings(tmp_path):
    from gan.runs.folder import RunDir

    torch.manual_seed(0)
    net = build({"family": "conv", "source": "image[1,8,8]", "target": "text[3,lower]", "width": 8}).eval()
    x = torch.randn(5, 1, 8, 8)
    draw = lambda n: n.target.strings(n.sample(x=x, rng=torch.Generator().manual_seed(11)))  # noqa: E731
    assert draw(net) == draw(net) and all(0 < len(s) <= 3 for s in draw(net))  # a period ends a string early
    run = RunDir(tmp_path / "run")
    run.networks.mkdir(parents=True)
    run.export("reader", net, "classifier")
    assert draw(load(run.path, "reader")) == draw(net)


def test_the_likelihood_loss_teaches_a_string_head_its_labels():
    torch.manual_seed(0)
    net = build({"family": "conv", "source": "image[1,8,8]", "target": "text[3,lower]", "width": 8, "norm": "none"})
    x, y = torch.randn(4, 1, 8, 8), net.target.tokens(["042", "917", "300", "555"])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss, _ = negative_log_likelihood(net, x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_the_likeliest_strings_found_by_a_wide_beam_are_those_of_exhaustive_search():
    import itertools
    import math

    torch.manual_seed(1)
    net = build({"family": "conv", "source": "image[1,8,8]", "target": "text[2,lower]", "width": 8}).eval()
    x = torch.randn(1, 1, 8, 8)
    dist, space = net.distribution(x), net.target
    every = ["."] + [
        a + b for a, b in itertools.product(space.characters, repeat=2) if a != "."
    ]  # a string ends at its period
    logp = dist.log_prob(space.tokens(every))
    best = sorted(zip(every, logp.tolist()), key=lambda t: -t[1])[:3]
    found = dist.most_likely(3, beam=space.k**2)
    assert [s for s, _ in found] == [s for s, _ in best]
    for (_, p), (_, lp) in zip(found, best):
        assert p == pytest.approx(math.exp(lp), rel=1e-4)


def test_classify_prints_an_image_readers_likeliest_strings(tmp_path, capsys):
    from PIL import Image as PILImage

    from gan.runs.folder import RunDir

    torch.manual_seed(0)
    net = build({"family": "conv", "source": "image[1,8,8]", "target": "text[3,lower]", "width": 8})
    run = RunDir(tmp_path / "run")
    run.networks.mkdir(parents=True)
    run.export("reader", net, "classifier")
    PILImage.new("L", (8, 8), 128).save(tmp_path / "a.png")
    assert (
        main(
            [
                "classify",
                str(run.path),
                "--network",
                "reader",
                str(tmp_path / "a.png"),
                "--top",
                "2",
                "--sample",
                "3",
                "--json",
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)
    assert len(row["top"]) == 2 and row["top"][0][1] >= row["top"][1][1] and len(row["samples"]) == 3


@pytest.mark.parametrize("family", ["mlp", "conv", "resnet"])
def test_a_family_that_cannot_read_strings_says_which_one_does(family):
    with pytest.raises(SpaceError, match="families 'transformer' and 'ngrams' read strings"):
        build({"family": family, "source": "text[8]", "target": "categorical[64]"})


def test_the_text_benchmark_times_the_loop_against_a_plain_loop_on_the_same_batches(write_config, tmp_path):
    from gan.benchmark import text as B

    speed = B.throughput(write_config(TINY_TEXT, name="speed"), tmp_path / "bench", steps=2, rounds=2)
    assert speed["toolkit_characters_per_second"] > 0 and speed["plain_characters_per_second"] > 0
    assert speed["ratio_min"] <= speed["ratio"] <= speed["ratio_max"]  # the median of paired rounds, with their spread
    assert "| ratio |" in B.table(None, [], speed)
