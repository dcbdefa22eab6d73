"""Same classes, other roles: classifier, sampler, detector, and a GAN's critic reused as a reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan import config as C
from gan import load
from gan.cli import main
from gan.loops.setup import likelihood_loop
from gan.objectives import log_likelihood
from gan.runs.folder import RunError
from gan.session.session import Session
from networks import ConvNet

from .conftest import ROOT, TINY_DIGITS

READER = {"family": "conv", "source": "image[1,28,28]", "target": "categorical[10]", "width": 16}


def classifier_config(write_config, name="reader_run", steps=500, **reader):
    base = C.load(ROOT / "configs" / "digits_classifier.yaml").to_dict()
    base["networks"] = {"reader": dict(READER, **reader)}
    base["run"] = {
        "steps": steps,
        "log_every": 100,
        "sample_every": steps,
        "checkpoint_every": steps,
        "progress": False,
    }
    return write_config(base, name=name)


def train_reader(path):
    cfg = C.load(path)
    with Session(cfg) as session:
        loop = likelihood_loop(session)
        loop.run()
    return loop


def test_the_critics_class_reads_bundled_digits_at_95_percent(write_config):
    loop = train_reader(classifier_config(write_config))
    assert type(loop.net) is ConvNet  # the very class that judged in the GAN tests
    assert loop.scores["accuracy"] >= 0.95, loop.scores


def test_with_the_guard_on_the_device_a_likelihood_step_between_log_steps_reads_nothing_back(write_config):
    from gan.benchmark.speed.kernels import host_syncs

    cfg = C.load(classifier_config(write_config, width=4))
    with Session(cfg) as session:
        loop = likelihood_loop(session)
        loop.iteration(False)
        session.guard.on_device = True  # what a GPU run does: the NaN guard is a tensor handed to the fused optimizer
        assert host_syncs(lambda: loop.iteration(False)) == 0
        assert host_syncs(lambda: loop.iteration(True)) > 0


def test_log_likelihood_is_the_distributions_log_prob_and_equals_cross_entropy():
    net = ConvNet(source="image[1,28,28]", target="categorical[10]", width=4)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    ll = log_likelihood(net, x, y)
    torch.testing.assert_close(ll, net.distribution(x).log_prob(y))
    torch.testing.assert_close(-ll.mean(), F.cross_entropy(net(x), y))


def test_sampled_labels_follow_the_predicted_probabilities():
    from scipy.stats import chisquare

    torch.manual_seed(0)
    net = ConvNet(source="image[1,28,28]", target="categorical[10]", width=4)
    x = torch.randn(1, 1, 28, 28).repeat(20000, 1, 1, 1)
    with torch.no_grad():
        p = net.distribution(x[:1]).probs[0].double()
    p = p / p.sum()
    labels = net.sample(x=x, rng=torch.Generator().manual_seed(3))
    counts = torch.bincount(labels, minlength=10).double()
    assert chisquare(counts.numpy(), (p * 20000).numpy()).pvalue > 0.001
    skewed = torch.roll(p, 1)  # the same frequencies, wrong labels: must be rejected
    assert chisquare(counts.numpy(), (skewed * 20000).numpy()).pvalue < 1e-6


def test_a_gan_critic_probed_with_a_new_head_beats_a_random_frozen_body(write_config, tmp_path):
    gan_cfg = C.load(ROOT / "configs" / "digits.yaml").to_dict()
    gan_cfg["networks"]["painter"]["width"] = gan_cfg["networks"]["critic"]["width"] = 16
    gan_cfg["run"] = {"steps": 300, "log_every": 100, "sample_every": 300, "checkpoint_every": 300, "progress": False}
    assert main(["train", str(write_config(gan_cfg, name="gan"))]) == 0
    critic_run = str(tmp_path / "runs" / "gan")
    depth = gan_cfg["networks"]["critic"].get("depth", 1)  # the reader is built as the critic was
    probe = train_reader(
        classifier_config(
            write_config, "probe", 300, init={"run": critic_run, "network": "critic"}, freeze_body=True, depth=depth
        )
    )
    random = train_reader(classifier_config(write_config, "random", 300, freeze_body=True, depth=depth))
    assert probe.session.init_reports["reader"]["new"] == ["head.out.weight"]  # body from the critic, head new
    body = {k: v for k, v in load(critic_run, "critic").state_dict().items() if k.startswith("body.")}
    for k, v in body.items():  # frozen: the body the probe ends with is the critic's
        torch.testing.assert_close(probe.net.state_dict()[k].cpu(), v, msg=k)
    assert probe.scores["accuracy"] > random.scores["accuracy"] + 0.01, (probe.scores, random.scores)


def test_gan_sample_is_reproducible_sized_and_seeded(write_config, tmp_path):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    run = str(tmp_path / "runs" / "tiny")
    paths = {}
    for tag, seed in (("a", 1), ("b", 1), ("c", 2)):
        paths[tag] = tmp_path / f"{tag}.npz"
        assert (
            main(["sample", run, "--network", "painter", "-n", "10", "-o", str(paths[tag]), "--seed", str(seed)]) == 0
        )
    a, b, c = (np.load(paths[t])["samples"] for t in "abc")
    assert a.shape == (10, 1, 8, 8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert main(["sample", run, "--network", "painter", "-n", "9", "-o", str(tmp_path / "grid.png")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size == (3 * 8 + 4 * 2, 3 * 8 + 4 * 2)  # 3x3 grid, 2-pixel padding
    assert main(["sample", run, "--network", "painter", "-n", "3", "-o", str(tmp_path / "folder")]) == 0
    assert len(list((tmp_path / "folder").glob("*.png"))) == 3
    assert load(run, "painter").sample(5).shape == (5, 1, 8, 8)


def test_sampling_a_missing_network_lists_the_ones_the_run_has(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    code = main(
        ["sample", str(tmp_path / "runs" / "tiny"), "--network", "nobody", "-n", "2", "-o", str(tmp_path / "x.png")]
    )
    assert code == 2
    assert "has no network 'nobody'; networks in it: critic, painter" in capsys.readouterr().err


def test_classify_prints_label_distributions_and_discriminator_prints_p_real(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    run = str(tmp_path / "runs" / "tiny")
    assert main(["sample", run, "--network", "painter", "-n", "2", "-o", str(tmp_path / "imgs")]) == 0
    files = sorted(str(p) for p in (tmp_path / "imgs").glob("*.png"))
    capsys.readouterr()
    assert main(["classify", run, "--network", "critic", *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("P(real)=" in line for line in lines)
    reader = write_config(
        dict(
            TINY_DIGITS,
            networks={"reader": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4}},
            roles={"classifier": "reader"},
            loop="likelihood",
        ),
        name="reader",
    )
    assert main(["train", str(reader)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "classify",
                str(tmp_path / "runs" / "reader"),
                "--network",
                "reader",
                "--sample",
                "4",
                "--top",
                "2",
                *files,
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("samples:" in line and line.count(":") >= 3 for line in lines)


def test_init_from_a_run_without_that_network_is_refused(write_config, tmp_path, capsys):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    path = classifier_config(write_config, "bad", 2, init={"run": str(tmp_path / "runs" / "tiny"), "network": "ghost"})
    assert main(["train", str(path)]) == 2
    assert "has no network 'ghost'; networks in it: critic, painter" in capsys.readouterr().err


def test_init_from_a_network_of_another_width_is_refused_not_half_loaded(write_config, tmp_path, capsys):
    """A sampler config left at the painter's old width once loaded only batch norm's step counters, kept every
    weight random and drew noise; the body is loaded whole or the run stops, naming a tensor and both shapes."""
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    painter = dict(
        TINY_DIGITS["networks"]["painter"], width=6, init={"run": str(tmp_path / "runs" / "tiny"), "network": "painter"}
    )
    sampler = {
        "networks": {"painter": painter},
        "roles": {"sampler": "painter"},
        "loop": "sample",
        "data": {"name": "sklearn_digits"},
    }
    assert main(["train", str(write_config(sampler, name="wide"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan: error: networks.painter.init: ") and err.count("\n") == 1
    assert "body.0.weight (8, 4, 4, 4) in the file, (8, 6, 4, 4) here" in err
    assert not (tmp_path / "runs" / "wide").exists()


def test_sampler_run_writes_reproducible_samples_from_a_trained_network(write_config, tmp_path):
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    sampler = {
        "networks": {
            "painter": dict(
                TINY_DIGITS["networks"]["painter"],
                init={"run": str(tmp_path / "runs" / "tiny"), "network": "painter", "ema": True},
            )
        },
        "roles": {"sampler": "painter"},
        "loop": "sample",
        "data": {"name": "sklearn_digits"},
        "run": {"sample_count": 6},
    }
    for name in ("s1", "s2"):
        assert main(["train", str(write_config(sampler, name=name))]) == 0
    a, b = (np.load(tmp_path / "runs" / n / "samples.npz")["samples"] for n in ("s1", "s2"))
    assert a.shape == (6, 1, 8, 8) and np.array_equal(a, b)
    with pytest.raises(RunError):
        load(tmp_path / "runs" / "s1", "ghost")
