"""A network trained on a table reads raw rows and answers in the targets' own units: gan.load and gan predict."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml

import gan
from gan.cli import main
from gan.config import Data
from gan.data import open_examples
from gan.verbs.predict import Z90, Predictor
from networks import Network, parse

from .conftest import TINY_DIGITS
from .test_regression import TINY_DIABETES

HOLDOUT = 0.2  # TINY_DIABETES's; data.seed 0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny diabetes run (100 steps, seconds) shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("predict")
    cfg = {**TINY_DIABETES, "run": {**TINY_DIABETES["run"], "steps": 100, "output": str(folder / "runs")}}
    config = folder / "diabetes.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["train", str(config)]) == 0
    return folder / "runs" / "diabetes"


def raw_held_out() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The rows the run held out, as scikit-learn gives them (not standardised), their targets, the feature names."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    held = torch.randperm(442, generator=torch.Generator().manual_seed(0))[354:].numpy()
    return bunch.data[held], bunch.target[held], list(bunch.feature_names)


def write_rows(path, rows, header=None):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if header is not None:
            writer.writerow(header)
        writer.writerows([[repr(float(v)) for v in row] for row in rows])
    return path


def read_predictions(path) -> tuple[list[str], np.ndarray]:
    lines = list(csv.reader(path.read_text().splitlines()))
    return lines[0], np.array([[float(v) for v in row] for row in lines[1:]])


def scorer_in_target_units(run):
    """What the held-out scorer computes (gan/measure/regression.py): the network on the standardised held-out
    rows, mapped back to the target's units by the table's own statistics."""
    net = gan.load(run, "predictor", units=False)
    table = open_examples(Data(name="diabetes", holdout=HOLDOUT), parse("point[10]"))
    with torch.no_grad():
        dist = table.to_original(net.distribution(table.held_out.x))
    return dist.base_dist.loc.numpy(), dist.base_dist.scale.numpy()


# -- gan predict reproduces the run's own scores ----------------------------------------
def test_predict_on_raw_held_out_rows_reproduces_the_runs_held_out_scores(run, tmp_path, capsys):
    x, y, names = raw_held_out()
    rows, out = write_rows(tmp_path / "rows.csv", x, names), tmp_path / "out.csv"
    assert main(["predict", str(run), str(rows), "-o", str(out)]) == 0
    header, values = read_predictions(out)
    assert header == ["target_mean", "target_scale", "target_low90", "target_high90"]
    assert values.shape == (88, 4)
    mean, scale = scorer_in_target_units(run)
    np.testing.assert_allclose(values[:, 0], mean[:, 0], rtol=1e-5)
    np.testing.assert_allclose(values[:, 1], scale[:, 0], rtol=1e-5)
    np.testing.assert_allclose(values[:, 2], values[:, 0] - Z90 * values[:, 1], rtol=1e-9)
    np.testing.assert_allclose(values[:, 3], values[:, 0] + Z90 * values[:, 1], rtol=1e-9)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert np.sqrt(((values[:, 0] - y) ** 2).mean()) == pytest.approx(scores["rmse"], rel=1e-5)
    inside = (values[:, 2] <= y) & (y <= values[:, 3])
    assert inside.mean() == pytest.approx(scores["coverage_90"], abs=1e-6)
    assert (values[:, 3] - values[:, 2]).mean() == pytest.approx(scores["mean_interval_90"], rel=1e-5)
    nll = 0.5 * ((y - values[:, 0]) / values[:, 1]) ** 2 + np.log(values[:, 1]) + 0.5 * np.log(2 * np.pi)
    assert nll.mean() == pytest.approx(scores["nll"], rel=1e-5)


def test_a_header_is_matched_by_name_in_any_order_and_no_header_by_position(run, tmp_path, capsys):
    x, _, names = raw_held_out()
    order = list(reversed(range(10)))
    shuffled = write_rows(tmp_path / "shuffled.csv", x[:, order], [names[i] for i in order])
    bare = write_rows(tmp_path / "bare.csv", x)
    capsys.readouterr()
    assert main(["predict", str(run), str(shuffled)]) == 0  # printed when there is no -o
    by_name = capsys.readouterr().out
    assert main(["predict", str(run), str(bare), "--network", "predictor"]) == 0
    assert capsys.readouterr().out == by_name
    mean, _ = scorer_in_target_units(run)
    got = np.array([float(line.split(",")[0]) for line in by_name.splitlines()[1:]])
    np.testing.assert_allclose(got, mean[:, 0], rtol=1e-5)


# -- gan.load -----------------------------------------------------------------------------
def test_gan_load_reads_raw_rows_and_answers_in_the_targets_units(run):
    x, _, names = raw_held_out()
    predictor = gan.load(run, "predictor")
    assert isinstance(predictor, Predictor) and predictor.feature_names == names and predictor.targets == ["target"]
    p = predictor.predict(x)
    mean, scale = scorer_in_target_units(run)
    np.testing.assert_allclose(p["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(p["scale"], scale, rtol=1e-5)
    np.testing.assert_allclose(p["high"] - p["low"], 2 * Z90 * scale, rtol=1e-5)
    draws = predictor.sample(x[:3], 2000, seed=1)
    assert draws.shape == (3, 2000, 1) and np.array_equal(draws, predictor.sample(x[:3], 2000, seed=1))
    assert np.abs(draws.mean(1) - p["mean"][:3]).max() < 5 * scale.max() / np.sqrt(2000)
    import pandas as pd

    frame = pd.DataFrame(x[:, ::-1], columns=names[::-1])  # a frame is matched by its column names
    np.testing.assert_array_equal(predictor.predict(frame)["mean"], p["mean"])


def test_the_network_trained_on_standardised_rows_is_never_applied_to_raw_ones_in_silence(run):
    x, _, _ = raw_held_out()
    predictor = gan.load(run, "predictor")
    with pytest.raises(TypeError, match=r"\.predict\(rows\)"):
        predictor(torch.as_tensor(x, dtype=torch.float32))
    bare = gan.load(run, "predictor", units=False)
    assert isinstance(bare, Network) and bare is not predictor.network
    naive = bare.distribution(torch.as_tensor(x, dtype=torch.float32)).base_dist.loc.detach().numpy()
    assert np.abs(naive - predictor.predict(x)["mean"]).max() > 10  # what a raw row through it would have said


def test_the_units_are_written_into_the_run_when_training_starts(run):
    units = json.loads((run / "networks" / "units" / "predictor.json").read_text())
    table = open_examples(Data(name="diabetes", holdout=HOLDOUT), parse("point[10]"))
    assert units["features"]["names"][:3] == ["age", "sex", "bmi"] and units["targets"]["names"] == ["target"]
    assert torch.equal(torch.tensor(units["features"]["mean"]), table.x_mean)
    assert torch.equal(torch.tensor(units["targets"]["scale"]), table.y_std)
    assert (
        "predictor" in gan.runs.folder.RunDir(run).network_names()
        and len(gan.runs.folder.RunDir(run).network_names()) == 1
    )


def test_a_run_from_before_units_were_kept_is_read_with_the_units_its_config_gives(run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(run, old)
    shutil.rmtree(old / "networks" / "units")
    x, _, _ = raw_held_out()
    np.testing.assert_array_equal(
        gan.load(old, "predictor").predict(x)["mean"], gan.load(run, "predictor").predict(x)["mean"]
    )


def test_a_csv_table_with_a_header_keeps_its_column_names(write_config, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2)) * [10.0, 0.1] + [50.0, -3.0]
    rows = np.hstack([x, 0.2 * x[:, :1] - 30 * x[:, 1:] + rng.normal(size=(120, 1))])
    table = write_rows(tmp_path / "table.csv", rows, ["height", "dose", "response"])
    cfg = {
        **TINY_DIABETES,
        "networks": {"predictor": {"family": "mlp", "source": "point[2]", "target": "normal[1]", "depth": 0}},
        "data": {"name": "table", "path": str(table), "batch_size": 32, "holdout": 0.2},
        "run": {**TINY_DIABETES["run"], "steps": 100},
    }
    assert main(["train", str(write_config(cfg, name="csv"))]) == 0
    run = tmp_path / "runs" / "csv"
    new = write_rows(tmp_path / "new.csv", x[:5, ::-1], ["dose", "height"])
    capsys.readouterr()
    assert main(["predict", str(run), str(new)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "response_mean,response_scale,response_low90,response_high90" and len(lines) == 6
    np.testing.assert_allclose(
        [float(line.split(",")[0]) for line in lines[1:]], gan.load(run, "predictor").predict(x[:5])["mean"][:, 0]
    )


# -- bad input: one line naming what is wrong ---------------------------------------------
def _names():
    return raw_held_out()[2]


BAD = [
    ("missing", lambda n: ",".join(n[:9]) + "\n" + ",".join(["0.01"] * 9) + "\n", "missing 's6'"),
    ("extra", lambda n: ",".join(n + ["colour"]) + "\n" + ",".join(["0.01"] * 11) + "\n", "not read: 'colour'"),
    (
        "misnamed",
        lambda n: ",".join(n[:9] + ["S6"]) + "\n" + ",".join(["0.01"] * 10) + "\n",
        "missing 's6'; not read: 'S6'",
    ),
    ("target", lambda n: ",".join(n + ["target"]) + "\n" + ",".join(["0.01"] * 11) + "\n", "'target' is a target"),
    (
        "twice",
        lambda n: ",".join(n[:9] + ["age"]) + "\n" + ",".join(["0.01"] * 10) + "\n",
        "'age' appears more than once",
    ),
    (
        "not a number",
        lambda n: (
            ",".join(n) + "\n" + ",".join(["0.01"] * 10) + "\n" + ",".join(["0.01"] * 2 + ["fat"] + ["0.01"] * 7) + "\n"
        ),
        "line 3 (row 2), column 'bmi': 'fat' is not a number",
    ),
    (
        "nan",
        lambda n: ",".join(["0.01"] * 3 + ["nan"] + ["0.01"] * 6) + "\n",
        "line 1 (row 1), column 'bp': 'nan' is not a number",
    ),
    (
        "short row",
        lambda n: ",".join(n) + "\n" + ",".join(["0.01"] * 10) + "\n" + ",".join(["0.01"] * 9) + "\n",
        "line 3 (row 2): 9 columns, expected 10",
    ),
    ("width", lambda n: ",".join(["0.01"] * 11) + "\n", "11 columns, but the network reads 10 features (age, sex"),
    ("empty", lambda n: "\n\n", "is empty"),
    ("header only", lambda n: ",".join(n) + "\n", "holds a header row and no rows"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_a_bad_csv_is_refused_in_one_line_naming_what_is_wrong(case, run, tmp_path, capsys):
    _, text, fragment = case
    rows, out = tmp_path / "rows.csv", tmp_path / "out.csv"
    rows.write_text(text(_names()))
    capsys.readouterr()
    assert main(["predict", str(run), str(rows), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gan: error: ") and "Traceback" not in err, err
    assert fragment in err and str(rows) in err, err
    assert not out.exists()


def test_a_missing_file_an_existing_output_and_a_network_not_trained_on_a_table_are_refused(
    run, write_config, tmp_path, capsys
):
    x, _, names = raw_held_out()
    rows, out = write_rows(tmp_path / "rows.csv", x[:2], names), tmp_path / "out.csv"
    out.write_text("mine\n")
    cases = [
        (["predict", str(run), str(tmp_path / "nothing.csv")], "nothing.csv: not a file"),
        (["predict", str(run), str(rows), "-o", str(out)], "already exists; pass --overwrite"),
        (["predict", str(run), str(rows), "-o", str(rows), "--overwrite"], "is the file of rows being read"),
        (["predict", str(run), str(rows), "--network", "nobody"], "has no network 'nobody'"),
    ]
    assert main(["train", str(write_config(TINY_DIGITS))]) == 0
    digits = tmp_path / "runs" / "tiny"
    cases += [
        (["predict", str(digits), str(rows), "--network", "critic"], "was not trained on a table"),
        (["predict", str(digits), str(rows)], "has no classifier role"),
    ]
    for argv, fragment in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and fragment in err, err
    assert out.read_text() == "mine\n"
    assert main(["predict", str(run), str(rows), "-o", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("target_mean,")
