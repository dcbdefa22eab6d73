"""Regression as likelihood: normal[D] is one more distribution space, and the likelihood loop trains it unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import distributions as D

from gan.cli import main
from gan.config import Data
from gan.data import open_examples
from gan.data.tables import standardise
from gan.roles import RoleError, check_role
from networks import MLP, ConvNet, Normal, ResNet, SpaceError, parse

from .conftest import TINY_DIGITS

TINY_DIABETES = {
    "networks": {"predictor": {"family": "mlp", "source": "point[10]", "target": "normal[1]", "width": 16, "depth": 1}},
    "roles": {"classifier": "predictor"},
    "loop": "likelihood",
    "optimizers": {"classifier": {"name": "adam", "lr": 3.0e-3, "betas": [0.9, 0.999]}},
    "data": {"name": "diabetes", "batch_size": 32, "holdout": 0.2},
    "run": {"steps": 300, "log_every": 100, "sample_every": 300, "checkpoint_every": 300, "progress": False},
}


# -- the space ----------------------------------------------------------------------
def test_normal_parses_prints_back_and_sizes_a_mean_and_a_log_scale_per_dimension():
    assert parse("normal[3]") == Normal(3) and str(Normal(3)) == "normal[3]"
    assert Normal(3).shape == (3,) and Normal(3).size == 6 and Normal(3).is_distribution


@pytest.mark.parametrize("text", ["normal[0]", "normal[-2]", "normal[1.5]", "normal", "normal[a]", "normal[1,2]"])
def test_malformed_normal_is_refused_naming_the_input(text):
    with pytest.raises(SpaceError, match=repr(text).replace("[", r"\[")):
        parse(text)


def test_normal_zero_in_a_config_is_refused_in_one_line_naming_the_network(write_config, tmp_path, capsys):
    bad = {
        **TINY_DIABETES,
        "networks": {"predictor": {**TINY_DIABETES["networks"]["predictor"], "target": "normal[0]"}},
    }
    assert main(["train", str(write_config(bad))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("gan: error: networks.predictor:") and "normal[0]" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "net, x",
    [
        (MLP(source="point[4]", target="normal[2]", width=8, depth=1), torch.randn(5, 4)),
        (ConvNet(source="image[1,8,8]", target="normal[2]", width=4), torch.randn(5, 1, 8, 8)),
        (ResNet(source="image[1,8,8]", target="normal[2]", width=4), torch.randn(5, 1, 8, 8)),
    ],
    ids=["mlp", "conv", "resnet"],
)
def test_every_family_writes_a_mean_and_log_scale_whose_log_prob_is_torchs_normal(net, x):
    out = net(x)
    assert out.shape == (5, 2, 2)  # [N, (mean, log-scale), D]
    y = torch.randn(5, 2)
    # An untrained net can write a log-scale past the clamp (|log-scale| > 20 at some seeds), so the
    # formula clamps too; the test of huge inputs below checks the clamp itself.
    log_scale = out[:, 1].clamp(*Normal.LOG_SCALE_RANGE)
    want = D.Normal(out[:, 0], log_scale.exp()).log_prob(y).sum(-1)
    torch.testing.assert_close(net.distribution(x).log_prob(y), want)


def test_the_scale_is_positive_and_log_probs_finite_for_huge_inputs():
    net = MLP(source="point[3]", target="normal[2]", width=8, depth=1)
    for value in (1e6, -1e6, 1e30, -1e30):
        dist = net.distribution(torch.full((4, 3), value))
        assert (dist.base_dist.scale > 0).all() and torch.isfinite(dist.base_dist.scale).all()
        if abs(value) < 1e10:  # beyond that the squared distance itself overflows float32
            assert torch.isfinite(dist.log_prob(torch.zeros(4, 2))).all()
    params = torch.tensor([[[0.0], [1e6]], [[0.0], [-1e6]]])
    assert (Normal(1).scale(params) > 0).all() and torch.isfinite(Normal(1).scale(params)).all()


def test_samples_are_reproducible_and_follow_the_predicted_mean_and_scale():
    net = MLP(source="point[2]", target="normal[1]", width=8, depth=1)
    x = torch.zeros(20000, 2)
    a = net.sample(x=x, rng=torch.Generator().manual_seed(3))
    b = net.sample(x=x, rng=torch.Generator().manual_seed(3))
    assert a.shape == (20000, 1) and torch.equal(a, b)
    out = net(x[:1])
    mean, scale = out[0, 0, 0].item(), out[0, 1, 0].exp().item()
    assert a.mean().item() == pytest.approx(mean, abs=4 * scale / 20000**0.5)
    assert a.std().item() == pytest.approx(scale, rel=0.03)


def test_a_network_cannot_read_normal_values_it_reads_reals():
    with pytest.raises(SpaceError, match="real\\[2\\]"):
        MLP(source="normal[2]", target="point[2]")


def test_the_classifier_role_takes_any_distribution_target_and_says_so():
    check_role("classifier", "predictor", MLP(source="point[10]", target="normal[1]"), parse("point[10]"))
    with pytest.raises(
        RoleError, match="distribution space .*normal\\[D\\].*'scorer' maps point\\[10\\] -> real\\[1\\]"
    ):
        check_role("classifier", "scorer", MLP(source="point[10]", target="real[1]"), parse("point[10]"))


# -- the data -----------------------------------------------------------------------
def test_diabetes_split_is_fixed_by_the_data_seed_and_standardised_by_the_training_part_only():
    space = parse("point[10]")
    a = open_examples(Data(name="diabetes", holdout=0.2, seed=0), space)
    b = open_examples(Data(name="diabetes", holdout=0.2, seed=0), space)
    c = open_examples(Data(name="diabetes", holdout=0.2, seed=1), space)
    assert (len(a), len(a.held_out)) == (354, 88)
    assert torch.equal(a.held_out.y, b.held_out.y) and not torch.equal(a.held_out.y, c.held_out.y)
    train, held = a.split(0.5, seed=123)  # the split was made when the data was opened
    assert len(held) == 88
    torch.testing.assert_close(train.y.mean(0), torch.zeros(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.y.std(0, unbiased=False), torch.ones(1), atol=1e-5, rtol=0)
    assert held.y.mean().abs() > 1e-3  # scaled with the training part's moments, not its own
    from sklearn.datasets import load_diabetes

    raw = torch.as_tensor(load_diabetes().target, dtype=torch.float32)
    assert sorted(held.original_targets().flatten().tolist()) == pytest.approx(
        sorted(raw[torch.randperm(442, generator=torch.Generator().manual_seed(0))[354:]].tolist()), abs=1e-3
    )


def test_held_out_values_do_not_change_the_training_part():
    x, y = np.random.default_rng(0).normal(size=(50, 3)), np.random.default_rng(1).normal(size=(50, 1))
    a = standardise(x, y, holdout=0.2, seed=0, what="t")
    order = torch.randperm(50, generator=torch.Generator().manual_seed(0))
    y2 = y.copy()
    y2[order[40:].numpy()] += 1000.0  # change only the held-out targets
    b = standardise(x, y2, holdout=0.2, seed=0, what="t")
    assert torch.equal(a.y, b.y) and torch.equal(a.x, b.x)


def test_a_nan_target_is_refused_naming_the_example_and_nothing_is_written(write_config, tmp_path, capsys):
    rows = np.random.default_rng(0).normal(size=(30, 3))
    rows[7, 2] = np.nan
    csv = tmp_path / "table.csv"
    csv.write_text("a,b,target\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    cfg = {
        **TINY_DIABETES,
        "networks": {"predictor": {"family": "mlp", "source": "point[2]", "target": "normal[1]", "width": 8}},
        "data": {"name": "table", "path": str(csv), "batch_size": 8},
    }
    assert main(["train", str(write_config(cfg))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("gan: error:") and "example 7" in err and "target" in err
    assert not (tmp_path / "runs").exists()


def test_a_csv_table_trains_with_its_last_columns_as_targets(write_config, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    rows = np.hstack([x, 3 * x[:, :1] - x[:, 1:] + 0.1 * rng.normal(size=(200, 1))])
    csv = tmp_path / "table.csv"
    np.savetxt(csv, rows, delimiter=",")
    cfg = {
        **TINY_DIABETES,
        "networks": {
            "predictor": {"family": "mlp", "source": "point[2]", "target": "normal[1]", "width": 16, "depth": 1}
        },
        "data": {"name": "table", "path": str(csv), "batch_size": 32, "holdout": 0.2},
    }
    assert main(["train", str(write_config(cfg, name="csv"))]) == 0
    scores = json.loads((tmp_path / "runs" / "csv" / "metrics.json").read_text())
    assert scores["held_out/rmse"] < 0.3 * np.std(rows[:, 2])  # in the target's own units


def test_real_targets_need_a_normal_target_and_labels_need_labels(write_config, capsys):
    onehot = {
        **TINY_DIABETES,
        "networks": {"predictor": {"family": "mlp", "source": "point[10]", "target": "categorical[3]"}},
    }
    assert main(["train", str(write_config(onehot, name="a"))]) == 2
    assert "diabetes has 1 real target(s) per example: write normal[1]" in capsys.readouterr().err
    digits = {
        **TINY_DIGITS,
        "networks": {"reader": {"family": "conv", "source": "image[1,8,8]", "target": "normal[1]", "width": 4}},
        "roles": {"classifier": "reader"},
        "loop": "likelihood",
    }
    assert main(["train", str(write_config(digits, name="b"))]) == 2
    assert "writes normal[1], a distribution over reals, but sklearn_digits has class labels" in capsys.readouterr().err


# -- training, evaluation, sampling ---------------------------------------------------
def test_diabetes_trains_by_likelihood_and_evaluate_reports_nll_rmse_coverage_beside_linear_models(
    write_config, tmp_path, capsys
):
    assert main(["train", str(write_config(TINY_DIABETES, name="diabetes"))]) == 0
    run = tmp_path / "runs" / "diabetes"
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((run / "evaluation.json").read_text())
    assert result["target"] == "normal[1]" and result["examples"] == 88
    assert result["rmse"] < 0.85 * result["baseline/predict_the_mean_rmse"]  # learned something, in the target's units
    assert result["rmse"] < 1.15 * result["baseline/ridge_rmse"]
    assert 0.7 <= result["coverage_90"] <= 1.0 and np.isfinite(result["nll"])
    # the NLL in the target's units is that of the standardised targets plus the log of their scale
    table = open_examples(Data(name="diabetes", holdout=0.2), parse("point[10]"))
    assert result["nll"] == pytest.approx(result["nll_standardised"] + float(table.y_std.log()), rel=1e-4)

    out = tmp_path / "draws.npz"
    assert main(["sample", str(run), "--network", "predictor", "-n", "4", "-o", str(out), "--seed", "1"]) == 0
    assert (
        main(["sample", str(run), "--network", "predictor", "-n", "4", "-o", str(tmp_path / "again.pt"), "--seed", "1"])
        == 0
    )
    draws = np.load(out)["samples"]
    assert draws.shape == (88, 4, 1) and 25 < draws.mean() < 350  # reals in the target's units (disease progression)
    assert np.array_equal(draws, torch.load(tmp_path / "again.pt").numpy())


@pytest.mark.parametrize("order", ["first", "second"])
def test_each_test_draws_from_the_same_random_state_whatever_ran_before(order):
    """The suite's seeding (conftest): the check above failed in CI only, at the seed its place in the suite gave it.
    Each case draws once and then the suite's seed is re-set: both cases must have seen the same first draw."""
    first = torch.rand(4)
    torch.manual_seed(0)
    torch.testing.assert_close(first, torch.rand(4), rtol=0, atol=0)
    torch.rand(1000)  # leaves the state moved: the next case would see it without the fixture
